"""torch's transformer layers: transformer_encoder_layer (nn.TransformerEncoderLayer),
transformer_encoder (nn.TransformerEncoder, a stack of them and an optional final norm), and
the decoder's: transformer_decoder_layer and transformer_decoder (nn.TransformerDecoderLayer,
nn.TransformerDecoder), which attend to a `memory` the spec names (the encoder's output).

Each is one row whose derivation lists its parts: the self-attention's projections (4·T·E²)
and its Q·Kᵀ and A·V (2·T²·E), the feed-forward network (2·T·E·F), two LayerNorms. They are
kinds, not blocks, because `archcalc import` must read torch's classes whole: their forward
chooses between a native fast path and the ordinary one in Python control flow that
torch.fx cannot trace. FLOPs are the ordinary path's as FlopCounterMode counts them (the
fast path, under no_grad in eval, is one native op it counts 0).
"""
from __future__ import annotations

from dataclasses import replace

from archcalc.engine import numbers as N
from archcalc.layers.attention import MultiheadAttention
from archcalc.layers.args import Arg, Bool, Choice, Float, Int, Nullable, Tensor, TensorRef
from archcalc.layers.base import FLOW, Attention, Context, LayerKind, Result, Step, Untranslatable
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

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """What torch keeps for each layer while training (its fast path is off), measured
        with saved-tensor hooks (see layer_saved); the stack's final norm its input, mean and
        reciprocal deviation. The stack's output is kept by whatever reads it, not here."""
        return cls.stack_saved(a, x, elem, "input")

    @classmethod
    def stack_saved(cls, a, x, elem, first: str, memory: str | None = None, source=None) -> list | None:
        """Every layer's saved tensors, the first layer's input named by the entry `first`
        (the others' inputs are the layers' outputs before them: new tensors), and the final
        norm's; None for a number of layers left symbolic."""
        n = cls.depth(a)
        if N.is_symbolic(n):
            return None
        entries = []
        for i in range(n):
            entries += cls.layer_saved(a, x, elem, first if i == 0 else "new", memory, source)
        if getattr(a, "norm", False):
            entries += _norm_saved("new", x, elem)
        return entries

    @classmethod
    def layer_saved(cls, a, x, elem, first: str, memory: str | None = None, source=None) -> list:
        """One layer's saved tensors (torch's nn.TransformerEncoderLayer and
        nn.TransformerDecoderLayer in training, need_weights off), for an input [T, E] the
        entry `first` names. Its sub-layers in order: the self-attention, the decoder's
        cross-attention to the tensor `memory` names ([S, E]: `source`), the feed-forward
        network. Post-norm, each sub-layer reads the sub-layer before's LayerNorm output (the
        first reads the input) and a LayerNorm keeps the residual sum [T, E], its mean and its
        reciprocal deviation (T each); pre-norm, a LayerNorm keeps the sub-layer's input (the
        layer's input, then each residual sum) and its statistics, and the sub-layer reads the
        norm's output. An attention keeps what multihead_attention's rule says
        (MultiheadAttention.saved: the query's copy at a batch of several, the packed
        projections, the scaled q and k, the weights h·T·S, the joined heads) and its
        dropout's mask; the feed-forward network its input [T, E], the activation's
        [T, F] tensors (relu its output, which linear2 reads; gelu its input and output;
        with dropout the activation's kept tensor, the mask and the dropped output linear2
        reads) and its dropout's mask. A dropout keeps what dropout's rule says (a mask of
        the dtype, or the zero scalar at p = 1; nothing at p = 0)."""
        t, e = x
        te, f, p = N.mul(t, e), N.mul(t, a.dim_feedforward), a.dropout

        def attention(memory):
            return lambda query: [*MultiheadAttention.saved(x, query, memory, source, a.nhead, elem, dropout=p),
                                  *MultiheadAttention.dropout_saved(p, te, elem)]

        def feedforward(tensor):
            if p == 0:
                middle = [("new", f, elem)] * (1 if a.activation == "relu" else 2)
            else:
                middle = [("new", f, elem), *MultiheadAttention.dropout_saved(p, f, elem), ("new", f, elem)]
            return [(tensor, te, elem), *middle, *MultiheadAttention.dropout_saved(p, te, elem)]

        parts = [attention(None), *([attention(memory)] if memory else []), feedforward]
        entries = []
        for i, part in enumerate(parts):
            tensor = first if i == 0 else "new"
            entries += [*_norm_saved(tensor, x, elem), *part("new")] if a.norm_first else \
                [*part(tensor), *_norm_saved("new", x, elem)]
        return entries


