"""Element-wise nonlinearities, softmax and its kin, the gated linear unit: no weights (PReLU's
learned slopes aside), no FLOPs counted.

torch's FlopCounterMode counts none of these, so neither does archcalc (docs/conventions.md); their
output elements are reported as activations (memory), not neurons. What each keeps for its backward
pass was measured with autograd's saved-tensor hooks on the CPU, with and without `inplace`.
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Choice, Float, Int
from archcalc.layers.base import (Context, LayerKind, Result, Step, Untranslatable, Weight, batched_axis, list_text,
                                  sample_axis)
from archcalc.layers.registry import register

FLOAT32_MAX = 3.4028234663852886e38  # the largest float32: torch refuses a softshrink threshold above it


class _Elementwise(LayerKind):
    """Its arguments are the torch class's keyword arguments, passed through unchanged."""

    family = "activation"
    elementwise = True
    torch_class: str = ""
    # What its backward needs, as autograd keeps it: its input, its output, or a tensor of the
    # input's size made for the purpose ("new": a noise sample, a buffer, a copy); with inplace
    # the output is the input's storage, and some kinds then keep that, others a copy.
    saves: tuple[str, ...] = ("input",)
    saves_in_place: tuple[str, ...] | None = None  # with inplace=True, where it differs

    @classmethod
    def output_is_input(cls, a) -> bool:
        return bool(getattr(a, "inplace", False))

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        kept = cls.saves_in_place if cls.saves_in_place and getattr(a, "inplace", False) else cls.saves
        return [(what, N.product(out if what == "output" else x), elem) for what in kept]

    @classmethod
    def refuse(cls, a, ctx: Context) -> None:
        """Raises for settings torch refuses (hardtanh's max_val ≤ min_val, ...); none by default."""

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.refuse(a, ctx)
        return Result(tuple(x))

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return getattr(nn, cls.torch_class)(**dict(a.items()))

    @classmethod
    def imported_call(cls, name, args, kwargs, x, out):
        """torch's trailing underscore is its in-place form (F.hardtanh_(x), x.relu_(), torch.selu_(x))."""
        layers = super().imported_call(name, args, kwargs, x, out)
        if name.endswith("_") and any(arg.name == "inplace" for arg in cls.args):
            layers = [(kind, values | {"inplace": True}) for kind, values in layers]
        return layers


def _activation(kind: str, torch_class: str, doc: str, *args: Arg, saves: tuple[str, ...] = ("input",),
                in_place: tuple[str, ...] | None = None, functions: tuple[str, ...] | None = None, refuse=None,
                call=None, contiguous: bool = False):
    """Registers an element-wise kind: `functions` are the torch functions and Tensor methods
    `archcalc import` reads as it (by default its name and the in-place form, name_), `refuse`
    a check of the settings torch refuses, `call` the function it stands for when its module's forward
    calls another (LayerKind.torch_call)."""
    attrs = {"kind": kind, "torch_class": torch_class, "saves": saves, "saves_in_place": in_place,
             "torch_classes": (torch_class,), "torch_functions": functions or (kind, kind + "_"),
             "doc": f"{doc} (torch.nn.{torch_class})", "args": tuple(args), "contiguous_output": contiguous}
    if refuse is not None:
        attrs["refuse"] = classmethod(refuse)
    if call is not None:
        attrs["torch_call"] = classmethod(call)
    return register(type(kind, (_Elementwise,), attrs))


def _alpha_not_zero(cls, a, ctx: Context) -> None:
    if a.alpha == 0:
        raise ctx.error("alpha=0: CELU divides x by alpha", arg="alpha", expected="alpha ≠ 0", found="alpha=0",
                        hint="CELU tends to relu as alpha → 0: write relu, or a small alpha", code="invalid-layer")


def _max_above_min(cls, a, ctx: Context) -> None:
    if a.max_val <= a.min_val:
        raise ctx.error(f"max_val={a.max_val} is not above min_val={a.min_val}", arg="max_val",
                        expected="max_val > min_val (torch.nn.Hardtanh asserts it)",
                        found=f"min_val={a.min_val}, max_val={a.max_val}", code="invalid-layer")


