"""A summary as a person sees it: an analysis with the counting convention its MACs/FLOPs
follow (None: archcalc's own), shown as the per-layer table by Jupyter (_repr_html_) and
rich (__rich_console__). `archcalc.summary()` returns one; the report renderers take one."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archcalc.engine.analysis import Analysis, Row


@dataclass
class Summary:
    analysis: Analysis
    convention: Any = None  # a conventions.base.Convention

    @property
    def totals(self) -> dict:
        return self.analysis.totals

    @property
    def rows(self) -> list[Row]:
        return self.analysis.rows

    @property
    def name(self) -> str:
        return self.analysis.name

    def row(self, path: str) -> Row:
        return self.analysis.row(path)

    def _repr_html_(self) -> str:
        from archcalc.report.table import html_table

        return html_table(self)

    def __rich_console__(self, console, options):
        from archcalc.report.table import build_table

        yield build_table(self)

    def __repr__(self) -> str:
        text = repr(self.analysis)
        return text[:-1] + f", {self.convention.name} convention>" if self.convention else text
