"""`archcalc solve`: the integer values of a spec's open quantities that make its
expectations hold.

Open quantities are arguments written "?" (named after their layer: conv2.padding; each "?"
of a per-axis list is its own unknown, conv2.padding[0] and conv2.padding[1]) and symbolic
dimensions. Constraints are the spec's exact `expect:` values (shapes, layer and total
counts), each shape compared size by size, and, with `exact=True`, that every stride divides
exactly (no inexact-division warning).

The unknowns are split into independent parts first: two unknowns belong to one part when
a constraint, or a size of some layer's input or output, depends on both (the walk's
symbolic analysis says which). Each part is solved alone, with the other parts' unknowns left
symbolic: sympy solves its equations when they are free of floors, and the answers are
confirmed by the engine; otherwise a bounded search over its integer ranges tries each
candidate with the engine, and says what it searched. So `padding: ["?", "?"]` is two
searches of one unknown each, not one search of their product. The solutions are the
combinations of the parts' solutions; every solution of every part is checked again by a
concrete analysis with every unknown bound (the others at their first solutions). A failure
there (a coupling the shapes do not show, such as a merge's equal sizes) falls back to
checking every combination of the parts' solutions with the engine: a part's solutions hold
whatever the other unknowns are, so no joint solution lies outside them.

A part of one unknown whose solutions over its searched range are exactly the values of
one residue class in that range (every W with W ≡ 3 (mod 4) between 11 and 1023, and no
other) is summarised as that class: `ResidueClass`.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from archcalc.spec.expect import ExpectParser
from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis
from archcalc.engine.analyze import analyze
from archcalc.spec.errors import Location, SpecError, did_you_mean, did_you_mean_path
from archcalc.spec.loader import YMap
from archcalc.spec.model import Spec

MAX_CANDIDATES = 200_000
DEFAULT_MAX = 1024
CLASS_MIN = 3  # fewer solutions than this are listed, never summarised as a class
LISTED = 20  # solutions listed in the JSON beside a class or a total (the first ones)
_INDEX = re.compile(r"(\[\d+\])+$")


def base_name(name: str) -> str:
    """An unknown's name without its axis index: conv1.padding[1] -> conv1.padding."""
    return _INDEX.sub("", name)


@dataclass(frozen=True)
class ResidueClass:
    """The solutions of one unknown when they are exactly the values v ≡ residue (mod modulus)
    of its searched range: min and max are the first and last of them, count how many."""

    unknown: str
    modulus: int
    residue: int
    min: int
    max: int
    count: int

    @property
    def text(self) -> str:
        u = self.unknown
        if self.modulus == 1:
            return f"every {u} with {self.min} ≤ {u} ≤ {self.max}"
        return f"{u} ≡ {self.residue} (mod {self.modulus}), {self.min} ≤ {u} ≤ {self.max}"

    def to_json(self) -> dict:
        return {"unknown": self.unknown, "modulus": self.modulus, "residue": self.residue, "min": self.min,
                "max": self.max, "count": self.count}


@dataclass
class Part:
    """Unknowns solved together (no constraint or size ties them to the other parts)."""

    unknowns: list[str]
    solutions: list[dict[str, int]]
    method: str  # "sympy" or a description of the search
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    constraints: list[str] = field(default_factory=list)  # the constraints on these unknowns
    complete: bool = True  # False when the search stopped at the first (smallest) solution
    residue: ResidueClass | None = None


@dataclass
class Solution:
    unknowns: list[str]
    parts: list[Part]
    constraints: list[str] = field(default_factory=list)
    impossible: list[str] = field(default_factory=list)  # constraints no value of the unknowns can meet
    note: str | None = None  # why the parts were given up for one joint solve

    @property
    def count(self) -> int:
        if self.impossible:
            return 0
        n = 1
        for p in self.parts:
            n *= len(p.solutions)
        return n

    @property
    def complete(self) -> bool:
        return all(p.complete for p in self.parts)

    @property
    def method(self) -> str:
        if len(self.parts) == 1:
            return self.parts[0].method
        return "each part apart: " + "; ".join(f"{', '.join(p.unknowns)} by {p.method}" for p in self.parts)

    def combinations(self) -> Iterator[dict[str, int]]:
        """Every solution, in order (the first part varies slowest)."""
        if self.impossible:
            return
        for combo in itertools.product(*(p.solutions for p in self.parts)):
            merged = {k: v for s in combo for k, v in s.items()}
            yield {u: merged[u] for u in self.unknowns}

    def first(self, n: int) -> list[dict[str, int]]:
        return list(itertools.islice(self.combinations(), n))

    @property
    def solutions(self) -> list[dict[str, int]]:
        """Every solution (all the combinations of the parts': mind the product)."""
        return list(self.combinations())


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


