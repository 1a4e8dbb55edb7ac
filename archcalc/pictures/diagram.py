"""Block diagrams of an analysis, written directly as SVG (no browser, no Graphviz needed),
or as Graphviz DOT.

Layers are boxes sized by their output (wider for more positions, taller for more
channels) and labelled with path, kind, output shape and parameters; blocks and repeats
are frames; the branches of `add` and `concat` stand side by side and meet in a ⊕ or ‖
node. `--depth N` folds deeper blocks into one box with their subtotal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis, Row

CHAR = 6.7  # px per character, 11 px monospace
BOLD = 7.4  # 11 px bold
TITLE_CHAR = 8.0  # 12 px bold

GAP = 16
PAD = 8
TITLE = 16
FAMILY_FILL = {"conv": "#dce6f2", "linear": "#f8dfcc", "recurrent": "#d9ecd9", "embedding": "#e2ddef",
               "pool": "#eeeeee", "norm": "#efe8dc", "activation": "#ffffff", "structure": "#ffffff"}


@dataclass
class Node:
    row: Row
    children: list["Node"] = field(default_factory=list)
    branches: dict[str, list["Node"]] = field(default_factory=dict)
    folded: bool = False
    after: list[str] = field(default_factory=list)  # element-wise layers drawn inside this box


def _is_elementwise(node: Node) -> bool:
    """Drawn inside the box before it: conv1 · conv2d, then "→ relu_1"."""
    return node.row.leaf and node.row.layer.elementwise


def _absorb(nodes: list[Node]) -> list[Node]:
    """Element-wise layers (relu, dropout, ...) join the box before them; a diagram of
    AlexNet then has one box per weighted or pooling layer, as the paper's figure does."""
    out: list[Node] = []
    for node in nodes:
        if _is_elementwise(node) and out and (out[-1].row.leaf or out[-1].folded):
            out[-1].after.append(node.row.name)
        else:
            out.append(node)
    return out


def build_tree(analysis: Analysis, depth: int | None = None) -> list[Node]:
    """The analysis' rows as drawing nodes; rows below `depth` fold into their block."""
    def node(row: Row) -> Node:
        folded = not row.leaf and depth is not None and row.depth == depth
        n = Node(row, folded=folded)
        if not folded:
            n.children = [node(c) for c in row.children]
            n.branches = {b.name: [node(r) for r in b.rows] for b in row.branches}
        return n

    return [node(r) for r in analysis.roots]


def _size_text(row: Row) -> str:
    shape = "×".join(N.fmt(d) for d in row.output)
    params = f" · {N.fmt(row.params)} params" if row.params else ""
    return shape + params


@dataclass
class Drawing:
    width: float
    height: float
    parts: list[str]  # SVG elements positioned relative to (0, 0)

    def moved(self, dx: float, dy: float) -> str:
        return f'<g transform="translate({dx:.1f},{dy:.1f})">' + "".join(self.parts) + "</g>"


def _text(x: float, y: float, text: str, size: int = 11, anchor: str = "middle", weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}">{escape(text)}</text>')


def _line(x1, y1, x2, y2) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#555" marker-end="url(#arrow)"/>'


def _leaf(node: Node) -> Drawing:
    row = node.row
    spatial = N.product(row.output[1:]) if len(row.output) > 1 else 1
    channels = row.output[0] if row.output else 1
    spatial = int(spatial) if not N.is_symbolic(spatial) else 4096
    channels = int(channels) if not N.is_symbolic(channels) else 64
    title = f"{row.name} · {row.kind}"
    detail = _size_text(row)
    then = ("→ " + ", ".join(node.after)) if node.after else ""
    width = max(110 + 6 * math.log2(spatial + 1), BOLD * len(title) + 2 * PAD,
                CHAR * max(len(detail), len(then)) + 2 * PAD)
    height = 34 + 1.5 * math.log2(channels + 1) + (12 if then else 0)
    middle = height / 2 - (6 if then else 0)
    fill = "#e8eef7" if node.folded else FAMILY_FILL.get(row.family, "#ffffff")
    parts = [f'<rect x="0" y="0" width="{width:.1f}" height="{height:.1f}" rx="4" fill="{fill}" stroke="#333"'
             + (' stroke-dasharray="4 2"' if node.folded else "") + "/>",
             _text(width / 2, middle - 3, title, weight="bold"),
             _text(width / 2, middle + 11, detail, size=10)]
    if then:
        parts.append(_text(width / 2, middle + 24, then, size=10))
    return Drawing(width, height, parts)


def _sequence(nodes: list[Node]) -> Drawing:
    drawings = [_node(n) for n in _absorb(nodes)]
    if not drawings:
        return Drawing(60, 20, [_text(30, 14, "identity", size=10)])
    width = max(d.width for d in drawings)
    parts, y = [], 0.0
    for i, d in enumerate(drawings):
        if i:
            parts.append(_line(width / 2, y - GAP, width / 2, y))
        parts.append(d.moved((width - d.width) / 2, y))
        y += d.height + GAP
    return Drawing(width, y - GAP, parts)


def _frame(row: Row, inner: Drawing, label: str) -> Drawing:
    width = max(inner.width + 2 * PAD, CHAR * 0.92 * len(label) + 2 * PAD)  # 10 px labels
    height = inner.height + TITLE + 2 * PAD
    parts = [f'<rect x="0" y="0" width="{width:.1f}" height="{height:.1f}" rx="6" fill="none" stroke="#7a8ca3" '
             'stroke-dasharray="5 3"/>',
             _text(PAD, TITLE - 3, label, size=10, anchor="start"),
             inner.moved((width - inner.width) / 2, TITLE + PAD)]
    return Drawing(width, height, parts)


