"""Position encodings: rotary_embedding (RoPE, Su et al. 2021, as LLaMA applies it to queries
and keys) and sinusoidal_position_encoding (Vaswani et al. 2017's fixed table added to the
token vectors).

Neither learns anything, and neither is counted as FLOPs: what they compute is element-wise
(products with a cos/sin table, sums), which torch's FlopCounterMode counts as 0, so archcalc's
MACs and FLOPs are 0 too (docs/conventions.md). Each row's derivation states those element-wise
operations beside, exactly, for the formula its module computes.
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Float, Int
from archcalc.layers.base import Context, LayerKind, Result, Step, list_text
from archcalc.layers.registry import register


def _even_last_axis(x, ctx: Context, what: str, hint: str) -> None:
    """The last axis must split into pairs (cos and sin, or a vector's two halves)."""
    if N.compare(N.mod(x[-1], 2), "!=", 0):
        raise ctx.error(f"the last axis ({N.fmt(x[-1])}) is odd: {what}", expected="an even last axis",
                        found=f"{list_text(x)}, the {ctx.source}", hint=hint, code="shape-mismatch")


@register
class RotaryEmbedding(LayerKind):
    """RoPE on x [..., T, d] (heads as leading axes): position t's vector is rotated pairwise by
    the angles t·θ^(−2i/d), i < d/2, as Hugging Face's LlamaRotaryEmbedding and
    apply_rotary_pos_emb compute it: x·cos + rotate_half(x)·sin, with cos and sin of the angles
    repeated over both halves ([T, d]) and rotate_half(x) = [−x₂, x₁] (x₁, x₂ the halves of d;
    Meta's reference rotates interleaved pairs instead, which its converted weights permute to
    this). Positions 0 … T − 1, no cache: nothing learned, nothing kept."""

    kind = "rotary_embedding"
    family = "position"
    torch_classes = ("RotaryEmbedding",)  # archcalc's own module
    doc = "rotary position embedding (RoPE) of [..., T, d], heads leading: x·cos + rotate_half(x)·sin (LLaMA's)"
    args = (Arg("theta", Float(minimum=1.0), 10000.0, "the base θ of the frequencies θ^(−2i/d) (LLaMA's rope_theta)"),)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        if len(x) < 2:
            raise ctx.error("expects a sequence [..., T, d]", expected="an input of rank 2 or more",
                            found=f"{list_text(x)} (rank {len(x)}), the {ctx.source}",
                            hint="the positions are the second-to-last axis, each head's vector the last",
                            code="wrong-rank")
        _even_last_axis(x, ctx, "RoPE rotates pairs of elements", "a head size d that is even")
        heads, t, d = N.product(x[:-2]), x[-2], x[-1]
        lead = "·".join(N.fmt(h) for h in x[:-2])
        per = N.add(N.mul(3, d), N.floordiv(d, 2))
        on_x = N.mul(heads, N.mul(t, per))
        table = N.add(N.mul(t, N.floordiv(d, 2)), N.mul(2, N.mul(t, d)))
        steps = [
            Step("element-wise ops on x (not in torch's FLOPs)", ("heads·" if lead else "") + "T·(3·d + d/2): d "
                 "products with cos, d with sin, d sums, d/2 negations (rotate_half)",
                 (f"{lead}·" if lead else "") + f"{N.fmt(t)}·(3·{N.fmt(d)} + {N.fmt(d)}/2)", on_x),
            Step("cos/sin table (element-wise, not in torch's FLOPs)", "T·d/2 angles + T·d cos + T·d sin",
                 f"{N.fmt(t)}·{N.fmt(d)}/2 + 2·{N.fmt(t)}·{N.fmt(d)}", table),
        ]
        return Result(tuple(x), steps=steps)

    @classmethod
    def receptive_field(cls, a, x, rf):
        """None: each output element mixes its pair's partner half a head away along the last
        axis, which a field over the axes after the first cannot say."""
        return None

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """x·cos keeps cos and rotate_half(x)·sin keeps sin for x's gradient: [T, d] each, one
        table for the whole batch (negation, slicing, cat and the sum keep nothing)."""
        table = N.mul(x[-2], x[-1])
        return [("stat", table, elem), ("stat", table, elem)]

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import RotaryEmbedding as Module

        return Module(a.theta)


@register
class SinusoidalPositionEncoding(LayerKind):
    """Vaswani et al.'s fixed encoding added to x [T, E]: PE[t, 2i] = sin(t / 10000^(2i/E)),
    PE[t, 2i + 1] = cos(t / 10000^(2i/E)). As torch's typical implementation (the
    PositionalEncoding of pytorch/examples' word_language_model and of torch's nn.Transformer
    tutorial) it registers the table for `max_len` positions as a buffer (max_len·E elements,
    in the state dict) and adds its first T rows; that module's dropout is a layer of its own
    here. E must be even (that module's table refuses an odd one, but for E = 1: the sines
    alone), T at most max_len."""

    kind = "sinusoidal_position_encoding"
    family = "position"
    torch_classes = ("SinusoidalPositionEncoding",)  # archcalc's own module
    doc = ("adds Vaswani et al.'s fixed sin/cos table to a sequence [T, E]; the table for max_len positions is a "
           "buffer (pytorch/examples' PositionalEncoding)")
    args = (Arg("max_len", Int(1), 5000, "positions the buffered table holds (pytorch/examples' default); T ≤ max_len"),)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, (2,), ctx, "a sequence [T, E]", hint="a sequence of T vectors of E features")
        t, e = x
        if N.compare(e, "!=", 1):  # E = 1: the table's one column is the sines, which torch's code fills
            _even_last_axis(x, ctx, "the table interleaves sin and cos", "an even embedding width E")
        if N.compare(t, ">", a.max_len) is True:
            raise ctx.error(f"the sequence ({N.fmt(t)} positions) is longer than the table's max_len={a.max_len}",
                            arg="max_len", expected=f"max_len ≥ {N.fmt(t)}", found=f"{list_text(x)}, the {ctx.source}",
                            code="shape-mismatch")
        buffers = N.mul(a.max_len, e)
        steps = [Step("buffers", "max_len·E (the table)", f"{a.max_len}·{N.fmt(e)}", buffers),
                 Step("element-wise ops (not in torch's FLOPs)", "T·E sums", f"{N.fmt(t)}·{N.fmt(e)}", N.mul(t, e))]
        return Result(tuple(x), buffers=buffers, steps=steps)

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return []  # a sum: its gradient is its output's

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import SinusoidalPositionEncoding as Module

        return Module(x[-1], a.max_len)
