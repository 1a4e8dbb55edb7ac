"""MaxViT's attention: relative_positional_attention (torchvision's
RelativePositionalMultiHeadAttention, read whole).

The rest of torchvision's MaxViT is traced: the window and grid partitions are reshapes and
permutes, SwapAxes a transpose, the MLP linear layers, MBConv convolutions and a
squeeze-excitation. The attention is one kind because its bias is a gather from a learned
table by a fixed index (a buffer), which a spec cannot follow as separate layers, and its
products are einsums. Counts as in attention.py: every product, FlopCounterMode's 2 FLOPs per
MAC, the softmax, the scaling and the bias add free.
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Int
from archcalc.layers.base import Context, LayerKind, Result, Step, Untranslatable
from archcalc.layers.registry import register


@register
class RelativePositionalAttention(LayerKind):
    """MaxViT's attention inside partitions (torchvision's RelativePositionalMultiHeadAttention)
    on [G, P, D]: G partitions (windows, or grid cells) of P = s² tokens of D features; in each,
    h = D/head_dim heads of softmax(Q·(K·D^-½)ᵀ + B)·V with Q, K, V from one linear layer
    (to_qkv, D → 3·D, with bias), B read from a learned table of (2·s − 1)² relative offsets
    per head by a fixed index (a buffer of P² int64), then the heads joined and projected by
    merge (D → D, with bias). torchvision scales K by D^-½, the features' count, not a head's:
    no count changes. With s = 1 the table is one bias per head, which broadcasts over any P
    (torchvision accepts it, so does archcalc); otherwise P must be s²."""

    kind = "relative_positional_attention"
    family = "attention"
    weighted = True
    torch_classes = ("RelativePositionalMultiHeadAttention",
                     "torchvision.models.maxvit.RelativePositionalMultiHeadAttention")
    doc = "MaxViT's multi-head attention in each partition [G, P, D] with a relative position bias (torchvision)"
    args = (
        Arg("head_dim", Int(1), doc="d, each head's size; D must divide into h = D/d heads"),
        Arg("partition_size", Int(1), doc="s: each partition is s×s tokens, P = s² (torch's max_seq_len = s²)"),
    )

    @classmethod
    def heads(cls, a, x) -> tuple:
        """(partitions G, heads h, tokens per partition P, head size d): what the products run
        over (the peer tools' rules are written in them)."""
        return x[0], N.floordiv(x[2], a.head_dim), x[1], a.head_dim

    @classmethod
    def products(cls, a, x):
        """Q·Kᵀ and A·V in full, MACs per sample: 2·G·h·P²·d (what the peer tools that read an
        einsum's operand sizes count, whatever torch runs)."""
        g, h, p, d = cls.heads(a, x)
        return N.mul(2, N.mul(g, N.mul(h, N.mul(N.mul(p, p), d))))

    @classmethod
    def projections(cls, a, x):
        """to_qkv's and merge's MACs per sample: 4·G·P·D²."""
        g, p, d = x
        return N.mul(4, N.mul(N.mul(g, p), N.mul(d, d)))

    @classmethod
    def counted_products(cls, a, x) -> tuple:
        """(Q·Kᵀ, A·V) MACs as torch counts them: torch's einsum contracts an axis of size 1 by
        an element-wise product, not a batched one, and FlopCounterMode counts no product for
        it: Q·Kᵀ is 0 for heads of size d = 1, A·V for partitions of one token (P = 1). A
        symbolic size is taken as larger than 1."""
        g, h, p, d = cls.heads(a, x)
        each = N.mul(g, N.mul(h, N.mul(N.mul(p, p), d)))
        return (0 if N.compare(d, "==", 1) else each), (0 if N.compare(p, "==", 1) else each)

    @classmethod
    def leaf_params(cls, a, x):
        """The parameters of its modules without children, to_qkv and merge: 4·D·(D + 1) (the
        bias table is the attention module's own)."""
        return N.mul(4, N.mul(x[2], N.add(x[2], 1)))

    @classmethod
    def bias_adds(cls, a, out):
        """The elements to_qkv's and merge's biases are added to: 3·G·P·D and G·P·D."""
        return N.mul(4, N.product(out))

    @classmethod
    def _check(cls, x, a, ctx: Context) -> None:
        cls.require_rank(x, (3,), ctx, "partitions of tokens [G, P, D]",
                         hint="torchvision's MaxViT partitions [C, H, W] into [H/s·W/s, s², C] before it")
        g, p, d = x
        if N.compare(N.mod(d, a.head_dim), "!=", 0):
            raise ctx.error(f"{N.fmt(d)} features do not divide into heads of {N.fmt(a.head_dim)}", arg="head_dim",
                            expected=f"head_dim dividing {N.fmt(d)}", found=f"{N.fmt(a.head_dim)}",
                            code="invalid-layer")
        s2 = N.mul(a.partition_size, a.partition_size)
        if N.compare(p, "!=", s2) and N.compare(a.partition_size, "!=", 1):
            raise ctx.error(f"partitions of {N.fmt(p)} tokens are not {N.fmt(a.partition_size)}×"
                            f"{N.fmt(a.partition_size)}", arg="partition_size",
                            expected=f"P = partition_size² = {N.fmt(s2)} tokens (axis 1), or partition_size 1 "
                                     "(one bias per head, broadcast)",
                            found=f"{N.fmt(p)} tokens in each of {N.fmt(g)} partitions, the {ctx.source}", code="shape-mismatch")

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls._check(x, a, ctx)
        g, p, d = x
        s, h = a.partition_size, N.floordiv(d, a.head_dim)
        table = N.mul(N.mul(N.sub(N.mul(2, s), 1), N.sub(N.mul(2, s), 1)), h)
        params = N.add(N.mul(4, N.mul(d, N.add(d, 1))), table)
        qk, av = cls.counted_products(a, x)
        macs = N.add(cls.projections(a, x), N.add(qk, av))
        fc = N.fmt
        steps = [Step("heads", "h = D/d", f"{fc(d)}/{fc(a.head_dim)}", h),
                 Step("params", "to_qkv 3·D·(D + 1) + merge D·(D + 1) + bias table (2·s − 1)²·h",
                      f"3·{fc(d)}·({fc(d)} + 1) + {fc(d)}·({fc(d)} + 1) + (2·{fc(s)} − 1)²·{fc(h)}", params),
                 Step("buffers", "relative_position_index: (s²)² (int64)", f"({fc(s)}²)²",
                      N.mul(N.mul(s, s), N.mul(s, s))),
                 *cls._count_steps(a, x, qk, av, macs)]
        return Result(tuple(x), params=params, buffers=steps[2].result, macs=macs, steps=steps)

    @classmethod
    def score_matrices(cls, a, x):
        """Every partition's h heads of P×P scores, in one tensor (G·h·P·P per sample)."""
        g, h, p, _ = cls.heads(a, x)
        return [N.mul(g, N.mul(h, N.mul(p, p)))]

    @classmethod
    def _count_steps(cls, a, x, qk, av, macs) -> list[Step]:
        """The projections, Q·Kᵀ, the softmax's size, A·V and the merge, then their sum."""
        g, h, p, d = cls.heads(a, x)
        fc, e = N.fmt, x[2]
        each = f"{fc(g)}·{fc(h)}·{fc(p)}·{fc(p)}·{fc(d)}"
        skipped = "0: a summed axis of size 1 ({}), which torch's einsum multiplies element-wise (no product counted)"
        whole = N.compare(qk, "!=", 0) is not False and N.compare(av, "!=", 0) is not False
        return [
            Step("Q, K, V projections (MACs)", "to_qkv: 3·G·P·D²", f"3·{fc(g)}·{fc(p)}·{fc(e)}²",
                 N.mul(3, N.mul(N.mul(g, p), N.mul(e, e)))),
            Step("Q·Kᵀ (MACs)", "G·h·P·P·d" if qk != 0 else skipped.format("d = 1"), each, qk),
            Step("softmax (elements, no MACs)", "G·h·P·P", f"{fc(g)}·{fc(h)}·{fc(p)}·{fc(p)}",
                 N.mul(g, N.mul(h, N.mul(p, p)))),
            Step("A·V (MACs)", "G·h·P·P·d" if av != 0 else skipped.format("P = 1"), each, av),
            Step("output projection (MACs)", "merge: G·P·D²", f"{fc(g)}·{fc(p)}·{fc(e)}²",
                 N.mul(N.mul(g, p), N.mul(e, e))),
            Step("MACs", "4·G·P·D² + 2·G·P²·D" if whole else "projections + Q·Kᵀ + A·V",
                 f"4·{fc(g)}·{fc(p)}·{fc(e)}² + 2·{fc(g)}·{fc(p)}²·{fc(e)}" if whole
                 else f"{fc(cls.projections(a, x))} + {fc(qk)} + {fc(av)}", macs),
        ]

    @classmethod
    def weight_bytes(cls, a, params, buffers, elem):
        """The parameters in the dtype; the relative position index is int64 (8 bytes each)."""
        return N.add(N.mul(params, elem), N.mul(buffers, 8))

    @classmethod
    def backward_macs(cls, a, x, result, input_grad):
        """As multihead_attention's: every product's gradients, the to_qkv projection's input
        gradient (3·G·P·D²) only when something before needs it."""
        g, p, d = x
        return N.sub(N.mul(2, result.macs), 0 if input_grad else N.mul(3, N.mul(N.mul(g, p), N.mul(d, d))))

    @classmethod
    def attention_shape(cls, a, x):
        return None  # G attentions of P tokens each: not one attention over a sequence

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # a token sees its partition's tokens, wherever the partition put them

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """Not modelled: the chunked and permuted q, k, v, the scaled k and the gathered bias
        are kept as copies or views by torch's einsum and view rules, which the spec does not
        follow."""
        return None

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import RelativePositionalMultiHeadAttention as Module

        return Module(x[-1], a)

    @classmethod
    def from_torch(cls, module) -> dict:
        if module.max_seq_len != module.size ** 2:
            raise Untranslatable(f"max_seq_len={module.max_seq_len} is no square: archcalc's "
                                 "relative_positional_attention takes s×s partitions")
        if module.to_qkv.bias is None or module.merge.bias is None:
            raise Untranslatable("to_qkv or merge has no bias: torchvision's has both")
        return cls.written({"head_dim": module.head_dim, "partition_size": module.size})
