"""Convolutions: conv1d, conv2d, conv3d (torch.nn.ConvNd), their transposes conv_transpose1d/2d/3d
(torch.nn.ConvTransposeNd) and locally_connected2d.

The course's symbols: input W1×H1×D1 (here [D, H, W], channels first), receptive field
F×F, stride S, zero padding P, K feature maps. Parameters (F·F·D/groups + 1)·K.
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Choice, Float, Int, Nullable, PerAxis
from archcalc.layers.base import Context, Result, Step, Untranslatable, WeightedProduct, list_text
from archcalc.layers.padding import padding_kind
from archcalc.layers.registry import register
from archcalc.layers.receptive import through_window
from archcalc.layers.window import axis_names, window_out
from archcalc.spec.errors import SpecError

_RANK_HINT = "a convolution needs a channels-first image; remove the flatten before it, or start from an image input"


def _kernel_factor_text(nd: int) -> str:
    return "·".join(["F"] * nd)


def _window_outputs(x, a, ctx, kernel, stride, padding, dilation, nd):
    outs, steps = [], []
    for axis, size, k, s, p, d in zip(axis_names(nd), x[1:], kernel, stride, padding, dilation):
        out, step = window_out(ctx, axis, size, k, s, p, d)
        outs.append(out)
        steps.append(step)
    return outs, steps


def _pad_sides(a, nd: int) -> list[tuple]:
    """(before, after) per axis that torch pads: P on each side; 'same' pads the total d·(k−1),
    the smaller half before."""
    if a.padding == "valid":
        return [(0, 0)] * nd
    if a.padding == "same":
        totals = [N.mul(d, N.sub(k, 1)) for k, d in zip(a.kernel_size, a.dilation)]
        return [(N.floordiv(t, 2), N.sub(t, N.floordiv(t, 2))) for t in totals]
    return [(p, p) for p in a.padding]


def _check_padding_mode(x, a, ctx: Context, nd: int) -> None:
    """torch pads first, with the padding kind of this mode, within its limits (reflection
    shorter than the axis, circular at most as long)."""
    if a.padding_mode == "zeros":
        return
    kind = padding_kind(a.padding_mode, nd)
    for axis, size, (before, after) in zip(axis_names(nd), x[1:], _pad_sides(a, nd)):
        for p, side in ((before, "leading"), (after, "trailing")):
            kind.check_side(size, p, side, axis, ctx)


def _groups_hint(c_in, k_out, groups: int, ctx: Context) -> str:
    """'use groups=1 or 5, or make conv1 output 96 channels': every choice it offers passes both
    checks, so following it never leads to the next error (a groups that divides in_channels
    but not out_channels; a new input depth with out_channels still indivisible)."""
    if N.is_symbolic(c_in) or N.is_symbolic(k_out):
        return "make the channel counts multiples of groups"
    common = [g for g in range(2, min(c_in, k_out, 64) + 1) if c_in % g == 0 and k_out % g == 0]
    options = " or ".join(str(g) for g in [1, *common[:3]])
    fixes = []
    if c_in % groups:
        nearest = -(-c_in // groups) * groups
        fixes.append(f"make {ctx.source_path} output {nearest} channels" if ctx.source_path
                     else f"give the input {nearest} channels")
    if k_out % groups:
        fixes.append(f"out_channels={-(-k_out // groups) * groups}")
    return f"use groups={options}, or " + " and ".join(fixes)


def _check_groups(c_in, k_out, groups: int, ctx: Context) -> None:
    """Both channel counts must be multiples of groups (torch refuses others)."""
    for what, n in (("in_channels", c_in), ("out_channels", k_out)):
        if N.compare(N.mod(n, groups), "!=", 0):
            raise ctx.error(f"{what} {N.fmt(n)} is not divisible by groups={groups}", arg="groups",
                            expected=f"{what} a multiple of groups",
                            found=f"{N.fmt(n)} channels" + (f" (the {ctx.source})" if what == "in_channels" else ""),
                            hint=_groups_hint(c_in, k_out, groups, ctx), code="groups-mismatch")


def _channels_first(x, ctx: Context):
    """The channels-first shape the spec's input probably meant, when the convolution takes the
    input as declared and it reads as channels-last ([32, 32, 3] for [3, 32, 32]): its last size
    is the in_channels written, or, with in_channels inferred, an image's 1 to 4 channels after
    sizes that look spatial (8 or more, or symbols). None otherwise ([3, 32, 32], [64, 4, 4])."""
    if ctx.input_loc is None or len(x) < 2 or N.is_symbolic(x[-1]):
        return None
    first, last = x[0], x[-1]
    written = ctx.args.in_channels if ctx.args.given("in_channels") else None
    if written is not None:
        looks = written == last and N.compare(first, "!=", last)
    else:
        looks = 1 <= last <= 4 and all(N.is_symbolic(d) or d >= 8 for d in x[:-1])
    return (last, *x[:-1]) if looks else None


def _channels_last_note(x, meant, nd: int) -> str:
    names = "×".join(["C", *axis_names(nd)])
    return f"input is {names}; {list_text(x)} looks channels-last: did you mean {list_text(meant)}?"


def _taking_input(infer):
    """A convolution's infer, which first asks whether the spec's input reads as channels-last:
    a warning at the input's line when so, and the same words beside any error it then raises
    (a width of 3 too small for the kernel)."""
    def checked(cls, x, a, ctx: Context) -> Result:
        meant = _channels_first(x, ctx) if len(x) == cls.nd + 1 else None
        if meant is None:
            return infer(cls, x, a, ctx)
        note = _channels_last_note(x, meant, cls.nd)
        try:
            result = infer(cls, x, a, ctx)
        except SpecError as err:
            raise err.add_context(f"note: {note}") from None
        ctx.warn("channels-last", note, ctx.input_loc)
        return result

    checked.__doc__ = infer.__doc__
    return classmethod(checked)


class _ConvNd(WeightedProduct):
    family = "conv"
    in_arg = "in_channels"
    nd: int = 2

    @classmethod
    def build_args(cls, nd: int):
        return (
            Arg("out_channels", Int(1), doc="K, the number of filters (feature maps)"),
            Arg("kernel_size", PerAxis(nd, Int(1)), doc="F, the receptive field"),
            Arg("stride", PerAxis(nd, Int(1)), 1, "S"),
            Arg("padding", PerAxis(nd, Int(0), keywords=("same", "valid")), 0, "P, zeros added on each side"),
            Arg("dilation", PerAxis(nd, Int(1)), 1),
            Arg("groups", Int(1), 1, "channels are split into groups (AlexNet's two GPUs: groups=2)"),
            Arg("bias", Bool(), True),
            Arg("padding_mode", Choice("zeros", "reflect", "replicate", "circular"), "zeros"),
            Arg("in_channels", Nullable(Int(1)), None, "D; inferred from the input, checked when written"),
        )

    @_taking_input
    def infer(cls, x, a, ctx: Context) -> Result:
        nd = cls.nd
        shape_names = "[C, " + ", ".join(axis_names(nd)) + "]"
        cls.require_rank(x, [nd + 1], ctx, f"a {shape_names} input", _RANK_HINT)
        c_in, k_out, groups = x[0], a.out_channels, a.groups
        cls.check_in_size(c_in, ctx)
        _check_groups(c_in, k_out, groups, ctx)
        kernel, stride, dilation = a.kernel_size, a.stride, a.dilation
        _check_padding_mode(x, a, ctx, nd)
        padding = a.padding
        if padding == "valid":
            padding = (0,) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ctx.error("padding='same' needs stride 1 (torch refuses strided 'same')", arg="padding",
                                found=f"stride={list(stride)}", hint="give padding as numbers", code="invalid-layer")
            outs = list(x[1:])
            steps = [Step(f"{ax}2", f"{ax}1 (padding='same')", "", o) for ax, o in zip(axis_names(nd), outs)]
        else:
            outs, steps = _window_outputs(x, a, ctx, kernel, stride, padding, dilation, nd)
        per_filter = N.true_div(N.mul(c_in, N.product(kernel)), groups)
        params = N.mul(N.add(per_filter, 1 if a.bias else 0), k_out)
        out_shape = (k_out, *outs)
        positions = N.product(outs)
        macs = N.mul(N.mul(positions, k_out), per_filter)
        fk = _kernel_factor_text(nd)
        kvals = "·".join(N.fmt(k) for k in kernel)
        g_text = f"/{groups}" if groups != 1 else ""
        b_text, b_val = (" + 1", " + 1") if a.bias else ("", "")
        steps += [
            Step("params", f"({fk}·D/groups{b_text})·K", f"({kvals}·{N.fmt(c_in)}{g_text}{b_val})·{N.fmt(k_out)}", params),
            Step("neurons", "·".join(f"{ax}2" for ax in reversed(axis_names(nd))) + "·K",
                 "·".join(N.fmt(o) for o in reversed(outs)) + f"·{N.fmt(k_out)}", N.product(out_shape)),
            Step("MACs", "neurons·" + fk + "·D/groups", f"{N.fmt(N.product(out_shape))}·{kvals}·{N.fmt(c_in)}{g_text}", macs),
        ]
        return Result(out_shape, params=params, macs=macs, steps=steps)

    @classmethod
    def receptive_field(cls, a, x, rf):
        """A window; but reflect, replicate and circular padding copy real positions from
        elsewhere (the far side, for circular) into the pad: no single window then."""
        sides = _pad_sides(a, cls.nd)
        if a.padding_mode != "zeros" and any(N.compare(side, "!=", 0) is not False for s in sides for side in s):
            return None
        return through_window(rf, a.kernel_size, a.stride, tuple(before for before, _ in sides), a.dilation)

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """The input, for the weight gradient; but the padded input where torch pads before
        convolving: with a padding_mode other than zeros (reflect and replicate padding keep
        their own input too), and with 'same' padding of an odd total (the extra one after).
        Measured with saved-tensor hooks."""
        sides = _pad_sides(a, cls.nd)
        if a.padding_mode != "zeros":
            padded = N.product([N.add(n, N.add(b, e)) for n, (b, e) in zip(x[1:], sides)])
            own = [("input", N.product(x), elem)] if a.padding_mode in ("reflect", "replicate") else []
            return [("new", N.mul(x[0], padded), elem), *own]
        extra = [N.sub(e, b) for b, e in sides]
        if a.padding == "same" and any(N.compare(d, "!=", 0) for d in extra):
            return [("new", N.mul(x[0], N.product([N.add(n, d) for n, d in zip(x[1:], extra)])), elem)]
        return [("input", N.product(x), elem)]

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        conv = getattr(nn, f"Conv{cls.nd}d")
        return conv(x[0], a.out_channels, a.kernel_size, a.stride, a.padding, a.dilation, a.groups, a.bias,
                    a.padding_mode)


for _nd, _shape in ((1, "[C, L]"), (2, "[C, H, W]"), (3, "[C, D, H, W]")):  # conv1d, conv2d, conv3d
    register(type(f"Conv{_nd}d", (_ConvNd,), {
        "kind": f"conv{_nd}d", "nd": _nd, "torch_classes": (f"Conv{_nd}d",), "args": _ConvNd.build_args(_nd),
        "doc": f"{_nd}-D convolution over {_shape} (torch.nn.Conv{_nd}d)"}))


def _transposed_out(ctx: Context, axis: str, size, k, s, p, op, d) -> tuple:
    """torch's output length of a transposed convolution along one axis, with its step:
    (W1 − 1)·S − 2P + D·(F − 1) + output_padding + 1 (the input's positions spread S apart,
    each adding a kernel's footprint, then P cropped from each side)."""
    out = N.add(N.add(N.sub(N.mul(N.sub(size, 1), s), N.mul(2, p)), N.mul(d, N.sub(k, 1))), N.add(op, 1))
    formula = f"({axis}1 − 1)·S − 2P + D·(F − 1) + output_padding + 1"
    substituted = f"({N.fmt(size)} − 1)·{N.fmt(s)} − 2·{N.fmt(p)} + {N.fmt(d)}·({N.fmt(k)} − 1) + {N.fmt(op)} + 1"
    if N.compare(out, "<", 1):
        raise ctx.error(f"the output would be empty along {axis} (torch refuses: output size is too small)",
                        arg="padding", expected="an output size of at least 1",
                        found=f"{formula} = {substituted} = {N.fmt(out)}, for the {ctx.source}",
                        hint="use less padding, a larger kernel or stride, or a larger input", code="size-too-small")
    return out, Step(f"{axis}2", formula, substituted, out)


class _ConvTransposeNd(WeightedProduct):
    """A transposed convolution ("deconvolution"): each input position adds its value times the
    kernel into the output, input positions S apart, P then cropped from each side. Weights
    [D, K/groups, F…]: as many as a convolution's, (F·F·D/groups + 1)·K. Its products are
    counted per input position, as torch's FlopCounterMode does (every tap, also those that
    land in the cropped border): W1·H1·F·F·D·K/groups."""

    family = "conv"
    in_arg = "in_channels"
    nd: int = 2

    @classmethod
    def build_args(cls, nd: int):
        return (
            Arg("out_channels", Int(1), doc="K, the number of filters (feature maps)"),
            Arg("kernel_size", PerAxis(nd, Int(1)), doc="F, the kernel"),
            Arg("stride", PerAxis(nd, Int(1)), 1, "S: consecutive input positions land S output positions apart"),
            Arg("padding", PerAxis(nd, Int(0)), 0, "P, cropped from each side of the output"),
            Arg("output_padding", PerAxis(nd, Int(0)), 0, "added to one side of the output; smaller than S or D"),
            Arg("groups", Int(1), 1, "channels are split into groups"),
            Arg("bias", Bool(), True),
            Arg("dilation", PerAxis(nd, Int(1)), 1, "D, the spacing of the kernel's taps"),
            Arg("padding_mode", Choice("zeros", "reflect", "replicate", "circular"), "zeros",
                "torch's transposed convolutions take only 'zeros'"),
            Arg("in_channels", Nullable(Int(1)), None, "D; inferred from the input, checked when written"),
        )

    @classmethod
    def check_settings(cls, a, ctx: Context) -> None:
        """The settings torch refuses whatever the input: a padding mode other than zeros, and
        an output padding not smaller than the stride or the dilation along its axis."""
        if a.padding_mode != "zeros":
            raise ctx.error(f"padding_mode '{a.padding_mode}' is not supported (torch's ConvTranspose takes only "
                            "'zeros')", arg="padding_mode", expected="padding_mode: zeros",
                            found=f"padding_mode: {a.padding_mode}", code="invalid-layer")
        for axis, op, s, d in zip(axis_names(cls.nd), a.output_padding, a.stride, a.dilation):
            if N.compare(op, ">=", s) and N.compare(op, ">=", d):
                raise ctx.error(f"output_padding along {axis} must be smaller than the stride or the dilation "
                                "(torch refuses more)", arg="output_padding",
                                expected=f"output_padding < {N.fmt(s)} (stride) or < {N.fmt(d)} (dilation)",
                                found=f"output_padding={N.fmt(op)}",
                                hint="output_padding only picks among the S output sizes one input size "
                                     "can give", code="invalid-layer")

    @_taking_input
    def infer(cls, x, a, ctx: Context) -> Result:
        nd = cls.nd
        cls.require_rank(x, [nd + 1], ctx, "a [C, " + ", ".join(axis_names(nd)) + "] input", _RANK_HINT)
        c_in, k_out, groups = x[0], a.out_channels, a.groups
        cls.check_in_size(c_in, ctx)
        _check_groups(c_in, k_out, groups, ctx)
        cls.check_settings(a, ctx)
        outs, steps = [], []
        for axis, *values in zip(axis_names(nd), x[1:], a.kernel_size, a.stride, a.padding, a.output_padding,
                                 a.dilation):
            out, step = _transposed_out(ctx, axis, *values)
            outs.append(out)
            steps.append(step)
        per_position = N.true_div(N.mul(k_out, N.product(a.kernel_size)), groups)  # F·F·K/groups per input channel
        params = N.add(N.mul(c_in, per_position), k_out if a.bias else 0)
        out_shape = (k_out, *outs)
        macs = N.mul(N.product(x), per_position)
        names = axis_names(nd)
        fk = _kernel_factor_text(nd)
        kvals = "·".join(N.fmt(k) for k in a.kernel_size)
        g_text = f"/{groups}" if groups != 1 else ""
        b_text = " + 1" if a.bias else ""
        steps += [
            Step("params", f"({fk}·D/groups{b_text})·K", f"({kvals}·{N.fmt(c_in)}{g_text}{b_text})·{N.fmt(k_out)}",
                 params),
            Step("neurons", "·".join(f"{ax}2" for ax in reversed(names)) + "·K",
                 "·".join(N.fmt(o) for o in reversed(outs)) + f"·{N.fmt(k_out)}", N.product(out_shape)),
            Step("MACs", "·".join(f"{ax}1" for ax in reversed(names)) + f"·{fk}·D·K/groups",
                 "·".join(N.fmt(n) for n in reversed(x[1:])) + f"·{kvals}·{N.fmt(c_in)}·{N.fmt(k_out)}{g_text}",
                 macs),
        ]
        return Result(out_shape, params=params, macs=macs, steps=steps)

    @classmethod
    def receptive_field(cls, a, x, rf):
        """With stride 1 a transposed convolution is a convolution (the kernel flipped, padding
        D·(F − 1) − P): output o reads inputs o + P − D·k. With a larger stride the number of
        inputs an output reads depends on its position: no single field."""
        if any(s != 1 for s in a.stride):
            return None
        padding = [N.sub(N.mul(d, N.sub(k, 1)), p) for k, p, d in zip(a.kernel_size, a.padding, a.dilation)]
        return through_window(rf, a.kernel_size, a.stride, padding, a.dilation)

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        conv = getattr(nn, f"ConvTranspose{cls.nd}d")
        return conv(x[0], a.out_channels, a.kernel_size, a.stride, a.padding, a.output_padding, a.groups, a.bias,
                    a.dilation, a.padding_mode)


for _nd, _shape in ((1, "[C, L]"), (2, "[C, H, W]"), (3, "[C, D, H, W]")):  # conv_transpose1d, 2d, 3d
    register(type(f"ConvTranspose{_nd}d", (_ConvTransposeNd,), {
        "kind": f"conv_transpose{_nd}d", "nd": _nd, "torch_classes": (f"ConvTranspose{_nd}d",),
        "args": _ConvTransposeNd.build_args(_nd),
        "doc": f"{_nd}-D transposed convolution over {_shape} (torch.nn.ConvTranspose{_nd}d)"}))


@register
class LocallyConnected2d(WeightedProduct):
    """A convolution whose weights are not shared: every output position has its own filter.

    Weights: H2·W2·K·(F·F·D); biases, when on, one per output element (H2·W2·K), as in
    Keras' LocallyConnected2D. The course's 200×200×3 example: 120,000 units × 27 weights.
    MACs equal a convolution's; FLOPs are 2 × MACs (an unfold + batched matmul computes it).
    """

    kind = "locally_connected2d"
    torch_classes = ("LocallyConnected2d",)  # archcalc's own module
    family = "conv"
    in_arg = "in_channels"
    doc = "unshared 2-D convolution (archcalc's own; torch has no module)"
    args = (
        Arg("out_channels", Int(1)),
        Arg("kernel_size", PerAxis(2, Int(1))),
        Arg("stride", PerAxis(2, Int(1)), 1),
        Arg("padding", PerAxis(2, Int(0)), 0),
        Arg("bias", Bool(), True),
        Arg("in_channels", Nullable(Int(1)), None),
    )

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, [3], ctx, "a [C, H, W] input", _RANK_HINT)
        c_in, k_out = x[0], a.out_channels
        cls.check_in_size(c_in, ctx)
        outs, steps = _window_outputs(x, a, ctx, a.kernel_size, a.stride, a.padding, (1, 1), 2)
        out_shape = (k_out, *outs)
        units = N.product(out_shape)
        fan_in = N.mul(c_in, N.product(a.kernel_size))
        params = N.mul(units, N.add(fan_in, 1 if a.bias else 0))
        kvals = "·".join(N.fmt(k) for k in a.kernel_size)
        b = " + 1" if a.bias else ""
        steps += [
            Step("neurons", "H2·W2·K", f"{N.fmt(outs[0])}·{N.fmt(outs[1])}·{N.fmt(k_out)}", units),
            Step("params", f"neurons·(F·F·D{b})", f"{N.fmt(units)}·({kvals}·{N.fmt(c_in)}{b})", params),
            Step("MACs", "neurons·F·F·D", f"{N.fmt(units)}·{kvals}·{N.fmt(c_in)}", N.mul(units, fan_in)),
        ]
        return Result(out_shape, params=params, macs=N.mul(units, fan_in), steps=steps)

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """Its module multiplies the unfolded input (im2col: C·kh·kw values at each of the
        H2·W2 positions), which autograd keeps for the weight gradient; unfold itself keeps
        nothing. torch's CPU unfold allocates at least the input's size (measured: a strided
        1×1 unfold of 2×5×5 values holds 50, not 18)."""
        unfolded = N.mul(N.mul(x[0], N.product(a.kernel_size)), N.product(out[1:]))
        return [("new", N.maximum(unfolded, N.product(x)), elem)]

    @classmethod
    def receptive_field(cls, a, x, rf):
        return through_window(rf, a.kernel_size, a.stride, a.padding)

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import LocallyConnected2d as Module

        return Module(x[0], a.out_channels, tuple(x[1:]), a.kernel_size, a.stride, a.padding, a.bias)


