"""Sliding-window arithmetic shared by convolutions and pooling: torch's output-size rule.

    out = floor((W + 2P − D·(F − 1) − 1) / S) + 1      (ceil with ceil_mode)

which is the course's W2 = (W1 − F + 2P)/S + 1 with the effective kernel D·(F − 1) + 1.
The exact quotient is kept for the `inexact-division` warning, and ceil_mode's rule that
the last window must start inside the input (or its left padding) is applied.
"""
from __future__ import annotations

from typing import Any

from archcalc.engine import numbers as N
from archcalc.layers.base import Context, Step

AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def axis_names(nd: int) -> tuple[str, ...]:
    return AXIS_NAMES[nd]


def window_out(ctx: Context, axis: str, size: Any, kernel: Any, stride: Any, padding: Any,
               dilation: Any = 1, ceil_mode: bool = False, *, what: str = "kernel") -> tuple[Any, Step]:
    """Output length along one axis, with the derivation step and the checks torch makes.

    The step reads as the course writes it, (W1 − F + 2P)/S + 1, when S divides exactly, and
    with the rounding made visible otherwise: ⌊(224 − 11 + 2·0)/4⌋ + 1 = 54."""
    effective = N.add(N.mul(dilation, N.sub(kernel, 1)), 1)
    padded = N.add(size, N.mul(2, padding))
    numerator = N.sub(padded, effective)
    f_text = "F" if dilation == 1 else "(D·(F − 1) + 1)"
    f_value = N.fmt(kernel) if dilation == 1 else f"({N.fmt(dilation)}·({N.fmt(kernel)} − 1) + 1)"
    formula = f"({axis}1 − {f_text} + 2P)/S + 1"
    substituted = f"({N.fmt(size)} − {f_value} + 2·{N.fmt(padding)})/{N.fmt(stride)} + 1"
    exact = N.add(N.true_div(numerator, stride), 1)
    out = N.add(N.ceildiv(numerator, stride) if ceil_mode else N.floordiv(numerator, stride), 1)
    divides = not N.is_symbolic(numerator) and not N.is_symbolic(stride) and numerator % stride == 0
    if not divides:  # say how the quotient is rounded: ⌊…⌋ as torch floors, ⌈…⌉ with ceil_mode
        left, right = ("⌈", "⌉") if ceil_mode else ("⌊", "⌋")
        formula = f"{left}({axis}1 − {f_text} + 2P)/S{right} + 1"
        substituted = f"{left}({N.fmt(size)} − {f_value} + 2·{N.fmt(padding)})/{N.fmt(stride)}{right} + 1"
        plain_text = f"({N.fmt(size)} − {f_value} + 2·{N.fmt(padding)})/{N.fmt(stride)} + 1"
    else:
        plain_text = substituted
    last_window_dropped = False
    if ceil_mode:
        # torch: drop the last window if it would start in the right padding
        last_start = N.mul(N.sub(out, 1), stride)
        starts_outside = N.compare(last_start, ">=", N.add(size, padding))
        if starts_outside is None:
            if N.compare(N.add(padding, stride), "<=", effective) is not True:
                raise ctx.error("ceil_mode's last-window rule can't be decided for a symbolic size",
                                found=f"{axis} = {N.fmt(size)}", hint="bind the size with --set NAME=VALUE",
                                code="needs-concrete-size")
        elif starts_outside:
            out = N.sub(out, 1)
            last_window_dropped = True
    if N.compare(out, "<", 1):
        if not ceil_mode:
            raise ctx.error(f"the {what} is larger than the padded input along {axis}",
                            expected=f"{what} extent {N.fmt(effective)} <= {axis} + 2P",
                            found=f"{axis} + 2P = {N.fmt(size)} + 2·{N.fmt(padding)} = {N.fmt(padded)}, "
                                  f"the {ctx.source}",
                            hint=f"use a smaller {what}, more padding, or a larger input", code="size-too-small")
        raise ctx.error(f"the output would be empty along {axis}", expected="an output size of at least 1",
                        found=f"{substituted} rounds up to {N.fmt(out)}", hint="use a larger input",
                        code="size-too-small")
    remainder_known = not N.is_symbolic(numerator) and not N.is_symbolic(stride)
    if remainder_known and numerator % stride != 0:
        rounded = "rounds up" if ceil_mode else "floors"
        ctx.warn("inexact-division",
                 f"{axis}: {plain_text} = {N.decimal_text(exact)}, torch {rounded} to {N.fmt(out)}"
                 + ("" if ceil_mode else f" (the last {N.fmt(numerator % stride)} input position(s) are unused)"))
    if last_window_dropped:  # torch drops a last window that would start in the right padding
        formula += " − 1 (last window in the padding)"
        substituted += " − 1"
    return out, Step(f"{axis}2", formula, substituted, out)


def per_axis_text(values: tuple) -> str:
    if len(set(map(str, values))) == 1:
        return N.fmt(values[0])
    return "×".join(N.fmt(v) for v in values)
