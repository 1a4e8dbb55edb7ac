"""The rules of thumb beside the exact training FLOPs (engine/training.py), in words."""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.engine.training import RulesOfThumb

WHY = ("exact − rule, by layer family: a parameter that multiplies no token (a table looked up, a norm's scale, "
       "a bias) costs nothing; a layer runs as often as it is applied (a head on one token once, a tied head "
       "again though N counts it once); the first layer with weights has no input gradient; attention over other "
       "than T keys is not 12·L·d·T²")


def _signed(x) -> str:
    if N.is_symbolic(x):
        return N.fmt(x)
    return ("+" if x > 0 else "") + N.fmt(x)


def rules_lines(r: RulesOfThumb) -> list[str]:
    """The two rules, each with its difference from the exact figure, and that difference by family."""
    lines = [f"rules of thumb at T = {N.fmt(r.tokens)} tokens (N = {N.fmt(r.params)} parameters, "
             f"L·d = {N.fmt(r.width)}), exact {N.fmt(r.exact)}: 6·N·T = {N.fmt(r.per_token)} (exact − rule {_signed(N.sub(r.exact, r.per_token))}"
             f"); 6·N·T + 12·L·d·T² = {N.fmt(r.with_attention)} (exact − rule "
             f"{_signed(N.sub(r.exact, r.with_attention))})"]
    lines += [f"  {family} ({n} row{'s' if n != 1 else ''}): {_signed(diff)}" for family, n, diff in r.differences]
    lines.append(f"  {WHY}")
    return lines


def rules_json(r: RulesOfThumb) -> dict:
    return {"tokens": N.to_json(r.tokens), "params": N.to_json(r.params), "attention_width": N.to_json(r.width),
            "exact": N.to_json(r.exact), "six_n_t": N.to_json(r.per_token),
            "six_n_t_plus_attention": N.to_json(r.with_attention),
            "difference_by_family": {family: N.to_json(diff) for family, _, diff in r.differences}}