def _lower_not_above_upper(cls, a, ctx: Context) -> None:
    if a.lower > a.upper:
        raise ctx.error(f"lower={a.lower} is above upper={a.upper}", arg="lower",
                        expected="lower ≤ upper (the slopes are drawn from U(lower, upper))",
                        found=f"lower={a.lower}, upper={a.upper}", code="invalid-layer")


_INPLACE = Arg("inplace", Bool(), False)
_activation("relu", "ReLU", "max(0, x)", _INPLACE, saves=("output",))


def _relu6_call(cls, a, module, x):
    """F.relu6: nn.ReLU6's forward calls F.hardtanh instead, and ptflops patches one, not the other."""
    import torch.nn.functional as F

    return F.relu6(x, a.inplace)


_activation("relu6", "ReLU6", "min(max(0, x), 6)", _INPLACE, in_place=("new",), call=_relu6_call)
_activation("leaky_relu", "LeakyReLU", "x if x > 0 else negative_slope·x",
            Arg("negative_slope", Float(), 0.01), _INPLACE, in_place=("output",))
_activation("elu", "ELU", "x if x > 0 else alpha·(eˣ − 1)", Arg("alpha", Float(), 1.0), _INPLACE,
            in_place=("output",))
_activation("gelu", "GELU", "x·Φ(x)", Arg("approximate", Choice("none", "tanh"), "none"))
_activation("silu", "SiLU", "x·σ(x)", _INPLACE, in_place=("new",))
_activation("sigmoid", "Sigmoid", "1 / (1 + e⁻ˣ)", saves=("output",))
_activation("tanh", "Tanh", "(eˣ − e⁻ˣ)/(eˣ + e⁻ˣ)", saves=("output",))
_activation("hardswish", "Hardswish", "x·ReLU6(x + 3)/6", _INPLACE, in_place=("new",))
_activation("hardsigmoid", "Hardsigmoid", "ReLU6(x + 3)/6", _INPLACE, in_place=("new",))
_activation("mish", "Mish", "x·tanh(softplus(x))", _INPLACE, in_place=("new",))
_activation("selu", "SELU", "scale·(x if x > 0 else α·(eˣ − 1)), α ≈ 1.6733, scale ≈ 1.0507", _INPLACE,
            in_place=("output",))
_activation("celu", "CELU", "x if x > 0 else alpha·(e^(x/alpha) − 1)", Arg("alpha", Float(), 1.0), _INPLACE,
            in_place=("output",), refuse=_alpha_not_zero)
_activation("softplus", "Softplus", "log(1 + e^(beta·x))/beta, x itself where beta·x > threshold",
            Arg("beta", Float(), 1.0), Arg("threshold", Float(), 20.0), functions=("softplus",))
_activation("hardtanh", "Hardtanh", "min(max(x, min_val), max_val)", Arg("min_val", Float(), -1.0),
            Arg("max_val", Float(), 1.0), _INPLACE, in_place=("new",), refuse=_max_above_min)
# softsign is x / (1 + |x|) in torch's own Python: abs and the division keep the input, the division the
# denominator too
_activation("softsign", "Softsign", "x / (1 + |x|)", saves=("input", "new"), functions=("softsign",))
# log_sigmoid_forward returns a buffer beside its output, as large as the input on the CPU (CUDA's is empty)
_activation("logsigmoid", "LogSigmoid", "log(1 / (1 + e⁻ˣ))", saves=("input", "new"),
            functions=("logsigmoid", "log_sigmoid"), contiguous=True)  # ATen's log_sigmoid_forward: a contiguous output
_activation("hardshrink", "Hardshrink", "x if |x| > lambd else 0", Arg("lambd", Float(), 0.5),
            functions=("hardshrink",))
_activation("softshrink", "Softshrink", "x − lambd·sign(x) if |x| > lambd else 0",
            Arg("lambd", Float(minimum=0.0, maximum=FLOAT32_MAX), 0.5), functions=("softshrink",))
# tanhshrink is x − tanh(x) in torch's own Python: only tanh's output is kept
_activation("tanhshrink", "Tanhshrink", "x − tanh(x)", saves=("new",), functions=("tanhshrink",))
_activation("threshold", "Threshold", "x if x > threshold else value", Arg("threshold", Float()),
            Arg("value", Float()), _INPLACE, in_place=("new",), functions=("threshold", "_threshold", "threshold_"))


