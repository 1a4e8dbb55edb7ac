"""Normalisation: batch_norm1d/2d, layer_norm, local_response_norm (AlexNet),
local_contrast_norm (Jarrett et al., ICCV 2009).

BatchNorm learns a scale and shift per channel (2·C params when affine) and keeps running
mean and variance plus a 1-element `num_batches_tracked` (2·C + 1 buffers). LayerNorm
learns a scale and shift per normalised element and keeps nothing. LRN and LCN learn
nothing. None of them is counted as FLOPs (docs/conventions.md).
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Float, Int, Ints, Nullable
from archcalc.layers.base import Context, LayerKind, Result, Step, list_text
from archcalc.layers.registry import register


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
    def receptive_field(cls, a, x, rf):
        """With running statistics (as it runs after training) each position stays itself;
        without, every output depends on the batch's statistics over all positions."""
        return rf if a.track_running_stats else None

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
class LayerNorm(LayerKind):
    """y = (x − mean) / √(var + eps) · γ + β, the mean and variance over each sample's last
    axes, whose sizes `normalized_shape` gives ([C] for a vector or a sequence's features,
    [C, H, W] for a whole image). γ and β have that shape (elementwise_affine; β only with
    bias). No running statistics: each sample normalises itself, when training and after."""

    kind = "layer_norm"
    family = "norm"
    torch_classes = ("LayerNorm",)
    doc = "normalisation over each sample's last axes (torch.nn.LayerNorm)"
    args = (
        Arg("normalized_shape", Ints(), doc="the sizes of the last axes normalised together, e.g. [C] or [C, H, W]"),
        Arg("eps", Float(minimum=0.0), 1e-5),
        Arg("elementwise_affine", Bool(), True, "a learned scale γ (and shift β) for every normalised element"),
        Arg("bias", Bool(), True, "the shift β, with elementwise_affine"),
    )

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        shape = tuple(a.normalized_shape)
        k = len(shape)
        last = tuple(x[-k:]) if k <= len(x) else None
        if last is None or any(N.compare(d, "!=", s) for d, s in zip(last, shape)):
            raise ctx.error(f"normalized_shape {list_text(shape)} is not the size of the input's last axes",
                            arg="normalized_shape", expected=f"the last {k} size(s) of {list_text(x)}",
                            found=f"{list_text(x)}, the {ctx.source}",
                            hint=f"normalized_shape: {list_text(x[-k:])}" if k <= len(x) else
                            "normalize fewer axes than the input has", code="shape-mismatch")
        elements = N.product(shape)
        per = (2 if a.bias else 1) if a.elementwise_affine else 0
        params = N.mul(per, elements)
        formula = "2·∏ normalized_shape (γ and β)" if per == 2 else "∏ normalized_shape (γ)"
        steps = [Step("params", formula, f"{per}·{'·'.join(N.fmt(d) for d in shape)}", params)] if per else []
        return Result(tuple(x), params=params, steps=steps)

    @classmethod
    def affine(cls, a) -> bool:
        return a.elementwise_affine

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """Its input, and each normalised group's mean and 1/σ (float32): one per position of
        the axes before the normalised ones."""
        groups = N.product(x[:len(x) - len(a.normalized_shape)])
        return [("input", N.product(x), elem), ("new", groups, 4), ("new", groups, 4)]

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # each output depends on every position of the normalised axes

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.LayerNorm(list(a.normalized_shape), a.eps, a.elementwise_affine, a.bias)


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
    (docs/conventions.md). The window is centred, so its size must be odd."""

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
        """None: the divisor's floor is the deviation's mean over the whole image, so every
        output depends on every input (the local window alone is size × size)."""
        return None

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import LocalContrastNorm as Module

        return Module(a.size, a.eps)
