"""Pooling: max_pool1d/2d, avg_pool1d/2d, lp_pool2d (L2 pooling), adaptive_avg_pool2d.

No weights and, as torch's FlopCounterMode counts, no FLOPs. Output sizes follow torch's
window rule (see window.py), including ceil_mode; torch also requires padding of at most
half the kernel, checked here too so that archcalc and torch refuse the same settings.
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Float, Int, Nullable, PerAxis
from archcalc.layers.base import Context, LayerKind, Result, Untranslatable
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
            outs.append(out)
            steps.append(step)
        return Result((x[0], *outs), steps=steps)

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

        extra = {"divisor_override": a.divisor_override} if cls.nd == 2 else {}
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
_pool_kind("max_pool1d", 1, _MaxPool, dilation=True, extra=(Arg("return_indices", Bool(), False),),
           doc="max pooling over [C, L] (torch.nn.MaxPool1d)")
_pool_kind("max_pool2d", 2, _MaxPool, dilation=True, extra=(Arg("return_indices", Bool(), False),),
           doc="max pooling over [C, H, W] (torch.nn.MaxPool2d)")
_pool_kind("avg_pool1d", 1, _AvgPool, dilation=False, extra=_AVG_EXTRA, doc="average pooling (torch.nn.AvgPool1d)")
_pool_kind("avg_pool2d", 2, _AvgPool, dilation=False,
           extra=_AVG_EXTRA + (Arg("divisor_override", Nullable(Int(1)), None),),
           doc="average pooling (torch.nn.AvgPool2d)")


@register
class LpPool2d(_PoolNd):
    """Power-average pooling (norm_type=2 is the course's L2 pooling): (Σ x^p)^(1/p) over each
    window. torch computes it through avg_pool2d with no padding, so its shape rule is
    avg_pool2d's."""

    kind = "lp_pool2d"
    nd = 2
    torch_classes = ("LPPool2d",)
    torch_functions = ("lp_pool2d",)
    has_padding = False
    doc = "power-average pooling, L2 pooling with norm_type 2 (torch.nn.LPPool2d)"
    args = (Arg("norm_type", Float(minimum=0.0)),
            *_pool_args(2, dilation=False, padding=False))

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.LPPool2d(a.norm_type, a.kernel_size, a.stride, a.ceil_mode)


@register
class AdaptiveAvgPool2d(LayerKind):
    kind = "adaptive_avg_pool2d"
    torch_classes = ("AdaptiveAvgPool2d",)
    torch_functions = ("adaptive_avg_pool2d", "mean")
    family = "pool"
    doc = "average pooling to a fixed output size (torch.nn.AdaptiveAvgPool2d)"
    args = (Arg("output_size", PerAxis(2, Int(1), allow_none=True), doc="null keeps that axis' input size"),)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, [3], ctx, "a [C, H, W] input", _RANK_HINT)
        outs = tuple(size if o is None else o for o, size in zip(a.output_size, x[1:]))
        return Result((x[0], *outs))

    @classmethod
    def imported_call(cls, name, args, kwargs, x, out):
        """x.mean((2, 3)) over an image's spatial axes is a global average pool (then a flatten,
        unless keepdim)."""
        if name != "mean":
            return super().imported_call(name, args, kwargs, x, out)
        dims = kwargs.get("dim", args[0] if args else None)
        dims = tuple(dims) if isinstance(dims, (list, tuple)) else (dims,)
        if len(x) != 3 or None in dims or sorted(d % 4 for d in dims) != [2, 3]:
            raise Untranslatable(f"takes a mean over axes {list(dims)}: only the spatial axes of an image (a global "
                                 "average pool) have a layer kind")
        keep = kwargs.get("keepdim", args[1] if len(args) > 1 else False)
        return [(cls.kind, {"output_size": 1})] + ([] if keep else [("flatten", {})])

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

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.AdaptiveAvgPool2d(a.output_size)

