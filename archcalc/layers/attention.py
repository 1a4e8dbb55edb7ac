"""Attention: multihead_attention (torch.nn.MultiheadAttention: self-attention, or
cross-attention to a `memory` the spec names) and
scaled_dot_product_attention (F.scaled_dot_product_attention, a merge of the q, k and v
branches).

Every product is counted, the attention's own included: for a sequence of T queries over S
keys, h heads of d = E/h, Q·Kᵀ takes h·T·S·d MACs and A·V as many again, beside the
projections' T·E² each. That T·S term is what every peer tool gets wrong (torchinfo counts
the projections' weights once per sample, fvcore skips the products inside the module,
thop counted nothing before 2026). FLOPs are torch's FlopCounterMode's: 2 per MAC, the
softmax and the 1/√d scaling free, and a causal mask changes nothing (torch counts the full
T×S products; a causal kernel skips about half, which the derivation states beside).
`verify` runs torch's math path, which FlopCounterMode counts (its native fast path and the
CPU's flash kernel read 0; the built module's FLOPs are the same on CUDA's flash kernels).
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers import strides as S
from archcalc.layers.args import Arg, Bool, Float, Int, Nullable, PerAxis, Tensor
from archcalc.layers.base import Attention, Context, LayerKind, MergeKind, Result, Step, Untranslatable
from archcalc.layers.registry import register


def _kept_causal(queries, keys):
    """Score entries a causal mask keeps (torch's is_causal: query i sees keys 0 … i, the mask
    aligned top-left): T·(T + 1)/2 for T queries over as many keys, Σ min(i + 1, S) otherwise;
    None when that sum is symbolic."""
    if N.compare(queries, "==", keys):
        return N.floordiv(N.mul(queries, N.add(queries, 1)), 2)
    if N.is_symbolic(queries) or N.is_symbolic(keys):
        return None
    full = min(queries, keys)
    return full * (full + 1) // 2 + max(queries - keys, 0) * keys


def _causal_step(queries, keys, product_macs) -> list[Step]:
    """What a causal kernel (flash attention) skips of the two products: their masked share,
    (T − 1)/(2T) of them for T queries over T keys. torch's FlopCounterMode counts them whole."""
    kept = _kept_causal(queries, keys)
    if kept is None:
        return []
    total = N.mul(queries, keys)
    skipped = N.true_div(N.mul(product_macs, N.sub(total, kept)), total)
    return [Step("a causal kernel skips (MACs, not subtracted)", "(Q·Kᵀ + A·V)·masked/(L·S)",
                 f"{N.fmt(product_macs)}·{N.fmt(N.sub(total, kept))}/{N.fmt(total)}", skipped)]


