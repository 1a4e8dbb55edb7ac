"""Pictures of an analysis: charts (matplotlib, an optional extra) and block diagrams (SVG
written directly, or Graphviz DOT)."""
