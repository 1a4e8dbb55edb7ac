"""`expect:` values as a spec writes them, and how each compares with what the engine found.

A value is exact (an integer or an expression over the spec's names, compared exactly,
symbolically too), a human figure ("60M": the written precision is the tolerance), or
`{approx: N, rel: 0.01}` / `{approx: N, abs: 1000}`. A list is a shape. The same reader
serves answers files (grading) and `solve`'s constraints.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from archcalc.engine import numbers as N
from archcalc.spec.errors import Location, SpecError
from archcalc.spec.expr import parse_expr
from archcalc.spec.figures import parse_figure
from archcalc.spec.loader import YMap, YNode, YScalar, YSeq


@dataclass
class Expected:
    """A parsed expected value and how to compare it."""

    text: str
    loc: Location
    exact: Any = None  # int or sympy expression or a list of them (shapes)
    figure: Any = None
    approx: tuple | None = None  # (value, rel, abs)
    is_shape: bool = False

    def holds(self, found) -> tuple[bool, str | None]:
        if self.is_shape:
            if len(found) != len(self.exact):
                return False, None
            return all(equal(f, e) for f, e in zip(found, self.exact)), None
        if self.figure is not None or self.approx is not None:
            if N.is_symbolic(found):
                return False, "a formula can't be compared with an approximate figure: add `at:` sizes"
            center = self.figure.value if self.figure is not None else Fraction(self.approx[0])
            allowed = self.figure.tolerance if self.figure is not None else Fraction(0)
            if self.approx is not None:
                _, rel, abs_ = self.approx
                allowed = max(allowed, abs(center) * Fraction(str(rel)) if rel else 0,
                              Fraction(str(abs_)) if abs_ else 0)
            return abs(Fraction(found) - center) <= allowed, None
        return equal(found, self.exact), None

    def describe(self) -> str:
        if self.figure is not None and self.approx is not None:
            _, rel, abs_ = self.approx
            extra = f"{float(rel) * 100:g}%" if rel else N.fmt(abs_)
            return f"{self.figure.describe()}, or ± {extra}"
        if self.figure is not None:
            return self.figure.describe()
        if self.approx is not None:
            value, rel, abs_ = self.approx
            return f"{N.fmt(value)} ± " + (f"{float(rel) * 100:g}%" if rel else f"{N.fmt(abs_)}")
        if self.is_shape:
            return "[" + ", ".join(N.fmt(e) for e in self.exact) + "]"
        return N.fmt(self.exact)


SIMPLIFY_NOTES: list[str] = []  # set when a comparison fell back to the expanded form


def equal(found, expected) -> bool:
    """Exactly equal; a symbolic difference is simplified (within a time bound) to decide."""
    if not N.is_symbolic(found) and not N.is_symbolic(expected):
        return found == expected
    diff = N.sub(found, expected)
    if not N.is_symbolic(diff):
        return diff == 0
    simplified, note = N.simplify_bounded(diff)
    if note:
        SIMPLIFY_NOTES.append(note)
    return simplified == 0


class ExpectParser:
    """Reads an `expect:` mapping against an analysis' names; structural problems are SpecErrors."""

    def __init__(self, env: dict, file: str):
        self.env = env
        self.file = file

    def value(self, node: YNode, *, shape: bool = False) -> Expected:
        if shape:
            return self.shape(node)
        if isinstance(node, YMap):
            return self.tolerance(node)
        if not isinstance(node, YScalar):
            raise SpecError("an expected value must be a number, a figure or an expression", node.loc,
                            code="invalid-expect")
        return self.scalar(node)

    def shape(self, node: YNode) -> Expected:
        if not isinstance(node, YSeq):
            raise SpecError("a shape expectation must be a list", node.loc, expected="e.g. [96, 55, 55]",
                            code="invalid-expect")
        items = [self.value(i).exact for i in node.items]
        if any(i is None for i in items):
            raise SpecError("shape sizes must be exact", node.loc, code="invalid-expect")
        return Expected(str([str(i) for i in items]), node.loc, exact=items, is_shape=True)

    def tolerance(self, node: YMap) -> Expected:
        """{approx: N, rel: R} or {approx: N, abs: A}."""
        keys = set(node.entries)
        if "approx" not in keys or not keys <= {"approx", "rel", "abs"} or not keys & {"rel", "abs"}:
            raise SpecError("a tolerance is {approx: N, rel: R} or {approx: N, abs: A}", node.loc,
                            found=", ".join(keys), code="invalid-expect")
        approx = self.value(node.get("approx")).exact
        rel, abs_ = (node.get(k).value if node.get(k) is not None else None for k in ("rel", "abs"))
        for name, v in (("rel", rel), ("abs", abs_)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise SpecError(f"{name} must be a non-negative number", node.get(name).loc, code="invalid-expect")
        return Expected(f"{approx} ± ...", node.loc, approx=(approx, rel, abs_))

    def scalar(self, node: YScalar) -> Expected:
        """An integer, a figure ("60M") or an expression over the spec's names."""
        v = node.value
        if isinstance(v, bool) or v is None:
            raise SpecError("an expected value must be a number", node.loc, found=str(v), code="invalid-expect")
        if isinstance(v, int):
            return Expected(str(v), node.loc, exact=v)
        if isinstance(v, float):
            raise SpecError(f"expected values are exact integers, not {v!r}", node.loc,
                            hint="write a figure such as \"60M\", or {approx: N, rel: 0.01}", code="invalid-expect")
        figure = parse_figure(v)
        if figure is not None:
            return Expected(v, node.loc, figure=figure)
        return Expected(v, node.loc, exact=N.normalize(parse_expr(v, node.loc).evaluate(self.env)))
