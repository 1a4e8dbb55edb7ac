"""Pooling: max_pool1d/2d/3d, avg_pool1d/2d/3d, lp_pool1d/2d/3d (L2 pooling),
adaptive_avg_pool1d/2d/3d, adaptive_max_pool1d/2d/3d, and `mean` over chosen axes
(torch.mean: ShuffleNetV2's x.mean([2, 3]), a global average pool written as a mean).

No weights and, as torch's FlopCounterMode counts, no FLOPs. Output sizes follow torch's
window rule (see window.py), including ceil_mode; torch also requires padding of at most
half the kernel, checked here too so that archcalc and torch refuse the same settings.
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Float, Int, Ints, Nullable, PerAxis
from archcalc.layers.base import (Context, LayerKind, Result, Step, Untranslatable, batched_axis,
                                  list_text, sample_axis)
from archcalc.layers.registry import register
from archcalc.layers.receptive import through_window
from archcalc.layers.window import axis_names, window_out

_RANK_HINT = "pooling needs a channels-first input; remove the flatten before it"


class _PoolNd(LayerKind):
    family = "pool"
    nd: int = 2
    has_dilation = False
    has_padding = True

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        nd = cls.nd
        cls.require_rank(x, [nd + 1], ctx, "a [C, " + ", ".join(axis_names(nd)) + "] input", _RANK_HINT)
        kernel = a.kernel_size
        stride = a.stride if a.stride is not None else kernel
        padding = a.padding if cls.has_padding else (0,) * nd
        dilation = a.dilation if cls.has_dilation else (1,) * nd
        for k, p in zip(kernel, padding):
            if N.compare(N.mul(2, p), ">", k):
                raise ctx.error("padding must be at most half the kernel size (torch refuses more)",
                                arg="padding", expected=f"padding <= {N.fmt(k)}/2", found=f"padding={N.fmt(p)}",
                                code="invalid-layer")
        outs, steps = [], []
        for axis, size, k, s, p, d in zip(axis_names(nd), x[1:], kernel, stride, padding, dilation):
            out, step = window_out(ctx, axis, size, k, s, p, d, a.ceil_mode, what="pooling window")
            if cls.window_within_input() and N.compare(size, "<", k):
                raise ctx.error(f"the input is smaller than the pooling window along {axis} (torch's 3-D average "
                                "pooling refuses it, whatever the padding)", arg="kernel_size",
                                expected=f"kernel_size <= {axis} = {N.fmt(size)}",
                                found=f"kernel_size {N.fmt(k)}, the {ctx.source}", code="size-too-small")
            outs.append(out)
            steps.append(step)
        return Result((x[0], *outs), steps=steps)

    @classmethod
    def window_within_input(cls) -> bool:
        """Whether torch also refuses an input axis smaller than the kernel, padding not
        counted: its avg_pool3d does (pool3d_shape_check), and lp_pool3d, computed through
        it; 1-D and 2-D pools and max_pool3d don't."""
        return False

    @classmethod
    def receptive_field(cls, a, x, rf):
        stride = a.stride if a.stride is not None else a.kernel_size
        padding = a.padding if cls.has_padding else (0,) * cls.nd
        return through_window(rf, a.kernel_size, stride, padding, a.dilation if cls.has_dilation else None)


class _MaxPool(_PoolNd):
    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return [("input", N.product(x), elem), ("new", N.product(out), 8)]  # and int64 indices

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        # return_indices would make the module return a tuple; the network carries the values
        return getattr(nn, f"MaxPool{cls.nd}d")(a.kernel_size, a.stride, a.padding, a.dilation,
                                                ceil_mode=a.ceil_mode)


