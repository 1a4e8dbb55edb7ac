"""Resampling: upsample (torch.nn.Upsample, F.interpolate), pixel_shuffle and pixel_unshuffle.

They change a feature map's size without weights: interpolation reads a few neighbours of
each output position, a pixel shuffle moves values between the channels and the plane.
No parameters and, as torch's FlopCounterMode counts, no FLOPs (docs/conventions.md);
their backward passes need only the sizes, so autograd saves nothing for them. An output
position's inputs depend on where it falls between the input's positions, so no single
receptive field describes them, except for pixel_unshuffle's regular blocks.
"""
from __future__ import annotations

from fractions import Fraction

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Choice, Float, Int, Nullable, OneOrList
from archcalc.layers.base import COMPUTED, Context, LayerKind, Result, Step, Untranslatable, list_text
from archcalc.layers.receptive import through_window
from archcalc.layers.registry import register
from archcalc.layers.window import axis_names

_RANK_HINT = ("resampling needs a channels-first input ([C, L], [C, H, W] or [C, D, H, W]); remove the flatten "
              "before it")

# the spatial axes each interpolation mode takes, as F.interpolate dispatches them
_MODE_AXES = {"nearest": (1, 2, 3), "nearest-exact": (1, 2, 3), "linear": (1,), "bilinear": (2,), "bicubic": (2,),
              "trilinear": (3,)}
_INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")  # the modes align_corners belongs to
_EXACT_DENOMINATOR = 2 ** 16  # a scale whose binary fraction is this short multiplies any size exactly


class _Resample(LayerKind):
    family = "resample"

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """The backward of interpolation and of a pixel shuffle is computed from the output's
        gradient and the sizes alone: nothing is saved."""
        return []

    @classmethod
    def receptive_field(cls, a, x, rf):
        """Which inputs an output reads depends on its position's fraction: no single field."""
        return None


def _scaled(ctx: Context, axis: str, size, s: float):
    """⌊size·s⌋ as torch computes it: the double product, truncated (so 10 × 0.7 is 7, not
    6). A symbolic size is multiplied exactly when the scale's binary fraction is short
    enough that the double product is exact (0.5, 1.5, 2.25, integers; any size below 2^36)."""
    if not N.is_symbolic(size):
        return int(float(size) * s)
    q = Fraction(s)
    if q.denominator > _EXACT_DENOMINATOR:
        raise ctx.error(f"scale_factor {s!r} on a symbolic size along {axis}: torch rounds the product in floating "
                        "point, which archcalc follows only for concrete sizes", arg="scale_factor",
                        found=f"{axis} = {N.fmt(size)}", hint="bind the size with --set NAME=VALUE, or use a scale "
                        "such as 0.5, 1.5 or 2", code="needs-concrete-size")
    return N.floordiv(N.mul(size, q.numerator), q.denominator)


def _scale_text(s: float) -> str:
    """2.0 as 2, 0.7 as 0.7: the scale as a spec writes it."""
    return str(int(s)) if s.is_integer() else repr(s)


