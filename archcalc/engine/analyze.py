"""Walks a spec: binds names, evaluates arguments, asks each layer kind for its numbers,
and sums them. No layer-specific code lives here; every rule is in the kind's own file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from archcalc.engine import numbers as N
from archcalc.layers.base import Args, ArgTypeError, Context, LayerKind, Result, Step
from archcalc.spec.errors import ErrorCollector, Location, SpecError, did_you_mean
from archcalc.spec.expr import Expr, Unknown, parse_expr
from archcalc.spec.model import Item, Spec

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
    branches: list[str] | None = None  # a merge's branch names, in order (empty ones included)
    dim: int | None = None  # a concat's per-sample axis
    weights: dict | None = None  # given values of the layer's parameters (numeric exercises)
    rf: tuple | None = None  # receptive field per spatial axis (layers/receptive.py), None if not spatial
    backward_macs: Any = 0  # the backward pass (weight and input gradients), for training cost
    rf_branch: str | None = None  # for add/concat: the branch with the widest field
    shares: str | None = None  # the path whose weights this layer reuses (its params count there, once)


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
    variant: str | None = None
    name: str = ""
    convention: Any = None  # a peer's Convention when its rules replaced MACs/FLOPs (conventions.apply)

    @property
    def symbolic(self) -> bool:
        return bool(self.symbols)

    def training_flops(self, row: Row | None = None):
        """Forward plus backward FLOPs (2 per MAC) of one training step, per the batch."""
        if row is None:
            return N.add(self.totals["flops"], N.mul(2, self.totals["backward_macs"]))
        return N.add(row.flops, N.mul(2, row.backward_macs))

    def _repr_html_(self) -> str:
        """Jupyter shows the per-layer table."""
        from archcalc.report.table import html_table

        return html_table(self)

    def __rich_console__(self, console, options):
        from archcalc.report.table import build_table

        yield build_table(self)

    def __repr__(self) -> str:
        t = self.totals
        return (f"<Analysis {self.name}: {len([r for r in self.rows if r.leaf])} layers, params {t['params']}, "
                f"MACs {t['macs']}, FLOPs {t['flops']}" + (f", {self.convention.name} convention" if self.convention
                                                            else "") + ">")

    def row(self, path: str) -> Row:
        for r in self.rows:
            if r.path == path:
                return r
        raise KeyError(path)


def _symbol(name: str):
    sp = N.sympy_module()
    return sp.Symbol(name, integer=True, positive=True)


def _evaluate(raw: Any, env: Mapping[str, Any]) -> Any:
    if isinstance(raw, (Expr, Unknown)):
        return raw.evaluate(env)
    if isinstance(raw, list):
        return [_evaluate(r, env) for r in raw]
    return raw


def bind_scope(spec: Spec, overrides: Mapping[str, Any] | None = None, variant=None) -> tuple[dict, dict, list[str]]:
    """Names an expression may use: dims (symbols unless set) and vars (with --set overrides).

    Returns (env, bindings shown in reports, names left symbolic)."""
    overrides = dict(overrides or {})
    input_names = [n for v in spec.input if isinstance(v.raw, Expr) for n in sorted(v.raw.names)]
    dim_names = list(spec.dims) + [n for n in input_names if n not in spec.dims and n not in spec.vars]
    dim_names = list(dict.fromkeys(dim_names))
    known = dim_names + list(spec.vars) + list(spec.unknowns)
    errors = ErrorCollector()
    set_values: dict[str, Any] = {}
    for name, text in overrides.items():
        if name not in known:
            errors.add(SpecError(f"--set {name}: the spec has no var or dimension '{name}'", Location("--set"),
                                 expected="one of " + (", ".join(known) or "(none: the spec declares no names)"),
                                 hint=did_you_mean(name, known), code="usage"))
            continue
        if N.is_symbolic(text) and not isinstance(text, str):  # a symbol: the caller keeps this name open
            set_values[name] = text
            continue
        try:
            value = N.normalize(parse_expr(str(text), Location("--set"), condition=True).evaluate(
                {"true": True, "false": False}))
        except SpecError as err:
            errors.add(err)
            continue
        if isinstance(value, bool) and name in spec.vars:
            set_values[name] = value
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
        if name in set_values and N.is_symbolic(set_values[name]):
            env[name] = set_values[name]
            symbols.append(name)
        elif name in set_values:
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
    for name in spec.unknowns:  # "?" arguments: non-negative integer symbols until set
        if name in set_values:
            env[name] = set_values[name]
        else:
            env[name] = N.sympy_module().Symbol(name, integer=True, nonnegative=True)
            symbols.append(name)
    bindings: dict[str, Any] = {n: env[n] for n in dim_names + list(spec.unknowns) if n in set_values}
    chosen = variant.vars if variant is not None else {}
    for name, value in spec.vars.items():
        value = chosen.get(name, value)
        if name in set_values:
            env[name] = set_values[name]
            if N.is_symbolic(set_values[name]):
                symbols.append(name)
                continue
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
                raw = _evaluate(written.raw, env)
            except SpecError as err:
                errors.add(err)
                continue
            raw = [N.normalize(r) if not isinstance(r, (str, bool)) and r is not None else r for r in raw] \
                if isinstance(raw, list) else (
                N.normalize(raw) if not isinstance(raw, (str, bool)) and raw is not None else raw)
            locs[arg.name] = loc
        try:
            values[arg.name] = arg.type.check(raw)
        except ArgTypeError as exc:
            errors.add(SpecError(f"{call.kind} '{path or call.name}': {arg.name} must be {exc.expected}",
                                 loc or call.loc, expected=exc.expected, found=exc.found, code="wrong-type"))
    errors.raise_if_any()
    return Args(values, locs)


MAX_EXPANDED_ROWS = 200_000
MAX_REPEAT = 10_000
MAX_NESTING = 64


def analyze(spec: Spec, overrides: Mapping[str, Any] | None = None, batch: int = 1,
            variant: str | None = None) -> Analysis:
    """Every layer's shapes and counts, exact; symbolic where dims are left unbound."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SpecError(f"--batch must be a positive integer, not {batch}", Location("--batch"), code="usage")
    chosen = _variant(spec, variant)
    env, bindings, symbols = bind_scope(spec, overrides, chosen)
    x = bind_input(spec, env)
    walker = _Walker(spec, env, batch)
    walker.dtype = spec.input_dtype
    walker.grad = False  # does the current tensor need a gradient? (only after a layer with weights)
    from archcalc.layers.receptive import initial

    walker.rf = initial(x)
    out, _ = walker.items(spec.layers, x, env, "", 0, (f"spec's input, line {spec.input_loc.line}", None))
    leaves = [r for r in walker.rows if r.leaf]
    totals = {q: N.total(getattr(r, q) for r in leaves if getattr(r, q) is not None) for q in COUNTS}
    totals["backward_macs"] = N.total(r.backward_macs for r in leaves)
    analysis = Analysis(spec, bindings, batch, x, out, walker.rows, totals, walker.warnings, symbols)
    analysis.variant = chosen.name if chosen else None
    analysis.name = chosen.name if chosen else spec.name
    return analysis


