"""`expect:` blocks: what a spec declares about itself, checked against the engine.

The values are read by spec/expect.py; here each is compared with the analysis, `at:`
re-analyses a symbolic spec at given sizes, and each failure carries its file:line, what
was expected, what was found, and how the engine derived it.
"""
from __future__ import annotations

from typing import Callable

from archcalc.engine import numbers as N
from archcalc.engine.analysis import COUNTS, Analysis, Row
from archcalc.outcome import Outcome
from archcalc.spec.errors import SpecError, did_you_mean, did_you_mean_path
from archcalc.spec.expect import SIMPLIFY_NOTES, Expected, ExpectParser
from archcalc.spec.loader import YMap, YNode, YScalar, YSeq

TOTAL_KEYS = ("output",) + COUNTS
LAYER_KEYS = ("input", "output") + COUNTS
EXPECT_KEYS = TOTAL_KEYS + ("layers", "at")


def check_expect(expect: YNode, analysis: Analysis, reanalyze: Callable[[dict], Analysis],
                 variant: str | None = None) -> list[Outcome]:
    """Every expectation of one `expect:` block against an analysis (and `at:` re-analyses)."""
    if not isinstance(expect, YMap):
        raise SpecError("'expect' must be a mapping", expect.loc, expected="expect: {params: 60965224, ...}",
                        code="invalid-expect")
    results: list[Outcome] = []
    _check_block(expect, analysis, results, "", variant, allow_at=True, reanalyze=reanalyze)
    return results


def _env(analysis: Analysis) -> dict:
    env = dict(analysis.bindings)
    for name in analysis.symbols:
        env[name] = N.sympy_module().Symbol(name, integer=True, positive=True)
    return env


def _check_block(block: YMap, analysis: Analysis, results: list[Outcome], prefix: str, variant, *, allow_at: bool,
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
            raise SpecError(f"no layer has the path '{path}'", ploc, hint=did_you_mean_path(path, paths)
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


def _result(name: str, expected: Expected, found, derivation: str, variant) -> Outcome:
    SIMPLIFY_NOTES.clear()
    ok, why = expected.holds(found)
    if SIMPLIFY_NOTES:
        derivation = f"{derivation} ({SIMPLIFY_NOTES[0]})"
    found_text = ("[" + ", ".join(N.fmt(d) for d in found) + "]") if isinstance(found, tuple) else N.fmt(found)
    return Outcome(name, ok, expected.describe(), found_text + (f" ({why})" if why else ""), expected.loc,
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
