"""`archcalc sweep`: totals over a grid of sizes, from formulas compiled once.

The engine analyses the spec once with the swept names symbolic; the totals (params,
MACs, FLOPs, activation memory) and every layer's output sizes (for validity) are compiled
with sympy.lambdify and evaluated on whole numpy arrays, so a million grid points cost
about as much as one analysis. Values are exact: floats hold integers exactly below 2**53,
which the sweep checks, and without numpy (or beyond that bound) each point, at most 2,000, is evaluated
exactly with Python integers instead.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from archcalc.engine import numbers as N
from archcalc.engine.analyze import MAX_COUNT, MAX_SIZE, analyze
from archcalc.spec.errors import Location, SpecError, did_you_mean
from archcalc.spec.model import Spec

QUANTITIES = ("params", "macs", "flops", "activation_memory")
BYTES_PER_ACTIVATION = 4
EXACT_FLOAT = 2**53
MAX_POINTS = 1_000_000  # 4.6 s of CPU and 570 MB as JSON (SECURITY.md); 50,000,000 would need about 28 GB
MAX_EXACT_POINTS = 2_000  # past 2**53 each point is evaluated exactly, about 1 ms each


@dataclass
class Sweep:
    names: list[str]
    grid: dict[str, list[int]]  # column per swept name
    values: dict[str, list[int]]  # column per quantity
    valid: list[bool]
    method: str

    @property
    def points(self) -> int:
        return len(self.valid)


def parse_over(text: str) -> tuple[str, list[int]]:
    """'H=32:1024:32' (start:stop:step, stop included), 'H=224,227,256' or 'H=224'; each value
    a size within torch's int64, at most MAX_POINTS of them (a range's length is checked before
    it is listed)."""
    name, sep, spec = text.partition("=")
    shown = text if len(text) <= 80 else text[:77] + "…"
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name.strip()):
        raise SpecError(f"--over {shown}: expected NAME=START:STOP[:STEP] or NAME=V1,V2,...", Location("--over"),
                        expected="e.g. --over H=32:1024:32", code="usage")
    values = _values(shown, spec)
    if len(values) > MAX_POINTS:
        raise SpecError(f"--over {shown}: {len(values):,} values, more than the {MAX_POINTS:,} points a sweep may "
                        "have", Location("--over"), hint="use a coarser step", code="limit")
    if not len(values):
        raise SpecError(f"--over {shown}: no values (STOP is below START)", Location("--over"), code="usage")
    low, high = (values[0], values[-1]) if isinstance(values, range) else (min(values), max(values))
    if low < 1:
        raise SpecError(f"--over {shown}: sizes are positive", Location("--over"), code="usage")
    if high > MAX_SIZE:
        raise SpecError(f"--over {shown}: {name.strip()} = {high:,} passes torch's limit of {MAX_SIZE:,} "
                        "(2^63 - 1)", Location("--over"), hint="sweep smaller values", code="limit")
    return name.strip(), list(values)


def _values(shown: str, spec: str) -> range | list[int]:
    """START:STOP[:STEP] as a range (its length, first and last read, never iterated: min() of a
    range would walk it), or V1,V2,..."""
    try:
        parts = [p.strip() for p in spec.split(":" if ":" in spec else ",")]
        if any(len(p) > 30 for p in parts):  # past any size torch takes; int() refuses 4,300 digits
            raise ValueError
        numbers = [int(p) for p in parts]
        if ":" not in spec:
            return numbers
        if len(numbers) not in (2, 3) or (len(numbers) == 3 and numbers[2] < 1):
            raise ValueError
        return range(numbers[0], numbers[1] + 1, numbers[2] if len(numbers) == 3 else 1)
    except ValueError:
        raise SpecError(f"--over {shown}: the values must be whole numbers of at most 30 digits", Location("--over"),
                        expected="NAME=START:STOP[:STEP] with a positive STEP, or NAME=V1,V2,...",
                        code="usage") from None


def sweep(spec: Spec, over: list[tuple[str, list[int]]], overrides: dict | None = None,
          variant: str | None = None) -> Sweep:
    sp = N.sympy_module()
    names = [n for n, _ in over]
    _check_names(spec, names)
    _check_points(over)
    symbols = {n: sp.Symbol(n, integer=True, positive=True) for n in names}
    analysis = _symbolic(spec, names, symbols, dict(overrides or {}), variant)
    totals = {"params": analysis.totals["params"], "macs": analysis.totals["macs"],
              "flops": analysis.totals["flops"],
              "activation_memory": N.mul(analysis.totals["activations"], BYTES_PER_ACTIVATION)}
    sizes = list(dict.fromkeys(d for r in analysis.rows for d in r.output if N.is_symbolic(d)))
    elements = {}  # each symbolic element count, and the first layer that has it
    for r in analysis.rows:
        if any(map(N.is_symbolic, r.output)):
            elements.setdefault(N.product(r.output), r.path)
    try:
        import numpy as np
    except ImportError:
        np = None
    if np is not None:
        result = _vectorised(np, sp, names, over, symbols, totals, sizes)
        if result is not None:
            return result
    return _exact(names, over, totals, sizes, elements)


def _check_names(spec: Spec, names: list[str]) -> None:
    known = list(spec.dims) + list(spec.vars) + list(spec.unknowns) + _input_names(spec)
    for name in names:
        if name not in known:
            raise SpecError(f"--over {name}: the spec has no var or dimension of that name", Location("--over"),
                            expected="one of " + ", ".join(dict.fromkeys(known)), hint=did_you_mean(name, known),
                            code="usage")


def _check_points(over: list[tuple[str, list[int]]]) -> None:
    count = 1
    for _, values in over:
        count *= len(values)
    if count > MAX_POINTS:
        raise SpecError(f"the grid has {count:,} points (more than {MAX_POINTS:,})", Location("--over"),
                        hint="use a coarser step", code="limit")


def _symbolic(spec: Spec, names: list[str], symbols: dict, overrides: dict, variant: str | None):
    """The analysis with the swept names symbolic, and every other open size at its default."""
    swept_vars = {n: symbols[n] for n in names if n in spec.vars}
    analysis = analyze(spec, {**overrides, **swept_vars}, variant=variant)
    unbound = [s for s in analysis.symbols if s not in names]
    if not unbound:
        return analysis
    defaults = {s: spec.dims[s].default for s in unbound if s in spec.dims and spec.dims[s].default}
    if len(defaults) < len(unbound):
        missing = [s for s in unbound if s not in defaults]
        raise SpecError("sizes left open: " + ", ".join(missing), Location(spec.file),
                        hint="sweep them too (--over) or bind them with --set", code="usage")
    return analyze(spec, {**overrides, **swept_vars, **{k: str(v) for k, v in defaults.items()}}, variant=variant)


def _input_names(spec: Spec) -> list[str]:
    return [n for v in spec.all_input_shapes() for n in sorted(getattr(v.raw, "names", ()))]


def _vectorised(np, sp, names, over, symbols, totals, sizes) -> Sweep | None:
    mesh = np.meshgrid(*[np.asarray(v, dtype=np.float64) for _, v in over], indexing="ij")
    columns = [m.ravel() for m in mesh]
    args = [symbols[n] for n in names]
    out: dict[str, Any] = {}
    for q, expr in totals.items():
        if N.is_symbolic(expr):
            f = sp.lambdify(args, expr, modules="numpy")
            out[q] = np.broadcast_to(np.asarray(f(*columns), dtype=np.float64), columns[0].shape)
        else:
            out[q] = np.full(columns[0].shape, float(expr))
        if np.abs(out[q]).max(initial=0) >= EXACT_FLOAT:
            return None  # beyond exact float integers: evaluate exactly instead
    valid = np.ones(columns[0].shape, dtype=bool)
    if sizes:
        f = sp.lambdify(args, sizes, modules="numpy")
        for value in f(*columns):
            valid &= np.broadcast_to(np.asarray(value), columns[0].shape) >= 1
    grid = {n: columns[i].astype(np.int64).tolist() for i, n in enumerate(names)}
    values = {q: np.rint(v).astype(np.int64).tolist() for q, v in out.items()}
    return Sweep(names, grid, values, valid.tolist(), "compiled formulas, evaluated with numpy")


def _exact(names, over, totals, sizes, elements) -> Sweep:
    """Each point with Python integers, at most MAX_EXACT_POINTS of them (about a millisecond
    each), every value checked against the bounds every analysis keeps: counts below 10^30,
    sizes and element counts within torch's int64."""
    points = 1
    for _, values in over:
        points *= len(values)
    if points > MAX_EXACT_POINTS:
        raise SpecError(f"the sweep's values pass 2^53, where floats stop being exact; evaluated exactly point by "
                        f"point, a sweep may have {MAX_EXACT_POINTS:,} points, and this one has {points:,}",
                        Location("--over"), hint="use a coarser step, or fewer swept names", code="limit")
    grid: dict[str, list[int]] = {n: [] for n in names}
    values: dict[str, list[int]] = {q: [] for q in totals}
    valid: list[bool] = []
    for point in itertools.product(*(v for _, v in over)):
        binding = dict(zip(names, point))
        for n, v in binding.items():
            grid[n].append(v)
        for q, expr in totals.items():
            values[q].append(_within(int(N.substitute(expr, binding)), MAX_COUNT, q, binding))
        valid.append(all(N.substitute(s, binding) >= 1 for s in sizes))
        for e, path in elements.items():  # every size is at most its layer's element count
            _within(N.substitute(e, binding), MAX_SIZE, f"the element count of layer '{path}'", binding)
    return Sweep(names, grid, values, valid, "exact evaluation point by point")


def _within(value: int, bound: int, what: str, binding: dict[str, int]) -> int:
    """`value`, or a located error naming the swept values at which it passes `bound`."""
    if abs(value) > bound:
        at = ", ".join(f"{n}={v:,}" for n, v in binding.items())
        limit = "10^30, the bound on any count" if bound == MAX_COUNT else f"torch's limit of {MAX_SIZE:,} (2^63 - 1)"
        raise SpecError(f"at {at}: {what} is {N.fmt(value)}, past {limit}", Location("--over"),
                        hint="sweep " + " and ".join(binding) + " over smaller values", code="limit")
    return value