@register
class Upsample(_Resample):
    """torch.nn.Upsample (and F.interpolate): the output size is `size`, or ⌊H1·s⌋ per axis for
    a scale factor s, rounded as torch rounds it. The mode says how each output value is read
    from its neighbours: nearest (one), linear/bilinear/trilinear (2, 4, 8), bicubic (16)."""

    kind = "upsample"
    torch_classes = ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d")
    torch_functions = ("interpolate", "upsample", "upsample_nearest", "upsample_bilinear")
    doc = "resize by interpolation to a size or by a scale factor (torch.nn.Upsample, F.interpolate)"
    args = (
        Arg("size", Nullable(OneOrList(Int(1))), None,
            "the output's spatial size: one for every axis, or one per axis"),
        Arg("scale_factor", Nullable(OneOrList(Float(minimum=0.0))), None,
            "s, the output's size over the input's: one for every axis, or one per axis"),
        Arg("mode", Choice(*_MODE_AXES), "nearest",
            "nearest, nearest-exact ([C, L], [C, H, W], [C, D, H, W]); linear [C, L]; bilinear, bicubic [C, H, W]; "
            "trilinear [C, D, H, W]"),
        Arg("align_corners", Nullable(Bool()), None, "linear modes only: corner pixels aligned (null: false)"),
        Arg("recompute_scale_factor", Nullable(Bool()), None,
            "interpolate from the rounded output size instead of s (the output size is the same)"),
    )

    @classmethod
    def first_arg(cls):
        """`- upsample: 2` doubles the size: a scalar item sets scale_factor."""
        return cls.args[1]

    @classmethod
    def check_settings(cls, x, a, ctx: Context) -> None:
        """What F.interpolate refuses before it looks at sizes."""
        nd = len(x) - 1
        if nd not in _MODE_AXES[a.mode]:
            want = " or ".join(f"[C, {', '.join(axis_names(n))}]" for n in _MODE_AXES[a.mode])
            raise ctx.error(f"mode '{a.mode}' interpolates a {want} input", arg="mode", expected=f"a {want} input",
                            found=f"{list_text(x)}, the {ctx.source}",
                            hint="use the mode for this rank (linear [C, L], bilinear or bicubic [C, H, W], "
                                 "trilinear [C, D, H, W]) or nearest", code="wrong-rank")
        if a.align_corners is not None and a.mode not in _INTERPOLATING:
            raise ctx.error(f"align_corners can only be set with the interpolating modes (torch refuses it for "
                            f"'{a.mode}')", arg="align_corners", expected="align_corners left out (null)",
                            found=f"align_corners: {N.fmt(a.align_corners)}", code="invalid-layer")
        if (a.size is None) == (a.scale_factor is None):
            given = "both" if a.size is not None else "neither"
            raise ctx.error(f"give exactly one of size and scale_factor ({given} given)",
                            arg="scale_factor" if a.size is not None else None,
                            expected="size or scale_factor", found=f"{given} of them", code="invalid-layer")
        if a.size is not None and a.recompute_scale_factor:
            raise ctx.error("recompute_scale_factor means nothing with a size (torch refuses it)",
                            arg="recompute_scale_factor", expected="recompute_scale_factor left out with size",
                            found="recompute_scale_factor: true", code="invalid-layer")

    @classmethod
    def per_axis(cls, x, a, ctx: Context) -> tuple[str, tuple]:
        """Which of size and scale_factor is given, with one value per spatial axis."""
        nd = len(x) - 1
        name = "size" if a.size is not None else "scale_factor"
        value = getattr(a, name)
        if not isinstance(value, tuple):
            return name, (value,) * nd
        if len(value) != nd:
            raise ctx.error(f"{name} has {len(value)} values for {nd} spatial axes", arg=name,
                            expected=f"one value, or a list of {nd}", found=f"{name}: {list(value)}, for the "
                            f"{list_text(x)} {ctx.source}", code="shape-mismatch")
        return name, value

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, [2, 3, 4], ctx, "a [C, L], [C, H, W] or [C, D, H, W] input", _RANK_HINT)
        cls.check_settings(x, a, ctx)
        name, values = cls.per_axis(x, a, ctx)
        outs, steps = [], []
        for axis, size, v in zip(axis_names(len(x) - 1), x[1:], values):
            if name == "size":
                out, step = v, Step(f"{axis}2", "size", "", v)
            else:
                out = _scaled(ctx, axis, size, v)
                step = Step(f"{axis}2", f"⌊{axis}1·s⌋", f"⌊{N.fmt(size)}·{_scale_text(v)}⌋", out)
            if N.compare(out, "<", 1):
                raise ctx.error(f"the output would be empty along {axis} (torch refuses it)", arg=name,
                                expected="an output size of at least 1", found=f"{step.text()}, for the {ctx.source}",
                                hint="use a larger scale_factor", code="size-too-small")
            outs.append(out)
            steps.append(step)
        return Result((x[0], *outs), steps=steps)

    @classmethod
    def interpolation(cls, a) -> str:
        """How each output value is computed: torch's mode (peer tools count by it)."""
        return a.mode

    @classmethod
    def interpolate_arguments(cls, a) -> tuple:
        """(size, scale_factor) as its module passes them to F.interpolate: one value or a tuple,
        as written (a peer tool that patches F.interpolate counts by their form)."""
        return a.size, a.scale_factor

    @classmethod
    def imported_call(cls, name, args, kwargs, x, out):
        """F.interpolate and F.upsample* are this layer; antialias has no nn.Upsample setting,
        and mode 'area' is an adaptive average pool (an image's only)."""
        kwargs = dict(kwargs)
        if kwargs.pop("antialias", False):
            raise Untranslatable("uses antialias, which nn.Upsample has no setting for")
        if name == "upsample_bilinear":
            kwargs.update(mode="bilinear", align_corners=True)
        mode = kwargs.get("mode", args[2] if len(args) > 2 else "nearest")
        if mode == "area":
            if len(x) != 3:
                raise Untranslatable("interpolates with mode 'area' on a non-image input: only an image's adaptive "
                                     "average pool has a layer kind")
            return [("adaptive_avg_pool2d", {"output_size": list(out[1:])})]
        if _computed(kwargs.get("size", args[0] if args else None)):  # size=x.shape[-2:]: the sizes traced
            if "size" in kwargs:
                kwargs = {**kwargs, "size": list(out[1:])}
            else:
                args = (list(out[1:]), *args[1:])
        return super().imported_call(name, args, kwargs, x, out)

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.Upsample(a.size, a.scale_factor, a.mode, a.align_corners, a.recompute_scale_factor)


