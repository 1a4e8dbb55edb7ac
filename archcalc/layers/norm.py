"""Normalisation: batch_norm1d/2d/3d, instance_norm1d/2d/3d, group_norm, layer_norm, rms_norm,
local_response_norm (AlexNet), local_contrast_norm (Jarrett et al., ICCV 2009).

Batch, instance and group norm learn a scale γ and shift β per channel when affine (2·C
params; C without the shift, bias=false); batch and instance norm with running statistics
keep a running mean and variance plus a 1-element `num_batches_tracked` (2·C + 1 buffers).
LayerNorm learns a scale and shift per normalised element, RMSNorm a scale only; neither
keeps anything. LRN and LCN learn nothing. None of them is counted as FLOPs
(docs/conventions.md).
"""
from __future__ import annotations

from typing import Any

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Float, Int, Ints, Nullable
from archcalc.layers.base import Context, LayerKind, Result, Step, Untranslatable, Weight, list_text, same_sizes
from archcalc.layers.registry import register

_SHAPES = {1: "[C]", 2: "[C, L]", 3: "[C, H, W]", 4: "[C, D, H, W]"}


def _call_values(names: tuple[str, ...], args: tuple, kwargs: dict) -> dict:
    """A torch function's arguments after the input, by the names of its signature."""
    return dict(zip(names, args)) | {k: v for k, v in kwargs.items() if k in names}


def _per_channel_args(learned: bool) -> tuple[Arg, ...]:
    """The arguments batch and instance norms share (torch's names); `learned`: affine and
    track_running_stats default on (batch norm) or off (instance norm)."""
    return (
        Arg("num_features", Nullable(Int(1)), None, "C; inferred from the input, checked when written"),
        Arg("eps", Float(minimum=0.0), 1e-5),
        Arg("momentum", Nullable(Float(minimum=0.0, maximum=1.0)), 0.1),
        Arg("affine", Bool(), learned),
        Arg("track_running_stats", Bool(), learned),
        Arg("bias", Bool(), True, "the shift β, with affine (torch's keyword-only bias)"),
    )


def _model_tensor(values: dict, name: str) -> bool:
    """Whether a norm's function is passed its γ or β (`name`): the model's own tensor (a
    Weight), or None. Anything else (a tensor made in forward) is no spec argument."""
    value = values.get(name)
    if value is not None and not isinstance(value, Weight):
        raise Untranslatable(f"normalises with a {name} computed in forward; a spec's {name} is a learned tensor")
    return value is not None


def _normalized_axes(x, shape: tuple, ctx: Context) -> None:
    """normalized_shape (layer_norm, rms_norm) must be the sizes of the input's last axes."""
    k = len(shape)
    last = tuple(x[-k:]) if k <= len(x) else None
    if last is None or not same_sizes(last, shape, ctx, f"normalized_shape {list_text(shape)}",
                                      f"{list_text(x)}, the {ctx.source}", arg="normalized_shape"):
        raise ctx.error(f"normalized_shape {list_text(shape)} is not the size of the input's last axes",
                        arg="normalized_shape", expected=f"the last {k} size(s) of {list_text(x)}",
                        found=f"{list_text(x)}, the {ctx.source}",
                        hint=f"normalized_shape: {list_text(x[-k:])}" if k <= len(x) else
                        "normalize fewer axes than the input has", code="shape-mismatch")


class _PerChannel(LayerKind):
    """Batch, instance and group norm: a scale γ and a shift β per channel when affine (torch's
    keyword-only bias=False drops β), the channel count inferred from the input."""

    family = "norm"

    @classmethod
    def check_channels(cls, c, a, ctx: Context, used: bool) -> None:
        """A written channel count (num_features, num_channels) must be the input's where torch
        uses it: for the affine weights or the running statistics. Otherwise torch never
        reads it (instance norm warns, batch and group norm say nothing): archcalc warns."""
        name = cls.in_arg
        written = getattr(a, name)
        if used or written is None or not ctx.args.given(name) or N.compare(written, "!=", c) is not True:
            cls.check_in_size(c, ctx)
            return
        ctx.warn("unused-argument", f"{name}={N.fmt(written)} is not the input's {N.fmt(c)} channels; torch does "
                                    "not use it (no affine weights or running statistics to size)")

    @classmethod
    def scale_and_shift(cls, c, a) -> tuple[Any, list[Step]]:
        """γ and β (β only with bias), C each, when affine."""
        if not a.affine:
            return 0, []
        if a.bias:
            params = N.mul(2, c)
            return params, [Step("params", "2·C (scale γ and shift β)", f"2·{N.fmt(c)}", params)]
        return c, [Step("params", "C (scale γ; no shift, bias=false)", "", c)]

    @classmethod
    def running_stats(cls, c, a) -> tuple[Any, list[Step]]:
        """The running mean and variance, C each, and the batches seen, when tracked."""
        if not a.track_running_stats:
            return 0, []
        buffers = N.add(N.mul(2, c), 1)
        return buffers, [Step("buffers", "2·C + 1 (running mean, running var, batches seen)", f"2·{N.fmt(c)} + 1",
                              buffers)]

    @classmethod
    def from_torch(cls, module) -> dict:
        """As every kind reads a module, but `bias` only where there are affine weights (a
        module without them has no bias either, whatever it was built with)."""
        values = super().from_torch(module)
        if not module.affine:
            values.pop("bias", None)
        return values


