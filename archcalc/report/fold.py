"""A repeat's identical copies as one row, in the tables (rich, Markdown, HTML).

`repeat: N` of one block expands to N copies whose rows are the same but for their paths.
Listing them all says nothing new, and it makes the table, and rich's layout of it, grow
with N: efficientnet_v2_s has 778 rows, most of them copies. So a table shows a repeat's
row, its first copy in full, then one row for the run of copies identical to that copy:
path `2–14` (the copies' own names, first–last; one name when the run is one copy), kind
`block ×13, each as 1` (`block, as 1` for one copy), the copies' output, and each count the
exact sum over the folded copies (neurons stay None where a copy has none). A run of one
copy shown as one row (a repeated layer, or a block at --depth) stays as it is: folding it
would shorten nothing.

Two copies are identical when their subtrees agree row by row on relative depth, name
under the copy, kind, kind class, output, params, buffers, neurons, MACs, FLOPs and
backward MACs; and on receptive fields when that column is shown (fields grow copy by copy
wherever a copy has a window wider than 1, so such copies then stay unfolded, as their
rows differ). A copy that differs from the copy shown in full before it is shown in full
too, and later copies identical to it fold after it the same way (a stage whose first
copy differs from the rest, then n − 1 equal copies, prints two copies and one row).

Nothing else changes: totals come from the analysis, shares are of those totals, and JSON
lists every row (machines want them all); `--unfold` shows every copy in the tables. A table
still longer than MAX_TABLE_ROWS after folding is shown down to the deepest depth that fits
(report/summary.py's visible_rows), which the note says.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterator

from archcalc.engine import numbers as N
from archcalc.engine.analysis import SUMMED, Row

MAX_TABLE_ROWS = 2_000  # report/summary.py cuts a longer table at a depth


@dataclass(kw_only=True, eq=False)
class FoldedRow(Row):
    """The row standing for a run of copies identical to `like`, the copy shown in full."""

    copies: tuple[Row, ...] = ()
    like: Row | None = None


def folded_rows(roots: list[Row], depth: int | None = None, rf: bool = False) -> list[Row]:
    """The rows a table shows, depth first, down to `depth`, identical copies folded."""
    return [row for root in roots for row in _walk(root, depth, rf)]


def fold_note(rows: list[Row]) -> str | None:
    """The note under a table that folded something, or None."""
    runs = sum(isinstance(r, FoldedRow) for r in rows)
    cut = getattr(rows, "depth", None)  # report.summary.CutRows: too many rows to read, shown to a depth
    notes = []
    if cut is not None:
        notes.append(f"{rows.full:,} rows: shown down to depth {cut}, the deepest that keeps the table "
                     f"under {rows.most:,} rows (--depth N shows deeper, --unfold every row; JSON lists "
                     "every row)")
    if runs:
        each = "one row each" if runs > 1 else "one row"
        notes.append(f"{runs} run{'s' if runs > 1 else ''} of identical repeated copies folded into {each} "
                     "(--unfold shows every row)")
    return "; ".join(notes) or None


def _walk(row: Row, depth: int | None, rf: bool) -> Iterator[Row]:
    if depth is not None and row.depth > depth:
        return
    yield row
    if row.family == "repeat" and (depth is None or row.depth < depth):
        yield from _copies(row.children, depth, rf)
        return
    for child in row.children + [r for b in row.branches for r in b.rows]:
        yield from _walk(child, depth, rf)


def _copies(copies: list[Row], depth: int | None, rf: bool) -> Iterator[Row]:
    """Each copy in full, unless it is identical to the copy last shown in full: then it
    joins that copy's run, which ends in one FoldedRow."""
    like, like_key, like_rows, run = None, None, 0, []
    for copy in copies:
        key = _key(copy, rf)
        if like is not None and key == like_key:
            run.append(copy)
            continue
        yield from _run(run, like, like_rows)
        like, like_key, run = copy, key, []
        shown = list(_walk(copy, depth, rf))
        like_rows = len(shown)
        yield from shown
    yield from _run(run, like, like_rows)


def _run(run: list[Row], like: Row | None, rows_each: int) -> Iterator[Row]:
    """One row for the run, where that shortens the table: a run of one copy shown as one row
    (a repeated layer, or a block at --depth) stays as it is."""
    if len(run) == 1 and rows_each == 1:
        yield run[0]
    elif run:
        yield _folded(run, like)


def _key(copy: Row, rf: bool) -> list[tuple]:
    start, cut = copy.depth, len(copy.path)
    return [(r.depth - start, r.path[cut:], r.kind, r.layer, r.output, r.params, r.buffers, r.neurons, r.macs,
             r.flops, r.backward_macs) + ((r.rf, r.rf_branch) if rf else ())
            for r in (copy, *copy.inside())]


def _folded(run: list[Row], like: Row) -> FoldedRow:
    first = run[0]
    names = first.name if len(run) == 1 else f"{first.name}–{run[-1].name}"
    kind = f"{like.kind}, as {like.name}" if len(run) == 1 else f"{like.kind} ×{len(run)}, each as {like.name}"
    sums = {q: None if getattr(first, q) is None else N.total(getattr(r, q) for r in run) for q in SUMMED}
    # every field of the first folded copy (a subclass, so not dataclasses.replace), then what differs
    base = {f.name: getattr(first, f.name) for f in fields(Row)}
    return FoldedRow(**base | sums | {"path": f"{first.path.rsplit('.', 1)[0]}.{names}", "kind": kind,
                                      "steps": [], "children": [], "branches": []},
                     copies=tuple(run), like=like)