@register
class MultiheadAttention(LayerKind):
    """Attention of a sequence [T, E] to itself, or (cross-attention) to a `memory` [S, E_kv]
    the spec names (an encoder's output): Q = x·W_q, K = m·W_k, V = m·W_v (m = x for
    self-attention; torch's packed in_proj, or separate q/k/v weights when kdim/vdim differ
    from E), h heads each softmax(Q_i·K_iᵀ/√d)·V_i, joined and projected by out_proj.
    add_bias_kv appends a learned key and value, add_zero_attn a zero one: S grows by those."""

    kind = "multihead_attention"
    family = "attention"
    weighted = True
    in_arg = "embed_dim"
    torch_classes = ("MultiheadAttention",)
    doc = ("multi-head attention over a sequence [T, E] (torch.nn.MultiheadAttention): self-attention, or "
           "cross-attention to a memory [S, E_kv] (key = value = memory)")
    args = (
        Arg("num_heads", Int(1), doc="h; embed_dim must divide into h heads of d = E/h"),
        Arg("dropout", Float(0.0, 1.0), 0.0,
            "on the attention weights while training (no MACs; its mask counts in training memory)"),
        Arg("bias", Bool(), True, "the projections' biases"),
        Arg("add_bias_kv", Bool(), False, "a learned key and value appended to the sequence (S = T + 1)"),
        Arg("add_zero_attn", Bool(), False, "a zero key and value appended (S = T + 1)"),
        Arg("need_weights", Bool(), False, "the call also returns the head-averaged attention weights (torch's "
                                           "forward default): torch's count is the same, some peer tools' is not"),
        Arg("embed_dim", Nullable(Int(1)), None, "E, inferred from the input's last axis, checked when written"),
        Arg("memory", Nullable(Tensor()), None, "cross-attention: the input or earlier layer [S, E_kv] the keys and "
                                                "values come from (torch's attn(x, memory, memory)); none: x itself"),
        Arg("kdim", Nullable(Int(1)), None, "the keys' features E_kv, inferred from the memory, checked when written"),
        Arg("vdim", Nullable(Int(1)), None, "the values' features, the memory's too (key = value = memory)"),
    )

    @classmethod
    def source(cls, a, x) -> tuple:
        """(S, E_kv): the length and width the keys and values are projected from: the memory's,
        or the input's for self-attention."""
        return tuple(a.memory.shape) if a.memory is not None else tuple(x)

    @classmethod
    def keys(cls, a, t):
        """S': the keys each query attends to, the sequence and any key appended."""
        return N.add(t, int(a.add_bias_kv) + int(a.add_zero_attn))

    @classmethod
    def attention_shape(cls, a, x) -> tuple:
        """(heads h, queries T, keys S', head size d) on an input [T, E]: what the peer tools'
        attention rules are written in."""
        return a.num_heads, x[0], cls.keys(a, cls.source(a, x)[0]), N.floordiv(x[1], a.num_heads)

    @classmethod
    def attentions(cls, a, x) -> list:
        src, ekv = cls.source(a, x)
        h, t, s, d = cls.attention_shape(a, x)
        return [Attention(h, t, s, d, src, ekv)]

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, (2,), ctx, "a sequence [T, E]", hint="a sequence of T vectors of E features")
        t, e = x
        cls.check_in_size(e, ctx)
        h = a.num_heads
        if N.compare(N.mod(e, h), "!=", 0):
            raise ctx.error(f"embed_dim {N.fmt(e)} does not divide into {N.fmt(h)} heads", arg="num_heads",
                            expected=f"num_heads dividing {N.fmt(e)}", found=f"{N.fmt(h)}", code="invalid-layer")
        cross = a.memory is not None
        if cross and len(a.memory.shape) != 2:
            raise ctx.error(f"the memory '{a.memory}' is not a sequence", arg="memory", expected="[S, E_kv]",
                            found=f"{list(a.memory.shape)}", code="shape-mismatch")
        src, ekv = cls.source(a, x)
        for name in ("kdim", "vdim"):
            given = getattr(a, name)
            if given is not None and N.compare(given, "!=", ekv):
                raise ctx.error(f"{name} {N.fmt(given)} is not the {'memory' if cross else 'input'}'s width "
                                f"{N.fmt(ekv)}", arg=name, expected=f"{name}: {N.fmt(ekv)} (or leave it out)",
                                found=N.fmt(given), hint=None if cross else "give the memory: (cross-attention)",
                                code="shape-mismatch")
        s = cls.keys(a, src)
        d = N.floordiv(e, h)
        b = 1 if a.bias else 0
        kv = 2 if a.add_bias_kv else 0
        params = N.add(N.add(N.mul(2, N.mul(e, N.add(e, b))), N.mul(2, N.mul(e, N.add(ekv, b)))), N.mul(kv, e))
        q_proj, out_proj = N.mul(t, N.mul(e, e)), N.mul(t, N.mul(e, e))
        kv_proj = N.mul(2, N.mul(src, N.mul(ekv, e)))
        scores = N.mul(h, N.mul(t, N.mul(s, d)))
        macs = N.add(N.add(N.add(q_proj, kv_proj), out_proj), N.mul(2, scores))
        st = "S'" if (a.add_bias_kv or a.add_zero_attn) else "S" if cross else "T"
        fe, ft, fs = N.fmt(e), N.fmt(t), N.fmt(s)
        steps = [cls._params_step(e, ekv, b, kv, params, cross)]
        if cross:
            steps.append(Step("Q projection (MACs)", "T·E²", f"{ft}·{fe}²", q_proj))
            steps.append(Step("K, V projections (MACs)", "2·S·E_kv·E", f"2·{N.fmt(src)}·{N.fmt(ekv)}·{fe}", kv_proj))
        else:
            steps.append(Step("Q, K, V projections (MACs)", "3·T·E²", f"3·{ft}·{fe}²", N.add(q_proj, kv_proj)))
        steps += [
            Step("Q·Kᵀ (MACs)", f"h·T·{st}·d", f"{N.fmt(h)}·{ft}·{fs}·{N.fmt(d)}", scores),
            Step("softmax (elements, no MACs)", f"h·T·{st}", f"{N.fmt(h)}·{ft}·{fs}", N.mul(h, N.mul(t, s))),
            Step("A·V (MACs)", f"h·T·{st}·d", f"{N.fmt(h)}·{ft}·{fs}·{N.fmt(d)}", scores),
            Step("output projection (MACs)", "T·E²", f"{ft}·{fe}²", out_proj),
        ]
        if cross:
            steps.append(Step("MACs", f"2·T·E² + 2·S·E_kv·E + 2·T·{st}·E",
                              f"2·{ft}·{fe}² + 2·{N.fmt(src)}·{N.fmt(ekv)}·{fe} + 2·{ft}·{fs}·{fe}", macs))
        else:
            steps.append(Step("MACs", f"4·T·E² + 2·T·{st}·E", f"4·{ft}·{fe}² + 2·{ft}·{fs}·{fe}", macs))
        return Result((t, e), params=params, macs=macs, steps=steps)

    @classmethod
    def _params_step(cls, e, ekv, b, kv, params, cross) -> Step:
        bias, extra = (" + 1" if b else ""), (" + 2·E" if kv else "")
        fe = N.fmt(e)
        if not cross and N.compare(e, "==", ekv):
            return Step("params", f"4·E·(E{bias}){extra}", f"4·{fe}·({fe}{bias})" + (f" + 2·{fe}" if kv else ""),
                        params)
        return Step("params", f"2·E·(E{bias}) + 2·E·(E_kv{bias}){extra}",
                    f"2·{fe}·({fe}{bias}) + 2·{fe}·({N.fmt(ekv)}{bias})" + (f" + 2·{fe}" if kv else ""), params)

    @classmethod
    def backward_macs(cls, a, x, result, input_grad):
        """Every product's weight and input gradients (the four projections' weights; the
        attention's Q, K, A and V, all computed from weights), and the input projections'
        input gradients only for an input that needs one: T·E² for the query's (3·T·E² with
        K and V, in self-attention), 2·S·E_kv·E for the memory's."""
        t, e = x
        if a.memory is None:
            return N.sub(N.mul(2, result.macs), 0 if input_grad else N.mul(3, N.mul(t, N.mul(e, e))))
        src, ekv = a.memory.shape
        skipped = N.add(0 if input_grad else N.mul(t, N.mul(e, e)),
                        0 if a.memory.grad else N.mul(2, N.mul(src, N.mul(ekv, e))))
        return N.sub(N.mul(2, result.macs), skipped)

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # every position sees the whole sequence

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """What torch keeps for one call while training, on its math path (see saved): the
        input, the memory for cross-attention (each as the copy a batch of several makes),
        the tensors holding the keys and values, the scaled q (and k), the attention weights
        (h·T·S': the matrix a flash kernel does not keep; with dropout also its mask and the
        dropped weights) and the heads' joined output."""
        memory = "arg:memory" if a.memory is not None else None
        if memory and N.compare(cls.source(a, x)[1], "==", x[1]) is None:
            return None  # whether torch packs the K, V projection (E_kv = E) depends on the sizes' values
        return cls.saved(x, "input", memory, cls.source(a, x) if memory else None, a.num_heads, elem,
                         dropout=a.dropout, need_weights=a.need_weights,
                         appended=int(a.add_bias_kv) + int(a.add_zero_attn))

    @classmethod
    def saved(cls, x, query: str, memory: str | None, source, heads, elem, *, dropout=0.0, need_weights=False,
              appended: int = 0) -> list:
        """What torch's nn.MultiheadAttention (batch first, training, the math path of
        F.multi_head_attention_forward and scaled_dot_product_attention) keeps for a query
        [T, E] that the saved-list entry `query` names, attending to itself (memory None) or
        to the tensor `memory` names, of shape `source` [S, E_kv] (measured with saved-tensor
        hooks):
        - the projections' inputs, as the contiguous copy that the batch-first transpose makes
          at a batch of several (the tensor itself at batch 1, or for a sequence of one
          position, whose transpose is read as it is; a length left symbolic is taken to be
          longer): the query's, and the memory's, once for the packed K, V projection
          (E_kv = E), once for each of K and V otherwise;
        - the tensor V is a view of: self-attention's packed q, k, v [3, T, E], cross-
          attention's packed k, v [2, S, E], or V's own [S, E] (separate projections); with a
          key and value appended (add_bias_kv, add_zero_attn) V's concatenated copy [S', E];
        - the scaled q [T, E]; without need_weights (scaled_dot_product_attention's math
          kernel) the scaled k [S', E] too; with need_weights the product reads k unscaled, a
          view of the tensor above or, where that holds V alone, k's own [S or S', E];
        - the attention weights h·T·S' (softmax's output); with dropout its mask and the
          dropped weights as well (see dropout_saved);
        - the heads' joined output [T, E], the output projection's input."""
        t, e = x
        s, ekv = (t, e) if memory is None else source
        keys = N.add(s, appended)
        entries = [(cls.copied(query, t), N.mul(t, e), elem)]
        packed = memory is None or N.compare(ekv, "==", e)
        if memory is not None:
            entries += [(cls.copied(memory, s), N.mul(s, ekv), elem)] * (1 if packed else 2)
        if appended:
            kv = [("new", N.mul(keys, e), elem)] * (2 if need_weights else 1)
        elif memory is None:
            kv = [("new", N.mul(3, N.mul(t, e)), elem)]
        elif packed:
            kv = [("new", N.mul(2, N.mul(s, e)), elem)]
        else:
            kv = [("new", N.mul(s, e), elem)] * (2 if need_weights else 1)
        weights = N.mul(heads, N.mul(t, keys))
        dropped = [] if dropout == 0 else [*cls.dropout_saved(dropout, weights, elem), ("new", weights, elem)]
        return [*entries, *kv, ("new", N.mul(t, e), elem), *([] if need_weights else [("new", N.mul(keys, e), elem)]),
                ("new", weights, elem), *dropped, ("new", N.mul(t, e), elem)]

    @staticmethod
    def copied(tensor: str, length) -> str:
        """The saved-list entry for what a projection reads of the batch-first sequence the
        entry `tensor` names, transposed to sequence first and flattened: torch's copy
        ("copy:", a tensor of its own at a batch of several), but for a sequence of one
        position, whose transpose is flattened as a view: the tensor itself."""
        return tensor if N.compare(length, "==", 1) else f"copy:{tensor}"

    @staticmethod
    def dropout_saved(p, elements, elem) -> list:
        """What torch's dropout keeps while training, as ATen's _dropout_impl (the CPU's) does:
        nothing at p = 0 (it returns its input), the zero scalar it multiplies by at p = 1,
        otherwise the scaled noise, a mask of the input's dtype (CUDA's fused kernel,
        native_dropout, keeps a bool mask of 1 byte an element instead: archcalc counts the
        CPU's, which the tests measure)."""
        if p == 0:
            return []
        if p == 1:
            return [("stat", 1, elem)]
        return [("new", elements, elem)]

    @classmethod
    def kv_cache(cls, a, x):
        """Each token's key and value, E each (after their projections). Cross-attention adds
        none per token: the memory's keys and values are computed once per sequence."""
        return 0 if a.memory is not None else N.mul(2, x[-1])

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import SelfAttention

        return SelfAttention(x[-1], a)

    @classmethod
    def from_torch(cls, module) -> dict:
        if not getattr(module, "batch_first", False):
            raise Untranslatable("MultiheadAttention(batch_first=False): specs put the batch first ([T, E] per "
                                 "sample); construct it with batch_first=True")
        if module.kdim != module.vdim:
            raise Untranslatable(f"MultiheadAttention with kdim {module.kdim} and vdim {module.vdim}: archcalc's "
                                 "multihead_attention attends to one memory, its keys and values (kdim = vdim)")
        return cls.written({"num_heads": module.num_heads, "dropout": module.dropout,
                            "bias": module.in_proj_bias is not None, "add_bias_kv": module.bias_k is not None,
                            "add_zero_attn": module.add_zero_attn})

    @classmethod
    def imported_module_call(cls, tensors, others, kwargs):
        """`attn(x, x, x, need_weights=False)`: self-attention; `attn(x, m, m)`: cross-attention
        to the memory m; need_weights as called (torch's default True). A mask (attn_mask,
        key_padding_mask, is_causal) changes no count, as torch counts it: read as without."""
        if len(tensors) < 3 or tensors[1] is not tensors[2]:
            raise Untranslatable("is called with a key and a value that differ: archcalc's multihead_attention "
                                 "attends to one sequence, attn(x, x, x), or one memory, attn(x, m, m)")
        need = kwargs.get("need_weights", others[0] if others else True)
        if not isinstance(need, bool):
            raise Untranslatable("is called with need_weights computed in forward")
        return ({"need_weights": True} if need else {}) | ({"memory": tensors[1]} if tensors[1] is not tensors[0]
                                                             else {})

    @classmethod
    def imported_index(cls, args, part, index):
        """`out, weights = attn(x, x, x)`: index 0 is the layer's output."""
        if part is None and index == 0:
            return "output", {}
        raise Untranslatable(f"reads [{index!r}] of the attention's (output, weights): archcalc follows the output")