def _norm_saved(tensor: str, x, elem) -> list:
    """A LayerNorm over [T, E]: its input (named by the entry `tensor`), its mean and its
    reciprocal deviation (T each)."""
    return [(tensor, N.mul(x[0], x[1]), elem), ("new", x[0], elem), ("new", x[0], elem)]


_LAYER_ARGS = (
    Arg("nhead", Int(1), doc="h, heads of d_model/h each"),
    Arg("dim_feedforward", Int(1), 2048, "F, the feed-forward network's width"),
    Arg("dropout", Float(0.0, 1.0), 0.1, "while training (no MACs; its masks count in training memory)"),
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
        return cls.written({"num_layers": len(module.layers), **_stack_settings(module)})


class _Decoder(_Encoder):
    """torch's decoder layers and stacks: per layer a self-attention over the target [T, E],
    a cross-attention from it to the `memory` [S, E] (an encoder's output, which the spec
    names), a feed-forward network, three LayerNorms. torch's cross-attention projects the
    memory with E-wide weights: the memory must be E wide."""

    doc_inputs = "the target [T, E] and the memory [S, E]"

    @classmethod
    def memory(cls, a, x) -> tuple:
        return tuple(a.memory.shape)

    @classmethod
    def attentions(cls, a, x) -> list:
        (t, e), (s, _) = x, cls.memory(a, x)
        d = N.floordiv(e, a.nhead)
        return [Attention(a.nhead, t, t, d, t, e), Attention(a.nhead, t, s, d, s, e)] * cls.depth(a)

    @classmethod
    def attention_layers(cls, a) -> int:
        return 2 * cls.depth(a)

    @classmethod
    def norms(cls, a) -> int:
        return 3 * cls.depth(a) + (1 if getattr(a, "norm", False) else 0)

    @classmethod
    def params(cls, a, x):
        """Each layer's two attentions, feed-forward weights and biases and three norms; the final norm."""
        e, f, b = x[1], a.dim_feedforward, 1 if a.bias else 0
        layer = N.add(N.add(N.mul(2, cls.attention_params(a, x)), N.add(N.mul(2, N.mul(e, f)), N.mul(b, N.add(f, e)))),
                      N.mul(3, N.mul(e, 1 + b)))
        return N.add(N.mul(cls.depth(a), layer), N.mul(e, 1 + b) if cls.norms(a) > 3 * cls.depth(a) else 0)

    @classmethod
    def leaf_params(cls, a, x):
        return N.sub(cls.params(a, x), N.mul(2 * cls.depth(a), cls.attention_params(a, x)))

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, (2,), ctx, "a target sequence [T, E]")
        t, e = x
        cls.check_in_size(e, ctx)
        memory = a.memory.shape
        if len(memory) != 2 or N.compare(memory[1], "!=", e):
            raise ctx.error(f"the memory '{a.memory}' is not a sequence of d_model = {N.fmt(e)} features", arg="memory",
                            expected=f"[S, {N.fmt(e)}] (torch's cross-attention projects it with E-wide weights)",
                            found=f"{list(memory)}", code="shape-mismatch")
        if N.compare(N.mod(e, a.nhead), "!=", 0):
            raise ctx.error(f"d_model {N.fmt(e)} does not divide into {N.fmt(a.nhead)} heads", arg="nhead",
                            expected=f"nhead dividing {N.fmt(e)}", found=N.fmt(a.nhead), code="invalid-layer")
        s, f, n = memory[0], a.dim_feedforward, cls.depth(a)
        fe, ft, fs, per = N.fmt(e), N.fmt(t), N.fmt(s), (f"{N.fmt(n)}·" if cls.layers_arg else "")
        lp = "L·" if per else ""
        self_proj = N.mul(n, N.mul(4, N.mul(t, N.mul(e, e))))
        self_products = N.mul(n, N.mul(2, N.mul(t, N.mul(t, e))))
        cross_proj = N.mul(n, N.mul(2, N.add(N.mul(t, N.mul(e, e)), N.mul(s, N.mul(e, e)))))
        cross_products = N.mul(n, N.mul(2, N.mul(t, N.mul(s, e))))
        ffn = cls.feedforward_macs(a, x)
        macs = N.total([self_proj, self_products, cross_proj, cross_products, ffn])
        bias = " + 8·E + F + E + 3·E" if a.bias else ""
        steps = [
            Step("params", f"{'L·(' if per else ''}8·E² + 2·E·F + 3·E{bias}{')' if per else ''}"
                           + (" + the final norm" if cls.norms(a) > 3 * n else ""), "", cls.params(a, x)),
            Step("self-attention projections (MACs)", f"{lp}4·T·E²", f"{per}4·{ft}·{fe}²", self_proj),
            Step("self-attention Q·Kᵀ and A·V (MACs)", f"{lp}2·T·T·E", f"{per}2·{ft}·{ft}·{fe}", self_products),
            Step("self-attention softmax (elements, no MACs)", f"{lp}h·T·T", f"{per}{N.fmt(a.nhead)}·{ft}·{ft}",
                 N.mul(n, N.mul(a.nhead, N.mul(t, t)))),
            Step("cross-attention projections (MACs)", f"{lp}2·(T·E² + S·E²)", f"{per}2·({ft}·{fe}² + {fs}·{fe}²)",
                 cross_proj),
            Step("cross-attention Q·Kᵀ and A·V (MACs)", f"{lp}2·T·S·E", f"{per}2·{ft}·{fs}·{fe}", cross_products),
            Step("cross-attention softmax (elements, no MACs)", f"{lp}h·T·S", f"{per}{N.fmt(a.nhead)}·{ft}·{fs}",
                 N.mul(n, N.mul(a.nhead, N.mul(t, s)))),
            Step("feed-forward (MACs)", f"{lp}2·T·E·F", f"{per}2·{ft}·{fe}·{N.fmt(f)}", ffn),
            Step("MACs", "self-attention + cross-attention + feed-forward",
                 " + ".join(N.fmt(v) for v in (self_proj, self_products, cross_proj, cross_products, ffn)), macs),
        ]
        return Result((t, e), params=cls.params(a, x), macs=macs, steps=steps)

    @classmethod
    def backward_macs(cls, a, x, result, input_grad):
        """Every product's weight and input gradients, but the first layer's self-attention
        input projection's (3·T·E²) when the target needs no gradient, and every layer's
        memory projections' (2·S·E² each) when the memory needs none."""
        (t, e), s = x, a.memory.shape[0]
        skipped = N.add(0 if input_grad else N.mul(3, N.mul(t, N.mul(e, e))),
                        0 if a.memory.grad else N.mul(cls.depth(a), N.mul(2, N.mul(s, N.mul(e, e)))))
        return N.sub(N.mul(2, result.macs), skipped)

    @classmethod
    def kv_cache(cls, a, x):
        """Each layer's self-attention keys and values, E each per token (the memory's are
        computed once per sequence)."""
        return N.mul(cls.depth(a), N.mul(2, x[-1]))

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """Each layer's tensors (see layer_saved), its cross-attention copying the memory the
        spec names for its K, V projection at a batch of several (at batch 1 it reads the
        memory itself: one tensor for every layer), and the final norm's."""
        return cls.stack_saved(a, x, elem, "input", "arg:memory", (cls.memory(a, x)[0], x[1]))


