"""Element-wise nonlinearities and softmax: shape-preserving, no weights, no FLOPs counted.

torch's FlopCounterMode counts none of these, so neither does archcalc (docs/conventions.md); their
output elements are reported as activations (memory), not neurons.
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Choice, Float, Int
from archcalc.layers.base import Context, LayerKind, Result, Untranslatable, batched_axis
from archcalc.layers.registry import register


class _Elementwise(LayerKind):
    """Its arguments are the torch class's keyword arguments, passed through unchanged."""

    family = "activation"
    elementwise = True
    torch_class: str = ""
    saves: str = "input"  # what its backward needs: its input, or its output (relu, sigmoid, tanh)

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return [(cls.saves, N.product(out), elem)]

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        return Result(tuple(x))

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return getattr(nn, cls.torch_class)(**dict(a.items()))


def _activation(kind: str, torch_class: str, doc: str, *args: Arg, saves: str = "input"):
    return register(type(kind, (_Elementwise,), {"kind": kind, "torch_class": torch_class, "saves": saves,
                                                 "torch_classes": (torch_class,), "torch_functions": (kind, kind + "_"),
                                                 "doc": f"{doc} (torch.nn.{torch_class})", "args": tuple(args)}))


_INPLACE = Arg("inplace", Bool(), False)
_activation("relu", "ReLU", "max(0, x)", _INPLACE, saves="output")
_activation("relu6", "ReLU6", "min(max(0, x), 6)", _INPLACE)
_activation("leaky_relu", "LeakyReLU", "x if x > 0 else negative_slope·x",
            Arg("negative_slope", Float(), 0.01), _INPLACE)
_activation("elu", "ELU", "x if x > 0 else alpha·(eˣ − 1)", Arg("alpha", Float(), 1.0), _INPLACE)
_activation("gelu", "GELU", "x·Φ(x)", Arg("approximate", Choice("none", "tanh"), "none"))
_activation("silu", "SiLU", "x·σ(x)", _INPLACE)
_activation("sigmoid", "Sigmoid", "1 / (1 + e⁻ˣ)", saves="output")
_activation("tanh", "Tanh", "(eˣ − e⁻ˣ)/(eˣ + e⁻ˣ)", saves="output")


class _SoftmaxLike(_Elementwise):
    """Normalises along one per-sample axis (`dim`, default the last), as the course's
    z_n = e^{x_n} / Σ_i e^{x_i}."""

    args = (Arg("dim", Int(None), -1, "per-sample axis; -1 is the last"),)
    saves = "output"
    elementwise = False  # each output depends on a whole axis

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        if not -len(x) <= a.dim < len(x):
            raise ctx.error(f"dim={a.dim} is out of range for a rank-{len(x)} input", arg="dim",
                            expected=f"dim from {-len(x)} to {len(x) - 1} (axes are per sample, 0-based)",
                            found=f"{list(x)}", code="invalid-layer")
        return Result(tuple(x))

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
            raise Untranslatable(f"{what}(dim=0) normalises across the batch")
        dim = dim - 1 if dim > 0 else dim  # torch counts the batch axis; specs don't
        return {} if dim == -1 else {"dim": dim}


register(type("softmax", (_SoftmaxLike,), {"kind": "softmax", "torch_class": "Softmax", "torch_classes": ("Softmax",),
                                          "torch_functions": ("softmax",),
                                          "doc": "softmax along dim (torch.nn.Softmax)"}))
register(type("log_softmax", (_SoftmaxLike,), {"kind": "log_softmax", "torch_class": "LogSoftmax",
                                              "torch_classes": ("LogSoftmax",), "torch_functions": ("log_softmax",),
                                              "doc": "log of softmax along dim (torch.nn.LogSoftmax)"}))