@register
class ScaledDotProductAttention(MergeKind):
    """softmax(Q·Kᵀ·scale + mask)·V of three branches, q [..., L, E], k [..., S, E] and
    v [..., S, Ev], the leading axes broadcasting (heads, or with enable_gqa fewer key/value
    heads, each shared by a group of query heads): output [..., L, Ev]."""

    kind = "scaled_dot_product_attention"
    family = "attention"
    symbol, dot_label = "attn", "attn"
    doc = "softmax(Q·Kᵀ/√d)·V of its q, k and v branches (F.scaled_dot_product_attention)"
    args = MergeKind.args + (
        Arg("is_causal", Bool(), False, "query i sees keys 0 … i (counted whole, as torch counts it)"),
        Arg("dropout_p", Float(0.0, 1.0), 0.0, "on the attention weights (no cost counted)"),
        Arg("scale", Nullable(Float()), None, "default 1/√E"),
        Arg("enable_gqa", Bool(), False, "grouped-query attention: k and v have fewer heads (axis -3)"),
        Arg("attn_mask", Nullable(Tensor()), None, "a mask added to (or, boolean, filtering) the scores: an input or "
                                                   "earlier layer broadcasting to [..., L, S]; no count changes"),
    )
    torch_functions = ("scaled_dot_product_attention",)

    @classmethod
    def combine(cls, shapes, a, ctx: Context) -> Result:
        q, k, v = _checked(shapes, ctx)
        lead = _heads(q, k, v, a.enable_gqa, ctx, shapes)
        heads = N.product(lead)
        big_l, s, e, ev = q[-2], k[-2], q[-1], v[-1]
        qk = N.mul(heads, N.mul(big_l, N.mul(s, e)))
        if a.attn_mask is not None:  # added to the scores, broadcasting: torch's output grows with a larger mask
            if a.is_causal:
                raise ctx.error("has both an attn_mask and is_causal", arg="attn_mask",
                                expected="one of them (torch refuses both)", code="invalid-layer")
            *lead, big_l, _ = _masked(a.attn_mask, (*lead, big_l, s), ctx)
            heads = N.product(lead)
        av = N.mul(heads, N.mul(big_l, N.mul(s, ev)))
        hs = "·".join(N.fmt(d) for d in lead) + "·" if lead else ""
        h = "heads·" if lead else ""
        steps = [Step("Q·Kᵀ (MACs)", f"{h}L·S·E", f"{hs}{N.fmt(big_l)}·{N.fmt(s)}·{N.fmt(e)}", qk),
                 Step("softmax (elements, no MACs)", f"{h}L·S", f"{hs}{N.fmt(big_l)}·{N.fmt(s)}",
                      N.mul(heads, N.mul(big_l, s))),
                 Step("A·V (MACs)", f"{h}L·S·Ev", f"{hs}{N.fmt(big_l)}·{N.fmt(s)}·{N.fmt(ev)}", av),
                 Step("MACs", "Q·Kᵀ + A·V", f"{N.fmt(qk)} + {N.fmt(av)}", N.add(qk, av))]
        if a.is_causal:
            steps += _causal_step(big_l, s, N.add(qk, av))
        return Result((*lead, big_l, ev), macs=N.add(qk, av), steps=steps)

    @classmethod
    def merge_backward_macs(cls, a, shapes, result, grads):
        """dQ = dS·K and dK = dSᵀ·Q (as many MACs as Q·Kᵀ each), dA = dO·Vᵀ and dV = Aᵀ·dO
        (as A·V each): each only where its branch, or the scores, need a gradient."""
        q, k, v = shapes
        qk_share = N.true_div(N.mul(result.macs, q[-1]), N.add(q[-1], v[-1]))
        av_share = N.sub(result.macs, qk_share)
        gq, gk, gv = grads
        return N.add(N.mul(qk_share, int(gq) + int(gk)), N.mul(av_share, int(gq or gk) + int(gv)))

    @classmethod
    def merge_attention_shape(cls, a, shapes):
        """(query heads, L, S, E) from q, k and v: the products run over every query head."""
        q, k, _ = shapes
        return N.product(q[:-2]), q[-2], k[-2], q[-1]

    @classmethod
    def merge_kv_cache(cls, a, shapes):
        """Each key position's k and v over their own heads (fewer under grouped-query attention)."""
        _, k, v = shapes
        return N.add(N.product((*k[:-2], k[-1])), N.product((*v[:-2], v[-1])))

    @classmethod
    def merge_receptive_field(cls, a, fields):
        return None, None

    @classmethod
    def merge_saved_for_backward(cls, a, shapes, out, elem, grads, layouts=None):
        """torch's math kernel (a flash kernel keeps less): with enable_gqa, k and v repeated
        to q's heads (new contiguous tensors) where their heads differ; q·√scale and kᵀ·√scale
        (new), for the product Q·Kᵀ, which keeps each where the other needs a gradient; the
        softmax's output A (h·L·S), kept where the scores need a gradient; with dropout_p, the
        noise it multiplies A by (where the scores need a gradient) and the dropped weights
        (where v does); v, where the scores need a gradient. torch.matmul reshapes each factor
        to [batch·heads, rows, columns]: a view of the factor where its strides allow, else a
        copy, and the product keeps what it multiplies. So v is kept as itself (its whole
        storage: all of c_attn's output where it is a slice) when it is laid out heads first,
        and as a copy when the spec's rows made it a transposed view ([T, h, d] → [h, T, d]);
        a factor broadcast over heads is copied at its broadcast size (or, where the batch is
        1, kept as it is). None where a layout that decides it is unknown."""
        if not layouts or layouts[0][0] is None:
            return None
        batch = layouts[0][0][0]
        (q, k, v), (kl, vl), repeated = _repeated_kv(a, shapes, layouts[1:], batch)
        gq, gk, gv = grads
        scores_grad = gq or gk
        qk_lead = [d if N.compare(d, "!=", 1) else e for d, e in zip(q[:-2], k[:-2])]
        lead = [d if N.compare(d, "!=", 1) else e for d, e in zip(qk_lead, v[:-2])]
        big_l, s_, e = q[-2], k[-2], q[-1]
        entries = []
        if gk:  # q·√scale, for kᵀ's gradient
            q_sizes = (batch, *q)
            entries.append(_kept_factor(q_sizes, S.elementwise(q_sizes, [layouts[0]]), qk_lead, elem))
        if gq:  # kᵀ·√scale, for q's gradient
            kt = (batch, *k[:-2], e, s_)
            kt_strides = None if kl[1] is None else (*kl[1][:-2], kl[1][-1], kl[1][-2])
            entries.append(_kept_factor(kt, S.elementwise(kt, [(kt, kt_strides)]), qk_lead, elem))
        weights = ("new", N.product((*qk_lead, big_l, s_)), elem)
        if scores_grad:
            entries += [weights] * (2 if a.dropout_p else 1)  # the softmax's output (and dropout's noise)
        if gv:
            a_sizes = (batch, *qk_lead, big_l, s_)
            dropped = _kept_factor(a_sizes, S.contiguous(a_sizes), lead, elem)
            if a.dropout_p or dropped != weights or not scores_grad:
                entries.append(dropped)  # the dropped weights (or a broadcast copy; else the softmax's output)
        if scores_grad:
            entries.append(_kept_factor(*vl, lead, elem) if repeated[1] else _kept_v(*vl, lead, elem))
        return None if None in entries else entries

    @classmethod
    def torch_combine(cls, a, outputs, attn_mask=None):
        import torch.nn.functional as F

        q, k, v = outputs
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=a.dropout_p,
                                              is_causal=a.is_causal, scale=a.scale, enable_gqa=a.enable_gqa)

    @classmethod
    def imported_merge(cls, args, kwargs, name=None):
        """F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa=…):
        a mask the model's data flows into (an input, a layer's output) is a tensor argument."""
        if len(args) < 3:
            raise Untranslatable("is called without a query, key and value")
        names = ("attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
        given = dict(zip(names, args[3:])) | {n: kwargs[n] for n in names if n in kwargs}
        if given.get("attn_mask") is None:
            given.pop("attn_mask", None)
        return list(args[:3]), cls.written({k: v for k, v in given.items() if k != "attn_mask"}) | (
            {"attn_mask": given["attn_mask"]} if "attn_mask" in given else {})


def _repeated_kv(a, shapes, layouts, batch):
    """q, k and v, and k's and v's layouts, after torch's math kernel repeats k and v to q's
    heads (axis -3) under enable_gqa where their heads differ (new contiguous tensors), and
    which of k and v it repeated."""
    q, k, v = shapes
    out, repeated = [k, v], [False, False]
    layouts = list(layouts)
    for i, t in enumerate((k, v)):
        if a.enable_gqa and len(q) >= 3 and N.compare(t[-3], "!=", q[-3]):
            out[i] = (*t[:-3], q[-3], *t[-2:])
            layouts[i] = ((batch, *out[i]), S.contiguous((batch, *out[i])))
            repeated[i] = True
    return (q, *out), layouts, repeated


def _kept_factor(sizes, strides, lead, elem):
    """What torch.matmul's batched product keeps of a factor of these sizes (batch first) that
    is broadcast to the leading axes `lead` (per sample): itself or its copy at the broadcast
    size, both new here (q·√scale, kᵀ·√scale, the attention weights, a repeated or copied v);
    None where a layout that decides it is unknown."""
    broadcast = N.product((*lead, *sizes[-2:]))
    if all(N.compare(d, "==", e) for d, e in zip(sizes[1:-2], lead)):
        return "new", broadcast, elem  # no broadcast: its size either way
    own = S.batched_operand(sizes, strides, (sizes[0], *lead))
    return None if own is None else ("new", N.product(sizes[1:]) if own else broadcast, elem)


def _kept_v(sizes, strides, lead, elem):
    """v as the product A·V keeps it: itself ("input:2", its whole storage) where its reshape
    to [batch·heads, S, Ev] is a view, else a copy at the broadcast size; None where unknown."""
    own = S.batched_operand(sizes, strides, (sizes[0], *lead))
    if own is None:
        return None
    return ("input:2", N.product(sizes[1:]), elem) if own else ("new", N.product((*lead, *sizes[-2:])), elem)


def _window_scores(windows: tuple) -> list:
    """Window attention's scores: every window's h heads of N×N in one tensor (torch's
    [batch·windows, h, N, N]), per sample."""
    count, heads, n, _ = windows
    return [N.mul(count, N.mul(heads, N.mul(n, n)))]


def _masked(mask, scores: tuple, ctx: Context) -> tuple:
    """The scores [..., L, S] plus the mask, broadcast as torch broadcasts them: one rank per
    sample (the batch axes line up in front), each axis equal or 1; the mask's S equal or 1."""
    shape = tuple(mask.shape)
    if len(shape) != len(scores):
        raise ctx.error(f"the mask '{mask}' has {len(shape)} axes per sample, the scores {len(scores)}: the batch "
                        "axes would not line up", arg="attn_mask", expected=f"{len(scores)} axes, [..., L, S], "
                        "each equal to the scores' or 1", found=f"{list(shape)}",
                        hint="unsqueeze the mask in front (a size-1 axis broadcasts)", code="shape-mismatch")
    out = []
    for m, d in zip(shape, scores):
        if not (N.compare(m, "==", 1) or N.compare(d, "==", 1) or N.compare(m, "==", d)):
            raise ctx.error(f"the mask '{mask}' does not broadcast with the scores", arg="attn_mask",
                            expected=f"a shape broadcasting with {list(scores)} ([..., L, S])", found=f"{list(shape)}",
                            code="shape-mismatch")
        out.append(d if N.compare(m, "==", 1) else m)
    if N.compare(out[-1], "!=", scores[-1]):
        raise ctx.error(f"the mask '{mask}' has {N.fmt(out[-1])} keys, not the {N.fmt(scores[-1])} of k and v",
                        arg="attn_mask", expected=f"its last axis {N.fmt(scores[-1])} or 1", found=f"{list(shape)}",
                        code="shape-mismatch")
    return tuple(out)


def _checked(shapes, ctx: Context):
    """q, k and v, when there are three of one rank ≥ 2 with q and k sharing E, k and v S."""
    if len(shapes) != 3:
        raise ctx.error(f"has {len(shapes)} branches", expected="three branches: q, k and v",
                        found=ctx.branch_shapes(shapes), code="invalid-layer")
    q, k, v = shapes
    if len(q) < 2 or len(k) != len(q) or len(v) != len(q) or N.compare(q[-1], "!=", k[-1]) \
            or N.compare(k[-2], "!=", v[-2]):
        raise ctx.error("q, k and v need one rank of at least 2, q and k one E, k and v one S",
                        expected="q [..., L, E], k [..., S, E], v [..., S, Ev]", found=ctx.branch_shapes(shapes),
                        code="shape-mismatch")
    return q, k, v


def _heads(q, k, v, gqa: bool, ctx: Context, shapes) -> list:
    """The leading axes (heads) the products run over: q's, k's and v's broadcast, k and v
    first repeated to q's heads (axis -3) under grouped-query attention."""
    k_lead, v_lead = list(k[:-2]), list(v[:-2])
    if gqa and len(q) >= 3:
        for lead in (k_lead, v_lead):
            if N.compare(N.mod(q[-3], lead[-1]), "!=", 0):
                raise ctx.error(f"{N.fmt(q[-3])} query heads do not share {N.fmt(lead[-1])} key/value heads",
                                expected="key/value heads dividing the query heads (axis -3)",
                                found=ctx.branch_shapes(shapes), code="shape-mismatch")
            lead[-1] = q[-3]
    out = []
    for dims in zip(q[:-2], k_lead, v_lead):
        sizes = {d for d in dims if not N.compare(d, "==", 1)}
        if len(sizes) > 1:
            raise ctx.error("the leading axes (heads) do not broadcast",
                            expected="each leading axis equal or 1" + ("" if gqa else " (enable_gqa: fewer k/v heads)"),
                            found=ctx.branch_shapes(shapes), code="shape-mismatch")
        out.append(sizes.pop() if sizes else 1)
    return out


@register
class ShiftedWindowAttention(LayerKind):
    """Swin's window attention on [H, W, C] (torchvision's ShiftedWindowAttention): the map
    padded at the bottom and right to whole windows of Wh×Ww, cyclically shifted by
    shift_size (torch.roll), cut into windows of N = Wh·Ww tokens, and in each window h heads
    of softmax(Q·Kᵀ/√d + B + mask)·V with Q, K, V from one qkv linear layer, B read from a
    learned table of (2·Wh − 1)·(2·Ww − 1) relative offsets per head by a fixed index (a
    buffer of N² int64), the mask keeping tokens from different regions apart after the
    shift; then the proj linear layer, the windows put back, the shift undone, the padding cut.
    torchvision drops the shift on an axis whose padded size is at most the window: no count
    changes. The padded tokens go through the projections and the products too (T = padded
    H·W), as torch computes them."""

    kind = "shifted_window_attention"
    family = "attention"
    weighted = True
    contiguous_output = True  # torchvision's function ends x[:, :H, :W, :].contiguous()
    torch_classes = ("ShiftedWindowAttention", "torchvision.models.swin_transformer.ShiftedWindowAttention")
    doc = "Swin's (shifted) window self-attention with relative position bias on [H, W, C] (torchvision)"
    args = (
        Arg("window_size", PerAxis(2, Int(1)), doc="Wh, Ww: the windows' sizes (torch's [7, 7])"),
        Arg("num_heads", Int(1), doc="h; C must divide into h heads of d = C/h"),
        Arg("shift_size", PerAxis(2, Int(0)), 0, "the cyclic shift before windowing ([Wh//2, Ww//2] every other block)"),
        Arg("qkv_bias", Bool(), True, "the qkv projection's bias"),
        Arg("proj_bias", Bool(), True, "the output projection's bias"),
        Arg("attention_dropout", Float(0.0, 1.0), 0.0, "on the attention weights while training (no cost counted)"),
        Arg("dropout", Float(0.0, 1.0), 0.0, "on the output while training (no cost counted)"),
    )

    @classmethod
    def padded(cls, a, x) -> tuple:
        """(padded H, padded W): each the next multiple of its window."""
        return tuple(N.mul(N.floordiv(N.add(s, w - 1), w), w) for s, w in zip(x[:2], a.window_size))

    @classmethod
    def windows(cls, a, x) -> tuple:
        """(windows, heads h, tokens per window N, head size d): what the products run over
        (the peer tools' rules are written in them)."""
        (wh, ww), (ph, pw) = a.window_size, cls.padded(a, x)
        return (N.mul(N.floordiv(ph, wh), N.floordiv(pw, ww)), a.num_heads, wh * ww,
                N.floordiv(x[2], a.num_heads))

    @classmethod
    def score_matrices(cls, a, x):
        return _window_scores(cls.windows(a, x))

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, (3,), ctx, "a feature map [H, W, C], channels last",
                         hint="torchvision's Swin permutes [C, H, W] to [H, W, C] after the patch embedding")
        c, h = x[2], a.num_heads
        if N.compare(N.mod(c, h), "!=", 0):
            raise ctx.error(f"{N.fmt(c)} channels do not divide into {N.fmt(h)} heads", arg="num_heads",
                            expected=f"num_heads dividing {N.fmt(c)}", found=f"{N.fmt(h)}", code="invalid-layer")
        wh, ww = a.window_size
        ph, pw = cls.padded(a, x)
        t, n, d = N.mul(ph, pw), wh * ww, N.floordiv(c, h)
        windows = N.mul(N.floordiv(ph, wh), N.floordiv(pw, ww))
        table = (2 * wh - 1) * (2 * ww - 1) * h
        qkv = N.add(N.mul(3, N.mul(c, c)), N.mul(3, c) if a.qkv_bias else 0)
        proj = N.add(N.mul(c, c), c if a.proj_bias else 0)
        params = N.add(N.add(qkv, proj), table)
        projections = N.mul(4, N.mul(t, N.mul(c, c)))
        scores = N.mul(windows, N.mul(h, N.mul(n * n, d)))
        macs = N.add(projections, N.mul(2, scores))
        fc = N.fmt
        steps = [
            Step("padded map", "⌈H/Wh⌉·Wh × ⌈W/Ww⌉·Ww", f"⌈{fc(x[0])}/{wh}⌉·{wh} × ⌈{fc(x[1])}/{ww}⌉·{ww}",
                 f"{fc(ph)} × {fc(pw)}"),
            Step("windows", "(H'/Wh)·(W'/Ww)", f"({fc(ph)}/{wh})·({fc(pw)}/{ww})", windows),
            Step("params", "qkv + proj + bias table (2·Wh − 1)·(2·Ww − 1)·h",
                 f"{fc(qkv)} + {fc(proj)} + {2 * wh - 1}·{2 * ww - 1}·{fc(h)}", params),
            Step("buffers", "relative_position_index: (Wh·Ww)² (int64)", f"{n}²", n * n),
            Step("projections (MACs)", "qkv and proj: 4·H'·W'·C²", f"4·{fc(t)}·{fc(c)}²", projections),
            Step("Q·Kᵀ (MACs)", "windows·h·N·N·d", f"{fc(windows)}·{fc(h)}·{n}·{n}·{fc(d)}", scores),
            Step("softmax (elements, no MACs)", "windows·h·N·N", f"{fc(windows)}·{fc(h)}·{n}·{n}",
                 N.mul(windows, N.mul(h, n * n))),
            Step("A·V (MACs)", "windows·h·N·N·d", f"{fc(windows)}·{fc(h)}·{n}·{n}·{fc(d)}", scores),
            Step("MACs", "4·H'·W'·C² + 2·H'·W'·N·C", f"4·{fc(t)}·{fc(c)}² + 2·{fc(t)}·{n}·{fc(c)}", macs),
        ]
        return Result(tuple(x), params=params, buffers=n * n, macs=macs, steps=steps)

    @classmethod
    def weight_bytes(cls, a, params, buffers, elem):
        """The parameters in the dtype; the relative position index is int64 (8 bytes each)."""
        return N.add(N.mul(params, elem), N.mul(buffers, 8))

    @classmethod
    def backward_macs(cls, a, x, result, input_grad):
        """As multihead_attention's: every product's gradients, the qkv projection's input
        gradient (3·H'·W'·C²) only when something before needs it."""
        ph, pw = cls.padded(a, x)
        return N.sub(N.mul(2, result.macs), 0 if input_grad else N.mul(3, N.mul(N.mul(ph, pw), N.mul(x[2], x[2]))))

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # a token sees its window, and through the shift, its neighbours'

    @classmethod
    def laid_out_saved_for_backward(cls, a, x, out, elem, strides, batch):
        """torchvision's shifted_window_attention while training, T = H'·W' padded tokens
        (F.pad copies even where it pads nothing): the qkv layer's input (the padded, shifted
        windows, T·C); q·scale and kᵀ, v as the products reshape them (copies, T·C each, of
        slices of qkv's output; where heads or the batch's windows are 1, kᵀ and v are views of
        qkv's whole output, 3·T·C, kept once); the softmax's output (windows·h·N²); with
        attention_dropout its noise and the dropped weights; the proj layer's input (T·C); with
        dropout its noise (T·C). The bias gathered from its table keeps only the index, a
        buffer."""
        return _window_saved(a, cls.windows(a, x), N.product(cls.padded(a, x)), x[-1], elem, batch)

    @classmethod
    def torch_module(cls, a, x):
        return _window_module("ShiftedWindowAttention", a, x)

    @classmethod
    def from_torch(cls, module) -> dict:
        return cls.written(_window_settings(module))


