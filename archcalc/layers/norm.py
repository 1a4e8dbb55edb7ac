"""Normalisation: batch_norm1d/2d, local_response_norm (AlexNet), local_contrast_norm
(Jarrett et al., ICCV 2009).

BatchNorm learns a scale and shift per channel (2·C params when affine) and keeps running
mean and variance plus a 1-element `num_batches_tracked` (2·C + 1 buffers). LRN and LCN
learn nothing. None of them is counted as FLOPs (CONTRACT.md).
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Float, Int, Nullable
from archcalc.layers.base import Context, LayerKind, Result, Step
from archcalc.layers.registry import register
from archcalc.layers.receptive import through_window


class _BatchNorm(LayerKind):
    family = "norm"
    in_arg = "num_features"
    ranks: tuple[int, ...] = ()
    args = (
        Arg("num_features", Nullable(Int(1)), None, "C; inferred from the input, checked when written"),
        Arg("eps", Float(minimum=0.0), 1e-5),
        Arg("momentum", Nullable(Float(minimum=0.0, maximum=1.0)), 0.1),
        Arg("affine", Bool(), True),
        Arg("track_running_stats", Bool(), True),
    )

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        shapes = " or ".join({2: "[C]", 3: "[C, L]", 4: "[C, H, W]"}[r + 1] for r in cls.ranks)
        cls.require_rank(x, cls.ranks, ctx, f"a {shapes} input")
        c = x[0]
        cls.check_in_size(c, ctx)
        params = N.mul(2, c) if a.affine else 0
        buffers = N.add(N.mul(2, c), 1) if a.track_running_stats else 0
        steps = [Step("params", "2·C (scale γ and shift β)", f"2·{N.fmt(c)}", params)] if a.affine else []
        if a.track_running_stats:
            steps.append(Step("buffers", "2·C + 1 (running mean, running var, batches seen)", f"2·{N.fmt(c)} + 1",
                              buffers))
        return Result(tuple(x), params=params, buffers=buffers, steps=steps)

    @classmethod
    def weight_bytes(cls, a, params, buffers, elem):
        if not a.track_running_stats:
            return N.mul(params, elem)
        return N.add(N.mul(N.add(params, N.sub(buffers, 1)), elem), 8)  # num_batches_tracked is int64

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        # the input, and the batch's mean and inverse deviation per channel, kept in float32
        return [("input", N.product(x), elem), ("stat", x[0], 4), ("stat", x[0], 4)]

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return getattr(nn, cls.torch_class)(x[0], a.eps, a.momentum, a.affine, a.track_running_stats)


@register
class BatchNorm1d(_BatchNorm):
    kind = "batch_norm1d"
    torch_classes = ("BatchNorm1d",)
    torch_class = "BatchNorm1d"
    ranks = (1, 2)
    doc = "batch normalisation over [C] or [C, L] (torch.nn.BatchNorm1d)"


@register
class BatchNorm2d(_BatchNorm):
    kind = "batch_norm2d"
    torch_classes = ("BatchNorm2d",)
    torch_class = "BatchNorm2d"
    ranks = (3,)
    doc = "batch normalisation over [C, H, W] (torch.nn.BatchNorm2d)"


@register
class LocalResponseNorm(LayerKind):
    """b_c = a_c / (k + α/n · Σ_{c' near c} a_{c'}²)^β across `size` neighbouring channels
    (torch divides alpha by size, as AlexNet's paper does not: its α is torch's α/n)."""

    kind = "local_response_norm"
    torch_classes = ("LocalResponseNorm",)
    torch_functions = ("local_response_norm",)
    family = "norm"
    doc = "normalisation across neighbouring channels (torch.nn.LocalResponseNorm)"
    args = (
        Arg("size", Int(1), doc="n, neighbouring channels"),
        Arg("alpha", Float(), 1e-4),
        Arg("beta", Float(), 0.75),
        Arg("k", Float(), 1.0),
    )

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, [2, 3, 4], ctx, "a channels-first input [C, ...] of rank 2 to 4")
        return Result(tuple(x))

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """torch computes LRN from its squared input padded across channels and averaged, then
        scaled, raised to beta and divided: it keeps the input, the padded squares
        ((C + size − 1)·H·W) and two input-sized intermediates."""
        n = N.product(x)
        padded = N.mul(N.add(x[0], a.size - 1), N.product(x[1:]))
        return [("input", n, elem), ("new", padded, elem), ("new", n, elem), ("new", n, elem)]

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.LocalResponseNorm(a.size, a.alpha, a.beta, a.k)


@register
class LocalContrastNorm(LayerKind):
    """Subtractive then divisive normalisation over a size×size neighbourhood across all
    channels (Jarrett et al. 2009). No learned weights. Jarrett weights the neighbourhood
    with a Gaussian; archcalc's module uses a uniform window computed by average pooling,
    so that, like every normalisation here, it has no FLOPs in FlopCounterMode's count
    (CONTRACT.md). The window is centred, so its size must be odd."""

    kind = "local_contrast_norm"
    torch_classes = ("LocalContrastNorm",)  # archcalc's own module
    family = "norm"
    doc = "local contrast normalisation (archcalc's own; Jarrett et al. 2009)"
    args = (
        Arg("size", Int(1), 9, "the neighbourhood's side"),
        Arg("eps", Float(minimum=0.0), 1e-4),
    )

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, [3], ctx, "a [C, H, W] input")
        if N.compare(N.mod(a.size, 2), "==", 0):
            raise ctx.error(f"size={N.fmt(a.size)} must be odd (the window is centred on each pixel)",
                            arg="size", expected="an odd size such as 3, 5, 9", code="invalid-layer")
        return Result(tuple(x))

    @classmethod
    def receptive_field(cls, a, x, rf):
        return through_window(rf, (a.size, a.size), (1, 1), (a.size // 2, a.size // 2))

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import LocalContrastNorm as Module

        return Module(a.size, a.eps)