class _BatchNorm(_PerChannel):
    in_arg = "num_features"
    ranks: tuple[int, ...] = ()
    torch_class: str = ""
    args = _per_channel_args(learned=True)  # torch.nn.BatchNorm*d's defaults

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, cls.ranks, ctx, f"a {' or '.join(_SHAPES[r] for r in cls.ranks)} input")
        c = x[0]
        cls.check_channels(c, a, ctx, a.affine or a.track_running_stats)
        params, steps = cls.scale_and_shift(c, a)
        buffers, more = cls.running_stats(c, a)
        return Result(tuple(x), params=params, buffers=buffers, steps=steps + more)

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

        return getattr(nn, cls.torch_class)(x[0], a.eps, a.momentum, a.affine, a.track_running_stats, bias=a.bias)


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
class BatchNorm3d(_BatchNorm):
    kind = "batch_norm3d"
    torch_classes = ("BatchNorm3d",)
    torch_class = "BatchNorm3d"
    ranks = (4,)
    doc = "batch normalisation over [C, D, H, W] (torch.nn.BatchNorm3d)"


class _InstanceNorm(_BatchNorm):
    """y = (x − mean) / √(var + eps) · γ + β, the mean and variance of each channel of each
    sample over its positions. With track_running_stats it also keeps running estimates,
    which eval mode normalises by instead (so that each position stays itself there).
    torch runs it as a batch norm of one sample whose channels are the batch's B·C."""

    torch_functions = ("instance_norm",)
    args = _per_channel_args(learned=False)  # torch.nn.InstanceNorm*d's: no affine, no running statistics

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        (rank,) = cls.ranks
        cls.require_rank(x, cls.ranks, ctx, f"a {_SHAPES[rank]} input", hint=cls._rank_hint(x))
        c = x[0]
        cls.check_channels(c, a, ctx, a.affine or a.track_running_stats)
        cls.check_positions(x, a, ctx)
        params, steps = cls.scale_and_shift(c, a)
        buffers, more = cls.running_stats(c, a)
        return Result(tuple(x), params=params, buffers=buffers, steps=steps + more)

    @classmethod
    def _rank_hint(cls, x) -> str | None:
        """The instance norm of the input's rank; one rank short, what torch would make of it
        (it takes an input without a batch axis too)."""
        other = next((k.kind for k in _InstanceNorm.__subclasses__() if k.ranks == (len(x),)), None)
        hints = [f"use {other}"] if other else []
        if len(x) == cls.ranks[0] - 1:
            hints.append(f"torch would read a batch of {list_text(x)} as one sample without a batch axis, "
                         "whose channels are the batch")
        return "; ".join(hints) or None

    @classmethod
    def check_positions(cls, x, a, ctx: Context) -> None:
        """A channel of one position has no variance: torch refuses to normalise it by its own
        statistics, which it does always without running statistics, and when training with."""
        positions = N.product(x[1:])
        if N.compare(positions, "==", 1) is not True:
            return
        if not a.track_running_stats:
            raise ctx.error("each channel has one position, which has no variance to normalise by",
                            expected="more than 1 position per channel", found=f"{list_text(x)}, the {ctx.source}",
                            hint="use a larger input, or track_running_stats: true (which runs in eval only)",
                            code="size-too-small")
        ctx.warn("size-too-small", f"each channel of {list_text(x)} has one position: torch refuses it when training "
                                   "(no variance); only eval, with the running statistics, runs it")

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """torch's batch norm over B·C channels: the input (a view of it), the mean and inverse
        deviation of every sample's channel (float32), and what it repeats B times for that
        call: γ when affine, the running mean and variance when tracked."""
        c = x[0]
        repeated = (1 if a.affine else 0) + (2 if a.track_running_stats else 0)
        return [("input", N.product(x), elem), ("new", c, 4), ("new", c, 4)] + [("new", c, elem)] * repeated

    @classmethod
    def imported_call(cls, name, args, kwargs, x, out):
        """F.instance_norm(x) by its input's rank; running statistics or weights passed to it
        are tensors the model holds, which a spec cannot say."""
        kind = next((k for k in _InstanceNorm.__subclasses__() if x is not None and k.ranks == (len(x),)), None)
        if kind is None:
            raise Untranslatable(f"normalises a {list_text(x or ())} input; instance norm takes [C, L], [C, H, W] "
                                 "or [C, D, H, W]")
        layers = super().imported_call(name, args, kwargs, x, out)
        return [(kind.kind, spec) for _, spec in layers]

    @classmethod
    def from_torch_call(cls, args, kwargs):
        values = _call_values(("running_mean", "running_var", "weight", "bias", "use_input_stats", "momentum",
                               "eps"), args, kwargs)
        if any(values.get(k) is not None for k in ("running_mean", "running_var", "weight", "bias")):
            raise Untranslatable("normalises with tensors passed to it; archcalc reads those from a module")
        if values.get("use_input_stats") is False:
            raise Untranslatable("normalises by running statistics it is not given")
        return cls.written({k: v for k, v in values.items() if k in ("momentum", "eps")})