@dataclass(frozen=True)
class Item:
    """One size of a shape constraint (index) or a whole scalar one (index None)."""

    constraint: Constraint
    index: int | None
    found: Any
    expected: Any
    names: frozenset[str]  # the unknowns it depends on

    @property
    def text(self) -> str:
        where = self.constraint.text + ("" if self.index is None else f"[{self.index}]")
        return f"{where} = {N.fmt(self.expected)}"

    def holds_in(self, analysis: Analysis, binding: dict[str, int]) -> bool:
        found = self.constraint.value_in(analysis)
        if self.index is not None:
            found = found[self.index]
        return N.normalize(found) == N.normalize(N.substitute(self.expected, binding))


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
                    raise SpecError(f"no layer has the path '{path}'", ploc, code="invalid-expect",
                                    hint=did_you_mean_path(path, [r.path for r in analysis.rows])
                                    or "run archcalc summarize to see every path") from None
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


def _names(value: Any) -> set[str]:
    """The names of the symbols a value (a number, or a shape: nested tuples) depends on."""
    if isinstance(value, (list, tuple)):
        return set().union(*(_names(v) for v in value)) if value else set()
    if value is None or not N.is_symbolic(value):
        return set()
    return {s.name for s in getattr(value, "free_symbols", ())}


def _items(constraints: list[Constraint]) -> tuple[list[Item], list[str]]:
    """The constraints size by size; those that hold whatever the unknowns are dropped, and
    those that fail whatever they are returned apart (as text)."""
    items: list[Item] = []
    impossible: list[str] = []
    for c in constraints:
        if isinstance(c.expected, list):
            if len(c.found) != len(c.expected):
                impossible.append(f"{c.text} = {_show(c.expected)}: it has {len(c.found)} sizes, not "
                                  f"{len(c.expected)}")
                continue
            pairs = [(i, f, e) for i, (f, e) in enumerate(zip(c.found, c.expected))]
        else:
            pairs = [(None, c.found, c.expected)]
        for i, f, e in pairs:
            item = Item(c, i, f, e, frozenset(_names(f) | _names(e)))
            if not item.names:
                if N.normalize(f) != N.normalize(e):
                    impossible.append(f"{item.text}: it is {N.fmt(f)} whatever the open quantities are")
                continue
            diff, _note = N.simplify_bounded(N.to_sympy(N.sub(f, e)))
            if diff != 0:
                items.append(item)
    return items, impossible


def _parts(unknowns: list[str], items: list[Item], analysis: Analysis) -> list[list[str]]:
    """The unknowns grouped so that no constraint size and no layer's input or output size
    depends on unknowns of two groups (union-find), in the order of `unknowns`."""
    parent = {u: u for u in unknowns}

    def root(u: str) -> str:
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    def join(names) -> None:
        names = [n for n in names if n in parent]
        for a, b in zip(names, names[1:]):
            parent[root(a)] = root(b)

    for item in items:
        join(sorted(item.names))
    for row in analysis.rows:
        for shape in (row.input, row.output):
            for size in _flat(shape):
                join(sorted(_names(size)))
    groups: dict[str, list[str]] = {}
    for u in unknowns:
        groups.setdefault(root(u), []).append(u)
    return list(groups.values())


def _flat(shape: Any) -> Iterator[Any]:
    if isinstance(shape, (list, tuple)):
        for s in shape:
            yield from _flat(s)
    else:
        yield shape


