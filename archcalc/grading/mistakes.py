"""The common mistakes a layer can be computed with, each a recomputation of the layer the
way the mistake would do it (the codes are listed in diagnose.py's docstring).

A mistake applies to a layer when the layer's arguments give it room (a bias to forget,
a padding, groups, a stride, gates); `redo` computes the layer on a given input with the
mistake, or None where the mistake gives no valid layer. The same `redo` serves the layer
an answer is about and, through analyze(alter=...), the network re-analysed with an
earlier layer (or every layer) computed that way. Only the kinds' arguments and hooks are
asked (bias, groups, padding, stride, kernel_size, bidirectional, bias_sets; a recurrent
kind's `gates` and `bias_values`): nothing here knows a kind by its name.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from archcalc.engine import numbers as N
from archcalc.layers.args import ArgTypeError
from archcalc.layers.base import Args, Context, Result
from archcalc.spec.errors import SpecError


def context_of(row) -> Context:
    """A quiet Context for recomputing an analysed row's layer on its own input."""
    return Context(row.path, row.kind, row.loc, row.args, "input", lambda *_: None)


def reinfer(kind, x, a: Args, ctx: Context, **changes) -> Result | None:
    """The layer with some arguments changed, on input x; None where that is not a valid layer."""
    values = dict(a.items())
    for name, value in changes.items():
        arg = next((g for g in kind.args if g.name == name), None)
        if arg is None:
            return None
        try:
            values[name] = arg.type.check(list(value) if isinstance(value, tuple) else value)
        except ArgTypeError:
            return None
    args = Args(values, {})
    quiet = Context(ctx.path, ctx.kind, ctx.loc, args, ctx.source, lambda *_: None, ctx.source_path)
    try:
        return kind.infer(tuple(x), args, quiet)
    except SpecError:
        return None


def _arg(a: Args, name: str, default: Any = None) -> Any:
    return dict(a.items()).get(name, default)


def _axes(value) -> str:
    """2, or (0, 1) where the axes differ."""
    if not isinstance(value, tuple):
        return str(value)
    if len(set(value)) == 1:
        return N.fmt(value[0])
    return "(" + ", ".join(N.fmt(v) for v in value) + ")"


def _spatial(kind, a: Args, x) -> bool:
    """A sliding window over an image-like input: kernel_size and stride, no output_padding
    (a transposed convolution's size rule is another)."""
    names = {g.name for g in kind.args}
    return {"kernel_size", "stride"} <= names and "output_padding" not in names and len(x) >= 2


class Mistake:
    code = ""
    phrase = ""  # after "computed": "without its biases"
    keeps_shape = True  # the layer's output shape stays: only its own counts change

    def applies(self, kind, a: Args, x) -> bool:
        raise NotImplementedError

    def redo(self, kind, x, a: Args, ctx: Context) -> Result | None:
        raise NotImplementedError

    def here(self, row) -> str:
        """What the student did, at the layer the answer is about."""
        raise NotImplementedError

    def detail(self, a: Args, x) -> str:
        """The layer's own figure, after the phrase: "(P = 2)"."""
        return ""

    def follows(self, where: str, row=None) -> str:
        detail = self.detail(row.args, row.input) if row is not None else ""
        return f"follows from {where} computed {self.phrase}" + (f" ({detail})" if detail else "")


class BiasMissing(Mistake):
    code, phrase = "bias-missing", "without its biases"

    def applies(self, kind, a, x):
        return _arg(a, "bias") is True

    def redo(self, kind, x, a, ctx):
        return reinfer(kind, x, a, ctx, bias=False)

    def here(self, row):
        return "counted the weights only: the bias terms (one per filter or output) are missing"


class FullDepth(Mistake):
    code, phrase = "full-depth", "with its full input depth (groups ignored)"

    def applies(self, kind, a, x):
        return _arg(a, "groups", 1) != 1

    def redo(self, kind, x, a, ctx):
        return reinfer(kind, x, a, ctx, groups=1)

    def here(self, row):
        d, groups = row.input[0], _arg(row.args, "groups")
        text = f"used the full input depth D = {N.fmt(d)}; "
        if N.compare(d, "==", groups) is True:
            return text + f"this is a depthwise convolution (groups = D = {groups}): each filter sees one channel"
        each = f"with groups={groups} each filter sees only D/groups = {N.fmt(N.true_div(d, groups))} channels"
        return text + each + (" (one GPU's half)" if groups == 2 else "")