_MEMORY = Arg("memory", Tensor(), doc="the encoder's output [S, E] it attends to: a spec input or an earlier layer")


def _decoder_layer(a, e: int):
    from torch import nn

    return nn.TransformerDecoderLayer(e, a.nhead, a.dim_feedforward, a.dropout, a.activation, a.layer_norm_eps,
                                      batch_first=True, norm_first=a.norm_first, bias=a.bias)


@register
class TransformerDecoderLayer(_Decoder):
    """Self-attention over the target, cross-attention to the memory, a feed-forward network,
    each added to its input, post-norm (LayerNorm after each sum) or pre-norm (norm_first)."""

    kind = "transformer_decoder_layer"
    torch_classes = ("TransformerDecoderLayer",)
    doc = ("self-attention, cross-attention to a memory and a feed-forward network with residuals and LayerNorms "
           "(nn.TransformerDecoderLayer)")
    args = (_MEMORY,) + _LAYER_ARGS

    @classmethod
    def torch_module(cls, a, x):
        return _decoder_layer(a, x[-1])  # called as layer(tgt, memory)

    @classmethod
    def imported_module_call(cls, tensors, others, kwargs):
        return _decoder_call(tensors, others, kwargs)

    @classmethod
    def from_torch(cls, module) -> dict:
        return cls.written(_layer_from_torch(module))


