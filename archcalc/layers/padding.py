"""Padding and cropping: zero_pad, constant_pad, reflection_pad, replication_pad and
circular_pad in 1, 2 and 3 dimensions (torch.nn.ZeroPad2d, ...), and center_crop.

A padding layer adds P_left and P_right positions to each of the last nd axes, in torch's
order (left, right, top, bottom, front, back): W2 = W1 + P_left + P_right. Negative padding
crops, as in torch. No weights and no FLOPs. The sizes torch refuses are refused here too:
reflection padding must be smaller than the input (it mirrors the input without its edge),
circular padding at most the input (it wraps around once). An axis cropped away is refused:
torch returns an empty tensor there (but from 1-D reflection and replication padding, which
refuse it), which no layer after it could use.

center_crop keeps the central positions of each spatial axis, as
torchvision.transforms.CenterCrop crops.
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Float, Int, Ints, PerAxis
from archcalc.layers.base import COMPUTED, Context, LayerKind, Result, Step, Untranslatable, list_text
from archcalc.layers.receptive import AxisRF, through_window
from archcalc.layers.registry import kinds, register

_SIDES = (("left", "right"), ("top", "bottom"), ("front", "back"))  # torch's names, from the last axis back
_MODES = {"constant": "constant", "reflect": "reflection", "replicate": "replication", "circular": "circular"}


def axis_name(rank: int, index: int) -> str:
    """An axis of a per-sample shape as the course names it: [C, L], [C, H, W], [C, D, H, W]."""
    names = {1: ("L",), 2: ("C", "L"), 3: ("C", "H", "W"), 4: ("C", "D", "H", "W")}.get(rank)
    return names[index] if names else f"d{index}"


def _signed(p) -> str:
    """'+ 2' or '− 1' (a crop), as a term of a sum."""
    return f"− {N.fmt(N.neg(p))}" if N.compare(p, "<", 0) else f"+ {N.fmt(p)}"


def _slice_length(size: int, start: int, end: int) -> int:
    """The length torch's Tensor.slice gives (negative bounds count from the end, then clamp)."""
    return len(range(size)[start:end])


def circular_copies_fit(n: int, left: int, right: int) -> bool:
    """Whether torch 2.13 can build a circular padding of this axis (at::_pad_circular): it
    copies the input into the padded tensor, then the wrapped parts, slice to slice, and with
    negative padding (a crop) those slices can differ in length; a copy fits when they agree
    or the source has length 1 (it broadcasts)."""
    out = n + left + right

    def fits(dst: int, src: int) -> bool:
        return src == dst or src == 1

    if not fits(_slice_length(out, max(left, 0), out - max(right, 0)),
                _slice_length(n, max(-left, 0), n - max(-right, 0))):
        return False
    if left > 0 and not fits(_slice_length(out, 0, left),
                             _slice_length(out, out - left - max(right, 0), out - max(right, 0))):
        return False
    return right <= 0 or fits(_slice_length(out, out - right, out),
                              _slice_length(out, max(left, 0), max(left, 0) + right))


