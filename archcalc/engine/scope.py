"""Names and values: what an expression in a spec may use, and the layers' bound arguments.

dims are symbols unless set (`--set H=224`), vars take their written value, a variant's, or
a `--set` override, and arguments written "?" stay non-negative integer symbols until
`solve` or `--set` binds them. Every evaluated value is checked here, so the walker only
ever sees values of the right type.
"""
from __future__ import annotations

from typing import Any, Mapping

from archcalc.engine import numbers as N
from archcalc.layers.args import ArgTypeError
from archcalc.layers.base import Args
from archcalc.spec.errors import ErrorCollector, Location, SpecError, did_you_mean
from archcalc.spec.expr import Expr, Unknown, parse_expr
from archcalc.spec.model import Item, Spec

SET = Location("--set")


def evaluate(raw: Any, env: Mapping[str, Any]) -> Any:
    """A written value with its expressions evaluated (lists element by element)."""
    if isinstance(raw, (Expr, Unknown)):
        return raw.evaluate(env)
    if isinstance(raw, list):
        return [evaluate(r, env) for r in raw]
    return raw


def _symbol(name: str, *, nonnegative: bool = False):
    sp = N.sympy_module()
    return sp.Symbol(name, integer=True, nonnegative=True) if nonnegative else \
        sp.Symbol(name, integer=True, positive=True)


def dim_names(spec: Spec) -> list[str]:
    """Declared dims, then names the input uses that are neither dims nor vars."""
    used = [n for v in spec.all_input_shapes() if isinstance(v.raw, Expr) for n in sorted(v.raw.names)]
    return list(dict.fromkeys(list(spec.dims) + [n for n in used if n not in spec.dims and n not in spec.vars]))


def read_overrides(spec: Spec, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`--set NAME=VALUE` values, each checked against the spec's names: a whole number,
    true/false for a var, or a sympy symbol (a caller keeping the name open)."""
    known = dim_names(spec) + list(spec.vars) + list(spec.unknowns)
    errors = ErrorCollector()
    values: dict[str, Any] = {}
    for name, text in overrides.items():
        if name not in known:
            errors.add(SpecError(f"--set {name}: the spec has no var or dimension '{name}'", SET,
                                 expected="one of " + (", ".join(known) or "(none: the spec declares no names)"),
                                 hint=did_you_mean(name, known), code="usage"))
        elif N.is_symbolic(text) and not isinstance(text, str):
            values[name] = text
        else:
            try:
                values[name] = _override_value(name, text, is_var=name in spec.vars)
            except SpecError as err:
                errors.add(err)
    errors.raise_if_any()
    return values


def _override_value(name: str, text: Any, *, is_var: bool) -> Any:
    value = N.normalize(parse_expr(str(text), SET, condition=True).evaluate({"true": True, "false": False}))
    if isinstance(value, bool) and is_var:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"--set {name}={text}: expected a whole number", SET, found=N.decimal_text(value),
                        code="usage")
    return value


def _dim_value(name: str, value: int, decl) -> int:
    if decl and ((decl.min and value < decl.min) or (decl.max and value > decl.max)):
        raise SpecError(f"--set {name}={value} is outside the bounds of dimension {name}", decl.loc,
                        expected=f"{decl.min or 1} <= {name}" + (f" <= {decl.max}" if decl.max else ""),
                        found=str(value), code="out-of-bounds")
    if value < 1:
        raise SpecError(f"--set {name}={value}: sizes are positive", SET, code="usage")
    return value


def bind_scope(spec: Spec, overrides: Mapping[str, Any] | None = None, variant=None) -> tuple[dict, dict, list[str]]:
    """Names an expression may use: dims (symbols unless set) and vars (with --set overrides).

    Returns (env, bindings shown in reports, names left symbolic)."""
    set_values = read_overrides(spec, dict(overrides or {}))
    env: dict[str, Any] = {}
    symbols: list[str] = []
    dims = dim_names(spec)
    for name in dims:
        value = set_values.get(name)
        if value is None or N.is_symbolic(value):
            env[name] = _symbol(name) if value is None else value
            symbols.append(name)
        else:
            env[name] = _dim_value(name, value, spec.dims.get(name))
    for name in spec.unknowns:  # "?" arguments: non-negative integer symbols until set
        env[name] = set_values.get(name, None)
        if env[name] is None:
            env[name] = _symbol(name, nonnegative=True)
            symbols.append(name)
    bindings: dict[str, Any] = {n: env[n] for n in dims + list(spec.unknowns) if n in set_values}
    chosen = variant.vars if variant is not None else {}
    errors = ErrorCollector()
    failed: set[str] = set()
    for name, value in spec.vars.items():
        if name in set_values:
            env[name] = set_values[name]
            if N.is_symbolic(env[name]):
                symbols.append(name)
                continue
        else:
            raw = chosen.get(name, value).raw
            if failed & set(getattr(raw, "names", ())):
                failed.add(name)  # its error is the var it reads, reported once
                continue
            try:
                env[name] = N.normalize(evaluate(raw, env))
            except SpecError as err:
                errors.add(err.add_context(f"in var '{name}'"))
                failed.add(name)
                continue
        bindings[name] = env[name]
    errors.raise_if_any()
    return env, bindings, symbols


def bind_input(spec: Spec, env: Mapping[str, Any]) -> tuple:
    return bind_shape(spec.input, env)


def bind_more_inputs(spec: Spec, env: Mapping[str, Any]) -> dict[str, tuple]:
    """The shapes of `inputs:` after the first, by name."""
    return {i.name: bind_shape(i.shape, env) for i in spec.more_inputs}


def bind_shape(values, env: Mapping[str, Any]) -> tuple:
    shape = []
    errors = ErrorCollector()
    for value in values:
        try:
            v = N.normalize(evaluate(value.raw, env))
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


def _normalized(raw: Any) -> Any:
    if isinstance(raw, list):
        return [_normalized(r) for r in raw]
    return N.normalize(raw) if not isinstance(raw, (str, bool)) and raw is not None else raw


def bind_args(call: Item, env: Mapping[str, Any], path: str | None = None) -> Args:
    """Evaluate a layer's written arguments, fill defaults, and type-check every value."""
    values: dict[str, Any] = {}
    locs: dict[str, Location] = {}
    errors = ErrorCollector()
    for arg in call.layer.args:
        written = call.args.get(arg.name)
        if written is None:
            if arg.required:
                continue  # reported by the parser
            raw, loc = arg.default, None
        else:
            loc = written.loc
            try:
                raw = _normalized(evaluate(written.raw, env))
            except SpecError as err:
                errors.add(err)
                continue
            locs[arg.name] = loc
        try:
            values[arg.name] = arg.type.check(raw)
        except ArgTypeError as exc:
            errors.add(SpecError(f"{call.kind} '{path or call.name}': {arg.name} must be {exc.expected}",
                                 loc or call.loc, expected=exc.expected, found=exc.found, code="wrong-type"))
    errors.raise_if_any()
    return Args(values, locs)