def solve(spec: Spec, wanted: list[str] | None = None, *, exact: bool = False, smallest: bool = False,
          maximum: int = DEFAULT_MAX, overrides: dict | None = None) -> Solution:
    overrides = dict(overrides or {})
    symbolic = analyze(spec, overrides, assume_undecided=True)  # every solution is confirmed with the sizes bound
    open_names = list(symbolic.symbols)
    if not open_names:
        raise SpecError("nothing to solve: the spec leaves no argument open and has no symbolic size",
                        Location(spec.file), hint='write an argument as "?" (padding: "?") or a size as a name',
                        code="usage")
    unknowns = _wanted(open_names, wanted) if wanted else open_names
    constraints = _constraints(spec, symbolic)
    if not constraints and not exact:
        raise SpecError("nothing constrains the open quantities", Location(spec.file),
                        hint="add expect: values (e.g. layers: {conv2: {output: [256, 27, 27]}}) or use --exact",
                        code="usage")
    descriptions = [f"{c.text} = {_show(c.expected)}" for c in constraints] + (["every division exact"] if exact else [])
    items, impossible = _items(constraints)
    if exact:
        impossible += [f"every division exact: '{w.path}' divides inexactly whatever the open quantities are "
                       f"({w.message})" for w in symbolic.warnings if w.code == "inexact-division"]
    if impossible:
        return Solution(unknowns, [], descriptions, impossible)
    groups = _parts(unknowns, items, symbolic)
    parts = [_solve_part(spec, g, [i for i in items if i.names & set(g)], exact, smallest, maximum, overrides)
             for g in groups]
    result = Solution(unknowns, parts, descriptions)
    if len(parts) > 1 and result.count and not _confirmed(spec, result, items, exact, overrides):
        part = _joint(spec, unknowns, parts, items, exact, smallest, maximum, overrides)
        result = Solution(unknowns, [part], descriptions,
                          note="the parts' solutions do not all hold together (a check the shapes do not show, "
                               "such as a merge's equal sizes, ties them), so every combination was checked")
    for part in result.parts:
        part.residue = _residue_class(part)
    return result


def _wanted(open_names: list[str], wanted: list[str]) -> list[str]:
    """The open quantities --for names (every one of them must be named), in the spec's order."""
    chosen: set[str] = set()
    for w in wanted:
        hits = [n for n in open_names if _matches(n, w)]
        if not hits:
            raise SpecError(f"--for {w}: the spec has no open quantity of that name", Location("--for"),
                            expected="one of " + ", ".join(open_names), hint=did_you_mean(w, open_names),
                            code="usage")
        chosen.update(hits)
    missing = [n for n in open_names if n not in chosen]
    if missing:
        raise SpecError("these open quantities have no value: " + ", ".join(missing), Location("--for"),
                        hint="add them to --for, or bind them with --set", code="usage")
    return [n for n in open_names if n in chosen]


def _matches(name: str, wanted: str) -> bool:
    """--for padding names conv1.padding and both of conv1.padding[0] and conv1.padding[1]."""
    return any(n == wanted or n.endswith("." + wanted) for n in (name, base_name(name)))