class _Pad(LayerKind):
    """Pads the last nd axes of its input; `mode` is torch's F.pad mode."""

    family = "structure"
    nd: int = 2
    mode: str = "constant"
    torch_functions = ("pad",)

    @classmethod
    def takes_rank(cls, rank: int) -> bool:
        """A constant padding pads the last nd axes of a sample of any rank (never the batch
        axis here); the other modes take [C, spatial...] or [spatial...] (torch's unbatched
        form, which pads each sample alike)."""
        return rank >= cls.nd if cls.mode == "constant" else rank in (cls.nd, cls.nd + 1)

    @classmethod
    def sides(cls, a, x) -> list[tuple[int, object, object, tuple[str, str]]]:
        """(axis of x, padding before, padding after, torch's names of the two sides) for
        each padded axis, first axis first."""
        p = a.padding
        return [(len(x) - 1 - k, p[2 * k], p[2 * k + 1], _SIDES[k]) for k in reversed(range(cls.nd))]

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        if not cls.takes_rank(len(x)):
            want = f"rank {cls.nd} or more" if cls.mode == "constant" else f"rank {cls.nd} or {cls.nd + 1}"
            hint = (f"{cls.kind} pads the last {cls.nd} axes of a sample, never the batch axis"
                    if len(x) < cls.nd else f"torch's {cls.mode} padding of {cls.nd} axes takes [C, spatial...]")
            raise ctx.error(f"expects an input with {cls.nd} axes to pad", expected=f"an input of {want}",
                            found=f"{list_text(x)} (rank {len(x)}), the {ctx.source}", hint=hint, code="wrong-rank")
        out, steps = list(x), []
        for axis, before, after, names in cls.sides(a, x):
            name = axis_name(len(x), axis)
            out[axis] = cls.padded_size(x[axis], (before, after), names, name, ctx)
            steps.append(cls.step(name, names, x[axis], before, after, out[axis]))
        return Result(tuple(out), steps=steps)

    @classmethod
    def padded_size(cls, n, pads: tuple, names: tuple[str, str], name: str, ctx: Context):
        """n + P_before + P_after, within the limits torch puts on this mode."""
        for p, side in zip(pads, names):
            cls.check_side(n, p, side, name, ctx)
        size = N.add(n, N.add(*pads))
        if N.compare(size, "<", 1):
            raise ctx.error(f"the padding crops all of {name}", arg="padding", expected=f"{name}2 >= 1",
                            found=f"{name}2 = {N.fmt(n)} {_signed(pads[0])} {_signed(pads[1])} = {N.fmt(size)}",
                            hint="crop less (negative padding crops)", code="size-too-small")
        concrete = not any(map(N.is_symbolic, (n, *pads)))
        if cls.mode == "circular" and concrete and min(pads) < 0 and not circular_copies_fit(n, *pads):
            raise ctx.error(f"torch fails on this circular padding of {name}: its copies of the cropped input and of "
                            "the wrapped parts do not match", arg="padding",
                            found=f"{name} = {N.fmt(n)}, padding {N.fmt(pads[0])}, {N.fmt(pads[1])}",
                            hint="crop with center_crop or a constant padding instead", code="invalid-layer")
        return size

    @classmethod
    def check_side(cls, n, p, side: str, name: str, ctx: Context) -> None:
        """torch's limit on one side's padding: a crop of at most the input (constant), less
        than the input (reflection: it mirrors the input without its edge), at most the input
        (circular: it wraps around once); replication repeats the edge as far as asked."""
        limits = {"constant": ("<", N.neg(n), f">= -{N.fmt(n)} (a crop of at most {name})"),
                  "reflect": (">=", n, f"< {name} = {N.fmt(n)} (reflection mirrors the input without its edge)"),
                  "circular": (">", n, f"<= {name} = {N.fmt(n)} (circular padding wraps around once)")}
        if cls.mode not in limits:
            return
        op, bound, expected = limits[cls.mode]
        if N.compare(p, op, bound):
            raise ctx.error(f"the {side} padding of {name} is outside torch's limit", arg="padding",
                            expected=f"padding {expected}",
                            found=f"{N.fmt(p)} for {name} = {N.fmt(n)}, the {ctx.source}", code="invalid-layer")

    @classmethod
    def step(cls, name: str, names: tuple[str, str], n, before, after, out) -> Step:
        if before == after and N.compare(before, "<", 0) is not True:
            return Step(f"{name}2", f"{name}1 + 2P", f"{N.fmt(n)} + 2·{N.fmt(before)}", out)
        return Step(f"{name}2", f"{name}1 + P_{names[0]} + P_{names[1]}",
                    f"{N.fmt(n)} {_signed(before)} {_signed(after)}", out)

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """Reflection and replication keep their input (their backward sums the copies back
        by the input's geometry); constant and circular padding keep nothing."""
        return [("input", N.product(x), elem)] if cls.mode in ("reflect", "replicate") else []

    @classmethod
    def receptive_field(cls, a, x, rf):
        """Padding shifts each spatial axis: output position i is input position i − P_before.
        Units over a constant padding see nothing, but a unit over a reflected, replicated or
        wrapped padding copies an input position outside its window (its mirror, the edge, the
        other end), so those modes have no single receptive field unless they only crop."""
        if rf is None:
            return None
        shifts = [0] * len(rf)
        for axis, before, after, _ in cls.sides(a, x):
            if axis == 0:  # a sample of rank nd has no channel axis: its first axis is padded too, but fields
                if N.compare(before, "==", 0) and N.compare(after, "==", 0):  # follow the axes after the first
                    continue
                return None
            if cls.mode != "constant" and (N.compare(before, ">", 0) is not False
                                           or N.compare(after, ">", 0) is not False):
                return None
            shifts[axis - 1] = before
        return through_window(rf, (1,) * len(rf), (1,) * len(rf), shifts)

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        module = getattr(nn, cls.torch_classes[0])
        return module(a.padding, a.value) if hasattr(a, "value") else module(a.padding)

    @classmethod
    def imported_call(cls, name, args, kwargs, x, out):
        """F.pad(x, pad, mode="constant", value=None): the padding kind of that mode for
        len(pad)/2 axes; a constant padding with value 0 (or none) is a zero padding."""
        if any(v is COMPUTED for v in (*args, *kwargs.values())):
            raise Untranslatable("takes arguments computed in forward; archcalc needs them written as numbers")
        pad = kwargs.get("pad", args[0] if args else None)
        mode = kwargs.get("mode", args[1] if len(args) > 1 else "constant")
        value = kwargs.get("value", args[2] if len(args) > 2 else None)
        if not isinstance(pad, (list, tuple)) or len(pad) % 2 or not 1 <= len(pad) // 2 <= 3 or mode not in _MODES:
            raise Untranslatable(f"pads with {pad!r} in mode {mode!r}: archcalc's padding kinds pad 1 to 3 axes in "
                                 "mode constant, reflect, replicate or circular")
        zero = mode == "constant" and not value
        kind = kinds()[f"{'zero' if zero else _MODES[mode]}_pad{len(pad) // 2}d"]
        values = {"padding": list(pad)} | ({"value": value} if mode == "constant" and not zero else {})
        return [(kind.kind, kind.written(values))]


