"""The symbolic engine: shapes and counts for every layer of a spec."""
