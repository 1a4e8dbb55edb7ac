"""torch's transformer layers: transformer_encoder_layer (nn.TransformerEncoderLayer) and
transformer_encoder (nn.TransformerEncoder, a stack of them and an optional final norm).

Each is one row whose derivation lists its parts: the self-attention's projections (4·T·E²)
and its Q·Kᵀ and A·V (2·T²·E), the feed-forward network (2·T·E·F), two LayerNorms. They are
kinds, not blocks, because `archcalc import` must read torch's classes whole: their forward
chooses between a native fast path and the ordinary one in Python control flow that
torch.fx cannot trace. FLOPs are the ordinary path's as FlopCounterMode counts them (the
fast path, under no_grad in eval, is one native op it counts 0).
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Choice, Float, Int, Nullable
from archcalc.layers.base import Context, LayerKind, Result, Step, Untranslatable
from archcalc.layers.registry import register

_ACTIVATIONS = {"relu": "relu", "gelu": "gelu"}  # torch's activation names (the function it captures)


class _Encoder(LayerKind):
    """What the encoder layer and the stack share: torch's arguments, the parts' sizes."""

    family = "transformer"
    weighted = True
    in_arg = "d_model"
    layers_arg: str | None = None  # the stack's number of layers

    @classmethod
    def depth(cls, a):
        return getattr(a, cls.layers_arg) if cls.layers_arg else 1

    @classmethod
    def attention_layers(cls, a) -> int:
        """Self-attentions in it, each of attention_shape."""
        return cls.depth(a)

    @classmethod
    def norm_elements(cls, a, x):
        """Elements its LayerNorms normalise, per sample: T·E each."""
        return N.mul(cls.norms(a), N.product(x))

    @classmethod
    def leaf_params(cls, a, x):
        """Its parameters outside the self-attentions (the linear layers and norms: the
        modules without children)."""
        return N.sub(cls.params(a, x), N.mul(cls.depth(a), cls.attention_params(a, x)))

    @classmethod
    def attention_shape(cls, a, x) -> tuple:
        """(heads, queries, keys, head size) of its self-attention, as multihead_attention's."""
        return a.nhead, x[0], x[0], N.floordiv(x[1], a.nhead)

    @classmethod
    def attention_params(cls, a, x):
        """One layer's self-attention: 4·E² weights and 4·E biases."""
        e = x[1]
        return N.mul(4, N.mul(e, N.add(e, 1 if a.bias else 0)))

    @classmethod
    def feedforward_macs(cls, a, x):
        """Every layer's feed-forward network, per sample: 2·T·E·F."""
        return N.mul(cls.depth(a), N.mul(2, N.mul(x[0], N.mul(x[1], a.dim_feedforward))))

    @classmethod
    def norms(cls, a) -> int:
        """LayerNorms over [T, E]: two a layer, and the stack's final one."""
        return 2 * cls.depth(a) + (1 if getattr(a, "norm", False) else 0)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, (2,), ctx, "a sequence [T, E]")
        t, e = x
        cls.check_in_size(e, ctx)
        if N.compare(N.mod(e, a.nhead), "!=", 0):
            raise ctx.error(f"d_model {N.fmt(e)} does not divide into {N.fmt(a.nhead)} heads", arg="nhead",
                            expected=f"nhead dividing {N.fmt(e)}", found=N.fmt(a.nhead), code="invalid-layer")
        f, b, n = a.dim_feedforward, 1 if a.bias else 0, cls.depth(a)
        params = cls.params(a, x)
        proj = N.mul(n, N.mul(4, N.mul(t, N.mul(e, e))))
        products = N.mul(n, N.mul(2, N.mul(t, N.mul(t, e))))
        ffn = cls.feedforward_macs(a, x)
        per = f"{N.fmt(n)}·" if cls.layers_arg else ""
        bias = " + 4·E + F + E + 2·E" if b else ""
        steps = [
            Step("params", f"{'L·(' if per else ''}4·E² + 2·E·F + 2·E{bias}{')' if per else ''}"
                           + (" + the final norm" if cls.norms(a) > 2 * n else ""), "", params),
            Step("attention projections (MACs)", f"{'L·' if per else ''}4·T·E²",
                 f"{per}4·{N.fmt(t)}·{N.fmt(e)}²", proj),
            Step("Q·Kᵀ and A·V (MACs)", f"{'L·' if per else ''}2·T·T·E", f"{per}2·{N.fmt(t)}·{N.fmt(t)}·{N.fmt(e)}",
                 products),
            Step("softmax (elements, no MACs)", f"{'L·' if per else ''}h·T·T",
                 f"{per}{N.fmt(a.nhead)}·{N.fmt(t)}·{N.fmt(t)}", N.mul(n, N.mul(a.nhead, N.mul(t, t)))),
            Step("feed-forward (MACs)", f"{'L·' if per else ''}2·T·E·F",
                 f"{per}2·{N.fmt(t)}·{N.fmt(e)}·{N.fmt(f)}", ffn),
        ]
        macs = N.add(N.add(proj, products), ffn)
        steps.append(Step("MACs", "attention + feed-forward", f"{N.fmt(proj)} + {N.fmt(products)} + {N.fmt(ffn)}",
                          macs))
        return Result((t, e), params=params, macs=macs, steps=steps)

    @classmethod
    def params(cls, a, x):
        """Each layer's attention, feed-forward weights and biases and two norms; the final norm."""
        e, f, b = x[1], a.dim_feedforward, 1 if a.bias else 0
        layer = N.add(N.add(cls.attention_params(a, x), N.add(N.mul(2, N.mul(e, f)), N.mul(b, N.add(f, e)))),
                      N.mul(2, N.mul(e, 1 + b)))
        return N.add(N.mul(cls.depth(a), layer), N.mul(e, 1 + b) if cls.norms(a) > 2 * cls.depth(a) else 0)

    @classmethod
    def backward_macs(cls, a, x, result, input_grad):
        """Every product's weight and input gradients, but the first layer's input projection's
        input gradient (3·T·E²) when nothing before it needs one."""
        t, e = x
        return N.sub(N.mul(2, result.macs), 0 if input_grad else N.mul(3, N.mul(t, N.mul(e, e))))

    @classmethod
    def bias_adds(cls, a, out):
        """The feed-forward network's biases: T·F and T·E a layer (the attention's are its rule's)."""
        return N.mul(cls.depth(a), N.mul(out[0], N.add(a.dim_feedforward, out[1]))) if a.bias else 0

    @classmethod
    def affine(cls, a) -> bool:
        return True  # its LayerNorms scale (and shift)

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None

    @classmethod
    def kv_cache(cls, a, x):
        """Each layer's keys and values, E each per token."""
        return N.mul(cls.depth(a), N.mul(2, x[-1]))


