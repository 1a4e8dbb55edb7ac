"""What every renderer of a summary shares: visible rows, shares, labels."""
from __future__ import annotations

from fractions import Fraction
from typing import Any

from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis, Row
from archcalc.report.fold import MAX_TABLE_ROWS, folded_rows

def safe_markup(text: str) -> str:
    """User text for rich: markup such as [bold] shown literally, terminal escapes as \\xNN."""
    from rich.markup import escape

    from archcalc.printable import printable

    return escape(printable(str(text)))


COLUMNS = ("path", "kind", "output", "params", "neurons", "MACs", "FLOPs", "% params", "% FLOPs")
RF_COLUMNS = COLUMNS[:3] + ("receptive field",) + COLUMNS[3:]


def visible_rows(analysis: Analysis, depth: int | None, unfold: bool = False, rf: bool = False) -> list[Row]:
    """The rows a table shows, down to `depth`; unless `unfold`, each run of a repeat's copies
    identical to the copy shown in full before them is one row (report/fold.py: the table then
    costs about the same for 8 copies as for 80). `rf`: the receptive-field column is shown,
    so copies must agree on it too to fold."""
    if unfold:
        return [r for r in analysis.rows if depth is None or r.depth <= depth]
    rows = folded_rows(analysis.roots, depth, rf)
    if depth is not None or len(rows) <= MAX_TABLE_ROWS:
        return rows
    # unreadable, and slow to lay out (rich): the deepest --depth that keeps the table readable, said in the note
    full = len(rows)
    for cut in range(max(r.depth for r in rows) - 1, -1, -1):
        rows = folded_rows(analysis.roots, cut, rf)
        if len(rows) <= MAX_TABLE_ROWS or cut == 0:
            return CutRows(rows, cut, full, MAX_TABLE_ROWS)
    return rows





class CutRows(list):
    """A table's rows shown down to `depth` alone, because every row would be unreadable."""

    def __init__(self, rows: list[Row], depth: int, full: int, most: int):
        super().__init__(rows)
        self.depth, self.full, self.most = depth, full, most  # full: the rows (folded) the table would have had


def share(part: Any, whole: Any) -> str:
    """A percentage when both numbers are known; '--' when symbolic or the whole is 0."""
    if N.is_symbolic(part) or N.is_symbolic(whole) or whole == 0:
        return "--"
    return f"{float(Fraction(part) * 100 / Fraction(whole)):.1f}%"


def shape_text(shape: tuple) -> str:
    return "×".join(N.fmt(d) if not N.is_symbolic(d) else f"({N.fmt(d)})" if len(shape) > 1 else N.fmt(d)
                    for d in shape)


def count_text(x: Any) -> str:
    return "--" if x is None else N.fmt(x)


def rf_text(row: Row) -> str:
    """'163 (jump 16)', or 'H 11, W 7 (jumps 4, 2)' when the axes differ; '--' if not spatial."""
    if not row.rf:
        return "--"
    if len({(N.fmt(a.size), N.fmt(a.jump)) for a in row.rf}) == 1:
        text = row.rf[0].text()
    else:
        text = " × ".join(N.fmt(a.size) for a in row.rf) + " (jumps " + ", ".join(N.fmt(a.jump) for a in row.rf) + ")"
    return text + (f", widest: {row.rf_branch}" if row.rf_branch else "")


def columns(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    cols = RF_COLUMNS if "rf" in extra else COLUMNS
    return cols + (("training FLOPs",) if "train" in extra else ())


def row_labels(rows: list[Row]) -> list[str]:
    """Each row's path as an indented table shows it: its last part (`conv1` below its block),
    unless two rows below one parent would read alike; then each of that parent's rows shows
    what its path adds to the parent's, the branch with the name (two branches of a concat
    each with a `conv2d_1`: `branch1.conv2d_1`, `branch2.conv2d_1`)."""
    parents: list[int] = []  # the rows above this one, one per depth (indices into rows)
    parent_of: list[int | None] = []
    for i, row in enumerate(rows):
        del parents[row.depth:]
        parent_of.append(parents[-1] if parents else None)
        parents.append(i)
    names: dict[int | None, list[str]] = {}
    for row, parent in zip(rows, parent_of):
        names.setdefault(parent, []).append(row.path.rsplit(".", 1)[-1])
    alike = {parent for parent, seen in names.items() if len(seen) != len(set(seen))}
    labels = []
    for row, parent in zip(rows, parent_of):
        if parent is None:
            labels.append(row.path)
            continue
        prefix = rows[parent].path + "."
        relative = row.path[len(prefix):] if row.path.startswith(prefix) else row.path
        labels.append("  " * row.depth + (relative if parent in alike else row.path.rsplit(".", 1)[-1]))
    return labels


def row_cells(row: Row, totals: dict, indent: bool = True, rf: bool = False, train: bool = False,
              label: str | None = None) -> list[str]:
    """A row's cells; `label`: its path as row_labels gives it (the full path without one)."""
    path = label if indent and label is not None else row.path
    if train:
        return row_cells(row, totals, indent, rf, label=label) + [
            count_text(N.add(row.flops, N.mul(2, row.backward_macs)))]
    if rf:
        return [path, row.kind, shape_text(row.output), rf_text(row)] + row_cells(row, totals)[3:]
    return [path, row.kind, shape_text(row.output), count_text(row.params), count_text(row.neurons),
            count_text(row.macs), count_text(row.flops), share(row.params, totals["params"]),
            share(row.flops, totals["flops"])]


def total_cells(analysis: Analysis, rf: bool = False, train: bool = False) -> list[str]:
    t = analysis.totals
    if train:
        return total_cells(analysis, rf) + [count_text(analysis.training_flops())]
    if rf:
        cells = total_cells(analysis)
        return cells[:3] + [""] + cells[3:]
    return ["total", "", shape_text(analysis.output), count_text(t["params"]), count_text(t["neurons"]),
            count_text(t["macs"]), count_text(t["flops"]), "100%" if t["params"] else "--",
            "100%" if t["flops"] else "--"]


def family_shares(analysis: Analysis) -> list[str]:
    """Per family of weighted layers, its share of params and of MACs (the course's
    'conv layers hold ~90-95% of computation, fc layers ~95% of parameters')."""
    t = analysis.totals
    families: dict[str, list[Row]] = {}
    for r in analysis.rows:
        if r.leaf and r.neurons is not None:
            families.setdefault(r.family, []).append(r)
    lines = []
    for family, rows in families.items():
        params = N.total(r.params for r in rows)
        macs = N.total(r.macs for r in rows)
        lines.append(f"{family} layers ({len(rows)}): {share(params, t['params'])} of params, "
                     f"{share(macs, t['macs'])} of MACs")
    return lines if len(lines) > 1 else []


def header_lines(analysis: Analysis, convention=None) -> list[str]:
    spec = analysis.spec
    name = analysis.name + (f" (variant of {spec.name})" if analysis.variant else "")
    lines = [f"{name}: {analysis.inputs_text(shape_text)} → output {shape_text(analysis.output)}"
             + (f", batch {analysis.batch}" if analysis.batch != 1 else "")]
    if analysis.bindings:
        lines.append("bindings: " + ", ".join(f"{k}={N.fmt(v)}" for k, v in analysis.bindings.items()))
    from archcalc.report.conventions import convention_line

    if convention is not None:
        lines.append(convention_line(analysis, convention))
    if analysis.symbols:
        lines.append("symbolic in " + ", ".join(analysis.symbols) + " (bind with --set NAME=VALUE)")
    return lines