for _nd, _shape in ((1, "[C, L]"), (2, "[C, H, W]"), (3, "[C, D, H, W]")):  # instance_norm1d, 2d, 3d
    register(type(f"InstanceNorm{_nd}d", (_InstanceNorm,), {
        "kind": f"instance_norm{_nd}d", "torch_classes": (f"InstanceNorm{_nd}d",), "torch_class": f"InstanceNorm{_nd}d",
        "ranks": (_nd + 1,),
        "doc": f"instance normalisation over {_shape}, each sample's channels alone (torch.nn.InstanceNorm{_nd}d)"}))


@register
class GroupNorm(_PerChannel):
    """The channels split into G groups of C/G; each sample's group is normalised by its own
    mean and variance over its channels and all their positions, then scaled and shifted per
    channel. No running statistics: the same when training and after. G = 1 normalises a
    whole sample (as layer norm, with per-channel γ), G = C each channel (as instance norm)."""

    kind = "group_norm"
    torch_classes = ("GroupNorm",)
    torch_functions = ("group_norm",)
    in_arg = "num_channels"
    doc = "normalisation over groups of channels (torch.nn.GroupNorm)"
    args = (
        Arg("num_groups", Int(1), doc="G, the groups the channels are split into; must divide C"),
        Arg("num_channels", Nullable(Int(1)), None, "C; inferred from the input, checked when written"),
        Arg("eps", Float(minimum=0.0), 1e-5),
        Arg("affine", Bool(), True, "a learned scale γ (and shift β) per channel"),
        Arg("bias", Bool(), True, "the shift β, with affine (torch's keyword-only bias)"),
    )

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        c, g = x[0], a.num_groups
        written = a.num_channels if ctx.args.given("num_channels") else None
        if written is not None and N.compare(N.mod(written, g), "!=", 0):
            raise ctx.error(f"num_channels={N.fmt(written)} is not divisible by num_groups={N.fmt(g)}",
                            arg="num_channels", expected="num_channels a multiple of num_groups",
                            found=f"{N.fmt(written)} channels in {N.fmt(g)} groups", code="groups-mismatch")
        if N.compare(N.mod(c, g), "!=", 0):
            raise ctx.error(f"the input's {N.fmt(c)} channels are not divisible by num_groups={N.fmt(g)}",
                            arg="num_groups", expected="num_groups a divisor of the channels",
                            found=f"{list_text(x)}, the {ctx.source}", hint=cls._groups_hint(c),
                            code="groups-mismatch")
        cls.check_channels(c, a, ctx, a.affine)
        if N.compare(N.mul(N.floordiv(c, g), N.product(x[1:])), "==", 1):
            ctx.warn("size-too-small", f"each of the {N.fmt(g)} groups holds one value: its variance is 0, so the "
                                       "output is β; torch refuses a batch of one")
        params, steps = cls.scale_and_shift(c, a)
        return Result(tuple(x), params=params, steps=steps)

    @staticmethod
    def _groups_hint(c) -> str:
        if N.is_symbolic(c):
            return "make the channel count a multiple of num_groups"
        divisors = [g for g in range(1, min(c, 64) + 1) if c % g == 0]
        return "num_groups: " + " or ".join(str(g) for g in divisors[:6])

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # each output depends on every position of its group's channels

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """Its input, and each group's mean and 1/σ (float32)."""
        return [("input", N.product(x), elem), ("new", a.num_groups, 4), ("new", a.num_groups, 4)]

    imported_weights = True

    @classmethod
    def from_torch_call(cls, args, kwargs):
        """F.group_norm(x, num_groups, weight, bias, eps): γ and β, when passed, are the model's
        own tensors (its module's, read in forward), both or neither."""
        values = _call_values(("num_groups", "weight", "bias", "eps"), args, kwargs)
        weight, bias = _model_tensor(values, "weight"), _model_tensor(values, "bias")
        if weight != bias:
            raise Untranslatable("normalises with γ but no β, or β but no γ; group_norm's affine has both")
        return cls.written({"num_groups": values.get("num_groups"), "eps": values.get("eps", 1e-5),
                            "affine": weight})

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.GroupNorm(a.num_groups, x[0], a.eps, a.affine, bias=a.bias)