def _window_saved(a, windows: tuple, t, c, elem, batch):
    """What torchvision's (3-D) shifted window attention keeps while training, its windows
    (windows, h, N, d) over t padded tokens of c channels (ShiftedWindowAttention's rule)."""
    windows, h, n, d = windows
    rows = N.mul(batch, windows)
    qkv_strides = S.contiguous((rows, n, 3, h, d))  # qkv's output [B·windows, N, 3C], permuted to [3, B·w, h, N, d]
    k_strides = tuple(qkv_strides[i] for i in (0, 3, 1, 4))
    kt = S.batched_operand((rows, h, d, n), (k_strides[0], k_strides[1], k_strides[3], k_strides[2]), (rows, h))
    v = S.batched_operand((rows, h, n, d), k_strides, (rows, h))
    if kt is None or v is None:
        return None
    tokens, weights = N.mul(t, c), N.mul(windows, N.mul(h, N.mul(n, n)))
    entries = [("new", tokens, elem), ("new", tokens, elem)]  # qkv's input, q·scale
    entries += [("new", tokens, elem)] * ((not kt) + (not v))  # the copies of kᵀ and v
    if kt or v:
        entries.append(("new", N.mul(3, tokens), elem))  # qkv's output itself
    entries.append(("new", weights, elem))
    entries += _dropout_kept(a.attention_dropout, weights, elem, twice=True)
    entries.append(("new", tokens, elem))  # proj's input
    return entries + _dropout_kept(a.dropout, tokens, elem)


