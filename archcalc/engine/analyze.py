"""Walks a spec: binds names, evaluates arguments, asks each layer kind for its numbers,
and sums them. No layer-specific code lives here; every rule is in the kind's own file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from archcalc.engine import numbers as N
from archcalc.layers.base import Args, ArgTypeError, Context, LayerKind, Result, Step
from archcalc.spec.errors import ErrorCollector, Location, SpecError, did_you_mean
from archcalc.spec.expr import Expr, parse_expr
from archcalc.spec.model import LayerCall, Spec

COUNTS = ("params", "buffers", "neurons", "activations", "macs", "flops")
PER_SAMPLE_SCALED = ("activations", "macs", "flops")  # --batch multiplies these, never params


@dataclass
class Row:
    path: str
    kind: str
    family: str
    depth: int
    leaf: bool
    input: tuple
    output: tuple
    params: Any
    buffers: Any
    neurons: Any  # None for layers without weights
    activations: Any
    macs: Any
    flops: Any
    loc: Location
    steps: list[Step] = field(default_factory=list)
    args: Args | None = None  # the bound arguments (the torch backend builds from them)


@dataclass
class Warning:
    path: str
    code: str
    message: str
    loc: Location | None = None


@dataclass
class Analysis:
    spec: Spec
    bindings: dict[str, Any]
    batch: int
    input: tuple
    output: tuple
    rows: list[Row]
    totals: dict[str, Any]
    warnings: list[Warning]
    symbols: list[str]

    @property
    def symbolic(self) -> bool:
        return bool(self.symbols)

    def row(self, path: str) -> Row:
        for r in self.rows:
            if r.path == path:
                return r
        raise KeyError(path)


def _symbol(name: str):
    sp = N.sympy_module()
    return sp.Symbol(name, integer=True, positive=True)


def _evaluate(raw: Any, env: Mapping[str, Any]) -> Any:
    if isinstance(raw, Expr):
        return raw.evaluate(env)
    if isinstance(raw, list):
        return [_evaluate(r, env) for r in raw]
    return raw


def bind_scope(spec: Spec, overrides: Mapping[str, Any] | None = None) -> tuple[dict, dict, list[str]]:
    """Names an expression may use: dims (symbols unless set) and vars (with --set overrides).

    Returns (env, bindings shown in reports, names left symbolic)."""
    overrides = dict(overrides or {})
    input_names = [n for v in spec.input if isinstance(v.raw, Expr) for n in sorted(v.raw.names)]
    dim_names = list(spec.dims) + [n for n in input_names if n not in spec.dims and n not in spec.vars]
    dim_names = list(dict.fromkeys(dim_names))
    known = dim_names + list(spec.vars)
    errors = ErrorCollector()
    set_values: dict[str, Any] = {}
    for name, text in overrides.items():
        if name not in known:
            errors.add(SpecError(f"--set {name}: the spec has no var or dimension '{name}'", Location("--set"),
                                 expected="one of " + (", ".join(known) or "(none: the spec declares no names)"),
                                 hint=did_you_mean(name, known), code="usage"))
            continue
        try:
            value = N.normalize(parse_expr(str(text), Location("--set")).evaluate({}))
        except SpecError as err:
            errors.add(err)
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            errors.add(SpecError(f"--set {name}={text}: expected a whole number", Location("--set"),
                                 found=N.decimal_text(value), code="usage"))
            continue
        set_values[name] = value
    errors.raise_if_any()
    env: dict[str, Any] = {}
    symbols: list[str] = []
    for name in dim_names:
        decl = spec.dims.get(name)
        if name in set_values:
            value = set_values[name]
            if decl and ((decl.min and value < decl.min) or (decl.max and value > decl.max)):
                raise SpecError(f"--set {name}={value} is outside the bounds of dimension {name}", decl.loc,
                                expected=f"{decl.min or 1} <= {name}" + (f" <= {decl.max}" if decl.max else ""),
                                found=str(value), code="out-of-bounds")
            if value < 1:
                raise SpecError(f"--set {name}={value}: sizes are positive", Location("--set"), code="usage")
            env[name] = value
        else:
            env[name] = _symbol(name)
            symbols.append(name)
    bindings: dict[str, Any] = {n: env[n] for n in dim_names if n in set_values}
    for name, value in spec.vars.items():
        if name in set_values:
            env[name] = set_values[name]
        else:
            try:
                env[name] = N.normalize(_evaluate(value.raw, env))
            except SpecError as err:
                errors.add(err)
                continue
        bindings[name] = env[name]
    errors.raise_if_any()
    return env, bindings, symbols


def bind_input(spec: Spec, env: Mapping[str, Any]) -> tuple:
    shape = []
    errors = ErrorCollector()
    for value in spec.input:
        try:
            v = N.normalize(_evaluate(value.raw, env))
        except SpecError as err:
            errors.add(err)
            continue
        if isinstance(v, (bool, float)) or not N.is_symbolic(v) and (not isinstance(v, int) or v < 1):
            errors.add(SpecError("input sizes must be positive whole numbers", value.loc,
                                 found=N.decimal_text(v) if not isinstance(v, bool) else str(v), code="wrong-type"))
            continue
        shape.append(v)
    errors.raise_if_any()
    return tuple(shape)


def bind_args(call: LayerCall, env: Mapping[str, Any]) -> Args:
    """Evaluate a layer's written arguments, fill defaults, and type-check every value."""
    values: dict[str, Any] = {}
    locs: dict[str, Location] = {}
    errors = ErrorCollector()
    for arg in call.kind.args:
        written = call.args.get(arg.name)
        if written is None:
            if arg.required:
                continue  # reported by the parser
            raw, loc = arg.default, None
        else:
            loc = written.loc
            try:
                raw = _evaluate(written.raw, env)
            except SpecError as err:
                errors.add(err)
                continue
            raw = [N.normalize(r) for r in raw] if isinstance(raw, list) else (
                N.normalize(raw) if not isinstance(raw, (str, bool)) and raw is not None else raw)
            locs[arg.name] = loc
        try:
            values[arg.name] = arg.type.check(raw)
        except ArgTypeError as exc:
            errors.add(SpecError(f"{call.kind.kind} '{call.path}': {arg.name} must be {exc.expected}",
                                 loc or call.loc, expected=exc.expected, found=exc.found, code="wrong-type"))
    errors.raise_if_any()
    return Args(values, locs)