@register
class LayerNorm(LayerKind):
    """y = (x − mean) / √(var + eps) · γ + β, the mean and variance over each sample's last
    axes, whose sizes `normalized_shape` gives ([C] for a vector or a sequence's features,
    [C, H, W] for a whole image). γ and β have that shape (elementwise_affine; β only with
    bias). No running statistics: each sample normalises itself, when training and after."""

    kind = "layer_norm"
    contiguous_output = True  # ATen's layer norm reads a contiguous input and writes a contiguous output
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
        _normalized_axes(x, shape, ctx)
        elements = N.product(shape)
        per = (2 if a.bias else 1) if a.elementwise_affine else 0
        params = N.mul(per, elements)
        formula = "2·∏ normalized_shape (γ and β)" if per == 2 else "∏ normalized_shape (γ)"
        steps = [Step("params", formula, f"{per}·{'·'.join(N.fmt(d) for d in shape)}", params)] if per else []
        return Result(tuple(x), params=params, steps=steps)

    @classmethod
    def affine(cls, a) -> bool:
        return a.elementwise_affine

    torch_functions = ("layer_norm",)
    imported_weights = True

    @classmethod
    def from_torch_call(cls, args, kwargs):
        """F.layer_norm(x, normalized_shape, weight, bias, eps): γ and β, when passed, are the
        model's own tensors (ConvNeXt's LayerNorm2d reads its own in forward)."""
        values = _call_values(("normalized_shape", "weight", "bias", "eps"), args, kwargs)
        weight, bias = _model_tensor(values, "weight"), _model_tensor(values, "bias")
        if bias and not weight:
            raise Untranslatable("normalises with β but no γ; layer_norm's bias comes with elementwise_affine")
        return cls.written({"normalized_shape": values.get("normalized_shape"), "eps": values.get("eps", 1e-5),
                            "elementwise_affine": weight, "bias": bias or not weight})

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
class RMSNorm(LayerKind):
    """y = x / √(mean(x²) + eps) · γ, the mean over each sample's last axes, whose sizes
    `normalized_shape` gives (Zhang & Sennrich 2019): layer norm without the centring and
    without β. γ has that shape (elementwise_affine). eps=None is torch's: the dtype's
    machine epsilon. No running statistics."""

    kind = "rms_norm"
    family = "norm"
    torch_classes = ("RMSNorm",)
    torch_functions = ("rms_norm",)
    doc = "root-mean-square normalisation over each sample's last axes (torch.nn.RMSNorm)"
    args = (
        Arg("normalized_shape", Ints(), doc="the sizes of the last axes normalised together, e.g. [C] or [C, H, W]"),
        Arg("eps", Nullable(Float(minimum=0.0)), None, "null: the machine epsilon of the input's dtype"),
        Arg("elementwise_affine", Bool(), True, "a learned scale γ for every normalised element"),
    )

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        shape = tuple(a.normalized_shape)
        _normalized_axes(x, shape, ctx)
        if not a.elementwise_affine:
            return Result(tuple(x))
        params = N.product(shape)
        return Result(tuple(x), params=params,
                      steps=[Step("params", "∏ normalized_shape (γ)", "·".join(N.fmt(d) for d in shape), params)])

    @classmethod
    def affine(cls, a) -> bool:
        return a.elementwise_affine

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """Its input and each normalised group's 1/RMS (float32: one per position of the axes
        before the normalised ones), and for γ's gradient the normalised input x/RMS. Measured
        in float32 on the CPU; in half precision torch computes in float32 and keeps more."""
        groups = N.product(x[:len(x) - len(a.normalized_shape)])
        saved = [("input", N.product(x), elem), ("new", groups, 4)]
        return saved + ([("new", N.product(x), elem)] if a.elementwise_affine else [])

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # each output depends on every position of the normalised axes

    imported_weights = True

    @classmethod
    def from_torch_call(cls, args, kwargs):
        """F.rms_norm(x, normalized_shape, weight, eps): γ, when passed, is the model's own tensor."""
        values = _call_values(("normalized_shape", "weight", "eps"), args, kwargs)
        return cls.written({"normalized_shape": values.get("normalized_shape"), "eps": values.get("eps"),
                            "elementwise_affine": _model_tensor(values, "weight")})

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.RMSNorm(list(a.normalized_shape), a.eps, a.elementwise_affine)


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