def _dropout_kept(p, elements, elem, twice=False) -> list:
    """What ATen's dropout keeps while training (as the dropout kind's rule): nothing at p = 0,
    the zero scalar it multiplies by at p = 1, else its noise; `twice` where a product then
    keeps the dropped values too (p > 0)."""
    if not p:
        return []
    kept = [("stat", 1, elem)] if p == 1 else [("new", elements, elem)]
    return kept + ([("new", elements, elem)] if twice else [])


def _window_settings(module) -> dict:
    """The spec arguments of torchvision's (shifted) window attention modules, read alike."""
    return {"window_size": list(module.window_size), "num_heads": module.num_heads,
            "shift_size": list(module.shift_size), "qkv_bias": module.qkv.bias is not None,
            "proj_bias": module.proj.bias is not None, "attention_dropout": module.attention_dropout,
            "dropout": module.dropout}


def _window_module(name: str, a, x):
    """archcalc's module of that name (torch_backend/modules.py) for an input [..., C]."""
    from archcalc.torch_backend import modules

    return getattr(modules, name)(x[-1], a)


CPB_HIDDEN = 512  # torchvision's continuous position bias MLP: Linear(2, 512), ReLU, Linear(512, heads)


@register
class ShiftedWindowAttentionV2(ShiftedWindowAttention):
    """Swin V2's window attention on [H, W, C] (torchvision's ShiftedWindowAttentionV2): the
    windows, shift, mask, qkv and proj of shifted_window_attention, with cosine attention
    softmax(cos(Q, K)·s + B + mask)·V, where Q and K are L2-normalised per head (F.normalize:
    norms and divisions, no products), s = exp(min(logit_scale, ln 100)) a learned scale per
    head, and B = 16·sigmoid(MLP(table)) read by the fixed index: a continuous position
    bias MLP (Linear(2, 512), ReLU, Linear(512, h, no bias)) applied to a fixed buffer of the
    (2·Wh − 1)·(2·Ww − 1) log-spaced relative offsets. That MLP runs once per forward pass,
    whatever the batch (no sample flows into it): its MACs are counted once per pass, as
    torch's FlopCounterMode counts them. The k third of the qkv bias is zeroed in forward
    (still parameters)."""

    kind = "shifted_window_attention_v2"
    torch_classes = ("ShiftedWindowAttentionV2", "torchvision.models.swin_transformer.ShiftedWindowAttentionV2")

    @classmethod
    def laid_out_saved_for_backward(cls, a, x, out, elem, strides, batch):
        """Not modelled yet: cosine attention (F.normalize of q and k, the clamped logit scale)
        and the position-bias MLP keep more than the first version's rule says."""
        return None
    doc = "Swin V2's (shifted) window cosine attention with a continuous position bias MLP on [H, W, C] (torchvision)"

    @classmethod
    def offsets(cls, a) -> int:
        """M = (2·Wh − 1)·(2·Ww − 1): the relative offsets the bias MLP is applied to."""
        wh, ww = a.window_size
        return (2 * wh - 1) * (2 * ww - 1)

    @classmethod
    def bias_mlp(cls, a) -> tuple:
        """(M offsets, hidden width 512, heads h): the position-bias MLP's sizes, which it runs
        once per pass on an input of batch 1 (the peer tools' rules are written in them)."""
        return cls.offsets(a), CPB_HIDDEN, a.num_heads

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, (3,), ctx, "a feature map [H, W, C], channels last",
                         hint="torchvision's Swin permutes [C, H, W] to [H, W, C] after the patch embedding")
        c, h = x[2], a.num_heads
        if N.compare(N.mod(c, h), "!=", 0):
            raise ctx.error(f"{N.fmt(c)} channels do not divide into {N.fmt(h)} heads", arg="num_heads",
                            expected=f"num_heads dividing {N.fmt(c)}", found=f"{N.fmt(h)}", code="invalid-layer")
        wh, ww = a.window_size
        ph, pw = cls.padded(a, x)
        t, n, d, m, k = N.mul(ph, pw), wh * ww, N.floordiv(c, h), cls.offsets(a), CPB_HIDDEN
        windows = N.mul(N.floordiv(ph, wh), N.floordiv(pw, ww))
        qkv = N.add(N.mul(3, N.mul(c, c)), N.mul(3, c) if a.qkv_bias else 0)
        proj = N.add(N.mul(c, c), c if a.proj_bias else 0)
        mlp = 2 * k + k + k * h
        params = N.add(N.add(qkv, proj), h + mlp)
        buffers = 2 * m + n * n
        projections = N.mul(4, N.mul(t, N.mul(c, c)))
        scores = N.mul(windows, N.mul(h, N.mul(n * n, d)))
        macs = N.add(projections, N.mul(2, scores))
        first, second = m * 2 * k, m * k * h
        per_pass = first + second
        fc = N.fmt
        steps = [
            Step("padded map", "⌈H/Wh⌉·Wh × ⌈W/Ww⌉·Ww", f"⌈{fc(x[0])}/{wh}⌉·{wh} × ⌈{fc(x[1])}/{ww}⌉·{ww}",
                 f"{fc(ph)} × {fc(pw)}"),
            Step("windows", "(H'/Wh)·(W'/Ww)", f"({fc(ph)}/{wh})·({fc(pw)}/{ww})", windows),
            Step("params", f"qkv + proj + logit_scale h + bias MLP (2·{k} + {k} + {k}·h)",
                 f"{fc(qkv)} + {fc(proj)} + {fc(h)} + {fc(mlp)}", params),
            Step("buffers", "relative_coords_table 2·(2·Wh − 1)·(2·Ww − 1) + relative_position_index "
                            "(Wh·Ww)² (int64)", f"2·{2 * wh - 1}·{2 * ww - 1} + {n}²", buffers),
            Step("projections (MACs)", "qkv and proj: 4·H'·W'·C²", f"4·{fc(t)}·{fc(c)}²", projections),
            Step("cos(Q, K) (MACs)", "windows·h·N·N·d (the L2 norms and the scale: no products)",
                 f"{fc(windows)}·{fc(h)}·{n}·{n}·{fc(d)}", scores),
            Step("softmax (elements, no MACs)", "windows·h·N·N", f"{fc(windows)}·{fc(h)}·{n}·{n}",
                 N.mul(windows, N.mul(h, n * n))),
            Step("A·V (MACs)", "windows·h·N·N·d", f"{fc(windows)}·{fc(h)}·{n}·{n}·{fc(d)}", scores),
            Step("MACs per sample", "4·H'·W'·C² + 2·H'·W'·N·C", f"4·{fc(t)}·{fc(c)}² + 2·{fc(t)}·{n}·{fc(c)}", macs),
            Step("bias MLP's first layer (MACs, once per pass)", f"M·2·{k}, M = (2·Wh − 1)·(2·Ww − 1)",
                 f"{m}·2·{k}", first),
            Step("bias MLP's second layer (MACs, once per pass)", f"M·{k}·h", f"{m}·{k}·{fc(h)}", second),
            Step("MACs", "per sample + once per pass (at batch B: B·per sample + per pass)",
                 f"{fc(macs)} + {fc(per_pass)}", N.add(macs, per_pass)),
        ]
        return Result(tuple(x), params=params, buffers=buffers, macs=macs, steps=steps, per_pass_macs=per_pass)

    @classmethod
    def weight_bytes(cls, a, params, buffers, elem):
        """The parameters and the table of offsets in the dtype; the index is int64 (8 bytes each)."""
        n = a.window_size[0] * a.window_size[1]
        return N.add(N.mul(N.sub(N.add(params, buffers), n * n), elem), N.mul(n * n, 8))

    @classmethod
    def per_pass_backward_macs(cls, a, x, result):
        """The bias MLP's gradients: its second layer's weight and input gradients (M·512·h
        each), its first layer's weight gradient (M·2·512); its input is a buffer, which needs
        none."""
        m, k = cls.offsets(a), CPB_HIDDEN
        return 2 * m * k * a.num_heads + m * 2 * k

    @classmethod
    def torch_module(cls, a, x):
        return _window_module("ShiftedWindowAttentionV2", a, x)

    @classmethod
    def from_torch(cls, module) -> dict:
        mlp = getattr(module, "cpb_mlp", None)
        try:
            ours = len(mlp) == 3 and mlp[0].out_features == CPB_HIDDEN and mlp[2].bias is None
        except (TypeError, AttributeError, IndexError):
            ours = False
        if not ours:
            raise Untranslatable(f"has a position-bias MLP other than torchvision's (Linear(2, {CPB_HIDDEN}), ReLU, "
                                 f"Linear({CPB_HIDDEN}, heads, bias=False))")
        return super().from_torch(module)