class _AvgPool(_PoolNd):
    @classmethod
    def window_within_input(cls) -> bool:
        return cls.nd == 3

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return [("input", N.product(x), elem)]

    @classmethod
    def pooled_inputs(cls, a, x, out) -> int:
        """Per axis, each window clipped to the padded input (count_include_pad) or to the input."""
        taps = x[0]
        for axis in range(cls.nd):
            size, o, k, p = x[axis + 1], out[axis + 1], a.kernel_size[axis], a.padding[axis]
            s = (a.stride or a.kernel_size)[axis]
            lower, upper = (-p, size + p) if a.count_include_pad else (0, size)
            taps *= sum(max(min(i * s - p + k, upper) - max(i * s - p, lower), 0) for i in range(o))
        return taps

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        extra = {"divisor_override": a.divisor_override} if cls.nd > 1 else {}  # AvgPool1d has none
        return getattr(nn, f"AvgPool{cls.nd}d")(a.kernel_size, a.stride, a.padding, a.ceil_mode,
                                                a.count_include_pad, **extra)


def _pool_args(nd: int, *, dilation: bool, padding: bool = True, extra=()):
    args = [Arg("kernel_size", PerAxis(nd, Int(1))),
            Arg("stride", Nullable(PerAxis(nd, Int(1))), None, "defaults to kernel_size")]
    if padding:
        args.append(Arg("padding", PerAxis(nd, Int(0)), 0))
    if dilation:
        args.append(Arg("dilation", PerAxis(nd, Int(1)), 1))
    args.append(Arg("ceil_mode", Bool(), False))
    return tuple(args) + tuple(extra)


def _pool_kind(kind: str, nd: int, base: type, *, dilation: bool, padding: bool = True, extra=(), doc: str = ""):
    cls = type(kind, (base,), {
        "kind": kind, "nd": nd, "has_dilation": dilation, "has_padding": padding, "doc": doc,
        "torch_classes": (f"{'Max' if base is _MaxPool else 'Avg'}Pool{nd}d",), "torch_functions": (kind,),
        "args": _pool_args(nd, dilation=dilation, padding=padding, extra=extra),
    })
    return register(cls)


_AVG_EXTRA = (Arg("count_include_pad", Bool(), True),)
_MAX_EXTRA = (Arg("return_indices", Bool(), False),)
_pool_kind("max_pool1d", 1, _MaxPool, dilation=True, extra=_MAX_EXTRA,
           doc="max pooling over [C, L] (torch.nn.MaxPool1d)")
_pool_kind("max_pool2d", 2, _MaxPool, dilation=True, extra=_MAX_EXTRA,
           doc="max pooling over [C, H, W] (torch.nn.MaxPool2d)")
_pool_kind("max_pool3d", 3, _MaxPool, dilation=True, extra=_MAX_EXTRA,
           doc="max pooling over [C, D, H, W] (torch.nn.MaxPool3d)")
_pool_kind("avg_pool1d", 1, _AvgPool, dilation=False, extra=_AVG_EXTRA, doc="average pooling (torch.nn.AvgPool1d)")
_pool_kind("avg_pool2d", 2, _AvgPool, dilation=False,
           extra=_AVG_EXTRA + (Arg("divisor_override", Nullable(Int(1)), None),),
           doc="average pooling (torch.nn.AvgPool2d)")
_pool_kind("avg_pool3d", 3, _AvgPool, dilation=False,
           extra=_AVG_EXTRA + (Arg("divisor_override", Nullable(Int(1)), None),),
           doc="average pooling over [C, D, H, W] (torch.nn.AvgPool3d)")


class _LpPool(_PoolNd):
    """Power-average pooling (norm_type=2 is the course's L2 pooling): (Σ x^p)^(1/p) over each
    window. torch computes it through avg_poolNd with no padding, so its shape rule is
    avg_poolNd's."""

    has_padding = False

    @classmethod
    def window_within_input(cls) -> bool:
        return cls.nd == 3

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """F.lp_poolNd is (sign(s)·relu(|s|)·k)^(1/p) with s = avg_poolNd(x^p): autograd keeps
        x (for x^p), x^p (for the average), and four tensors of the output's size: s (for
        |s|), sign(s) and relu(|s|) (for their product), and the scaled product (for ^(1/p))."""
        return [("input", N.product(x), elem), ("new", N.product(x), elem),
                *[("new", N.product(out), elem) for _ in range(4)]]

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        # F.lp_pool1d multiplies by kernel_size itself, so nn.LPPool1d needs a plain int
        kernel = a.kernel_size[0] if cls.nd == 1 else a.kernel_size
        return getattr(nn, f"LPPool{cls.nd}d")(a.norm_type, kernel, a.stride, a.ceil_mode)