def _joining(x1, y1, bottom, x2, y2) -> str:
    """A branch's arrow to the join: straight down its own column to the bottom of the
    tallest branch, then across to the join (a diagonal from a short branch's end would cut
    through the boxes of the branches beside it)."""
    points = [(x1, y1)] + ([(x1, bottom)] if bottom > y1 else []) + [(x2, y2)]
    return ('<polyline points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            + '" fill="none" stroke="#555" marker-end="url(#arrow)"/>')


def _merge(node: Node) -> Drawing:
    row = node.row
    branches = [(name, _sequence(items)) for name, items in node.branches.items()]
    width = sum(d.width for _, d in branches) + GAP * (len(branches) - 1)
    top = 14.0
    height_branches = max(d.height for _, d in branches)
    parts, x = [], 0.0
    join_y = top + height_branches + GAP + 10
    for name, d in branches:
        cx = x + d.width / 2
        parts.append(_text(cx, top - 3, name, size=9))
        parts.append(d.moved(x, top))
        parts.append(_joining(cx, top + d.height, top + height_branches, width / 2, join_y - 10))
        x += d.width + GAP
    symbol = row.layer.symbol
    # a circle round one character ("+", "‖"), a pill as wide as a longer symbol ("attn")
    half = max(10.0, TITLE_CHAR * len(symbol) / 2 + 5)
    parts.append(f'<rect x="{width / 2 - half:.1f}" y="{join_y - 10:.1f}" width="{2 * half:.1f}" height="20" '
                 'rx="10" fill="#fff" stroke="#333"/>')
    parts.append(_text(width / 2, join_y + 4, symbol, size=12, weight="bold"))
    inner = Drawing(width, join_y + 10, parts)
    label = f"{row.path} ({row.kind}) → {_size_text(row)}"
    return _frame(row, inner, label)


def _node(node: Node) -> Drawing:
    row = node.row
    if row.leaf or node.folded:
        return _leaf(node)
    if row.is_merge:
        return _merge(node)
    label = f"{row.path} ({row.kind}) → {_size_text(row)}"
    return _frame(row, _sequence(node.children), label)


def svg(analysis: Analysis, depth: int | None = None) -> str:
    body = _sequence(build_tree(analysis, depth))
    header = f"{analysis.name}: {analysis.inputs_text()}, " \
             f"{N.fmt(analysis.totals['params'])} params, {N.fmt(analysis.totals['macs'])} MACs"
    width = max(body.width, TITLE_CHAR * len(header)) + 2 * 20
    height = body.height + 60
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans Mono, monospace">'
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
            'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>'
            f'<rect width="100%" height="100%" fill="#ffffff"/>'
            + _text(20, 24, header, size=12, anchor="start", weight="bold")
            + body.moved((width - body.width) / 2, 40) + "</svg>\n")


def dot(analysis: Analysis, depth: int | None = None) -> str:
    lines = ["digraph archcalc {", "  rankdir=TB;", '  node [shape=box, fontname="monospace", fontsize=10];',
             f'  label="{_dot(analysis.name)}"; labelloc=t;']
    counter = [0]

    def node_id(row: Row) -> str:
        return '"' + _dot(row.path) + '"'

    def emit(nodes: list[Node], inputs: list[str], indent: str) -> list[str]:
        for node in nodes:
            row = node.row
            if row.leaf or node.folded:
                lines.append(f'{indent}{node_id(row)} [label="{_dot(row.path)}\\n{_dot(row.kind)}\\n'
                             f'{_dot(_size_text(row))}"];')
                lines.extend(f"{indent}{i} -> {node_id(row)};" for i in inputs)
                inputs = [node_id(row)]
            elif row.is_merge:
                outs = []
                for items in node.branches.values():
                    outs += emit(items, inputs, indent) if items else inputs
                counter[0] += 1
                join = f'"{_dot(row.path)}"'
                lines.append(f'{indent}{join} [shape=circle, label="{_dot(row.layer.dot_label)}"];')
                lines.extend(f"{indent}{o} -> {join};" for o in outs)
                inputs = [join]
            else:
                counter[0] += 1
                lines.append(f'{indent}subgraph "cluster_{_dot(row.path)}" {{')
                lines.append(f'{indent}  label="{_dot(row.path)} ({_dot(row.kind)})"; style=dashed;')
                inputs = emit(node.children, inputs, indent + "  ")
                lines.append(f"{indent}}}")
        return inputs

    emit(build_tree(analysis, depth), [], "  ")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


RENDERERS = {"svg": svg, "dot": dot}  # (analysis, depth) → text


def write_diagram(analysis: Analysis, fmt: str, depth: int | None, out) -> None:
    """`archcalc diagram`: the picture to standard output, or to `-o FILE` and then says so, as
    plot does ('wrote alexnet.svg (24 layers)'): a command that writes a file is not silent."""
    from archcalc.report.output import Out, wrote

    out.echo(RENDERERS[fmt](analysis, depth), nl=False)
    out.close()
    if out.output:
        Out().echo(wrote(out.output, sum(r.leaf for r in analysis.rows), "layers"))