def analyze(spec: Spec, overrides: Mapping[str, Any] | None = None, batch: int = 1) -> Analysis:
    """Every layer's shapes and counts, exact; symbolic where dims are left unbound."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SpecError(f"--batch must be a positive integer, not {batch}", Location("--batch"), code="usage")
    env, bindings, symbols = bind_scope(spec, overrides)
    x = bind_input(spec, env)
    errors = ErrorCollector()
    bound: list[tuple[LayerCall, Args]] = []
    for call in spec.layers:
        try:
            bound.append((call, bind_args(call, env)))
        except SpecError as err:
            errors.add(err)
    errors.raise_if_any()

    rows: list[Row] = []
    warnings: list[Warning] = []
    source = f"spec's input, line {spec.input_loc.line}"
    input_shape = x
    source_path: str | None = None
    for call, args in bound:
        kind: type[LayerKind] = call.kind

        def warn(code: str, message: str, _call=call) -> None:
            warnings.append(Warning(_call.path, code, message, _call.loc))

        ctx = Context(call.path, kind.kind, call.loc, args, source, warn, source_path)
        result: Result = kind.infer(x, args, ctx)
        rows.append(_row(call, kind, x, result, batch, args))
        if tuple(result.output) != tuple(x):  # name the layer that made this shape, not a relu after it
            source = f"output of '{call.path}', line {call.loc.line}"
            source_path = call.path
        x = result.output
    totals = {q: N.total(getattr(r, q) for r in rows if getattr(r, q) is not None) for q in COUNTS}
    return Analysis(spec, bindings, batch, input_shape, x, rows, totals, warnings, symbols)


def _row(call: LayerCall, kind: type[LayerKind], x: tuple, result: Result, batch: int, args: Args) -> Row:
    out = tuple(result.output)
    activations = N.product(out)
    flops = result.flops if result.flops is not None else N.mul(2, result.macs)
    row = Row(call.path, kind.kind, kind.family, 0, True, tuple(x), out, result.params, result.buffers,
              activations if kind.weighted else None, activations, result.macs, flops, call.loc, result.steps,
              args)
    if batch != 1:
        for q in PER_SAMPLE_SCALED:
            setattr(row, q, N.mul(getattr(row, q), batch))
    return row