def padding_kind(mode: str, nd: int) -> type[_Pad]:
    """The kind that pads nd axes as torch's F.pad mode does (a convolution's padding_mode
    pads with it first, within its limits)."""
    return kinds()[f"{_MODES[mode]}_pad{nd}d"]


def _pad_kind(prefix: str, nd: int, mode: str, torch_name: str, what: str) -> type:
    value = (Arg("value", Float(), doc="the value of the padded positions"),) if prefix == "constant" else ()
    cls = type(f"{torch_name}{nd}d", (_Pad,), {
        "kind": f"{prefix}_pad{nd}d", "nd": nd, "mode": mode, "torch_classes": (f"{torch_name}{nd}d",),
        "doc": f"{what} ({'[C, L]' if nd == 1 else '[C, H, W]' if nd == 2 else '[C, D, H, W]'}, "
               f"torch.nn.{torch_name}{nd}d)",
        "args": (Arg("padding", PerAxis(2 * nd, Int(None)),
                     doc="one int for every side, or " + ", ".join(f"{s[0]}, {s[1]}" for s in _SIDES[:nd])),
                 *value),
    })
    return register(cls)


for _nd in (1, 2, 3):
    _pad_kind("zero", _nd, "constant", "ZeroPad", "pads with zeros")
    _pad_kind("constant", _nd, "constant", "ConstantPad", "pads with a constant value")
    _pad_kind("reflection", _nd, "reflect", "ReflectionPad", "pads with the input mirrored at its edge")
    _pad_kind("replication", _nd, "replicate", "ReplicationPad", "pads by repeating the input's edge")
    _pad_kind("circular", _nd, "circular", "CircularPad", "pads with the input wrapped around")


def crop_offset(n, size):
    """Where torchvision's CenterCrop starts along an axis: round((n − size)/2), Python's
    round (half to even: 0.5 → 0, 1.5 → 2); None when n is symbolic."""
    if N.is_symbolic(n) or N.is_symbolic(size):
        return None
    return int(round((n - size) / 2.0))


@register
class CenterCrop(LayerKind):
    """The central `size` positions of each spatial axis (the original UNet crops its skip
    features to the size of the upsampled ones before joining them). archcalc's own kind;
    its module slices the input, as torchvision.transforms.CenterCrop does, so its output
    is a view of the input."""

    kind = "center_crop"
    family = "structure"
    view = True
    torch_classes = ("CenterCrop",)  # archcalc's own module
    doc = "the central size × size of each sample's spatial axes (as torchvision.transforms.CenterCrop)"
    args = (Arg("size", Ints(Int(1)), doc="one size for every spatial axis, or one per spatial axis"),)

    @classmethod
    def sizes(cls, a, x) -> tuple:
        return a.size * (len(x) - 1) if len(a.size) == 1 else a.size

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, [2, 3, 4], ctx, "a [C, L], [C, H, W] or [C, D, H, W] input",
                         "center_crop crops the spatial axes after the channels")
        if len(a.size) not in (1, len(x) - 1):
            raise ctx.error(f"size has {len(a.size)} values for {len(x) - 1} spatial axes", arg="size",
                            expected=f"one size, or {len(x) - 1} (one per spatial axis)",
                            found=f"{list(a.size)} for {list_text(x)}, the {ctx.source}", code="invalid-layer")
        steps = []
        for axis, (n, s) in enumerate(zip(x[1:], cls.sizes(a, x)), start=1):
            name = axis_name(len(x), axis)
            if N.compare(s, ">", n):
                raise ctx.error(f"the crop is larger than the input along {name}", arg="size",
                                expected=f"size <= {name} = {N.fmt(n)}",
                                found=f"size {N.fmt(s)} for {list_text(x)}, the {ctx.source}",
                                hint="crop less, or pad the input", code="size-too-small")
            offset = crop_offset(n, s)
            if offset is not None:
                steps.append(Step(f"{name}_start", f"round(({name}1 − {name}2)/2)",
                                  f"round(({N.fmt(n)} − {N.fmt(s)})/2)", offset))
        return Result((x[0], *cls.sizes(a, x)), steps=steps)

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return []  # a slice: its backward needs only the input's shape

    @classmethod
    def receptive_field(cls, a, x, rf):
        """Output position i is input position i + offset: the field shifts, unchanged."""
        if rf is None:
            return None
        offsets = [crop_offset(n, s) for n, s in zip(x[1:], cls.sizes(a, x))]
        if None in offsets:
            return None
        return tuple(AxisRF(f.size, f.jump, N.add(f.start, N.mul(o, f.jump))) for f, o in zip(rf, offsets))

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import CenterCrop as Module

        return Module(a.size)
