"""The steps behind the numbers: which derivation steps explain which quantity, and the
step every layer with MACs shares (FLOPs = 2·MACs, as torch's FlopCounterMode counts).

A kind writes its own steps (layers/); `explain`, a failed `expect:` and a wrong homework
answer show them through `steps_for`.
"""
from __future__ import annotations

from typing import Any

from archcalc.engine import numbers as N
from archcalc.layers.base import Step

STEP_NAMES = {"output": ("H2", "W2", "L2", "D2", "size"), "output_width": ("W2", "L2"), "output_height": ("H2",),
              "params": ("params",), "macs": ("MACs",), "neurons": ("neurons",), "flops": ("MACs", "FLOPs"),
              "buffers": ("buffers",)}


def flops_step(macs: Any, flops: Any) -> Step | None:
    """FLOPs = 2·MACs, for a layer that has MACs."""
    if macs in (0, None) or (N.is_symbolic(macs) and macs.is_zero):
        return None
    text = N.fmt(macs)
    return Step("FLOPs", "2·MACs", f"2·({text})" if N.is_symbolic(macs) and macs.is_Add else f"2·{text}", flops)


def steps_for(row, quantity: str) -> list[Step]:
    """The steps behind one quantity of a row (for a failed expectation or a wrong answer)."""
    names = STEP_NAMES.get(quantity, ())
    return [s for s in row.steps if s.quantity in names or s.quantity.startswith(tuple(f"{n} of" for n in names))]