def _variant(spec: Spec, name: str | None):
    if name is None:
        return None
    if name not in spec.variants:
        known = sorted(spec.variants)
        raise SpecError(f"--variant {name}: the spec has no such variant", Location("--variant"),
                        expected="one of " + ", ".join(known) if known else "a spec with variants:",
                        hint=did_you_mean(name, known), code="usage")
    return spec.variants[name]


class _Walker:
    """Expands the item tree (blocks, repeats, conditions, merges) into rows, depth first."""

    def __init__(self, spec: Spec, globals_env: dict, batch: int):
        self.spec, self.globals, self.batch = spec, globals_env, batch
        self.rows: list[Row] = []
        self.warnings: list[Warning] = []
        from archcalc.textio import limit

        self.max_rows = limit("MAX_ROWS", MAX_EXPANDED_ROWS)
        self.max_repeat = limit("MAX_REPEAT", MAX_REPEAT)

    def _add_row(self, row: Row) -> None:
        if len(self.rows) >= self.max_rows:
            raise SpecError(f"the spec expands to more than {self.max_rows:,} rows", row.loc,
                            hint="check repeat counts (they multiply when nested); raise ARCHCALC_MAX_ROWS if the "
                                 "network really is that large", code="limit")
        self.rows.append(row)

    def items(self, items, x, env, prefix, depth, source):
        if depth > MAX_NESTING:
            raise SpecError(f"blocks nest deeper than {MAX_NESTING} levels", items[0].loc if items else None,
                            code="limit")
        for item in items:
            if item.when is not None:
                keep = _evaluate(item.when.raw, env)
                if not isinstance(keep, bool):
                    keep = N.compare(keep, "!=", 0)
                if not keep:
                    continue
            path = f"{prefix}{item.name}"
            if item.repeat is None:
                x, source = self.one(item, x, env, path, depth, source)
                continue
            n = N.normalize(_evaluate(item.repeat.raw, env))
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise SpecError(f"repeat of '{path}' must be a whole number >= 0", item.repeat.loc,
                                found=N.decimal_text(n) if not isinstance(n, bool) else str(n), code="wrong-type")
            if n > self.max_repeat:
                raise SpecError(f"repeat {n:,} of '{path}' is above the limit of {self.max_repeat:,}",
                                item.repeat.loc, hint="raise ARCHCALC_MAX_REPEAT if this is meant", code="limit")
            if n == 0:
                continue
            group = self._open(path, f"{item.kind} ×{n}", "repeat", depth, x, item.loc)
            for i in range(1, n + 1):
                x, source = self.one(item, x, env, f"{path}.{i}", depth + 1, source)
            self._close(group, x)
        return x, source

    def one(self, item, x, env, path, depth, source):
        if item.layer is not None:
            return self.leaf(item, x, env, path, depth, source)
        if item.block is not None:
            block = self.spec.blocks[item.block]
            inner = dict(self.globals)
            for pname, (default, _) in block.params.items():
                given = item.args.get(pname)
                inner[pname] = N.normalize(_evaluate(given.raw, env) if given is not None
                                           else _evaluate(default.raw, inner))
            row = self._open(path, item.kind, "block", depth, x, item.loc)
            out, source = self.items(block.items, x, inner, path + ".", depth + 1, source)
            self._close(row, out)
            return out, source
        return self.merge(item, x, env, path, depth, source)

    def leaf(self, item, x, env, path, depth, source):
        kind: type[LayerKind] = item.layer
        args = bind_args(item, env, path)
        if self.dtype == "index" and not kind.accepts_index:
            raise SpecError(f"{kind.kind} '{path}': its input holds token ids (input dtype index)", item.loc,
                            expected="floating-point values", hint="put an embedding first", code="wrong-dtype")
        if kind.accepts_index and self.dtype != "index":
            raise SpecError(f"{kind.kind} '{path}' reads token ids, but its input holds values", item.loc,
                            expected="token ids", found=f"the {source[0]}",
                            hint="declare the input as input: {shape: [T], dtype: index}", code="wrong-dtype")

        def warn(code: str, message: str) -> None:
            # one line per layer when axes repeat the same arithmetic ("H, W: (224 − 7 …")
            last = self.warnings[-1] if self.warnings else None
            axis, sep, rest = message.partition(": ")
            if last and last.path == path and last.code == code and sep and last.message.endswith(": " + rest):
                last.message = last.message[: -len(rest) - 2] + f", {axis}: {rest}"
                return
            self.warnings.append(Warning(path, code, message, item.loc))

        ctx = Context(path, kind.kind, item.loc, args, source[0], warn, source[1])
        result: Result = kind.infer(x, args, ctx)
        row = _row(item, kind, x, result, self.batch, args)
        row.path, row.depth = path, depth
        if item.share is not None:
            self._tie(row, item)
        row.backward_macs = N.mul(kind.backward_macs(args, x, result, self.grad), self.batch)
        self.grad = self.grad or bool(N.compare(row.params, ">", 0))
        self.rf = kind.receptive_field(args, x, self.rf) if self.rf is not None and len(result.output) >= 2 \
            and len(result.output) == len(x) else None
        row.rf = self.rf
        row.weights = item.weights
        if kind.accepts_index:
            self.dtype = "float"
        self._add_row(row)
        if tuple(result.output) != tuple(x):  # name the layer that made this shape, not a relu after it
            source = (f"output of '{path}', line {item.loc.line}", path)
        return tuple(result.output), source

    def _tie(self, row: Row, item) -> None:
        """Shared (tied) weights: counted once, at the layer that owns them; MACs every time."""
        target, loc = item.share
        owner = next((r for r in self.rows if r.path == target and r.leaf), None)
        if owner is None:
            paths = [r.path for r in self.rows if r.leaf]
            raise SpecError(f"'{row.path}' shares the weights of '{target}', which is not an earlier layer", loc,
                            hint=did_you_mean(target, paths) or "share names a layer that comes before",
                            code="invalid-layer")
        while owner.shares:  # share the owner's owner
            owner = next(r for r in self.rows if r.path == owner.shares)
        if owner.kind != row.kind or owner.params != row.params:
            raise SpecError(f"'{row.path}' can't share the weights of '{target}': their parameters differ", loc,
                            expected=f"a {owner.kind} with {N.fmt(owner.params)} parameters",
                            found=f"{row.kind} with {N.fmt(row.params)} parameters", code="invalid-layer")
        row.shares = owner.path
        row.params = 0
        row.buffers = 0

    def merge(self, item, x, env, path, depth, source):
        row = self._open(path, item.kind, "merge", depth, x, item.loc)
        outputs, dtype_in, dtypes, rf_in, fields, grad_in, grads = [], self.dtype, [], self.rf, [], self.grad, []
        for branch in item.branches:
            self.dtype, self.rf, self.grad = dtype_in, rf_in, grad_in
            out, _ = self.items(branch.items, x, env, f"{path}.{branch.name}.", depth + 1, source)
            outputs.append((branch, tuple(out)))
            dtypes.append(self.dtype)
            fields.append(self.rf)
            grads.append(self.grad)
        self.dtype, self.grad = dtypes[0], any(grads)
        from archcalc.layers.receptive import union

        self.rf, widest = union(fields)
        row.rf = self.rf
        row.rf_branch = item.branches[widest].name if widest is not None else None
        out = combine(item, outputs, env, path)
        row.branches = [b.name for b in item.branches]
        if item.kind == "concat":
            row.dim = N.normalize(_evaluate(item.args["dim"].raw, env)) % len(out) if "dim" in item.args else 0
        self._close(row, out)
        return out, (f"output of '{path}', line {item.loc.line}", path)

    def _open(self, path, kind, family, depth, x, loc) -> Row:
        row = Row(path, kind, family, depth, False, tuple(x), tuple(x), 0, 0, None, 0, 0, 0, loc)
        self._add_row(row)
        row._start = len(self.rows)
        return row

    def _close(self, row: Row, out) -> None:
        leaves = [r for r in self.rows[row._start:] if r.leaf]
        row.output = tuple(out)
        row.rf = self.rf
        for q in COUNTS + ("backward_macs",):
            values = [getattr(r, q) for r in leaves if getattr(r, q) is not None]
            setattr(row, q, N.total(values) if values or q != "neurons" else None)


