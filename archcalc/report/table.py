"""The per-layer table a lecturer could project (rich), and its Markdown twin."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from archcalc.engine import numbers as N
from archcalc.printable import printable
from archcalc.report.conventions import in_force
from archcalc.report.fold import fold_note
from archcalc.report.summary import (COLUMNS, columns, family_shares, header_lines, row_cells, row_labels,
                                     safe_markup, total_cells, visible_rows)

if TYPE_CHECKING:
    from archcalc.report.display import Summary

_RIGHT = {"params", "neurons", "MACs", "FLOPs", "% params", "% FLOPs", "training FLOPs"}
TRAINING_RULE = ("forward + backward, 2 per MAC: each layer with weights adds its weight gradient (as many MACs "
                 "as its forward pass) and, once an earlier layer has weights, its input gradient (as many again); "
                 "recurrent layers skip the gradient of the constant h_0")
_NO_WRAP = _RIGHT | {"receptive field"}
_LEFT_WIDTH = 8  # the path, kind and output keep up to this much (folded) beside counts too wide for the console
_MIN_COUNTS = 40  # and the counts at least this much


def build_table(summary: Summary, depth: int | None = None, extra: tuple[str, ...] = (),
                unfold: bool = False, rows: list | None = None, max_width: int | None = None) -> Table:
    """The rich table alone (notebooks and rich consoles render it: Summary.__rich_console__);
    `rows`: visible_rows already computed by the caller; `max_width`: the console's, where
    counts too wide for it (symbolic polynomials) end in an ellipsis while the path, kind
    and output keep their place."""
    analysis = summary.analysis
    rf, train = "rf" in extra, "train" in extra
    table = Table(box=box.SIMPLE_HEAD, show_footer=False, pad_edge=False,
                  title=safe_markup(" · ".join(header_lines(analysis, summary.convention))), title_justify="left")
    names = list(columns(extra))
    rows = visible_rows(analysis, depth, unfold, rf) if rows is None else rows
    body = [[printable(str(c)) for c in row_cells(row, analysis.totals, rf=rf, train=train, label=label)]
            for row, label in zip(rows, row_labels(rows))]
    totals = [str(c) for c in total_cells(analysis, rf, train)]
    # the counts never wrap and are right-justified: set as one column, their cells joined by the three spaces
    # rich puts between columns, the table prints the same characters at about half rich's cost per row; and
    # a table too wide for the console loses its last columns behind an ellipsis, not a count's last digits
    counts = next(i for i, name in enumerate(names) if name in _RIGHT)
    widths = [max([cell_len(r[i]) for r in (*body, totals)] + [cell_len(names[i])]) for i in range(counts, len(names))]

    def joined(cells: list[str]) -> list[str]:
        return cells[:counts] + ["   ".join(" " * (w - cell_len(c)) + c for c, w in zip(cells[counts:], widths))]

    left = [max([cell_len(r[i]) for r in (*body, totals)] + [cell_len(name)]) for i, name in enumerate(names[:counts])]
    if _fits(left, cell_len(joined(names)[counts]), max_width):
        # nothing folds: each row is one line, its cells padded as rich pads them and set as one cell (a fifth less
        # of rich's cost again for a 400-row table)
        def cells_of(cells: list[str]) -> list[Text]:
            parts = joined(cells)
            return [Text("   ".join([c + " " * (w - cell_len(c)) for c, w in zip(parts[:counts], left)]
                                    + parts[counts:]))]

        table.add_column(cells_of(names)[0].plain, justify="left", no_wrap=True)
    else:
        def cells_of(cells: list[str]) -> list[Text]:
            return [Text(c) for c in joined(cells)]

        _add_columns(table, names[:counts], [*body, totals], left, joined(names)[counts], max_width)
    for row, cells in zip(rows, body):
        table.add_row(*cells_of(cells), style=None if row.neurons is not None else "dim")
    table.add_section()
    table.add_row(*cells_of(totals), style="bold")
    return table


def _fits(left: list[int], counts: int, max_width: int | None) -> bool:
    """Whether the table fits a console max_width wide: its left columns and the counts' column,
    three characters between columns, one at each edge."""
    return max_width is not None and 2 + sum(left) + 3 * len(left) + counts <= max_width


def _add_columns(table: Table, names: list[str], cells: list[list[str]], left: list[int], header: str,
                 max_width: int | None) -> None:
    """The left columns (path, kind, output...), which fold, and the counts' one column after
    them, which ends in an ellipsis where the console is too narrow."""
    for i, name in enumerate(names):
        # a column that never wraps is as wide as its widest cell: told, rich need not measure every cell
        widest = max((cell_len(r[i]) for r in cells), default=0) if name in _NO_WRAP else None
        table.add_column(name, justify="left", overflow="fold", no_wrap=name in _NO_WRAP,
                         width=max(widest, cell_len(name)) if widest is not None else None)
    width = cell_len(header)
    if max_width is not None:  # the left columns folded to a point, the counts what is left
        room = max_width - sum(min(w, _LEFT_WIDTH) for w in left) - 2 * len(left)
        width = min(width, max(room, _MIN_COUNTS))
    table.add_column(header, justify="right", no_wrap=True, width=width, overflow="ellipsis")


def render_table(summary: Summary, console: Console, depth: int | None = None,
                 extra: tuple[str, ...] = (), dataset_size: int | None = None, unfold: bool = False) -> None:
    analysis = summary.analysis
    train = "train" in extra
    rows = visible_rows(analysis, depth, unfold, "rf" in extra)
    console.print(build_table(summary, depth, extra, unfold, rows, console.width))
    for line in family_shares(analysis):
        console.print(f"  {line}")
    if note := fold_note(rows):
        console.print(f"  {note}", highlight=False)
    for w in analysis.warnings:
        console.print(f"[yellow]warning[/yellow] {safe_markup(f'[{w.code}] {w.path} (line {w.loc.line}): {w.message}')}",
                      highlight=False)
    if train or dataset_size:
        console.print(f"  training FLOPs: {TRAINING_RULE}", style="dim", highlight=False)
        from archcalc.engine.training import rules_of_thumb
        from archcalc.report.training import rules_lines

        rules = rules_of_thumb(analysis)
        for line in rules_lines(rules) if rules is not None else []:
            console.print(f"  {line}", highlight=False)
    if dataset_size:
        epoch = analysis.epoch_training_flops(dataset_size)
        console.print(f"  one epoch of {dataset_size:,} samples: {N.fmt(epoch)} training FLOPs", highlight=False)
    console.print(_footer(summary), style="dim", highlight=False)


def _footer(summary: Summary) -> str:
    return "\n".join(f"  {name}: {text}" for name, text in in_force(summary.analysis, summary.convention))


def html_table(summary: Summary, depth: int | None = None, unfold: bool = False) -> str:
    """The table, its notes and the conventions in force, as an HTML fragment (Jupyter's
    _repr_html_, and the body of the full page below)."""
    from archcalc.printable import html as html_escape  # escaped, and bidi and zero-width characters shown

    analysis = summary.analysis

    def cells(values, tag="td"):
        return "".join(f"<{tag}>{html_escape(v)}</{tag}>" for v in values)

    shown = visible_rows(analysis, depth, unfold)
    rows = "".join(f"<tr>{cells(row_cells(r, analysis.totals, indent=False))}</tr>" for r in shown)
    notes = "".join(f"<li>{html_escape(line)}</li>" for line in family_shares(analysis))
    notes += "".join(f"<li>{html_escape(note)}</li>" for note in [fold_note(shown)] if note)
    notes += "".join(f"<li>warning [{html_escape(w.code)}] {html_escape(w.path)}: {html_escape(w.message)}</li>"
                     for w in analysis.warnings)
    notes += "".join(f"<li>{html_escape(n)}: {html_escape(t)}</li>"
                     for n, t in in_force(analysis, summary.convention))
    title = html_escape(" · ".join(header_lines(analysis, summary.convention)))
    # a table wider than the page scrolls in its own box (in a notebook too: the style is inline), the page does not
    return (f"<div class=\"archcalc\"><p><strong>{title}</strong></p>"
            f"<div class=\"wide\" style=\"overflow-x:auto\"><table><tr>{cells(COLUMNS, 'th')}</tr>{rows}"
            f"<tr>{cells(total_cells(analysis), 'th')}</tr></table></div><ul>{notes}</ul></div>")


def render_html(summary: Summary, depth: int | None = None, unfold: bool = False) -> str:
    """A self-contained page: the table, the per-layer chart (when matplotlib is installed)
    and the block diagram, both inline SVG. For course pages and CI artifacts."""
    from archcalc.pictures import diagram
    from archcalc.pictures.chart import layer_chart_bytes
    from archcalc.printable import html as html_escape
    from archcalc.spec.errors import SpecError

    analysis = summary.analysis
    try:
        chart_svg = layer_chart_bytes(analysis, "svg", depth).decode("utf-8")
        chart_svg = chart_svg[chart_svg.find("<svg"):]
    except SpecError as exc:  # symbolic sizes, no matplotlib, or nothing to chart: the page keeps table and diagram
        chart_svg = f"<p><em>chart omitted: {html_escape(exc.message)}</em></p>"
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>"
            + html_escape(analysis.name) + f"</title><style>{_PAGE_STYLE}</style></head><body>"
            f"<h1>{html_escape(analysis.name)}</h1>{html_table(summary, depth, unfold)}"
            f"<h2>Parameters and MACs per layer</h2><div class=\"wide\">{chart_svg}</div>"
            f"<h2>Diagram</h2><div class=\"wide\">{diagram.svg(analysis, depth)}</div></body></html>\n")


# Checked in headless Chromium (tests/test_browser.py): the page never scrolls sideways, its wide parts (the table,
# the pictures) scroll in their own box; counts and headers never wrap (a polynomial stays on one line); a name
# with no space to break at breaks anywhere rather than run out of its heading or note.
_PAGE_STYLE = ("body{font-family:sans-serif;margin:2em}h1,p,li{overflow-wrap:anywhere}"
               ".wide{overflow-x:auto}.wide svg{display:block}table{border-collapse:collapse}"
               "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}"
               "td:nth-child(-n+2),th:nth-child(-n+2){white-space:normal}"
               "td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}")


def render_markdown(summary: Summary, depth: int | None = None, extra: tuple[str, ...] = (),
                    unfold: bool = False) -> str:
    analysis = summary.analysis

    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    rf, train = "rf" in extra, "train" in extra
    cols = columns(extra)
    out = ["**" + " · ".join(header_lines(analysis, summary.convention)) + "**", "", line(cols),
           "|" + "|".join("---:" if c in _RIGHT else "---" for c in cols) + "|"]
    shown = visible_rows(analysis, depth, unfold, rf)
    out += [line(row_cells(r, analysis.totals, rf=rf, train=train, label=label))
            for r, label in zip(shown, row_labels(shown))]
    out.append(line([f"**{c}**" if c else "" for c in total_cells(analysis, rf, train)]))
    out.append("")
    out += [f"- {s}" for s in family_shares(analysis)]
    out += [f"- {note}" for note in [fold_note(shown)] if note]
    out += [f"- warning [{w.code}] `{w.path}` (line {w.loc.line}): {w.message}" for w in analysis.warnings]
    out += [f"- {name}: {text}" for name, text in in_force(analysis, summary.convention)]
    return "\n".join(out) + "\n"