@register
class TransformerDecoder(_Decoder):
    """num_layers decoder layers of one configuration, each attending to the same memory, and
    a final LayerNorm when `norm`."""

    kind = "transformer_decoder"
    torch_classes = ("TransformerDecoder",)
    doc = "a stack of num_layers transformer decoder layers, a final LayerNorm with norm (nn.TransformerDecoder)"
    layers_arg = "num_layers"
    args = (Arg("num_layers", Int(1), doc="L, decoder layers"), _MEMORY) + _LAYER_ARGS[:-1] + (
        Arg("norm", Bool(), False, "a LayerNorm after the last layer"),) + _LAYER_ARGS[-1:]

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        norm = nn.LayerNorm(x[-1], a.layer_norm_eps, bias=a.bias) if a.norm else None
        return nn.TransformerDecoder(_decoder_layer(a, x[-1]), a.num_layers, norm=norm)  # called as (tgt, memory)

    @classmethod
    def imported_module_call(cls, tensors, others, kwargs):
        return _decoder_call(tensors, others, kwargs)

    @classmethod
    def from_torch(cls, module) -> dict:
        return cls.written({"num_layers": len(module.layers), **_stack_settings(module)})


def _decoder_call(tensors, others, kwargs) -> dict:
    """`decoder(tgt, memory, ...)`: the memory a tensor argument; masks (tgt_mask,
    tgt_is_causal, ...) change no count, as torch counts them: read as without."""
    if len(tensors) < 2:
        raise Untranslatable("is called without a memory: decoder(tgt, memory)")
    return {"memory": tensors[1]}


def _stack_settings(module) -> dict:
    """One setting of a stack's layers (they must agree), and whether a final LayerNorm follows."""
    layers = list(module.layers)
    settings = [_layer_from_torch(layer) for layer in layers]
    if any(s != settings[0] for s in settings[1:]):
        raise Untranslatable("its layers differ in their settings; archcalc's transformer stacks repeat one")
    norm = module.norm
    if norm is not None and (type(norm).__name__ != "LayerNorm" or norm.eps != settings[0]["layer_norm_eps"]
                             or (norm.bias is not None) != settings[0]["bias"]):
        raise Untranslatable("its final norm is not a LayerNorm with the layers' eps and bias")
    return {**settings[0], "norm": norm is not None}


class _Stack:
    """The transformer's arguments as one of its stacks' (num_layers, norm, memory set)."""

    def __init__(self, a, **given):
        self._a, self._given = a, given

    def __getattr__(self, name):
        given = self.__dict__.get("_given", {})
        return given[name] if name in given else getattr(self._a, name)