def _lp_kind(nd: int, doc: str):
    return register(type(f"LpPool{nd}d", (_LpPool,), {
        "kind": f"lp_pool{nd}d", "nd": nd, "doc": doc, "__doc__": _LpPool.__doc__,
        "torch_classes": (f"LPPool{nd}d",), "torch_functions": (f"lp_pool{nd}d",),
        "args": (Arg("norm_type", Float(minimum=0.0)), *_pool_args(nd, dilation=False, padding=False)),
    }))


_lp_kind(1, "power-average pooling over [C, L] (torch.nn.LPPool1d)")
_lp_kind(2, "power-average pooling, L2 pooling with norm_type 2 (torch.nn.LPPool2d)")
_lp_kind(3, "power-average pooling over [C, D, H, W] (torch.nn.LPPool3d)")


class _AdaptivePool(LayerKind):
    """Pooling to a fixed output size: output j of o along an axis of n inputs pools the bin
    [floor(j·n/o), ceil((j+1)·n/o)), so the bins overlap or differ in size unless o divides n."""

    family = "pool"
    nd: int = 2

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, [cls.nd + 1], ctx, "a [C, " + ", ".join(axis_names(cls.nd)) + "] input", _RANK_HINT)
        outs = tuple(size if o is None else o for o, size in zip(a.output_size, x[1:]))
        return Result((x[0], *outs))

    @classmethod
    def receptive_field(cls, a, x, rf):
        """Exact when the bins are regular (output 1, the input's size, or a divisor of it);
        irregular bins have no single receptive field."""
        if rf is None:
            return None
        kernel, stride = [], []
        for o, size in zip(a.output_size, x[1:]):
            o = size if o is None else o
            if N.is_symbolic(size) or N.is_symbolic(o) or size % o != 0:
                return None
            kernel.append(size // o)
            stride.append(size // o)
        return through_window(rf, kernel, stride, (0,) * len(kernel))


class _AdaptiveAvgPool(_AdaptivePool):
    @classmethod
    def pooled_inputs(cls, a, x, out) -> int:
        """torch's adaptive windows: bin j of o over n inputs spans [floor(j·n/o), ceil((j+1)·n/o))."""
        taps = x[0]
        for size, o in zip(x[1:], out[1:]):
            taps *= sum(-(-(j + 1) * size // o) - j * size // o for j in range(o))
        return taps

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        if all(N.compare(o, "==", 1) for o in out[1:]):
            return []  # a global average is a mean, whose backward needs only the shape
        return [("input", N.product(x), elem)]

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return getattr(nn, f"AdaptiveAvgPool{cls.nd}d")(a.output_size[0] if cls.nd == 1 else a.output_size)


class _AdaptiveMaxPool(_AdaptivePool):
    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return [("input", N.product(x), elem), ("new", N.product(out), 8)]  # and int64 indices

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        # return_indices would make the module return a tuple; the network carries the values
        return getattr(nn, f"AdaptiveMaxPool{cls.nd}d")(a.output_size[0] if cls.nd == 1 else a.output_size)


def _adaptive_args(nd: int, extra=()):
    """torch's output_size: an int, or one per axis where None keeps that axis (2-D and 3-D;
    the 1-D pools take an int)."""
    keep = nd > 1
    return (Arg("output_size", PerAxis(nd, Int(1), allow_none=keep),
                doc="null keeps that axis' input size" if keep else ""), *extra)


def _adaptive_kind(nd: int, base: type, functions: tuple[str, ...] = ()):
    what = "Max" if issubclass(base, _AdaptiveMaxPool) else "Avg"
    name, kind = f"Adaptive{what}Pool{nd}d", f"adaptive_{what.lower()}_pool{nd}d"
    shape = "[C, " + ", ".join(axis_names(nd)) + "]"
    return register(type(name, (base,), {
        "kind": kind, "nd": nd, "torch_classes": (name,), "torch_functions": (kind, *functions),
        "doc": f"{'max' if what == 'Max' else 'average'} pooling of {shape} to a fixed output size (torch.nn.{name})",
        "args": _adaptive_args(nd, _MAX_EXTRA if what == "Max" else ()),
    }))


_adaptive_kind(1, _AdaptiveAvgPool)
_adaptive_kind(2, _AdaptiveAvgPool)
_adaptive_kind(3, _AdaptiveAvgPool)
for _nd in (1, 2, 3):
    _adaptive_kind(_nd, _AdaptiveMaxPool)


@register
class Mean(LayerKind):
    """The mean over some of a sample's axes (torch.mean(x, dim, keepdim), x.mean(dim)): the
    axes in `dim` removed, or kept at size 1 with keepdim. Over every spatial axis it is a
    global average pool, but torch and the peer tools see another op (aten::mean, not
    adaptive_avg_pool2d), and count it differently. No weights; FlopCounterMode counts 0."""

    kind = "mean"
    family = "pool"
    torch_classes = ("Mean",)  # archcalc's own module: torch has none
    torch_functions = ("mean",)
    doc = "the mean over per-sample axes: dim [1, 2] makes [C, H, W] into [C] (torch.mean)"
    args = (Arg("dim", Ints(Int(None)), doc="per-sample axis or axes averaged over (torch's dim=(2, 3) is [1, 2])"),
            Arg("keepdim", Bool(), False, "keep each averaged axis at size 1"))

    @classmethod
    def axes(cls, x, a, ctx: Context) -> list[int]:
        axes = [sample_axis(d, x, ctx) for d in a.dim]
        if len(set(axes)) != len(axes):
            raise ctx.error(f"dim {list_text(a.dim)} names an axis twice (torch refuses it)", arg="dim",
                            expected="each axis once", found=f"{list_text(x)}, the {ctx.source}",
                            code="invalid-layer")
        return sorted(axes)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        axes = cls.axes(x, a, ctx)
        out = tuple(1 if i in axes else d for i, d in enumerate(x) if a.keepdim or i not in axes)
        count = N.product(x[i] for i in axes)
        step = Step("values per mean", "·".join(f"d{i}" for i in axes), "·".join(N.fmt(x[i]) for i in axes), count)
        return Result(out, steps=[step])

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return []  # its gradient spreads the output's over the input's shape: autograd keeps only sizes

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # the axes averaged are gone; a spatial one's field is all of it

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend import modules

        return modules.Mean([batched_axis(d) for d in a.dim], a.keepdim)

    @classmethod
    def from_torch(cls, module) -> dict:
        return cls.written({"dim": [d - 1 if d > 0 else d for d in module.dim], "keepdim": module.keepdim})

    @classmethod
    def imported_call(cls, name, args, kwargs, x, out):
        """torch.mean(x, dim, keepdim=False, *, dtype=None) and x.mean(dim, keepdim): one mean
        layer, its torch axes (the batch axis first) made per-sample ones."""
        dim = kwargs.get("dim", args[0] if args else None)
        if dim is None or (isinstance(dim, (list, tuple)) and not dim):
            raise Untranslatable("takes the mean of the whole batch (no dim); a spec describes one sample")
        dims = list(dim) if isinstance(dim, (list, tuple)) else [dim]
        if all(isinstance(d, int) for d in dims) and any(d % (len(x) + 1) == 0 for d in dims):
            raise Untranslatable(f"takes a mean over the batch axis (dim={dim!r}); a spec describes one sample")
        return super().imported_call(name, args, kwargs, x, out)

    @classmethod
    def from_torch_call(cls, args, kwargs) -> dict:
        dim = kwargs.get("dim", args[0] if args else None)
        keepdim = kwargs.get("keepdim", args[1] if len(args) > 1 else False)
        dims = list(dim) if isinstance(dim, (list, tuple)) else [dim]
        return cls.written({"dim": [d - 1 if d > 0 else d for d in dims], "keepdim": bool(keepdim)})