class PaddingForgotten(Mistake):
    code, phrase = "padding-forgotten", "without its padding"
    keeps_shape = False

    def applies(self, kind, a, x):
        padding = _arg(a, "padding")
        if isinstance(padding, tuple):
            return any(N.compare(p, "!=", 0) is not False for p in padding) and _spatial(kind, a, x)
        return padding == "same" and _spatial(kind, a, x)

    def redo(self, kind, x, a, ctx):
        return reinfer(kind, x, a, ctx, padding=0)

    def detail(self, a, x):
        padding = _arg(a, "padding")
        return "padding 'same'" if padding == "same" else f"P = {_axes(padding)}"

    def here(self, row):
        padding = _arg(row.args, "padding")
        if padding == "same":
            return "forgot the zero padding (padding: same keeps the size)"
        return f"forgot the zero padding P = {_axes(padding)}"


class DepthForgotten(Mistake):
    """params = F·F·K + K instead of F·F·D·K + K: the layer as if its input had one channel."""

    code, phrase = "depth-forgotten", "without its input depth"

    def applies(self, kind, a, x):
        names = {g.name for g in kind.args}
        return {"out_channels", "kernel_size"} <= names and len(x) >= 2 and N.compare(x[0], "!=", 1) is True

    def redo(self, kind, x, a, ctx):
        changes = {"in_channels": None} if _arg(a, "in_channels") is not None else {}
        if _arg(a, "groups") is not None:
            changes["groups"] = 1
        result, right = reinfer(kind, (1, *x[1:]), a, ctx, **changes), reinfer(kind, x, a, ctx)
        return result if result is not None and right is not None and tuple(result.output) == tuple(right.output) \
            else None

    def here(self, row):
        return (f"left out the input depth D = {N.fmt(row.input[0])}: each filter has F·F·D weights "
                "(params = (F·F·D/groups + 1)·K), not F·F")


class UnsharedWeights(Mistake):
    """A locally connected layer's count: a filter (and bias) of its own at every output position."""

    code, phrase = "unshared-weights", "with unshared weights (a filter per output position)"

    def applies(self, kind, a, x):
        names = {g.name for g in kind.args}
        return {"out_channels", "kernel_size"} <= names and _spatial(kind, a, x)

    def redo(self, kind, x, a, ctx):
        result, larger = reinfer(kind, x, a, ctx), reinfer(kind, (x[0], *(N.mul(2, s) for s in x[1:])), a, ctx)
        if result is None or larger is None or larger.params != result.params:
            return None  # its weights are not shared across positions already (a locally connected layer)
        positions = N.product(result.output[1:])
        if N.compare(positions, "==", 1) is not False:
            return None
        return Result(result.output, params=N.mul(result.params, positions), buffers=result.buffers,
                      macs=result.macs, flops=result.flops, per_pass_macs=result.per_pass_macs)

    def here(self, row):
        positions = " · ".join(N.fmt(o) for o in reversed(row.output[1:]))
        return (f"counted a filter of its own at each of the {positions} output positions (a locally connected "
                "layer); a convolution shares one filter set across them")


class PlusOneForgotten(Mistake):
    code, phrase = "plus-one-forgotten", "without the + 1 in its output size"
    keeps_shape = False

    def applies(self, kind, a, x):
        return _spatial(kind, a, x) and _arg(a, "padding") != "same"

    def redo(self, kind, x, a, ctx):
        result = reinfer(kind, x, a, ctx)
        if result is None:
            return None
        out = (result.output[0], *(N.sub(o, 1) for o in result.output[1:]))
        if any(N.compare(o, "<", 1) is not False for o in out[1:]):
            return None
        macs = N.true_div(N.mul(result.macs, N.product(out)), N.product(result.output))
        if not isinstance(N.normalize(macs), int):
            return None  # the work is not one per output position
        return Result(out, params=result.params, buffers=result.buffers, macs=N.normalize(macs))

    def here(self, row):
        return "forgot the + 1 in W2 = (W1 − F + 2P)/S + 1"


class StrideIgnored(Mistake):
    code, phrase = "stride-ignored", "with its stride ignored"
    keeps_shape = False

    def applies(self, kind, a, x):
        stride = _arg(a, "stride") or _arg(a, "kernel_size")
        return _spatial(kind, a, x) and isinstance(stride, tuple) and any(s != 1 for s in stride)

    def redo(self, kind, x, a, ctx):
        return reinfer(kind, x, a, ctx, stride=1)

    def detail(self, a, x):
        return f"S = {_axes(_arg(a, 'stride') or _arg(a, 'kernel_size'))}"

    def here(self, row):
        return f"ignored the stride: {self.detail(row.args, row.input)}, computed as if S = 1"