@register
class Transformer(LayerKind):
    """torch's encoder-decoder (nn.Transformer): the source [S, E] (`src`, a spec input or an
    earlier layer) through num_encoder_layers encoder layers and a LayerNorm, that memory
    attended to by num_decoder_layers decoder layers on the target [T, E] (the input), and a
    LayerNorm: out [T, E]. Its parts are the two stacks' (transformer_encoder, transformer_decoder)."""

    kind = "transformer"
    family = "transformer"
    weighted = True
    in_arg = "d_model"
    torch_classes = ("Transformer",)
    doc = ("an encoder-decoder transformer on a target [T, E] and a source src [S, E] (nn.Transformer; its "
           "forward(src, tgt))")
    args = (Arg("src", Tensor(), doc="the source sequence [S, E] the encoder reads: a spec input or an earlier layer"),
            Arg("num_encoder_layers", Int(1), 6, "encoder layers"),
            Arg("num_decoder_layers", Int(1), 6, "decoder layers"),) + _LAYER_ARGS

    @classmethod
    def encoder(cls, a) -> _Stack:
        return _Stack(a, num_layers=a.num_encoder_layers, norm=True)

    @classmethod
    def decoder(cls, a) -> _Stack:
        memory = TensorRef("memory", a.src.shape, "float", True)  # the encoder's output: it has weights
        return _Stack(a, num_layers=a.num_decoder_layers, norm=True, memory=memory)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        src = tuple(a.src.shape)
        if len(src) != 2 or len(x) != 2 or N.compare(src[1], "!=", x[-1]):
            raise ctx.error(f"the source '{a.src}' and the target are not sequences of one width", arg="src",
                            expected="src [S, E] and the target [T, E] with one E", found=f"src {list(src)}, "
                            f"target {list(x)}", code="shape-mismatch")
        enc = TransformerEncoder.infer(src, cls.encoder(a), ctx)
        dec = TransformerDecoder.infer(x, cls.decoder(a), ctx)
        steps = [*(replace(s, quantity=f"encoder {s.quantity}", formula=s.formula.replace("T", "S")) for s in enc.steps),
                 *(replace(s, quantity=f"decoder {s.quantity}") for s in dec.steps)]
        params, macs = N.add(enc.params, dec.params), N.add(enc.macs, dec.macs)
        steps.append(Step("params", "encoder + decoder", f"{N.fmt(enc.params)} + {N.fmt(dec.params)}", params))
        steps.append(Step("MACs", "encoder + decoder", f"{N.fmt(enc.macs)} + {N.fmt(dec.macs)}", macs))
        return Result(tuple(x), params=params, macs=macs, steps=steps)

    @classmethod
    def _both(cls, name: str, a, x):
        """The encoder's figure on the source and the decoder's on the target, summed (a list joined)."""
        enc = getattr(TransformerEncoder, name)(cls.encoder(a), a.src.shape)
        dec = getattr(TransformerDecoder, name)(cls.decoder(a), x)
        return enc + dec if isinstance(enc, list) else N.add(enc, dec)

    @classmethod
    def attentions(cls, a, x) -> list:
        return cls._both("attentions", a, x)

    @classmethod
    def norm_elements(cls, a, x):
        return cls._both("norm_elements", a, x)

    @classmethod
    def feedforward_macs(cls, a, x):
        return cls._both("feedforward_macs", a, x)

    @classmethod
    def leaf_params(cls, a, x):
        return cls._both("leaf_params", a, x)

    @classmethod
    def bias_adds(cls, a, out):
        return cls._both("bias_adds", a, out)

    @classmethod
    def affine(cls, a) -> bool:
        return True

    @classmethod
    def backward_macs(cls, a, x, result, input_grad):
        """Every product's gradients, but the first encoder layer's input projection's input
        gradient (3·S·E²) when the source needs none, and the first decoder layer's (3·T·E²)
        when the target needs none (the memory always does: the encoder has weights)."""
        (s, e), t = a.src.shape, x[0]
        skipped = N.add(0 if a.src.grad else N.mul(3, N.mul(s, N.mul(e, e))),
                        0 if input_grad else N.mul(3, N.mul(t, N.mul(e, e))))
        return N.sub(N.mul(2, result.macs), skipped)

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """The encoder stack's tensors on the source the spec names (src), then the decoder
        stack's on the target, each layer's cross-attention copying the encoder's output at a
        batch of several (at batch 1 it reads that output itself: one tensor, "new:memory",
        for every decoder layer); see layer_saved."""
        src = tuple(a.src.shape)
        encoder = TransformerEncoder.stack_saved(cls.encoder(a), src, elem, "arg:src")
        decoder = TransformerDecoder.stack_saved(cls.decoder(a), x, elem, "input", "new:memory", (src[0], x[1]))
        return None if encoder is None or decoder is None else encoder + decoder

    @classmethod
    def kv_cache(cls, a, x):
        """The decoder's self-attention keys and values, E each per layer and token."""
        return TransformerDecoder.kv_cache(cls.decoder(a), x)

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import EncoderDecoder

        return EncoderDecoder(x[-1], a)

    @classmethod
    def imported_module_call(cls, tensors, others, kwargs):
        """`transformer(src, tgt, ...)`: the target is the layer's input, the source a tensor
        argument; masks change no count, as torch counts them: read as without."""
        if len(tensors) < 2:
            raise Untranslatable("is called without a target: transformer(src, tgt)")
        return {"src": tensors[0], FLOW: tensors[1]}

    @classmethod
    def from_torch(cls, module) -> dict:
        encoder, decoder = _stack_settings(module.encoder), _stack_settings(module.decoder)
        if not (encoder["norm"] and decoder["norm"]) or {**encoder, "norm": 1} != {**decoder, "norm": 1}:
            raise Untranslatable("its encoder and decoder differ in their settings or lack their final LayerNorms "
                                 "(a custom encoder or decoder)")
        del encoder["norm"]
        return cls.written({"num_encoder_layers": len(module.encoder.layers),
                            "num_decoder_layers": len(module.decoder.layers), **encoder})
