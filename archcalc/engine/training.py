"""Training cost beside the rules of thumb that practitioners use for transformers.

The engine's training FLOPs are exact: forward plus backward, 2 per multiply-accumulate,
each layer's gradients as torch computes them. The rules of thumb estimate the same from
the parameter count: 6·N per token (forward 2, backward 4 per parameter: Kaplan et al.
2020), and with attention 6·N + 12·L·T·d per token (PaLM, Chowdhery et al. 2022, appendix
B: Q·Kᵀ and A·V over a context of T, L layers of width d). Per sample of T tokens that is
6·N·T and 6·N·T + 12·L·d·T². The difference is exact too, row by row, and is reported by
the layers' family: a parameter that multiplies no token (a table looked up, a norm's scale,
a bias) costs nothing; a layer applied at fewer positions than the T tokens (a head on one
token) or more (a tied LM head, counted once in N, multiplying again) costs as often as it
runs; the first layer with weights has no input gradient; attention over S ≠ T keys, or
with another width, is not 12·L·d·T².
"""
from __future__ import annotations

from dataclasses import dataclass, field

from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis, Row
from archcalc.layers.base import Attention


@dataclass
class RulesOfThumb:
    tokens: object  # T: the queries of the spec's attention
    params: object  # N
    width: object  # L·d: Σ over the attentions of heads × head size
    exact: object  # the engine's training FLOPs, for the batch
    per_token: object  # 6·N·T, for the batch
    with_attention: object  # 6·N·T + 12·L·d·T², for the batch
    differences: list[tuple[str, int, object]] = field(default_factory=list)  # (family, rows, exact − rule)


def _attentions(row: Row) -> list:
    """The attentions a row computes (its kind says): [(heads, T, S', d, S, E_kv)], [] for none."""
    if row.leaf:
        return row.layer.attentions(row.args, row.input)
    if row.is_merge:
        shape = row.layer.merge_attention_shape(row.args, [b.output for b in row.branches])
        if shape is not None:
            h, t, s, d = shape
            return [Attention(h, t, s, d, s, None)]
    return []


def _own_training(row: Row):
    """The row's own forward and backward FLOPs (a merge's combining step alone)."""
    if row.leaf:
        return N.add(row.flops, N.mul(2, row.backward_macs))
    return N.add(row.own["flops"], N.mul(2, row.own.get("backward_macs", 0)))


def rules_of_thumb(analysis: Analysis) -> RulesOfThumb | None:
    """The rules at the spec's T (its attentions' queries), with exact − rule by family; None
    without attention, or when its attentions do not share one T."""
    rows = [r for r in analysis.rows if r.leaf or r.is_merge]
    attentions = [(r, a) for r in rows if (a := _attentions(r))]
    if not attentions or len({N.fmt(at.queries) for _, a in attentions for at in a}) != 1:
        return None
    t, batch = attentions[0][1][0].queries, analysis.batch
    params = analysis.totals["params"]
    width = N.total(N.mul(at.heads, at.head_size) for _, a in attentions for at in a)
    per_token = N.mul(N.mul(6, N.mul(params, t)), batch)
    shares = {id(r): N.mul(N.mul(12, N.mul(N.total(N.mul(at.heads, at.head_size) for at in a), N.mul(t, t))), batch)
              for r, a in attentions}  # the rule's 12·L·d·T², whatever the keys: the difference says what it misses
    attention_rule = N.total(shares.values())
    result = RulesOfThumb(t, params, width, analysis.training_flops(), per_token, N.add(per_token, attention_rule))
    by_family: dict[str, list] = {}
    for row in rows:
        rule = N.add(N.mul(N.mul(6, N.mul(row.params if row.leaf else 0, t)), batch), shares.get(id(row), 0))
        entry = by_family.setdefault(row.family, [0, 0])
        entry[0] += 1
        entry[1] = N.add(entry[1], N.sub(_own_training(row), rule))
    result.differences = [(family, n, diff) for family, (n, diff) in by_family.items()
                          if N.is_symbolic(diff) or diff != 0]
    return result
