"""Human figures read exactly as written: "60M", "35K", "14.4 billion", "200MB".

A figure states a value to the precision it is written with, so "60M" means 60,000,000
give or take half of its last written digit (±500,000), and "14.4 billion" ±50,000,000.
That implied tolerance is what a check accepts, and it is always shown.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from archcalc.engine import numbers as N

SCALES = {
    "k": 10**3, "thousand": 10**3,
    "m": 10**6, "million": 10**6,
    "g": 10**9, "b": 10**9, "billion": 10**9,
    "t": 10**12, "trillion": 10**12,
}
BYTE_SCALES = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_FIGURE = re.compile(r"^\s*([0-9][0-9,_]*(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*$")


@dataclass(frozen=True)
class Figure:
    value: Fraction
    tolerance: Fraction  # half a unit of the last written digit
    text: str

    def holds(self, found: int) -> bool:
        return abs(Fraction(found) - self.value) <= self.tolerance

    def describe(self) -> str:
        return f"{self.text} (read as {_fmt(self.value)} ± {_fmt(self.tolerance)}, the precision written)"


def _fmt(x: Fraction) -> str:
    return N.int_text(int(x), grouped=True) if x.denominator == 1 else N.float_text(x, ",")


def parse_figure(text: str, *, bytes_ok: bool = False) -> Figure | None:
    """A Figure, or None when the text is not a number with a scale word."""
    m = _FIGURE.match(text)
    if not m:
        return None
    number, unit = m.group(1).replace(",", "").replace("_", ""), m.group(2).lower()
    scale = (BYTE_SCALES.get(unit) if bytes_ok else None) or SCALES.get(unit)
    if scale is None:
        return None
    decimals = len(number.split(".")[1]) if "." in number else 0
    value = Fraction(number) * scale
    tolerance = Fraction(scale, 2 * 10**decimals)
    return Figure(value, tolerance, text.strip())