@register
class ShiftedWindowAttention3d(LayerKind):
    """Video Swin's window attention on [T, H, W, C] (torchvision's ShiftedWindowAttention3d):
    on each axis whose size is at most its window, the window shrinks to the size and that
    axis is not shifted; the clip is padded at the end of each axis to whole windows, rolled by
    the shift, cut into windows of N = Wd·Wh·Ww tokens (the shrunk windows'), and each window
    attends as in shifted_window_attention, its bias read from a learned table of
    (2·Wd − 1)·(2·Wh − 1)·(2·Ww − 1) offsets per head (the windows as configured) by a fixed
    index of N₀² int64 (N₀ the configured windows' tokens; a shrunk window reads its top-left
    corner of it). The padded tokens go through the projections and products too (T' =
    padded T·H·W), as torch computes them."""

    kind = "shifted_window_attention3d"
    contiguous_output = True  # torchvision's function ends x[:, :T, :H, :W, :].contiguous()
    family = "attention"
    weighted = True
    torch_classes = ("ShiftedWindowAttention3d", "torchvision.models.video.swin_transformer.ShiftedWindowAttention3d")
    doc = "Video Swin's (shifted) 3-D window self-attention with relative position bias on [T, H, W, C] (torchvision)"
    args = (
        Arg("window_size", PerAxis(3, Int(1)), doc="Wd, Wh, Ww: the windows' sizes (torch's [8, 7, 7])"),
        Arg("num_heads", Int(1), doc="h; C must divide into h heads of d = C/h"),
        Arg("shift_size", PerAxis(3, Int(0)), 0, "the cyclic shift before windowing ([Wd//2, Wh//2, Ww//2] every "
                                                 "other block)"),
        Arg("qkv_bias", Bool(), True, "the qkv projection's bias"),
        Arg("proj_bias", Bool(), True, "the output projection's bias"),
        Arg("attention_dropout", Float(0.0, 1.0), 0.0, "on the attention weights while training (no cost counted)"),
        Arg("dropout", Float(0.0, 1.0), 0.0, "on the output while training (no cost counted)"),
    )

    @classmethod
    def effective(cls, a, x) -> tuple:
        """The windows as used: each min(size, window) (torchvision's _get_window_and_shift_size)."""
        return tuple(N.minimum(s, w) for s, w in zip(x[:3], a.window_size))

    @classmethod
    def padded(cls, a, x) -> tuple:
        """(padded T, H, W): each the next multiple of its window as used."""
        return tuple(N.mul(N.ceildiv(s, w), w) for s, w in zip(x[:3], cls.effective(a, x)))

    @classmethod
    def windows(cls, a, x) -> tuple:
        """(windows, heads h, tokens per window N, head size d): what the products run over
        (the peer tools' rules are written in them)."""
        eff, pad = cls.effective(a, x), cls.padded(a, x)
        return (N.product(N.floordiv(p, w) for p, w in zip(pad, eff)), a.num_heads, N.product(eff),
                N.floordiv(x[3], a.num_heads))

    @classmethod
    def score_matrices(cls, a, x):
        return _window_scores(cls.windows(a, x))

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, (4,), ctx, "a clip [T, H, W, C], channels last",
                         hint="torchvision's video Swin permutes [C, T, H, W] to [T, H, W, C] in its patch embedding")
        c, h = x[3], a.num_heads
        if N.compare(N.mod(c, h), "!=", 0):
            raise ctx.error(f"{N.fmt(c)} channels do not divide into {N.fmt(h)} heads", arg="num_heads",
                            expected=f"num_heads dividing {N.fmt(c)}", found=f"{N.fmt(h)}", code="invalid-layer")
        wd, wh, ww = a.window_size
        eff, pad = cls.effective(a, x), cls.padded(a, x)
        windows, _, n, d = cls.windows(a, x)
        t = N.product(pad)
        n0 = wd * wh * ww
        table = (2 * wd - 1) * (2 * wh - 1) * (2 * ww - 1) * h
        qkv = N.add(N.mul(3, N.mul(c, c)), N.mul(3, c) if a.qkv_bias else 0)
        proj = N.add(N.mul(c, c), c if a.proj_bias else 0)
        params = N.add(N.add(qkv, proj), table)
        projections = N.mul(4, N.mul(t, N.mul(c, c)))
        scores = N.mul(windows, N.mul(h, N.mul(N.mul(n, n), d)))
        macs = N.add(projections, N.mul(2, scores))
        fc, xs = N.fmt, " × ".join
        steps = [
            Step("windows as used", "min(T, Wd) × min(H, Wh) × min(W, Ww)",
                 xs(f"min({fc(s)}, {w})" for s, w in zip(x[:3], a.window_size)), xs(fc(w) for w in eff)),
            Step("padded clip", "⌈T/Wd⌉·Wd × ⌈H/Wh⌉·Wh × ⌈W/Ww⌉·Ww",
                 xs(f"⌈{fc(s)}/{fc(w)}⌉·{fc(w)}" for s, w in zip(x[:3], eff)), xs(fc(p) for p in pad)),
            Step("windows", "(T'/Wd)·(H'/Wh)·(W'/Ww)", "·".join(f"({fc(p)}/{fc(w)})" for p, w in zip(pad, eff)),
                 windows),
            Step("params", "qkv + proj + bias table (2·Wd − 1)·(2·Wh − 1)·(2·Ww − 1)·h",
                 f"{fc(qkv)} + {fc(proj)} + {2 * wd - 1}·{2 * wh - 1}·{2 * ww - 1}·{fc(h)}", params),
            Step("buffers", "relative_position_index: (Wd·Wh·Ww)² as configured (int64)", f"{n0}²", n0 * n0),
            Step("projections (MACs)", "qkv and proj: 4·T'·H'·W'·C²", f"4·{fc(t)}·{fc(c)}²", projections),
            Step("Q·Kᵀ (MACs)", "windows·h·N·N·d", f"{fc(windows)}·{fc(h)}·{fc(n)}·{fc(n)}·{fc(d)}", scores),
            Step("softmax (elements, no MACs)", "windows·h·N·N", f"{fc(windows)}·{fc(h)}·{fc(n)}·{fc(n)}",
                 N.mul(windows, N.mul(h, N.mul(n, n)))),
            Step("A·V (MACs)", "windows·h·N·N·d", f"{fc(windows)}·{fc(h)}·{fc(n)}·{fc(n)}·{fc(d)}", scores),
            Step("MACs", "4·T'·H'·W'·C² + 2·T'·H'·W'·N·C", f"4·{fc(t)}·{fc(c)}² + 2·{fc(t)}·{fc(n)}·{fc(c)}", macs),
        ]
        return Result(tuple(x), params=params, buffers=n0 * n0, macs=macs, steps=steps)

    @classmethod
    def weight_bytes(cls, a, params, buffers, elem):
        """The parameters in the dtype; the relative position index is int64 (8 bytes each)."""
        return N.add(N.mul(params, elem), N.mul(buffers, 8))

    @classmethod
    def backward_macs(cls, a, x, result, input_grad):
        """As multihead_attention's: every product's gradients, the qkv projection's input
        gradient (3·T'·H'·W'·C²) only when something before needs it."""
        return N.sub(N.mul(2, result.macs),
                     0 if input_grad else N.mul(3, N.mul(N.product(cls.padded(a, x)), N.mul(x[3], x[3]))))

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # a token sees its window, and through the shift, its neighbours'

    @classmethod
    def laid_out_saved_for_backward(cls, a, x, out, elem, strides, batch):
        """As shifted_window_attention's (torchvision's function in 3-D is the same, windows
        of Wd·Wh·Ww tokens over the padded T'·H'·W'), and where the windows as used are
        smaller than the written ones (N of them, 1 < N < the written volume), the index of
        the bias, a flattened copy of the buffer's N×N corner (int64, once per pass)."""
        windows = cls.windows(a, x)
        n, full = windows[2], N.product(a.window_size)
        corner = [("stat", N.mul(n, n), 8)] if N.compare(n, ">", 1) and N.compare(n, "<", full) else []
        saved = _window_saved(a, windows, N.product(cls.padded(a, x)), x[-1], elem, batch)
        return None if saved is None else saved + corner

    @classmethod
    def torch_module(cls, a, x):
        return _window_module("ShiftedWindowAttention3d", a, x)

    @classmethod
    def from_torch(cls, module) -> dict:
        return cls.written(_window_settings(module))
