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


@dataclass
class RulesOfThumb:
    tokens: object  # T: the queries of the spec's attention
    params: object  # N
    width: object  # L·d: Σ over the attentions of heads × head size
    exact: object  # the engine's training FLOPs, for the batch
    per_token: object  # 6·N·T, for the batch
    with_attention: object  # 6·N·T + 12·L·d·T², for the batch
    differences: list[tuple[str, int, object]] = field(default_factory=list)  # (family, rows, exact − rule)


def _attention(row: Row):
    """(attentions, heads, T, S, d) of a row that attends, else None (its kind says)."""
    if row.leaf:
        shape = row.layer.attention_shape(row.args, row.input)
    elif row.is_merge:
        shape = row.layer.merge_attention_shape(row.args, [b.output for b in row.branches])
    else:
        return None
    return None if shape is None else (row.layer.attention_layers(row.args), *shape)


def _own_training(row: Row):
    """The row's own forward and backward FLOPs (a merge's combining step alone)."""
    if row.leaf:
        return N.add(row.flops, N.mul(2, row.backward_macs))
    return N.add(row.own["flops"], N.mul(2, row.own.get("backward_macs", 0)))


def rules_of_thumb(analysis: Analysis) -> RulesOfThumb | None:
    """The rules at the spec's T (its attentions' queries), with exact − rule by family; None
    without attention, or when its attentions do not share one T."""
    rows = [r for r in analysis.rows if r.leaf or r.is_merge]
    attentions = [(r, a) for r in rows if (a := _attention(r)) is not None]
    if not attentions or len({N.fmt(a[2]) for _, a in attentions}) != 1:
        return None
    t, batch = attentions[0][1][2], analysis.batch
    params = analysis.totals["params"]
    width = N.total(N.mul(n, N.mul(h, d)) for _, (n, h, _, _, d) in attentions)
    per_token = N.mul(N.mul(6, N.mul(params, t)), batch)
    attention_rule = N.mul(N.mul(12, N.mul(width, N.mul(t, t))), batch)
    result = RulesOfThumb(t, params, width, analysis.training_flops(), per_token, N.add(per_token, attention_rule))
    by_family: dict[str, list] = {}
    shares = {id(r): N.mul(N.mul(12, N.mul(N.mul(n, N.mul(h, d)), N.mul(t, t))), batch)
              for r, (n, h, _, _, d) in attentions}
    for row in rows:
        rule = N.add(N.mul(N.mul(6, N.mul(row.params if row.leaf else 0, t)), batch), shares.get(id(row), 0))
        entry = by_family.setdefault(row.family, [0, 0])
        entry[0] += 1
        entry[1] = N.add(entry[1], N.sub(_own_training(row), rule))
    result.differences = [(family, n, diff) for family, (n, diff) in by_family.items()
                          if N.is_symbolic(diff) or diff != 0]
    return result
