"""Fully connected layers: linear (torch.nn.Linear) and maxout (Goodfellow et al., 2013).

Both act on the last axis: a vector [F], or a sequence [T, F] where the same weights are
applied at every step (the course's y_t = W_hy h_t). An image needs a `flatten` first.
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Int, Nullable
from archcalc.layers.base import Context, Result, Step, WeightedProduct
from archcalc.layers.registry import register

_FLATTEN_HINT = "insert '- flatten' before this layer to turn the image into a vector"


def _last_axis_input(cls, x, ctx: Context):
    cls.require_rank(x, [1, 2], ctx, "a vector [F] or a sequence [T, F]",
                     _FLATTEN_HINT if len(x) >= 3 else None)
    cls.check_in_size(x[-1], ctx)
    return x[-1], (x[0] if len(x) == 2 else 1)


@register
class Linear(WeightedProduct):
    kind = "linear"
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
        t = "T·" if len(x) == 2 else ""
        t_val = f"{N.fmt(positions)}·" if len(x) == 2 else ""
        steps = [
            Step("params", f"(in{b})·out", f"({N.fmt(fan_in)}{b})·{N.fmt(out)}", params),
            Step("MACs", f"{t}in·out", f"{t_val}{N.fmt(fan_in)}·{N.fmt(out)}", macs),
        ]
        return Result((*x[:-1], out), params=params, macs=macs, steps=steps)

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
            Step("MACs", "in·out·k", f"{N.fmt(fan_in)}·{N.fmt(out)}·{N.fmt(k)}", macs),
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
