"""`expect:` blocks: what a spec declares about itself, checked against the engine.

Values are exact (an integer or an expression over the spec's names, compared exactly,
symbolically too), a human figure ("60M": the written precision is the tolerance), or
`{approx: N, rel: 0.01}` / `{approx: N, abs: 1000}`. `at:` checks a symbolic spec at given
sizes. Each failure carries its file:line, what was expected, what was found, and how the
engine derived it.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

from archcalc.check.figures import parse_figure
from archcalc.engine import numbers as N
from archcalc.engine.analysis import COUNTS, Analysis, Row
from archcalc.spec.errors import Location, SpecError, did_you_mean
from archcalc.spec.expr import parse_expr
from archcalc.spec.loader import YMap, YNode, YScalar, YSeq

TOTAL_KEYS = ("output",) + COUNTS
LAYER_KEYS = ("input", "output") + COUNTS
EXPECT_KEYS = TOTAL_KEYS + ("layers", "at")


@dataclass
class Result:
    """One expectation (or budget, verification, comparison) and whether it holds."""

    name: str  # e.g. "params", "layers.conv1.output", "at[1].macs"
    ok: bool
    expected: str
    found: str
    loc: Location | None = None
    derivation: str | None = None
    variant: str | None = None
    kind: str = "expect"  # expect | budget | verify | against

    def message(self) -> str:
        where = f" ({self.variant})" if self.variant else ""
        if self.ok:
            return f"{self.name}{where}: {self.found} as expected"
        return f"{self.name}{where}: expected {self.expected}, found {self.found}"


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
            return all(_equal(f, e) for f, e in zip(found, self.exact)), None
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
        return _equal(found, self.exact), None

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


def _equal(found, expected) -> bool:
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
            if not isinstance(node, YSeq):
                raise SpecError("a shape expectation must be a list", node.loc, expected="e.g. [96, 55, 55]",
                                code="invalid-expect")
            items = [self.value(i).exact for i in node.items]
            if any(i is None for i in items):
                raise SpecError("shape sizes must be exact", node.loc, code="invalid-expect")
            return Expected(str([str(i) for i in items]), node.loc, exact=items, is_shape=True)
        if isinstance(node, YMap):
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
        if not isinstance(node, YScalar):
            raise SpecError("an expected value must be a number, a figure or an expression", node.loc,
                            code="invalid-expect")
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
        exact = N.normalize(parse_expr(v, node.loc).evaluate(self.env))
        return Expected(v, node.loc, exact=exact)


def check_expect(expect: YNode, analysis: Analysis, reanalyze: Callable[[dict], Analysis],
                 variant: str | None = None) -> list[Result]:
    """Every expectation of one `expect:` block against an analysis (and `at:` re-analyses)."""
    if not isinstance(expect, YMap):
        raise SpecError("'expect' must be a mapping", expect.loc, expected="expect: {params: 60965224, ...}",
                        code="invalid-expect")
    results: list[Result] = []
    _check_block(expect, analysis, results, "", variant, allow_at=True, reanalyze=reanalyze)
    return results


def _env(analysis: Analysis) -> dict:
    env = dict(analysis.bindings)
    for name in analysis.symbols:
        env[name] = N.sympy_module().Symbol(name, integer=True, positive=True)
    return env


def _check_block(block: YMap, analysis: Analysis, results: list[Result], prefix: str, variant, *, allow_at: bool,
                 reanalyze=None) -> None:
    parser = ExpectParser(_env(analysis), analysis.spec.file)
    allowed = EXPECT_KEYS if allow_at else TOTAL_KEYS + ("layers",)
    for key, (kloc, node) in block.entries.items():
        if key == "dims" or key == "vars":
            continue  # the bindings of an `at:` entry, applied by the caller
        if key not in allowed:
            raise SpecError(f"unknown expectation '{key}'", kloc, expected="one of " + ", ".join(allowed),
                            hint=did_you_mean(key, allowed), code="invalid-expect")
        if key == "layers":
            _check_layers(node, analysis, parser, results, prefix, variant)
        elif key == "at":
            _check_at(node, results, variant, reanalyze)
        else:
            expected = parser.value(node, shape=key == "output")
            found = analysis.output if key == "output" else analysis.totals[key]
            results.append(_result(f"{prefix}{key}", expected, found, _total_derivation(analysis, key), variant))


def _check_layers(node: YNode, analysis: Analysis, parser: ExpectParser, results, prefix, variant) -> None:
    if not isinstance(node, YMap):
        raise SpecError("'layers' must map layer paths to expectations", node.loc, code="invalid-expect")
    paths = [r.path for r in analysis.rows]
    for path, (ploc, body) in node.entries.items():
        try:
            row = analysis.row(path)
        except KeyError:
            raise SpecError(f"no layer has the path '{path}'", ploc, hint=did_you_mean(path, paths)
                            or "run archcalc summarize to see every path", code="invalid-expect") from None
        if not isinstance(body, YMap):
            raise SpecError(f"expectations of '{path}' must be a mapping", body.loc, code="invalid-expect")
        for key, (kloc, value) in body.entries.items():
            if key not in LAYER_KEYS:
                raise SpecError(f"unknown layer expectation '{key}'", kloc, expected="one of " + ", ".join(LAYER_KEYS),
                                hint=did_you_mean(key, LAYER_KEYS), code="invalid-expect")
            expected = parser.value(value, shape=key in ("input", "output"))
            found = getattr(row, key)
            if found is None:
                found = 0 if key == "neurons" else found
            results.append(_result(f"{prefix}layers.{path}.{key}", expected, found, _row_derivation(row, key), variant))


def _check_at(node: YNode, results, variant, reanalyze) -> None:
    if not isinstance(node, YSeq):
        raise SpecError("'at' must be a list of {dims: {...}, <expectations>}", node.loc, code="invalid-expect")
    for i, entry in enumerate(node.items):
        if not isinstance(entry, YMap):
            raise SpecError("each 'at' entry must be a mapping", entry.loc, code="invalid-expect")
        bindings: dict[str, str] = {}
        for key in ("dims", "vars"):
            part = entry.get(key)
            if part is None:
                continue
            if not isinstance(part, YMap):
                raise SpecError(f"at[{i}].{key} must map names to values", part.loc, code="invalid-expect")
            for name, (_, value) in part.entries.items():
                if not isinstance(value, YScalar) or isinstance(value.value, (float, type(None))):
                    raise SpecError(f"at[{i}].{key}.{name} must be a whole number or true/false", value.loc,
                                    code="invalid-expect")
                v = value.value
                bindings[name] = ("true" if v else "false") if isinstance(v, bool) else str(v)
        analysis = reanalyze(bindings)
        sizes = ", ".join(f"{k}={v}" for k, v in bindings.items())
        _check_block(entry, analysis, results, f"at[{sizes}].", variant, allow_at=False)


def _result(name: str, expected: Expected, found, derivation: str, variant) -> Result:
    SIMPLIFY_NOTES.clear()
    ok, why = expected.holds(found)
    if SIMPLIFY_NOTES:
        derivation = f"{derivation} ({SIMPLIFY_NOTES[0]})"
    found_text = ("[" + ", ".join(N.fmt(d) for d in found) + "]") if isinstance(found, tuple) else N.fmt(found)
    return Result(name, ok, expected.describe(), found_text + (f" ({why})" if why else ""), expected.loc,
                  derivation, variant)


def top_contributors(analysis: Analysis, quantity: str, n: int = 3) -> list[Row]:
    leaves = [r for r in analysis.rows if r.leaf and getattr(r, quantity) not in (None, 0)]
    if any(N.is_symbolic(getattr(r, quantity)) for r in leaves):
        return leaves[:n]
    return sorted(leaves, key=lambda r: getattr(r, quantity), reverse=True)[:n]


def _total_derivation(analysis: Analysis, key: str) -> str:
    if key == "output":
        last = [r for r in analysis.rows if r.leaf][-1]
        return f"output of the last layer, '{last.path}' (line {last.loc.line})"
    leaves = [r for r in analysis.rows if r.leaf]
    top = top_contributors(analysis, key)
    parts = ", ".join(f"{r.path} {N.fmt(getattr(r, key))}" for r in top)
    return f"the sum over {len(leaves)} layer(s)" + (f"; largest: {parts}" if parts else "")


def _row_derivation(row: Row, key: str) -> str:
    from archcalc.engine.derive import steps_for

    steps = [s.text() for s in steps_for(row, key)]
    where = f"{row.kind} '{row.path}' (line {row.loc.line})"
    return where + (": " + "; ".join(steps) if steps else "")