class KernelMinusOne(Mistake):
    code, phrase = "kernel-minus-one", "with F − 1 for its kernel size"
    keeps_shape = False

    def applies(self, kind, a, x):
        kernel = _arg(a, "kernel_size")
        return _spatial(kind, a, x) and isinstance(kernel, tuple) and all(isinstance(k, int) and k > 1
                                                                          for k in kernel)

    def redo(self, kind, x, a, ctx):
        kernel = tuple(k - 1 for k in _arg(a, "kernel_size"))
        changes = {"kernel_size": kernel}
        if "stride" in dict(a.items()) and _arg(a, "stride") is None:
            changes["stride"] = _arg(a, "kernel_size")  # a pool's default stride stays F
        return reinfer(kind, x, a, ctx, **changes)

    def detail(self, a, x):
        kernel = _arg(a, "kernel_size")
        return f"F = {_axes(kernel)}, not {_axes(tuple(k - 1 for k in kernel))}"

    def here(self, row):
        kernel = _arg(row.args, "kernel_size")
        return f"used F − 1 = {_axes(tuple(k - 1 for k in kernel))} for the kernel size F = {_axes(kernel)}"


@lru_cache(maxsize=None)
def _one_gate(kind):
    """The kind's own rules with G = 1 (not registered: the registry is untouched)."""
    return type(kind.__name__, (kind,), {"gates": 1})


def _gates(kind) -> int:
    gates = getattr(kind, "gates", 1)
    return gates if isinstance(gates, int) else 1


class OneBiasSet(Mistake):
    """Keras' (and the textbook's) one bias per gate where torch keeps two, b_ih and b_hh."""

    code, phrase = "one-bias-set", "with one bias set (Keras) instead of torch's two"

    def applies(self, kind, a, x):
        return _arg(a, "bias") is True and callable(getattr(kind, "bias_values", None)) \
            and callable(getattr(kind, "bias_sets", None)) and kind.bias_sets(a) == 2

    def redo(self, kind, x, a, ctx):
        result = reinfer(kind, x, a, ctx)
        if result is None:
            return None
        return Result(result.output, params=N.sub(result.params, N.true_div(kind.bias_values(a), 2)),
                      buffers=result.buffers, macs=result.macs, flops=result.flops)

    def here(self, row):
        return ("counted one bias set (Keras' and the textbook's one bias per gate); torch keeps two, b_ih and "
                "b_hh")


class TwoBiasSets(Mistake):
    code, phrase = "two-bias-sets", "with torch's two bias sets"

    def applies(self, kind, a, x):
        return _arg(a, "bias") is True and _arg(a, "bias_sets") == 1

    def redo(self, kind, x, a, ctx):
        return reinfer(kind, x, a, ctx, bias_sets=2)

    def here(self, row):
        return "counted torch's two bias sets (b_ih and b_hh); this layer keeps one (bias_sets: 1)"


class GatesForgotten(Mistake):
    code, phrase = "gates-forgotten", "with one gate block"

    def applies(self, kind, a, x):
        return _gates(kind) > 1

    def redo(self, kind, x, a, ctx):
        return reinfer(_one_gate(kind), x, a, ctx)

    def here(self, row):
        names = getattr(row.layer, "gate_names", "")
        return (f"counted one weight block; this {row.kind} has G = {_gates(row.layer)} gate blocks"
                + (f" ({names})" if names else "") + ", each with its own weights")


class OneDirection(Mistake):
    code, phrase = "one-direction", "in one direction only"
    keeps_shape = False

    def applies(self, kind, a, x):
        return _arg(a, "bidirectional") is True

    def redo(self, kind, x, a, ctx):
        return reinfer(kind, x, a, ctx, bidirectional=False)

    def here(self, row):
        return "counted one direction; the layer is bidirectional: two directions, each with its own weights"


MISTAKES: tuple[Mistake, ...] = (BiasMissing(), FullDepth(), PaddingForgotten(), DepthForgotten(), UnsharedWeights(),
                                 PlusOneForgotten(), StrideIgnored(), KernelMinusOne(), OneBiasSet(), TwoBiasSets(),
                                 GatesForgotten(), OneDirection())


def alter(mistake: Mistake, paths: frozenset | None):
    """analyze()'s alter: the layers at `paths` (None: every layer) computed with the mistake."""
    def computed(path, kind, x, a, ctx):
        if (paths is None or path in paths) and mistake.applies(kind, a, x):
            return mistake.redo(kind, x, a, ctx)
        return None

    return computed