@register
class RReLU(_Elementwise):
    """The randomized leaky ReLU: each negative element's slope drawn from U(lower, upper)
    while training, their mean (lower + upper)/2 in eval mode. torch draws into a noise tensor
    of the input's size, and autograd keeps it (in eval mode too, where it is left unused)."""

    kind = "rrelu"
    torch_class = "RReLU"
    torch_classes = ("RReLU",)
    torch_functions = ("rrelu", "rrelu_")
    doc = "x if x > 0 else a·x, a ~ U(lower, upper) while training, (lower + upper)/2 in eval (torch.nn.RReLU)"
    args = (Arg("lower", Float(), 1 / 8), Arg("upper", Float(), 1 / 3), _INPLACE)
    saves = ("input", "new")
    contiguous_output = True  # while training, rrelu_with_noise writes a contiguous output
    saves_in_place = ("output", "new")
    refuse = classmethod(_lower_not_above_upper)

    @classmethod
    def from_torch_call(cls, args, kwargs) -> dict:
        """F.rrelu(x, lower, upper, training, inplace): `training` sits between upper and inplace."""
        values = dict(zip(("lower", "upper", "training", "inplace"), args)) | kwargs
        return cls.written({k: v for k, v in values.items() if k in ("lower", "upper", "inplace")})


@register
class PReLU(_Elementwise):
    """The parametric ReLU: the negative slope is learned, one shared by every channel or one
    per channel (num_parameters = C, the input's axis 0). Its slopes are parameters, but its
    outputs are no neurons: it weighs no sum."""

    kind = "prelu"
    torch_class = "PReLU"
    torch_classes = ("PReLU",)
    torch_functions = ("prelu",)
    doc = "x if x > 0 else a·x, the slope a learned: one, or one per channel (torch.nn.PReLU)"
    args = (Arg("num_parameters", Int(1), 1, "1 (one slope for every channel) or C (one per channel)"),
            Arg("init", Float(), 0.25, "the slopes' initial value"))

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        c, n = x[0], a.num_parameters
        if N.compare(n, "!=", 1) and N.compare(n, "!=", c):
            raise ctx.error(f"num_parameters={N.fmt(n)} is neither 1 nor the input's channel count",
                            arg="num_parameters",
                            expected=f"num_parameters = 1 (one slope) or {N.fmt(c)} (one per channel)",
                            found=f"{list_text(x)} ({N.fmt(c)} channels), the {ctx.source}",
                            hint=f"use num_parameters: {N.fmt(c)}, or leave it out for one shared slope",
                            code="shape-mismatch")
        formula = "1 (one slope a, shared)" if N.compare(n, "==", 1) else "C (one slope a per channel)"
        return Result(tuple(x), params=n, steps=[Step("params", formula, "", n)])

    @classmethod
    def imported_call(cls, name, args, kwargs, x, out):
        """F.prelu(x, weight): the slopes are the model's own tensor (a Weight: one, or one per
        channel); anything computed in forward is no learned slope."""
        weight = kwargs.get("weight", args[0] if args else None)
        if not isinstance(weight, Weight) or len(weight.shape) != 1:
            raise Untranslatable("takes slopes computed in forward; a prelu's slopes are a learned tensor of one "
                                 "value or one per channel (write prelu in the spec)")
        return [(cls.kind, cls.written({"num_parameters": weight.shape[0]}))]


class _AlongAxis(_Elementwise):
    """Works along one per-sample axis (`dim`, default the last), each output depending on
    that whole axis: softmax and its kin, glu."""

    args = (Arg("dim", Int(None), -1, "per-sample axis; -1 is the last"),)
    elementwise = False

    @classmethod
    def axis(cls, x, a, ctx: Context) -> int:
        """The axis `dim` names, 0-based; refused when the input has no such axis."""
        return sample_axis(a.dim, x, ctx)

    @classmethod
    def receptive_field(cls, a, x, rf):
        """Along the channels each position stays itself; along a spatial axis every output
        depends on the whole axis."""
        return rf if a.dim % len(x) == 0 else None

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return getattr(nn, cls.torch_class)(dim=batched_axis(a.dim))

    @classmethod
    def from_torch(cls, module) -> dict:
        return cls._dim(module.dim, f"{type(module).__name__}")

    @classmethod
    def from_torch_call(cls, args, kwargs) -> dict:
        return cls._dim(kwargs.get("dim", args[0] if args else None), cls.kind)

    @classmethod
    def _dim(cls, dim, what: str) -> dict:
        if dim is None:
            raise Untranslatable(f"{what} without dim: torch picks the axis from the input's rank (deprecated); "
                                 "give dim=...")
        if dim == 0:
            raise Untranslatable(f"{what}(dim=0) works across the batch")
        dim = dim - 1 if dim > 0 else dim  # torch counts the batch axis; specs don't
        return {} if dim == -1 else {"dim": dim}


