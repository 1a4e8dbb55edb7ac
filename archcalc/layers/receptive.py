"""Receptive fields, per spatial axis: size, jump (effective stride) and start (the centre
of output position 0, in input coordinates), the usual recurrences

    size' = size + (F_eff − 1)·jump,   jump' = jump·S,   start' = start + ((F_eff − 1)/2 − P)·jump

with F_eff = D·(F − 1) + 1. Branches (add, concat) take the union of their fields, and the
branch that sets the size is named. Values stay exact (and symbolic where sizes are).
"""
from __future__ import annotations

from dataclasses import dataclass

from archcalc.engine import numbers as N


@dataclass(frozen=True)
class AxisRF:
    size: object
    jump: object
    start: object

    def text(self) -> str:
        return f"{N.fmt(self.size)} (jump {N.fmt(self.jump)})"


def initial(x: tuple) -> tuple[AxisRF, ...] | None:
    """At the input: each position sees itself. Defined for [C, L], [C, H, W], [C, D, H, W]."""
    if not 2 <= len(x) <= 4:
        return None
    return tuple(AxisRF(1, 1, 0) for _ in x[1:])


def through_window(rf, kernel, stride, padding, dilation=None):
    if rf is None:
        return None
    dilation = dilation or (1,) * len(rf)
    out = []
    for axis, k, s, p, d in zip(rf, kernel, stride, padding, dilation):
        effective = N.add(N.mul(d, N.sub(k, 1)), 1)
        size = N.add(axis.size, N.mul(N.sub(effective, 1), axis.jump))
        start = N.add(axis.start, N.mul(N.sub(N.true_div(N.sub(effective, 1), 2), p), axis.jump))
        out.append(AxisRF(size, N.mul(axis.jump, s), start))
    return tuple(out)


def union(fields: list) -> tuple[tuple[AxisRF, ...] | None, int | None]:
    """The union over branches, and the index of the branch with the largest field."""
    present = [(i, f) for i, f in enumerate(fields) if f is not None]
    if not present or len(present) < len(fields):
        return (present[0][1] if len(present) == len(fields) else None), None
    axes = []
    for a in range(len(present[0][1])):
        lefts = [N.sub(f[a].start, N.true_div(N.sub(f[a].size, 1), 2)) for _, f in present]
        rights = [N.add(f[a].start, N.true_div(N.sub(f[a].size, 1), 2)) for _, f in present]
        left, right = N.minimum(*lefts), N.maximum(*rights)
        axes.append(AxisRF(N.add(N.sub(right, left), 1), present[0][1][a].jump, N.true_div(N.add(left, right), 2)))
    widest = max(present, key=lambda p: p[1][0].size if not N.is_symbolic(p[1][0].size) else 0)[0]
    return tuple(axes), widest
