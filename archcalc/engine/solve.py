"""`archcalc solve`: the integer values of a spec's open quantities that make its
expectations hold.

Open quantities are arguments written "?" (named after their layer: conv2.padding) and
symbolic dimensions. Constraints are the spec's exact `expect:` values (shapes, layer and
total counts) and, with `exact=True`, that every stride divides exactly (no
inexact-division warning). sympy solves the equations when they are free of floors; the
answers are then confirmed by a concrete analysis. Otherwise a bounded search over the
integer ranges tries each candidate with the concrete engine, and says what it searched.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from archcalc.spec.expect import ExpectParser
from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis
from archcalc.engine.analyze import analyze
from archcalc.spec.errors import Location, SpecError, did_you_mean
from archcalc.spec.loader import YMap
from archcalc.spec.model import Spec

MAX_CANDIDATES = 200_000
DEFAULT_MAX = 1024


@dataclass
class Solution:
    unknowns: list[str]
    solutions: list[dict[str, int]]
    method: str  # "sympy" or a description of the search
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    constraints: list[str] = field(default_factory=list)
    complete: bool = True  # False when the search stopped at the first (smallest) solution


@dataclass(frozen=True)
class Constraint:
    """An exact expectation: the quantity of a layer (or of the network, path None) and its value."""

    path: str | None
    quantity: str
    found: Any  # the engine's value in the symbolic analysis
    expected: Any

    @property
    def text(self) -> str:
        return f"{self.path}.{self.quantity}" if self.path else self.quantity

    def value_in(self, analysis: Analysis):
        if self.path is not None:
            return getattr(analysis.row(self.path), self.quantity)
        return analysis.output if self.quantity == "output" else analysis.totals[self.quantity]


def _constraints(spec: Spec, analysis: Analysis) -> list[Constraint]:
    """Each exact expectation of the spec."""
    out: list[Constraint] = []
    if not isinstance(spec.expect, YMap):
        return out
    env = dict(analysis.bindings)
    for name in analysis.symbols:
        env[name] = N.sympy_module().Symbol(name, integer=True, positive=True)
    parser = ExpectParser(env, spec.file)
    for key, (_, node) in spec.expect.entries.items():
        if key == "layers" and isinstance(node, YMap):
            for path, (ploc, body) in node.entries.items():
                try:
                    row = analysis.row(path)
                except KeyError:
                    raise SpecError(f"no layer has the path '{path}'", ploc, code="invalid-expect") from None
                for q, (_, v) in body.entries.items() if isinstance(body, YMap) else ():
                    e = parser.value(v, shape=q in ("input", "output"))
                    if e.exact is not None:
                        out.append(Constraint(path, q, getattr(row, q), e.exact))
        elif key in ("output", "params", "buffers", "neurons", "activations", "macs", "flops"):
            e = parser.value(node, shape=key == "output")
            if e.exact is not None:
                out.append(Constraint(None, key, analysis.output if key == "output" else analysis.totals[key],
                                      e.exact))
    return out


def _holds(found: Any, expected: Any) -> bool:
    if isinstance(expected, list):
        return len(found) == len(expected) and all(N.normalize(f) == N.normalize(e) for f, e in zip(found, expected))
    return N.normalize(found) == N.normalize(expected)


def solve(spec: Spec, wanted: list[str] | None = None, *, exact: bool = False, smallest: bool = False,
          maximum: int = DEFAULT_MAX, overrides: dict | None = None) -> Solution:
    overrides = dict(overrides or {})
    symbolic = analyze(spec, overrides)
    open_names = list(symbolic.symbols)
    if not open_names:
        raise SpecError("nothing to solve: the spec leaves no argument open and has no symbolic size",
                        Location(spec.file), hint='write an argument as "?" (padding: "?") or a size as a name',
                        code="usage")
    unknowns = open_names
    if wanted:
        unknowns = []
        for w in wanted:
            hits = [n for n in open_names if n == w or n.endswith("." + w)]
            if not hits:
                raise SpecError(f"--for {w}: the spec has no open quantity of that name", Location("--for"),
                                expected="one of " + ", ".join(open_names), hint=did_you_mean(w, open_names),
                                code="usage")
            unknowns += [h for h in hits if h not in unknowns]
        missing = [n for n in open_names if n not in unknowns]
        if missing:
            raise SpecError("these open quantities have no value: " + ", ".join(missing), Location("--for"),
                            hint="add them to --for, or bind them with --set", code="usage")
    constraints = _constraints(spec, symbolic)
    if not constraints and not exact:
        raise SpecError("nothing constrains the open quantities", Location(spec.file),
                        hint="add expect: values (e.g. layers: {conv2: {output: [256, 27, 27]}}) or use --exact",
                        code="usage")
    descriptions = [f"{c.text} = {_show(c.expected)}" for c in constraints] + (["every division exact"] if exact else [])
    result = None if exact else _sympy(spec, symbolic, unknowns, constraints, overrides)
    if result is not None:
        result.constraints = descriptions
        return result
    return _search(spec, unknowns, constraints, exact, smallest, maximum, overrides, descriptions)


def _show(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(N.fmt(v) for v in value) + "]"
    return N.fmt(value)


def _equations(constraints) -> list | None:
    """Each exact constraint as an expression equal to 0; None when one has a floor (the search
    handles those)."""
    sp = N.sympy_module()
    equations = []
    for c in constraints:
        pairs = zip(c.found, c.expected) if isinstance(c.expected, list) else [(c.found, c.expected)]
        for f, e in pairs:
            diff, _note = N.simplify_bounded(N.to_sympy(N.sub(f, e)))
            if diff == 0:
                continue
            if diff.has(sp.floor, sp.ceiling, sp.Mod, sp.Max, sp.Min):
                return None
            equations.append(diff)
    return equations


def _sympy(spec, symbolic, unknowns, constraints, overrides) -> Solution | None:
    sp = N.sympy_module()
    equations = _equations(constraints)
    if not equations:
        return None
    symbols = {s.name: s for eq in equations for s in eq.free_symbols}
    if any(name not in unknowns for name in symbols):
        return None
    unknown_syms = [symbols[n] for n in unknowns if n in symbols]
    try:
        raw = sp.solve(equations, unknown_syms, dict=True)
    except (NotImplementedError, ValueError, TypeError):
        return None
    if any(len(sol) < len(unknown_syms) or any(not v.is_number for v in sol.values()) for sol in raw):
        return None  # infinitely many: search instead
    solutions = []
    for sol in raw:
        if not all(v.is_integer and v >= 0 for v in sol.values()):
            continue
        binding = {s.name: int(v) for s, v in sol.items()}
        if _satisfies(spec, binding, constraints, False, overrides):
            solutions.append(binding)
    return Solution(unknowns, solutions, "sympy")


def _satisfies(spec, binding, constraints, exact, overrides) -> bool:
    try:
        analysis = analyze(spec, {**overrides, **{k: str(v) for k, v in binding.items()}})
    except SpecError:
        return False
    if exact and any(w.code == "inexact-division" for w in analysis.warnings):
        return False
    return all(_holds(c.value_in(analysis), c.expected) for c in constraints)


def _range(spec: Spec, name: str, maximum: int) -> tuple[int, int]:
    decl = spec.dims.get(name)
    if decl is not None:
        lo = decl.min or 1
        return lo, decl.max or max(lo + maximum, maximum)
    return (0, maximum) if name.endswith(".padding") else (1, maximum)


def _search(spec, unknowns, constraints, exact, smallest, maximum, overrides, descriptions) -> Solution:
    ranges = {n: _range(spec, n, maximum) for n in unknowns}
    count = 1
    for lo, hi in ranges.values():
        count *= hi - lo + 1
    if count > MAX_CANDIDATES:
        raise SpecError(f"the search space has {count:,} candidates (more than {MAX_CANDIDATES:,})", Location(spec.file),
                        hint="bound the sizes (dims: {H: {min: .., max: ..}}), lower --max, or fix some with --set",
                        code="limit")
    solutions = []
    grid = itertools.product(*(range(lo, hi + 1) for lo, hi in ranges.values()))
    for values in grid:
        binding = dict(zip(unknowns, values))
        if _satisfies(spec, binding, constraints, exact, overrides):
            solutions.append(binding)
            if smallest:
                break
    method = "search over " + ", ".join(f"{n} in {lo}..{hi}" for n, (lo, hi) in ranges.items())
    return Solution(unknowns, solutions, method, ranges, descriptions, complete=not smallest)