_LAYER_ARGS = (
    Arg("nhead", Int(1), doc="h, heads of d_model/h each"),
    Arg("dim_feedforward", Int(1), 2048, "F, the feed-forward network's width"),
    Arg("dropout", Float(0.0, 1.0), 0.1, "while training (no cost counted)"),
    Arg("activation", Choice(*_ACTIVATIONS), "relu", "between the feed-forward layers"),
    Arg("layer_norm_eps", Float(minimum=0.0), 1e-5),
    Arg("norm_first", Bool(), False, "pre-norm (LayerNorm before attention and feed-forward) or post-norm"),
    Arg("bias", Bool(), True, "the linear layers' and LayerNorms' biases"),
    Arg("d_model", Nullable(Int(1)), None, "E, inferred from the input's last axis, checked when written"),
)


def _layer_from_torch(layer) -> dict:
    if not getattr(layer.self_attn, "batch_first", False):
        raise Untranslatable("batch_first=False: specs put the batch first ([T, E] per sample); construct it with "
                             "batch_first=True")
    activation = getattr(layer.activation, "__name__", type(layer.activation).__name__).lower()
    if activation not in _ACTIVATIONS:
        raise Untranslatable(f"activation {activation!r}: archcalc's transformer layers take relu or gelu")
    return {"nhead": layer.self_attn.num_heads, "dim_feedforward": layer.linear1.out_features,
            "dropout": layer.dropout.p, "activation": activation, "layer_norm_eps": layer.norm1.eps,
            "norm_first": layer.norm_first, "bias": layer.linear1.bias is not None}


def _encoder_layer(a, e: int):
    from torch import nn

    return nn.TransformerEncoderLayer(e, a.nhead, a.dim_feedforward, a.dropout, a.activation, a.layer_norm_eps,
                                      batch_first=True, norm_first=a.norm_first, bias=a.bias)


@register
class TransformerEncoderLayer(_Encoder):
    """Self-attention and a feed-forward network (linear E→F, activation, linear F→E), each
    added to its input, post-norm (LayerNorm after each sum) or pre-norm (norm_first)."""

    kind = "transformer_encoder_layer"
    torch_classes = ("TransformerEncoderLayer",)
    doc = "self-attention and a feed-forward network with residuals and LayerNorms (nn.TransformerEncoderLayer)"
    args = _LAYER_ARGS

    @classmethod
    def torch_module(cls, a, x):
        return _encoder_layer(a, x[-1])

    @classmethod
    def from_torch(cls, module) -> dict:
        return cls.written(_layer_from_torch(module))


@register
class TransformerEncoder(_Encoder):
    """num_layers encoder layers of one configuration, and a final LayerNorm when `norm`."""

    kind = "transformer_encoder"
    torch_classes = ("TransformerEncoder",)
    doc = "a stack of num_layers transformer encoder layers, a final LayerNorm with norm (nn.TransformerEncoder)"
    layers_arg = "num_layers"
    args = (Arg("num_layers", Int(1), doc="L, encoder layers"),) + _LAYER_ARGS[:-1] + (
        Arg("norm", Bool(), False, "a LayerNorm after the last layer"),) + _LAYER_ARGS[-1:]

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        norm = nn.LayerNorm(x[-1], a.layer_norm_eps, bias=a.bias) if a.norm else None
        return nn.TransformerEncoder(_encoder_layer(a, x[-1]), a.num_layers, norm=norm, enable_nested_tensor=False)

    @classmethod
    def from_torch(cls, module) -> dict:
        layers = list(module.layers)
        settings = [_layer_from_torch(layer) for layer in layers]
        if any(s != settings[0] for s in settings[1:]):
            raise Untranslatable("its layers differ in their settings; archcalc's transformer_encoder repeats one")
        norm = module.norm
        if norm is not None and (type(norm).__name__ != "LayerNorm" or norm.eps != settings[0]["layer_norm_eps"]
                                 or (norm.bias is not None) != settings[0]["bias"]):
            raise Untranslatable("its final norm is not a LayerNorm with the layers' eps and bias")
        return cls.written({"num_layers": len(layers), **settings[0], "norm": norm is not None})