class _SoftmaxLike(_AlongAxis):
    """Normalises along one per-sample axis (`dim`, default the last), as the course's
    z_n = e^{x_n} / Σ_i e^{x_i}."""

    saves = ("output",)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.axis(x, a, ctx)
        return Result(tuple(x))

    @classmethod
    def normalized_axis(cls, a) -> int:
        """The per-sample axis it normalises (peer tools count per softmax over it)."""
        return a.dim


register(type("softmax", (_SoftmaxLike,), {"kind": "softmax", "torch_class": "Softmax", "torch_classes": ("Softmax",),
                                          "torch_functions": ("softmax",),
                                          "doc": "softmax along dim (torch.nn.Softmax)"}))
register(type("log_softmax", (_SoftmaxLike,), {"kind": "log_softmax", "torch_class": "LogSoftmax",
                                              "torch_classes": ("LogSoftmax",), "torch_functions": ("log_softmax",),
                                              "doc": "log of softmax along dim (torch.nn.LogSoftmax)"}))
# softmin(x) is softmax(−x): autograd keeps the softmax's output only
register(type("softmin", (_SoftmaxLike,), {"kind": "softmin", "torch_class": "Softmin", "torch_classes": ("Softmin",),
                                          "torch_functions": ("softmin",),
                                          "doc": "softmax of −x along dim (torch.nn.Softmin)"}))


@register
class Softmax2d(_Elementwise):
    """Softmax over the channels at each position of a [C, H, W] input. torch's module takes a
    3-D or 4-D tensor and normalises its axis −3; on a batch of [H, W] samples that axis is
    the batch, so archcalc takes [C, H, W] only."""

    kind = "softmax2d"
    torch_class = "Softmax2d"
    torch_classes = ("Softmax2d",)
    torch_functions = ()  # no functional form: F.softmax(x, dim=1) reads as softmax
    doc = "softmax over the channels of [C, H, W] (torch.nn.Softmax2d)"
    saves = ("output",)
    elementwise = False  # each output depends on every channel at its position

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, (3,), ctx, "a [C, H, W] input",
                         hint="softmax: {dim: 0} normalises the channels of an input of any rank (torch's Softmax2d "
                              "reads a batch of [H, W] as one [C, H, W] and normalises across the batch)")
        return Result(tuple(x))

    @classmethod
    def normalized_axis(cls, a) -> int:
        return 0


@register
class GLU(_AlongAxis):
    """The gated linear unit: the input split in two halves a and b along `dim`, a ⊗ σ(b); the
    axis must be even, and the output is half as long along it. autograd keeps the whole input."""

    kind = "glu"
    torch_class = "GLU"
    torch_classes = ("GLU",)
    torch_functions = ("glu",)
    doc = "a ⊗ σ(b), a and b the two halves of dim (torch.nn.GLU)"

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        axis = cls.axis(x, a, ctx)
        n = x[axis]
        if N.compare(N.mod(n, 2), "!=", 0):
            raise ctx.error(f"dim={a.dim} has odd size {N.fmt(n)}: glu cannot halve it", arg="dim",
                            expected="an even size along dim (its first half gated by the second)",
                            found=f"{list_text(x)}, the {ctx.source}",
                            hint="choose an axis of even size, or make the previous layer's output even along it",
                            code="shape-mismatch")
        half = N.floordiv(n, 2)
        step = Step(f"size of axis {axis}", "n/2 (a and b, the halves)", f"{N.fmt(n)}/2", half)
        return Result((*x[:axis], half, *x[axis + 1:]), steps=[step])

    @classmethod
    def from_torch_call(cls, args, kwargs) -> dict:
        """F.glu(x, dim=-1): torch's default is the last axis."""
        return cls._dim(kwargs.get("dim", args[0] if args else -1), cls.kind)
