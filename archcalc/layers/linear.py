"""Fully connected layers: linear (torch.nn.Linear) and maxout (Goodfellow et al., 2013).

Both act on the last axis, as torch's do: a vector [F], a sequence [T, F] where the same
weights are applied at every step (the course's y_t = W_hy h_t), or any [..., F] where they
are applied at every position of the leading axes (ConvNeXt's pointwise layers on [H, W, C],
after a `permute` has moved the channels last). A channels-first image [C, H, W] would be
read along W: to treat it as a vector, `flatten` it first.
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Int, Nullable
from archcalc.layers.base import Context, Result, Step, WeightedProduct, list_text
from archcalc.layers.registry import register

_FLATTEN_HINT = "insert '- flatten' before this layer to turn the image into a vector"


def _last_axis_input(cls, x, ctx: Context):
    """The fan-in (the last axis) and the positions the weights are applied at (the product
    of the leading axes, 1 for a vector). A written in_features that is the whole sample's
    size, not its last axis, is the forgotten flatten."""
    if len(x) >= 2 and ctx.args.given(cls.in_arg):
        written = getattr(ctx.args, cls.in_arg)
        if written is not None and N.compare(written, "!=", x[-1]) and N.compare(written, "==", N.product(x)):
            raise ctx.error(f"{cls.in_arg}={N.fmt(written)} is the whole sample, but a {cls.kind} layer reads only "
                            "its last axis", arg=cls.in_arg, expected=f"{cls.in_arg} = {N.fmt(x[-1])}",
                            found=f"{list_text(x)} (the {ctx.source})", hint=_FLATTEN_HINT, code="shape-mismatch")
    cls.check_in_size(x[-1], ctx)
    return x[-1], N.product(x[:-1])


def _positions_text(x) -> tuple[str, str]:
    """The MACs formula's factor for the leading axes: '' for a vector, 'T·' for a sequence,
    'positions·' beyond, with their values."""
    if len(x) == 1:
        return "", ""
    return ("T·" if len(x) == 2 else "positions·"), "·".join(N.fmt(d) for d in x[:-1]) + "·"


@register
class Linear(WeightedProduct):
    kind = "linear"
    contiguous_output = True  # F.linear folds its input (a copy where it must) and multiplies
    torch_classes = ("Linear",)
    family = "linear"
    in_arg = "in_features"
    doc = "fully connected layer y = Wx + b on the last axis (torch.nn.Linear)"
    args = (
        Arg("out_features", Int(1)),
        Arg("bias", Bool(), True),
        Arg("in_features", Nullable(Int(1)), None, "inferred from the input, checked when written"),
    )

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        fan_in, positions = _last_axis_input(cls, x, ctx)
        out = a.out_features
        params = N.mul(N.add(fan_in, 1 if a.bias else 0), out)
        macs = N.mul(positions, N.mul(fan_in, out))
        b = " + 1" if a.bias else ""
        t, t_val = _positions_text(x)
        steps = [
            Step("params", f"(in{b})·out", f"({N.fmt(fan_in)}{b})·{N.fmt(out)}", params),
            Step("MACs", f"{t}in·out", f"{t_val}{N.fmt(fan_in)}·{N.fmt(out)}", macs),
        ]
        return Result((*x[:-1], out), params=params, macs=macs, steps=steps)

    @classmethod
    def weight_shapes(cls, a, x):
        return {"weight": (a.out_features, x[-1])} | ({"bias": (a.out_features,)} if a.bias else {})

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.Linear(x[-1], a.out_features, a.bias)


@register
class Maxout(WeightedProduct):
    """max(w_1ᵀx + b_1, …, w_kᵀx + b_k): a linear layer to out·pieces units, then the
    maximum over each unit's `pieces`. FLOPs count the matmul only (the max is free, as
    in torch's FlopCounterMode)."""

    kind = "maxout"
    torch_classes = ("Maxout",)  # archcalc's own module
    family = "linear"
    in_arg = "in_features"
    doc = "maxout units (archcalc's own): max over `pieces` linear pieces"
    args = (
        Arg("out_features", Int(1)),
        Arg("pieces", Int(1), 2, "k, linear pieces per unit"),
        Arg("bias", Bool(), True),
        Arg("in_features", Nullable(Int(1)), None),
    )

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        fan_in, positions = _last_axis_input(cls, x, ctx)
        out, k = a.out_features, a.pieces
        b = " + 1" if a.bias else ""
        params = N.mul(N.mul(N.add(fan_in, 1 if a.bias else 0), out), k)
        macs = N.mul(positions, N.mul(N.mul(fan_in, out), k))
        steps = [
            Step("params", f"(in{b})·out·k", f"({N.fmt(fan_in)}{b})·{N.fmt(out)}·{N.fmt(k)}", params),
            Step("MACs", f"{_positions_text(x)[0]}in·out·k",
                 f"{_positions_text(x)[1]}{N.fmt(fan_in)}·{N.fmt(out)}·{N.fmt(k)}", macs),
        ]
        return Result((*x[:-1], out), params=params, macs=macs, steps=steps)

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        # the matmul's input, then the max's input (all pieces) and its result
        pieces = N.mul(N.product(out), a.pieces)
        return [("input", N.product(x), elem), ("new", pieces, elem), ("output", N.product(out), elem)]

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import Maxout as Module

        return Module(x[-1], a.out_features, a.pieces, a.bias)

    @classmethod
    def bias_adds(cls, a, out):
        """Its inner linear layer's bias: out × pieces per position."""
        return N.mul(super().bias_adds(a, out), a.pieces)

    @classmethod
    def from_torch(cls, module) -> dict:
        out = {"out_features": module.out_features, "pieces": module.pieces}
        return out | ({} if module.linear.bias is not None else {"bias": False})
