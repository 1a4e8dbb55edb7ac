"""Walks a spec: binds names, evaluates arguments, asks each layer kind for its numbers,
and sums them into a tree of rows (analysis.py). No layer-specific code lives here; every
rule is in the kind's own file.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from archcalc.engine import numbers as N
from archcalc.engine.analysis import (PER_SAMPLE_SCALED, Analysis, AnalysisWarning, BranchRows, Row,
                                      subtotal)
from archcalc.engine.derive import flops_step
from archcalc.engine.scope import bind_args, bind_input, bind_more_inputs, bind_scope, evaluate
from archcalc.layers.args import TensorRef
from archcalc.layers.base import Context, LayerKind, Result
from archcalc.layers.receptive import initial
from archcalc.spec.errors import Location, SpecError, did_you_mean
from archcalc.spec.model import Item, Spec

MAX_EXPANDED_ROWS = 20_000
MAX_REPEAT = 10_000
MAX_NESTING = 64
MAX_ANALYSIS_SECONDS = 4  # the walk's time: rows whose arithmetic is slow (symbolic, walked copy by copy)
# Sizes and counts no real network reaches (SECURITY.md): a tensor's sizes and its element count
# fit torch's int64; a layer's counts stay below 10^30 (GPT-3's forward pass is about 3.5·10^11
# MACs a token). Past them a layer is a located error, before anything is built on its numbers.
MAX_SIZE = 2**63 - 1
MAX_COUNT = 10**30

Alter = Callable[[str, "type[LayerKind]", tuple, Any, Context], "Result | None"]


@dataclass(frozen=True)
class Flow:
    """What reaches a layer: the shape of one sample, where it came from (for messages),
    its dtype, whether it needs a gradient (something before it has weights) and its
    receptive field."""

    shape: tuple
    source: str  # "output of 'conv1', line 9" or "spec's input, line 4"
    source_path: str | None  # the layer that made this shape; None for the spec's input
    dtype: str = "float"  # float | index (token ids)
    grad: bool = False
    rf: tuple | None = None
    loc: Location | None = None  # where the spec declares it, while it is an input's shape unchanged


def analyze(spec: Spec, overrides: Mapping[str, Any] | None = None, batch: int = 1,
            variant: str | None = None, alter: Alter | None = None, assume_undecided: bool = False) -> Analysis:
    """Every layer's shapes and counts, exact; symbolic where dims are left unbound.

    `alter(path, kind, input, args, ctx)` (grading's mistakes) may compute a layer another
    way: a Result replaces the kind's own, None keeps it. Every copy of a repeat is then
    walked (a cloned copy would not ask it)."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SpecError(f"--batch must be a positive integer, not {batch}", Location("--batch"), code="usage")
    chosen = _variant(spec, variant)
    env, bindings, symbols = bind_scope(spec, overrides, chosen)
    x = bind_input(spec, env)
    check_input(x, spec.input_loc, f"the input '{spec.input_name}'" if spec.more_inputs else "the input")
    walker = _Walker(spec, env, batch)
    walker.assume_undecided = assume_undecided  # Context's: solve's symbolic walk assumes what it can't decide
    if alter is not None:
        walker.alter, walker.clone_repeats = alter, False
    flow = Flow(x, _input_source(spec, spec.input_name, spec.input_loc), None, spec.input_dtype, False, initial(x),
                spec.input_loc)
    more = bind_more_inputs(spec, env)
    for decl in spec.more_inputs:
        check_input(more[decl.name], decl.loc, f"the input '{decl.name}'")
    walker.values[spec.input_name] = flow
    for decl in spec.more_inputs:
        shape = more[decl.name]
        walker.values[decl.name] = Flow(shape, _input_source(spec, decl.name, decl.loc), None, decl.dtype, False,
                                        initial(shape), decl.loc)
    collecting = gc.isenabled()
    gc.disable()  # the walk builds rows, which hold no cycles: collections would only rescan them, copy by copy
    try:
        roots, out = walker.items(spec.layers, flow, env, "", 0)
    finally:
        if collecting:
            gc.enable()
    totals = subtotal(roots)
    if totals["neurons"] is None:
        totals["neurons"] = 0  # no layer with weights
    name = chosen.name if chosen else spec.name
    return Analysis(spec, bindings, batch, x, out.shape, roots, totals, walker.warnings, symbols,
                    chosen.name if chosen else None, name, more)


def _input_source(spec: Spec, name: str, loc: Location) -> str:
    """How messages name an input: "spec's input, line 4", "spec's input 'tgt', line 5"."""
    return f"spec's input, line {loc.line}" if not spec.more_inputs else f"spec's input '{name}', line {loc.line}"


def _variant(spec: Spec, name: str | None):
    if name is None:
        return None
    if name not in spec.variants:
        known = sorted(spec.variants)
        raise SpecError(f"--variant {name}: the spec has no such variant", Location("--variant"),
                        expected="one of " + ", ".join(known) if known else "a spec with variants:",
                        hint=did_you_mean(name, known), code="usage")
    return spec.variants[name]


def _source(path: str, item: Item) -> tuple[str, str]:
    return f"output of '{path}', line {item.loc.line}", path



def _check_call(row: Row, item: Item) -> None:
    """`call: function` stands for a function the model calls (F.relu, F.max_pool2d): it holds
    no parameters or buffers (those would be the model's attributes, which import does not follow)."""
    if item.call == "function" and (N.compare(row.params, "!=", 0) or N.compare(row.buffers, "!=", 0)):
        raise SpecError(f"'{row.path}' is called as a function but holds parameters or buffers", item.loc,
                        found=f"{N.fmt(row.params)} parameters, {N.fmt(row.buffers)} buffers",
                        expected="a function call holds nothing (F.group_norm without weight)",
                        hint="drop call: function, or the settings that give the layer weights (affine, "
                             "track_running_stats)", code="invalid-layer")


class _Walker:
    """Expands the item tree (blocks, repeats, conditions, merges) into rows, depth first."""

    clone_repeats = True  # False: walk every copy of a repeat (tests compare the two)
    alter: Alter | None = None  # analyze()'s: a layer computed another way (a mistake's)
    assume_undecided = False  # analyze()'s: see Context

    def __init__(self, spec: Spec, globals_env: dict, batch: int):
        self.spec, self.globals, self.batch = spec, globals_env, batch
        self.count = 0
        self.warnings: list[AnalysisWarning] = []
        self.by_path: dict[str, Row] = {}  # leaves so far, for share:
        self.values: dict[str, Flow] = {}  # the inputs and every row's output so far, for from: and tensor args
        from archcalc.textio import limit

        self.max_rows = limit("MAX_ROWS", MAX_EXPANDED_ROWS)
        self.max_repeat = limit("MAX_REPEAT", MAX_REPEAT)
        self.max_seconds = limit("MAX_ANALYSIS_SECONDS", MAX_ANALYSIS_SECONDS)
        self.deadline = time.monotonic() + self.max_seconds

    def _counted(self, loc: Location) -> None:
        self.count += 1
        if self.count > self.max_rows:
            raise SpecError(f"the spec expands to more than {self.max_rows:,} rows", loc,
                            hint="check repeat counts (they multiply when nested); raise ARCHCALC_MAX_ROWS if the "
                                 "network really is that large", code="limit")
        if time.monotonic() > self.deadline:
            raise SpecError(f"analysing the spec takes more than {self.max_seconds} s (stopped after {self.count:,} "
                            "rows, at this layer)", loc,
                            hint="repeats whose copies differ (an index in their arguments, receptive fields that "
                                 "grow) and symbolic sizes are analysed copy by copy; bind the sizes (--set), "
                                 "lower the repeat counts, or raise ARCHCALC_MAX_ANALYSIS_SECONDS", code="limit")

    def items(self, items: list[Item], flow: Flow, env, prefix: str, depth: int) -> tuple[list[Row], Flow]:
        if depth > MAX_NESTING:
            raise SpecError(f"blocks nest deeper than {MAX_NESTING} levels", items[0].loc if items else None,
                            code="limit")
        rows: list[Row] = []
        for item in items:
            if item.when is not None and item.index is None and not _kept(evaluate(item.when.raw, env)):
                continue  # an indexed repeat's when: is asked of each copy
            path = f"{prefix}{item.name}"
            if item.source is not None:
                flow = self.read(*item.source, path)
            if item.repeat is None:
                row, flow = self.one(item, flow, env, path, depth)
            else:
                row, flow = self.repeat(item, flow, env, path, depth)
                if row is not None:
                    self.values[path] = flow
            if row is not None:
                row.reads = item.source[0] if item.source is not None else None
                rows.append(row)
        return rows, flow

    def read(self, name: str, loc: Location, path: str) -> Flow:
        """The flow named by `from:` or a tensor argument: an input, or an earlier row's output."""
        found = self.values.get(name)
        if found is None:
            raise SpecError(f"'{path}' reads '{name}', which is neither an input nor an earlier layer", loc,
                            expected="a name under inputs:, or the full path of a layer before this one",
                            hint=did_you_mean(name, list(self.values)) or "a layer inside a block is named by its "
                                 "full path (encoder.3.norm)", code="unknown-name")
        return found

    def _tensor_args(self, kind, args, item: Item, path: str):
        """Tensor arguments (cross-attention's memory) bound to what they name: a TensorRef
        carrying the tensor's shape, dtype and gradient."""
        for arg in kind.args:
            value = getattr(args, arg.name)
            if isinstance(value, str) and kind.is_tensor_arg(arg) and not isinstance(value, TensorRef):
                found = self.read(value, args.loc(arg.name) or item.loc, path)
                args._values[arg.name] = TensorRef(value, found.shape, found.dtype, found.grad)
        return args

    def repeat(self, item: Item, flow: Flow, env, path: str, depth: int) -> tuple[Row | None, Flow]:
        n = N.normalize(evaluate(item.repeat.raw, env))
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise SpecError(f"repeat of '{path}' must be a whole number >= 0", item.repeat.loc,
                            found=N.decimal_text(n) if not isinstance(n, bool) else str(n), code="wrong-type")
        if n > self.max_repeat:
            raise SpecError(f"repeat {n:,} of '{path}' is above the limit of {self.max_repeat:,}",
                            item.repeat.loc, hint="raise ARCHCALC_MAX_REPEAT if this is meant", code="limit")
        if n == 0:
            return None, flow
        start = flow
        copies = self._indexed if item.index is not None else self._copies
        children, flow = copies(item, n, flow, env, path, depth)
        if not children:
            return None, flow
        return self._group(path, f"{item.kind} ×{len(children)}", "repeat", depth, item, start, flow,
                           children), flow

    def _indexed(self, item: Item, n: int, flow: Flow, env, path: str, depth: int) -> tuple[list[Row], Flow]:
        """`repeat: {times: n, index: k}`: k is 0 … n-1, each copy's own; every copy walked."""
        children = []
        for i in range(n):
            copy_env = {**env, item.index[0]: i}
            if item.when is not None and not _kept(evaluate(item.when.raw, copy_env)):
                continue  # a copy dropped by when: keeps its siblings' numbers (x.1, x.3)
            if not children:
                self._counted(item.loc)
            child, flow = self.one(item, flow, copy_env, f"{path}.{i + 1}", depth + 1)
            children.append(child)
        return children, flow

    def _copies(self, item: Item, n: int, flow: Flow, env, path: str, depth: int) -> tuple[list[Row], Flow]:
        """`repeat: n`: every copy sees the same names, so a copy is a function of the flow
        entering it. Once a copy hands on the flow it was given (shape, dtype, gradient,
        receptive field), each later copy is that copy again under its own path: its rows
        are copied, renamed, rather than walked (_Clone). A walk gives the same rows."""
        self._counted(item.loc)
        children: list[Row] = []
        template: _Clone | None = None
        for i in range(1, n + 1):
            copy_path = f"{path}.{i}"
            if template is not None and self.count + template.size <= self.max_rows:
                child, flow = template.copy(self, copy_path)
            else:  # walked; past the row limit too, so that the walk stops where it always did
                given, mark = flow, len(self.warnings)
                child, flow = self.one(item, flow, env, copy_path, depth + 1)
                if template is None and self.clone_repeats and _fixed_point(given, flow):
                    template = _Clone.of(child, flow, self.warnings[mark:], path, self.values)
            children.append(child)
        return children, flow

    def _group(self, path, kind, family, depth, item, start: Flow, end: Flow, children) -> Row:
        return Row(path=path, kind=kind, layer=None, family=family, depth=depth, loc=item.loc, input=start.shape,
                   output=end.shape, rf=end.rf, children=children, **subtotal(children))

    def one(self, item: Item, flow: Flow, env, path: str, depth: int) -> tuple[Row, Flow]:
        if item.block is not None:
            row, out = self.block(item, flow, env, path, depth)
        elif item.is_merge:
            row, out = self.merge(item, flow, env, path, depth)
        else:
            row, out = self.leaf(item, flow, env, path, depth)
        self.values[path] = out
        return row, out

    def block(self, item: Item, flow: Flow, env, path: str, depth: int) -> tuple[Row, Flow]:
        block = self.spec.blocks[item.block]
        inner = dict(self.globals)
        for pname, (default, _) in block.params.items():
            given = item.args.get(pname)
            inner[pname] = N.normalize(evaluate(given.raw, env) if given is not None else evaluate(default.raw, inner))
        self._counted(item.loc)
        try:
            children, out = self.items(block.items, flow, inner, path + ".", depth + 1)
        except SpecError as err:
            bound = ", ".join(f"{p}={_value_text(inner[p])}" for p in block.params)
            raise err.add_context(f"in block '{block.name}' called at {item.loc}" + (f" ({bound})" if bound else ""))
        return self._group(path, item.kind, "block", depth, item, flow, out, children), out

    def leaf(self, item: Item, flow: Flow, env, path: str, depth: int) -> tuple[Row, Flow]:
        kind: type[LayerKind] = item.layer
        args = self._tensor_args(kind, bind_args(item, env, path), item, path)
        _check_dtype(kind, item, path, flow)
        ctx = Context(path, kind.kind, item.loc, args, flow.source, self._warner(path, item), flow.source_path,
                      input_loc=flow.loc if flow.source_path is None else None)
        ctx.assume_undecided = self.assume_undecided
        result: Result | None = self.alter(path, kind, flow.shape, args, ctx) if self.alter is not None else None
        try:
            if result is None:
                result = kind.infer(flow.shape, args, ctx)
            _check_values(f"{kind.kind} '{path}'", item.loc, tuple(result.output), _elements(result.output), {})
            row = self._row(item, kind, flow, result, args, path, depth)
            _check_call(row, item)
            if item.share is not None:
                self._tie(row, item)
            row.backward_macs = N.add(N.mul(kind.backward_macs(args, flow.shape, result, flow.grad), self.batch),
                                      kind.per_pass_backward_macs(args, flow.shape, result))
            _check_sizes(row, item)
            out = tuple(result.output)
            rf = kind.receptive_field(args, flow.shape, flow.rf) if flow.rf is not None and len(out) >= 2 \
                and len(out) == len(flow.shape) else None
        except (OverflowError, N.TooLarge) as exc:  # a number past what floats or the bounds hold
            raise _too_large(f"{kind.kind} '{path}'", item.loc, getattr(exc, "what", None) or str(exc)) from None
        row.rf = rf = self._bounded_rf(rf, path, item)
        self._counted(item.loc)
        self.by_path[path] = row
        # name the layer that made this shape, not a relu after it; a layer with weights made it even where
        # the shape stays (a 1×1 convolution from 3 channels to 3): change it, and its output changes
        changed = out != tuple(flow.shape) or kind.weighted
        source, source_path = _source(path, item) if changed else (flow.source, flow.source_path)
        return row, Flow(out, source, source_path, "float" if kind.accepts_index else flow.dtype,
                         flow.grad or bool(N.compare(row.params, ">", 0)), rf, None if changed else flow.loc)

    def _bounded_rf(self, rf, path: str, item: Item):
        """The receptive field, or None (with a warning) once a value of it passes MAX_SIZE: a
        1-pixel map strided 2 thousands of times is valid, but its jump doubles with every layer."""
        if rf is None or all(_fits(v) for axis in rf for v in (axis.size, axis.jump, axis.start)):
            return rf
        self._warner(path, item)("receptive-field", f"the receptive field is no longer followed: its size or jump "
                                                    f"passes {MAX_SIZE:,} (2^63 - 1) input positions")
        return None

    def _row(self, item: Item, kind: type[LayerKind], flow: Flow, result: Result, args, path: str,
             depth: int) -> Row:
        out = tuple(result.output)
        activations = N.product(out)
        flops = result.flops if result.flops is not None else N.mul(2, result.macs)
        counts = {"activations": activations, "macs": result.macs, "flops": flops}
        if self.batch != 1:
            counts = {q: N.mul(v, self.batch) for q, v in counts.items()}
        if not N.compare(result.per_pass_macs, "==", 0):  # once per pass, whatever the batch
            counts["macs"] = N.add(counts["macs"], result.per_pass_macs)
            counts["flops"] = N.add(counts["flops"], N.mul(2, result.per_pass_macs))
        steps = list(result.steps)
        step = flops_step(counts["macs"], counts["flops"])
        if step is not None:
            steps.append(step)
        return Row(path=path, kind=kind.kind, layer=kind, family=kind.family, depth=depth, loc=item.loc,
                   input=tuple(flow.shape), output=out, params=result.params, buffers=result.buffers,
                   neurons=activations if kind.weighted else None, steps=steps, args=args,
                   weights=item.weights, call=item.call, **{q: counts[q] for q in PER_SAMPLE_SCALED})

    def _warner(self, path: str, item: Item):
        def warn(code: str, message: str, loc: Location | None = None) -> None:
            # one line per layer when axes repeat the same arithmetic ("H, W: (224 − 7 …")
            last = self.warnings[-1] if self.warnings else None
            axis, sep, rest = message.partition(": ")
            if last and last.path == path and last.code == code and sep and last.message.endswith(": " + rest):
                last.message = last.message[: -len(rest) - 2] + f", {axis}: {rest}"
                return
            self.warnings.append(AnalysisWarning(path, code, message, loc or item.loc))

        return warn

    def _tie(self, row: Row, item: Item) -> None:
        """Shared (tied) weights: counted once, at the layer that owns them; MACs every time."""
        target, loc = item.share
        owner = self.by_path.get(target)
        if owner is None:
            raise SpecError(f"'{row.path}' shares the weights of '{target}', which is not an earlier layer", loc,
                            hint=did_you_mean(target, list(self.by_path)) or "share names a layer that comes before",
                            code="invalid-layer")
        owner = owner.owner or owner  # share the owner's owner
        mine = row.layer.weight_shapes(row.args, row.input)
        theirs = owner.layer.weight_shapes(owner.args, owner.input)
        if mine is not None and theirs is not None:  # the kinds say which tensors: each must be the owner's
            if not _same_shapes(mine, theirs):
                raise SpecError(f"'{row.path}' can't share the weights of '{target}': their parameters differ", loc,
                                expected=f"{_shapes_text(theirs)}, as the {owner.kind} '{owner.path}' holds",
                                found=f"{row.kind} with {_shapes_text(mine)}", code="invalid-layer")
        elif owner.kind != row.kind or owner.params != row.params:
            raise SpecError(f"'{row.path}' can't share the weights of '{target}': their parameters differ", loc,
                            expected=f"a {owner.kind} with {N.fmt(owner.params)} parameters",
                            found=f"{row.kind} with {N.fmt(row.params)} parameters", code="invalid-layer")
        row.owner = owner
        row.params = 0
        row.buffers = 0

    def merge(self, item: Item, flow: Flow, env, path: str, depth: int) -> tuple[Row, Flow]:
        kind = item.layer
        args = self._tensor_args(kind, bind_args(item, env, path), item, path)
        self._counted(item.loc)
        ctx = Context(path, kind.kind, item.loc, args, flow.source, self._warner(path, item), flow.source_path,
                      [(b.name, b.loc) for b in item.branches])
        ctx.assume_undecided = self.assume_undecided
        branches, outs = [], []
        for branch, shape in zip(item.branches, kind.branch_inputs(flow.shape, args, len(item.branches), ctx)):
            given = flow if shape == tuple(flow.shape) else \
                replace(flow, shape=shape, rf=kind.branch_receptive_field(args, flow.shape, flow.rf))
            rows, out = self.items(branch.items, given, env, f"{path}.{branch.name}.", depth + 1)
            branches.append(BranchRows(branch.name, rows, tuple(given.shape)))
            outs.append(out)
        try:
            result = kind.combine([o.shape for o in outs], args, ctx)
            rf, widest = kind.merge_receptive_field(args, [o.rf for o in outs])
            own = {"params": result.params, "buffers": result.buffers, "macs": N.mul(result.macs, self.batch),
                   "flops": N.mul(result.flops if result.flops is not None else N.mul(2, result.macs), self.batch),
                   "backward_macs": N.mul(kind.merge_backward_macs(args, [o.shape for o in outs], result,
                                                                   [o.grad for o in outs]), self.batch)}
            _check_values(f"{kind.kind} '{path}'", item.loc, tuple(result.output), _elements(result.output), own)
        except (OverflowError, N.TooLarge) as exc:
            raise _too_large(f"{kind.kind} '{path}'", item.loc, getattr(exc, "what", None) or str(exc)) from None
        rf = self._bounded_rf(rf, path, item)
        parts = [r for b in branches for r in b.rows]
        row = Row(path=path, kind=kind.kind, layer=kind, family=kind.family, depth=depth, loc=item.loc,
                  input=tuple(flow.shape), output=tuple(result.output), args=args, branches=branches,
                  own=own, steps=list(result.steps), rf=rf,
                  rf_branch=item.branches[widest].name if widest is not None else None, **subtotal(parts, own))
        source, source_path = _source(path, item)
        return row, replace(outs[0], shape=tuple(result.output), source=source, source_path=source_path, rf=rf,
                            grad=any(o.grad for o in outs))


def _fits(v) -> bool:
    """A value within MAX_SIZE (by magnitude) or, when symbolic, within the expression bounds."""
    if N.is_symbolic(v):
        return N.oversize(v) is None
    return -MAX_SIZE <= v <= MAX_SIZE


def _too_large(what: str, loc: Location, why: str) -> SpecError:
    return SpecError(f"{what}: a size or count is too large: {why}", loc,
                     hint="no real network reaches these limits (SECURITY.md); check the spec's sizes and "
                          "arguments", code="limit")


def _check_sizes(row: Row, item: Item) -> None:
    """A layer's output sizes and counts within MAX_SIZE, MAX_COUNT and the expression bounds."""
    counts = {q: getattr(row, q) for q in ("params", "buffers", "activations", "macs", "flops", "backward_macs")}
    _check_values(f"{row.kind} '{row.path}'", item.loc, row.output, _elements(row.output), counts)


def _check_values(what: str, loc: Location, shape: tuple, elements, counts: Mapping[str, Any]) -> None:
    for i, size in enumerate(shape):
        _check_size(what, loc, f"output size {i + 1}", size)
    if elements is not None:
        _check_size(what, loc, "output element count", elements)
    for name, value in counts.items():
        if value is None:
            continue
        why = N.oversize(value)
        if why is None and not N.is_symbolic(value) and abs(value) > MAX_COUNT:
            why = f"{N.fmt(value)} is more than the limit of 10^30"
        if why is not None:
            raise _too_large(what, loc, f"its {name.replace('_', ' ')}: {why}")


def _elements(shape) -> int | None:
    """A concrete shape's element count; None for a symbolic one (its sizes are checked one by one
    and its element count is the activations count, checked as a count)."""
    return N.product(shape) if all(type(d) is int for d in shape) else None


def _check_size(what: str, loc: Location, name: str, value) -> None:
    why = N.oversize(value)
    if why is None and not N.is_symbolic(value) and value > MAX_SIZE:
        why = f"{N.fmt(value)} is more than torch's limit of {MAX_SIZE:,} (2^63 - 1)"
    if why is not None:
        raise _too_large(what, loc, f"its {name}: {why}")


def check_input(shape: tuple, loc: Location, what: str = "the input") -> None:
    """An input's sizes and element count within MAX_SIZE and the expression bounds."""
    for i, size in enumerate(shape):
        _check_size(what, loc, f"size {i + 1}", size)
    elements = _elements(shape)
    if elements is not None:
        _check_size(what, loc, "element count", elements)


def _same_shapes(mine: dict, theirs: dict) -> bool:
    """Two layers' parameters by name (LayerKind.weight_shapes): the same names, each of one shape."""
    return mine.keys() == theirs.keys() and all(
        len(mine[k]) == len(theirs[k]) and all(N.compare(a, "==", b) for a, b in zip(mine[k], theirs[k]))
        for k in mine)


def _shapes_text(shapes: dict) -> str:
    """'weight [50257, 768], bias [50257]'."""
    return ", ".join(f"{name} [{', '.join(N.fmt(d) for d in shape)}]" for name, shape in shapes.items())


def _value_text(value) -> str:
    """A bound value as a message shows it: 30, true, [1, 7]."""
    return "[" + ", ".join(_value_text(v) for v in value) + "]" if isinstance(value, list) else N.fmt(value)


def _kept(value) -> bool:
    if not isinstance(value, bool):
        value = N.compare(value, "!=", 0)
    return bool(value)


def _check_dtype(kind: type[LayerKind], item: Item, path: str, flow: Flow) -> None:
    if flow.dtype == "index" and not kind.accepts_index:
        raise SpecError(f"{kind.kind} '{path}': its input holds token ids (input dtype index)", item.loc,
                        expected="floating-point values", hint="put an embedding first", code="wrong-dtype")
    if kind.accepts_index and flow.dtype != "index":
        raise SpecError(f"{kind.kind} '{path}' reads token ids, but its input holds values", item.loc,
                        expected="token ids", found=f"the {flow.source}",
                        hint="declare the input as input: {shape: [T], dtype: index}", code="wrong-dtype")


def _fixed_point(given: Flow, out: Flow) -> bool:
    """A copy that hands on what it was given: the next copy computes the same numbers
    (the source, for messages, is the one thing that moves on)."""
    return (out.shape == given.shape and out.dtype == given.dtype and out.grad == given.grad
            and out.rf == given.rf)


class _Clone:
    """A walked copy of a `repeat: n` that later copies repeat: its rows (depth first, each
    with its path after the copy's own and the positions of its children and branch rows),
    the warnings its walk gave and the flow it handed on, all under its path `old`."""

    def __init__(self, row: Row, out: Flow, warnings: list, values: dict | None = None):
        self.old, self.out, self.warnings = row.path, out, tuple(warnings)
        rows = [row, *row.inside()]
        values = values or {}  # the rows' outputs inside the copy, for from: and tensor arguments, by their paths
        self.values = [(r.path[len(self.old):], values[r.path]) for r in rows[1:] if r.path in values]
        at = {id(r): i for i, r in enumerate(rows)}
        self.plan = [(type(r), r.__dict__, r.path[len(self.old):], [at[id(c)] for c in r.children],
                      [(b.name, [at[id(x)] for x in b.rows], b.input) for b in r.branches]) for r in rows]
        self.leaves = [i for i, r in enumerate(rows) if r.leaf]
        self.size = len(rows)  # each row is counted against the row limit, as the walk counts them
        # the flow handed on names the layer that made its shape: in the copy, or before the repeat
        inside = out.source_path is not None and (out.source_path + ".").startswith(self.old + ".")
        self.source = (out.source.split(f"'{out.source_path}'", 1), out.source_path[len(self.old):]) \
            if inside else None

    @classmethod
    def of(cls, row: Row, out: Flow, warnings: list, repeat_path: str, values: dict | None = None) -> _Clone | None:
        """The copy to clone, or None where cloning could not say what a walk says: a warning
        naming a layer of the repeat, a source that does not quote its layer's path."""
        if any(f"'{repeat_path}." in w.message for w in warnings):
            return None
        clone = cls(row, out, warnings, values)
        return clone if clone.source is None or len(clone.source[0]) == 2 else None

    def copy(self, walker: _Walker, new: str) -> tuple[Row, Flow]:
        """The copy at path `new`, as a walk would make it; the walker's row count, leaves
        (for share:) and warnings move on as that walk's would. What the rows refer to
        outside the copy stays: a tied layer's owner (share: names its target by its full
        path, so every copy ties to the layer a walk finds)."""
        rows: list = [None] * self.size
        for at in range(self.size - 1, -1, -1):  # last first: a row's children and branch rows come after it
            cls, fields, suffix, children, branches = self.plan[at]
            fields = fields.copy()  # a shallow copy, with lists of its own
            fields["path"] = new + suffix
            fields["steps"] = fields["steps"][:]
            if fields["own"] is not None:
                fields["own"] = fields["own"].copy()
            fields["children"] = [rows[i] for i in children]
            fields["branches"] = [BranchRows(name, [rows[i] for i in part], given) for name, part, given in branches]
            row = rows[at] = object.__new__(cls)
            row.__dict__ = fields
        walker.count += self.size
        for i in self.leaves:
            walker.by_path[rows[i].path] = rows[i]
        old = len(self.old)
        walker.warnings.extend(replace(w, path=new + w.path[old:]) for w in self.warnings)
        for suffix, value in self.values:
            walker.values[new + suffix] = value
        out = self.out
        if self.source is not None:
            (before, after), suffix = self.source
            out = Flow(out.shape, f"{before}'{new + suffix}'{after}", new + suffix, out.dtype, out.grad, out.rf)
        walker.values[new] = out
        return rows[0], out