def _computed(value) -> bool:
    """An argument the model computed in forward (COMPUTED), or a list holding one."""
    return value is COMPUTED or isinstance(value, (list, tuple)) and any(v is COMPUTED for v in value)


def _factor_text(r) -> str:
    return f"{N.fmt(r)}²"


@register
class PixelShuffle(_Resample):
    """torch.nn.PixelShuffle: [C·r², H, W] → [C, H·r, W·r], each channel group of r² becoming an
    r×r block of the plane (sub-pixel convolution's upsampling). It works on the last three
    axes, as torch does; axes before them are kept."""

    kind = "pixel_shuffle"
    torch_classes = ("PixelShuffle",)
    torch_functions = ("pixel_shuffle",)
    doc = "channels to space: [C·r², H, W] → [C, H·r, W·r] (torch.nn.PixelShuffle)"
    args = (Arg("upscale_factor", Int(1), doc="r"),)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, [3, 4], ctx, "a [C, H, W] input", "pixel_shuffle works on an image's channels and "
                         "plane; on a smaller input torch would mix the batch into the channels")
        r = a.upscale_factor
        *lead, c, h, w = x
        r2 = N.mul(r, r)
        if N.compare(N.mod(c, r2), "!=", 0):
            raise ctx.error(f"its input's {N.fmt(c)} channels are not divisible by upscale_factor² = {N.fmt(r2)}",
                            arg="upscale_factor", expected=f"channels a multiple of {N.fmt(r2)}",
                            found=f"{list_text(x)}, the {ctx.source}", hint="choose the previous layer's channels "
                            "as C·r² (a convolution to C·r² channels is the usual sub-pixel layer)",
                            code="shape-mismatch")
        out = (*lead, N.floordiv(c, r2), N.mul(h, r), N.mul(w, r))
        steps = [Step("C2", "C1/r²", f"{N.fmt(c)}/{_factor_text(r)}", out[-3]),
                 Step("H2", "H1·r", f"{N.fmt(h)}·{N.fmt(r)}", out[-2]),
                 Step("W2", "W1·r", f"{N.fmt(w)}·{N.fmt(r)}", out[-1])]
        return Result(out, steps=steps)

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.PixelShuffle(a.upscale_factor)


@register
class PixelUnshuffle(_Resample):
    """torch.nn.PixelUnshuffle: [C, H·r, W·r] → [C·r², H, W], the inverse of pixel_shuffle: each
    r×r block of the plane becomes r² channels. Its output position sees exactly its block:
    a window r wide, stride r (on an image input)."""

    kind = "pixel_unshuffle"
    torch_classes = ("PixelUnshuffle",)
    torch_functions = ("pixel_unshuffle",)
    doc = "space to channels: [C, H·r, W·r] → [C·r², H, W] (torch.nn.PixelUnshuffle)"
    args = (Arg("downscale_factor", Int(1), doc="r"),)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, [3, 4], ctx, "a [C, H, W] input", "pixel_unshuffle works on an image's channels and "
                         "plane; on a smaller input torch would mix the batch into the channels")
        r = a.downscale_factor
        *lead, c, h, w = x
        for axis, n in (("H", h), ("W", w)):
            if N.compare(N.mod(n, r), "!=", 0):
                raise ctx.error(f"its input's {axis} = {N.fmt(n)} is not divisible by downscale_factor = {N.fmt(r)}",
                                arg="downscale_factor", expected=f"{axis} a multiple of {N.fmt(r)}",
                                found=f"{list_text(x)}, the {ctx.source}", code="shape-mismatch")
        out = (*lead, N.mul(c, N.mul(r, r)), N.floordiv(h, r), N.floordiv(w, r))
        steps = [Step("C2", "C1·r²", f"{N.fmt(c)}·{_factor_text(r)}", out[-3]),
                 Step("H2", "H1/r", f"{N.fmt(h)}/{N.fmt(r)}", out[-2]),
                 Step("W2", "W1/r", f"{N.fmt(w)}/{N.fmt(r)}", out[-1])]
        return Result(out, steps=steps)

    @classmethod
    def receptive_field(cls, a, x, rf):
        if len(x) != 3:
            return None  # on [C, D, H, W] the depth axis takes the blocks' channels: no field per axis
        r = a.downscale_factor
        return through_window(rf, (r, r), (r, r), (0, 0))

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.PixelUnshuffle(a.downscale_factor)