def _show(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(N.fmt(v) for v in value) + "]"
    return N.fmt(value)


def _solve_part(spec, unknowns, items, exact, smallest, maximum, overrides) -> Part:
    texts = [i.text for i in items] + (["every division exact"] if exact else [])
    part = None if exact else _sympy(spec, unknowns, items, overrides)
    if part is None:
        part = _search(spec, unknowns, items, exact, smallest, maximum, overrides)
    part.constraints = texts
    return part


def _equations(items: list[Item]) -> list | None:
    """Each constraint size as an expression equal to 0; None when one has a floor (the search
    handles those)."""
    sp = N.sympy_module()
    equations = []
    for item in items:
        diff, _note = N.simplify_bounded(N.to_sympy(N.sub(item.found, item.expected)))
        if diff == 0:
            continue
        if diff.has(sp.floor, sp.ceiling, sp.Mod, sp.Max, sp.Min):
            return None
        equations.append(diff)
    return equations


def _sympy(spec, unknowns, items, overrides) -> Part | None:
    equations = _equations(items)
    if not equations:
        return None
    symbols = {s.name: s for eq in equations for s in eq.free_symbols}
    if any(name not in unknowns for name in symbols) or any(u not in symbols for u in unknowns):
        return None  # an unknown no equation names: search its range
    unknown_syms = [symbols[n] for n in unknowns]
    raw = _roots(equations, unknown_syms)
    if raw is None:
        return None
    solutions = []
    for sol in raw:
        if not all(v.is_integer and v >= 0 for v in sol.values()):
            continue
        binding = {u: int(sol[symbols[u]]) for u in unknowns}
        if _satisfies(spec, binding, items, False, overrides):
            solutions.append(binding)
    solutions.sort(key=lambda b: [b[u] for u in unknowns])
    return Part(list(unknowns), solutions, "sympy")


def _roots(equations, unknown_syms) -> list[dict] | None:
    """sympy's solutions when they are finitely many numbers; None otherwise (search instead)."""
    try:
        raw = N.sympy_module().solve(equations, unknown_syms, dict=True)
    except (NotImplementedError, ValueError, TypeError):
        return None
    if any(len(sol) < len(unknown_syms) or any(not v.is_number for v in sol.values()) for sol in raw):
        return None  # infinitely many
    return raw


def _satisfies(spec, binding, items, exact, overrides) -> bool:
    """The engine's verdict with `binding` set (other unknowns stay symbolic): every item holds,
    and with `exact` no division floors."""
    try:
        analysis = analyze(spec, {**overrides, **{k: str(v) for k, v in binding.items()}}, assume_undecided=True)
    except SpecError:
        return False
    if exact and any(w.code == "inexact-division" for w in analysis.warnings):
        return False
    return all(item.holds_in(analysis, binding) for item in items)


def _confirmed(spec, result: Solution, items, exact, overrides) -> bool:
    """Every solution of every part holds in a concrete analysis of the whole spec, with the
    other parts' unknowns at their first solutions."""
    firsts = {k: v for p in result.parts for k, v in p.solutions[0].items()}
    checked = set()
    for part in result.parts:
        for sol in part.solutions:
            binding = {**firsts, **sol}
            key = tuple(sorted(binding.items()))
            if key in checked:
                continue
            checked.add(key)
            if not _satisfies(spec, binding, items, exact, overrides):
                return False
    return True


def _joint(spec, unknowns, parts, items, exact, smallest, maximum, overrides) -> Part:
    """All the unknowns together, over the combinations of the parts' solutions: each part's
    solutions hold whatever the other parts' unknowns are, so every joint solution is one of
    those combinations; the engine checks each with every unknown bound."""
    parts = [p if p.complete else _solve_part(spec, p.unknowns, [i for i in items if i.names & set(p.unknowns)],
                                              exact, False, maximum, overrides) for p in parts]
    count = 1
    for p in parts:
        count *= len(p.solutions)
    if count > MAX_CANDIDATES:
        raise SpecError(f"the parts' solutions make {count:,} combinations to check together "
                        f"(more than {MAX_CANDIDATES:,})", Location(spec.file),
                        hint="bound the sizes (dims: {H: {min: .., max: ..}}), lower --max, or fix some with --set",
                        code="limit")
    solutions = []
    for combo in itertools.product(*(p.solutions for p in parts)):
        merged = {k: v for s in combo for k, v in s.items()}
        binding = {u: merged[u] for u in unknowns}
        if _satisfies(spec, binding, items, exact, overrides):
            solutions.append(binding)
            if smallest:
                break
    method = "the combinations of " + "; ".join(f"{', '.join(p.unknowns)} by {p.method}" for p in parts)
    ranges = {k: v for p in parts for k, v in p.ranges.items()}
    texts = [i.text for i in items] + (["every division exact"] if exact else [])
    return Part(list(unknowns), solutions, method, ranges, texts, complete=not smallest)


def _range(spec: Spec, name: str, maximum: int) -> tuple[int, int]:
    decl = spec.dims.get(name)
    if decl is not None:
        lo = decl.min or 1
        return lo, decl.max or max(lo + maximum, maximum)
    return (0, maximum) if base_name(name).endswith(".padding") else (1, maximum)


def _search(spec, unknowns, items, exact, smallest, maximum, overrides) -> Part:
    ranges = {n: _range(spec, n, maximum) for n in unknowns}
    count = 1
    for lo, hi in ranges.values():
        count *= hi - lo + 1
    if count > MAX_CANDIDATES:
        raise SpecError(f"the search space of {', '.join(unknowns)} has {count:,} candidates "
                        f"(more than {MAX_CANDIDATES:,})", Location(spec.file),
                        hint="bound the sizes (dims: {H: {min: .., max: ..}}), lower --max, or fix some with --set",
                        code="limit")
    solutions = []
    grid = itertools.product(*(range(lo, hi + 1) for lo, hi in ranges.values()))
    for values in grid:
        binding = dict(zip(unknowns, values))
        if _satisfies(spec, binding, items, exact, overrides):
            solutions.append(binding)
            if smallest:
                break
    method = "search over " + ", ".join(f"{n} in {lo}..{hi}" for n, (lo, hi) in ranges.items())
    return Part(list(unknowns), solutions, method, ranges, complete=not smallest)


def _residue_class(part: Part) -> ResidueClass | None:
    """The class v ≡ r (mod m) when a complete search of one unknown found exactly the values
    of its range in that class: equal steps between the solutions, and no value of the class
    in the range before the first or after the last."""
    if len(part.unknowns) != 1 or not part.complete or not part.ranges or len(part.solutions) < CLASS_MIN:
        return None
    name = part.unknowns[0]
    lo, hi = part.ranges[name]
    values = sorted(s[name] for s in part.solutions)
    step = values[1] - values[0]
    if step <= 0 or any(b - a != step for a, b in zip(values, values[1:])):
        return None
    if values[0] - step >= lo or values[-1] + step <= hi:
        return None
    return ResidueClass(name, step, values[0] % step, values[0], values[-1], len(values))