__all__ = ["LocallyConnected2d", "list_text"]


@register
class PatchEmbed3d(WeightedProduct):
    """Video Swin's patch embedding (torchvision's PatchEmbed3d, read whole): the clip
    [C, T, H, W] padded with zeros at the end of each axis to whole patches (pt, ph, pw), a
    Conv3d whose kernel and stride are the patch, to E = embed_dim channels (its `proj`),
    permuted to channels last, then a LayerNorm over E (its `norm`; none when norm is false,
    torchvision's default): [⌈T/pt⌉, ⌈H/ph⌉, ⌈W/pw⌉, E]. The convolution's products are counted
    (FlopCounterMode's); the norm and the padding count none."""

    kind = "patch_embed3d"
    family = "conv"
    in_arg = "in_channels"
    torch_classes = ("PatchEmbed3d", "torchvision.models.video.swin_transformer.PatchEmbed3d")
    doc = "Video Swin's patch embedding: pad to whole patches, Conv3d (kernel = stride = patch), channels last, " \
          "LayerNorm (torchvision)"
    args = (
        Arg("patch_size", PerAxis(3, Int(1)), doc="pt, ph, pw: the patch, the convolution's kernel and stride"),
        Arg("embed_dim", Int(1), 96, "E, the channels out"),
        Arg("norm", Bool(), False, "a LayerNorm over E after the convolution (torchvision's Swin3d passes one)"),
        Arg("eps", Float(0.0), 1e-5, "the norm's eps"),
        Arg("in_channels", Nullable(Int(1)), None, "C; inferred from the input, checked when written"),
    )

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, (4,), ctx, "a clip [C, T, H, W], channels first", _RANK_HINT)
        c, e, patch = x[0], a.embed_dim, a.patch_size
        cls.check_in_size(c, ctx)
        outs = [N.ceildiv(s, p) for s, p in zip(x[1:], patch)]
        kernel = N.product(patch)
        conv = N.add(N.mul(N.mul(c, kernel), e), e)
        norm = 2 * e if a.norm else 0
        positions = N.product(outs)
        macs = N.mul(N.mul(positions, e), N.mul(c, kernel))
        fc, pv = N.fmt, "·".join(str(p) for p in patch)
        steps = [
            Step("padded clip", "⌈T/pt⌉·pt × ⌈H/ph⌉·ph × ⌈W/pw⌉·pw",
                 " × ".join(f"⌈{fc(s)}/{p}⌉·{p}" for s, p in zip(x[1:], patch)),
                 " × ".join(fc(N.mul(o, p)) for o, p in zip(outs, patch))),
            Step("output", "[T/pt, H/ph, W/pw, E] of the padded clip, channels last",
                 f"[{', '.join(fc(o) for o in outs)}, {fc(e)}]", list_text((*outs, e))),
            Step("params", "conv (pt·ph·pw·C + 1)·E" + (" + norm 2·E" if a.norm else ""),
                 f"({pv}·{fc(c)} + 1)·{fc(e)}" + (f" + 2·{fc(e)}" if a.norm else ""), N.add(conv, norm)),
            Step("MACs", "positions·E·pt·ph·pw·C (the norm: no products)",
                 f"{fc(positions)}·{fc(e)}·{pv}·{fc(c)}", macs),
        ]
        return Result((*outs, e), params=N.add(conv, norm), macs=macs, steps=steps)

    @classmethod
    def bias_adds(cls, a, out):
        """The convolution's bias, added to every output element (it always has one)."""
        return N.product(out)

    @classmethod
    def norm_elements(cls, a, x):
        """Elements its LayerNorm normalises, per sample: the output's (0 without a norm)."""
        return N.mul(N.product(N.ceildiv(s, p) for s, p in zip(x[1:], a.patch_size)), a.embed_dim) if a.norm else 0

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # channels last after it: the spatial axes move

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """The padded clip the convolution reads (F.pad copies even where it pads nothing), and
        with the norm its input (the convolution's output, permuted channels last: a view) and
        each position's mean and 1/σ (float32)."""
        padded = N.mul(x[0], N.product(N.mul(N.ceildiv(s, p), p) for s, p in zip(x[1:], a.patch_size)))
        positions = N.product(out[:-1])
        norm = [("new", N.product(out), elem), ("new", positions, 4), ("new", positions, 4)] if a.norm else []
        return [("new", padded, elem), *norm]

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import PatchEmbed3d as Module

        return Module(x[0], a)

    @classmethod
    def from_torch(cls, module) -> dict:
        from torch import nn

        norm = getattr(module, "norm", None)
        if isinstance(norm, nn.LayerNorm):
            if not norm.elementwise_affine or norm.bias is None or tuple(norm.normalized_shape) != (
                    module.proj.out_channels,):
                raise Untranslatable("has a norm other than a LayerNorm over its channels with weight and bias")
            values = {"norm": True, "eps": norm.eps}
        elif isinstance(norm, nn.Identity) or norm is None:
            values = {}
        else:
            raise Untranslatable(f"has a norm of {type(norm).__name__}; archcalc reads nn.LayerNorm or none")
        proj = module.proj
        if proj.bias is None or tuple(proj.kernel_size) != tuple(proj.stride) or proj.groups != 1 \
                or tuple(proj.padding) != (0, 0, 0) or tuple(proj.dilation) != (1, 1, 1):
            raise Untranslatable("has a projection other than a Conv3d with bias whose kernel is its stride")
        return cls.written({"patch_size": list(module.tuple_patch_size), "embed_dim": proj.out_channels, **values})
