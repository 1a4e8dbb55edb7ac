"""The per-layer table a lecturer could project (rich), and its Markdown twin."""
from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from archcalc.engine.analyze import Analysis
from archcalc.report.conventions import CONVENTIONS
from archcalc.report.summary import (COLUMNS, family_shares, header_lines, row_cells, safe_markup, total_cells,
                                     visible_rows)

_RIGHT = {"params", "neurons", "MACs", "FLOPs", "% params", "% FLOPs"}


def render_table(analysis: Analysis, console: Console, depth: int | None = None) -> None:
    table = Table(box=box.SIMPLE_HEAD, show_footer=False, pad_edge=False,
                  title=safe_markup(" · ".join(header_lines(analysis))), title_justify="left")
    for name in COLUMNS:
        table.add_column(name, justify="right" if name in _RIGHT else "left",
                         overflow="fold", no_wrap=name in _RIGHT)
    for row in visible_rows(analysis, depth):
        table.add_row(*(safe_markup(c) for c in row_cells(row, analysis.totals)),
                      style=None if row.neurons is not None else "dim")
    table.add_section()
    table.add_row(*total_cells(analysis), style="bold")
    console.print(table)
    for line in family_shares(analysis):
        console.print(f"  {line}")
    for w in analysis.warnings:
        console.print(f"[yellow]warning[/yellow] {safe_markup(f'[{w.code}] {w.path} (line {w.loc.line}): {w.message}')}",
                      highlight=False)
    console.print(_footer(), style="dim", highlight=False)


def _footer() -> str:
    return "\n".join(f"  {name}: {text}" for name, text in CONVENTIONS)


def render_markdown(analysis: Analysis, depth: int | None = None) -> str:
    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = ["**" + " · ".join(header_lines(analysis)) + "**", "", line(COLUMNS),
           "|" + "|".join("---:" if c in _RIGHT else "---" for c in COLUMNS) + "|"]
    out += [line(row_cells(r, analysis.totals)) for r in visible_rows(analysis, depth)]
    out.append(line([f"**{c}**" if c else "" for c in total_cells(analysis)]))
    out.append("")
    out += [f"- {s}" for s in family_shares(analysis)]
    out += [f"- warning [{w.code}] `{w.path}` (line {w.loc.line}): {w.message}" for w in analysis.warnings]
    out += [f"- {name}: {text}" for name, text in CONVENTIONS]
    return "\n".join(out) + "\n"
