"""`archcalc sweep`: totals over a grid of sizes as a table (the first and last points when
there are many), CSV or JSON (every point)."""
from __future__ import annotations

import csv
import io
import json

from archcalc.engine.sweep import QUANTITIES

SHOWN = 60  # a table shows every point up to this many, else the first and last half of it


def columns(result) -> list[str]:
    return result.names + list(QUANTITIES) + ["valid"]


def row(result, i: int) -> list:
    return [result.grid[n][i] for n in result.names] + [result.values[q][i] for q in QUANTITIES] + [result.valid[i]]


def render_json(result, out) -> None:
    out.echo(json.dumps({"columns": columns(result), "method": result.method,
                         "rows": [row(result, i) for i in range(result.points)]}))


def render_csv(result, out) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns(result))
    for i in range(result.points):
        writer.writerow(row(result, i))
    out.echo(buffer.getvalue(), nl=False)


def render_table(result, out) -> None:
    from rich.table import Table

    table = Table(title=f"{result.points:,} points ({result.method}); activation memory in bytes (float32)",
                  title_justify="left")
    for c in columns(result):
        table.add_column(c, justify="right", overflow="fold")  # a number wraps, never cut to "…"
    half = SHOWN // 2
    shown = range(result.points) if result.points <= SHOWN else \
        list(range(half)) + list(range(result.points - half, result.points))
    for i in shown:
        table.add_row(*(f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v).lower()
                        for v in row(result, i)))
    console = out.console()
    console.print(table)
    if result.points > SHOWN:
        console.print(f"(first and last {half} of {result.points:,} points; --format csv gives all)")


RENDERERS = {"table": render_table, "csv": render_csv, "json": render_json}
