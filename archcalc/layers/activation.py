"""Element-wise nonlinearities and softmax: shape-preserving, no weights, no FLOPs counted.

torch's FlopCounterMode counts none of these, so neither does archcalc (CONTRACT.md); their
output elements are reported as activations (memory), not neurons.
"""
from __future__ import annotations

from archcalc.layers.base import Arg, Bool, Choice, Context, Float, Int, LayerKind, Result, register


class _Elementwise(LayerKind):
    family = "activation"

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        return Result(tuple(x))


def _activation(kind: str, doc: str, *args: Arg):
    return register(type(kind, (_Elementwise,), {"kind": kind, "doc": doc, "args": tuple(args)}))


_INPLACE = Arg("inplace", Bool(), False)
_activation("relu", "max(0, x) (torch.nn.ReLU)", _INPLACE)
_activation("relu6", "min(max(0, x), 6) (torch.nn.ReLU6)", _INPLACE)
_activation("leaky_relu", "x if x > 0 else negative_slope·x (torch.nn.LeakyReLU)",
            Arg("negative_slope", Float(), 0.01), _INPLACE)
_activation("elu", "x if x > 0 else alpha·(eˣ − 1) (torch.nn.ELU)", Arg("alpha", Float(), 1.0), _INPLACE)
_activation("gelu", "x·Φ(x) (torch.nn.GELU)", Arg("approximate", Choice("none", "tanh"), "none"))
_activation("silu", "x·σ(x) (torch.nn.SiLU)", _INPLACE)
_activation("sigmoid", "1 / (1 + e⁻ˣ) (torch.nn.Sigmoid)")
_activation("tanh", "(eˣ − e⁻ˣ)/(eˣ + e⁻ˣ) (torch.nn.Tanh)")


class _SoftmaxLike(_Elementwise):
    """Normalises along one per-sample axis (`dim`, default the last), as the course's
    z_n = e^{x_n} / Σ_i e^{x_i}."""

    args = (Arg("dim", Int(None), -1, "per-sample axis; -1 is the last"),)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        if not -len(x) <= a.dim < len(x):
            raise ctx.error(f"dim={a.dim} is out of range for a rank-{len(x)} input", arg="dim",
                            expected=f"dim from {-len(x)} to {len(x) - 1} (axes are per sample, 0-based)",
                            found=f"{list(x)}", code="invalid-layer")
        return Result(tuple(x))


register(type("softmax", (_SoftmaxLike,), {"kind": "softmax", "doc": "softmax along dim (torch.nn.Softmax)"}))
register(type("log_softmax", (_SoftmaxLike,), {"kind": "log_softmax",
                                              "doc": "log of softmax along dim (torch.nn.LogSoftmax)"}))