def combine(item, outputs, env, path) -> tuple:
    """add: every branch has the same shape; concat: the same shape off `dim`, summed on it."""
    shapes = "; ".join(f"{b.name}: [{', '.join(N.fmt(d) for d in s)}] (line {b.loc.line})" for b, s in outputs)
    first = outputs[0][1]
    if item.kind == "add":
        for _, s in outputs[1:]:
            if len(s) != len(first) or any(N.compare(a, "!=", b) for a, b in zip(s, first)):
                raise SpecError(f"add '{path}': the branches' shapes differ, so they can't be summed", item.loc,
                                expected="every branch with the same output shape", found=shapes,
                                hint="project the shortcut (e.g. a 1×1 conv2d with the same stride) to match",
                                code="shape-mismatch")
        return first
    dim = N.normalize(_evaluate(item.args["dim"].raw, env)) if "dim" in item.args else 0
    rank = len(first)
    if not isinstance(dim, int) or not -rank <= dim < rank:
        raise SpecError(f"concat '{path}': dim={dim} is out of range for rank-{rank} branches",
                        item.args["dim"].loc if "dim" in item.args else item.loc,
                        expected=f"dim from {-rank} to {rank - 1} (axes are per sample; 0 is channels)",
                        code="invalid-layer")
    dim %= rank
    for _, s in outputs[1:]:
        if len(s) != rank or any(N.compare(a, "!=", b) for i, (a, b) in enumerate(zip(s, first)) if i != dim):
            raise SpecError(f"concat '{path}': the branches' shapes differ off dim {dim}", item.loc,
                            expected=f"every axis but {dim} equal", found=shapes, code="shape-mismatch")
    joined = N.total(s[dim] for _, s in outputs)
    return (*first[:dim], joined, *first[dim + 1:])


def _row(call: Item, kind: type[LayerKind], x: tuple, result: Result, batch: int, args: Args) -> Row:
    out = tuple(result.output)
    activations = N.product(out)
    flops = result.flops if result.flops is not None else N.mul(2, result.macs)
    row = Row(call.name, kind.kind, kind.family, 0, True, tuple(x), out, result.params, result.buffers,
              activations if kind.weighted else None, activations, result.macs, flops, call.loc, result.steps,
              args)
    if batch != 1:
        for q in PER_SAMPLE_SCALED:
            setattr(row, q, N.mul(getattr(row, q), batch))
    return row
