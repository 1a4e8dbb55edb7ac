"""Why an answer is wrong, where one common mistake explains it exactly.

Each hypothesis recomputes the quantity the way the mistake would (the layer without its
biases, with its full input depth, without its padding; the network at 224 instead of
227; MACs for FLOPs; one GPU's half; the size formula without its + 1) and names the
mistake only when the student's number is exactly what that mistake gives.
"""
from __future__ import annotations

from typing import Any, Callable

from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis, Row
from archcalc.layers.args import ArgTypeError
from archcalc.layers.base import Args, Context
from archcalc.spec.errors import SpecError


SHAPES = ("output", "input", "output_width", "output_height", "output_depth", "output_channels")


def quantity_of(row_or_totals: Any, quantity: str, output: tuple | None = None):
    """The value of an answer's quantity from a row (or the totals and the network output)."""
    if isinstance(row_or_totals, dict):  # the network: its output's sizes, no input
        if quantity not in SHAPES or quantity == "input":
            return row_or_totals.get(quantity)
        shape = output
    else:
        shape = row_or_totals.output if quantity != "input" else row_or_totals.input
        if quantity not in SHAPES:
            value = getattr(row_or_totals, quantity)
            return 0 if value is None and quantity == "neurons" else value
    return _of_shape(tuple(shape), quantity)


def _of_shape(shape: tuple, quantity: str):
    if quantity in ("output", "input"):
        return tuple(shape)
    if quantity == "output_width":
        return shape[-1]
    if quantity == "output_height":
        return shape[-2] if len(shape) >= 3 else None
    return shape[0]  # depth / channels


def _reinfer(row: Row, **changes) -> Any:
    """The layer recomputed with some arguments changed, on the same input; None if invalid."""
    kind = row.layer
    values = dict(row.args.items())
    for name, value in changes.items():
        arg = next((a for a in kind.args if a.name == name), None)
        if arg is None:
            return None
        try:
            values[name] = arg.type.check(value)
        except ArgTypeError:
            return None
    args = Args(values, {})
    ctx = Context(row.path, row.kind, row.loc, args, "input", lambda *_: None)
    try:
        return kind.infer(row.input, args, ctx)
    except SpecError:
        return None


def _from_result(result, row: Row, quantity: str):
    """A recomputed layer's value of the quantity (per sample, as the mistake would give it)."""
    if result is None:
        return None
    if quantity in SHAPES:
        return _of_shape(tuple(row.input if quantity == "input" else result.output), quantity)
    elements = N.product(result.output)
    return {"params": result.params, "buffers": result.buffers, "neurons": elements, "activations": elements,
            "macs": N.add(result.macs, result.per_pass_macs),
            "flops": N.mul(2, N.add(result.macs, result.per_pass_macs))}.get(quantity)


def diagnose(student: Any, quantity: str, row: Row | None, analysis: Analysis,
             reanalyze_at: Callable[[int, int], Analysis | None]) -> list[str]:
    """Mistakes that give exactly the student's number."""
    if not isinstance(student, (int, tuple)) or isinstance(student, bool):
        return []
    target = quantity_of(row, quantity) if row is not None else quantity_of(analysis.totals, quantity, analysis.output)
    found = _layer_mistakes(student, quantity, row) if row is not None and row.leaf and row.args is not None else []
    if isinstance(target, int) and not isinstance(target, bool):
        found += _arithmetic_mistakes(student, quantity, target)
    if tuple(analysis.input[1:]) == (227, 227) and _at_224(student, quantity, row, target, reanalyze_at):
        found.append("computed with a 224×224 input; this network takes 227×227")
    return found


def _layer_mistakes(student, quantity: str, row: Row) -> list[str]:
    """The layer recomputed without its biases, with its full input depth, without its padding."""
    found = []
    args = dict(row.args.items())
    if args.get("bias") and _from_result(_reinfer(row, bias=False), row, quantity) == student:
        found.append("counted the weights only: the bias terms (one per filter or output) are missing")
    if args.get("groups", 1) != 1 and _from_result(_reinfer(row, groups=1), row, quantity) == student:
        found.append(f"used the full input depth D = {N.fmt(row.input[0])}; with groups={args['groups']} "
                     f"each filter sees only D/groups = {N.fmt(N.true_div(row.input[0], args['groups']))} "
                     "channels (one GPU's half)")
    padding = args.get("padding")
    if padding not in (None, "valid") and padding != (0,) * len(padding if isinstance(padding, tuple) else ()):
        if _from_result(_reinfer(row, padding=0), row, quantity) == student:
            found.append(f"forgot the zero padding P = {N.fmt(padding[0]) if isinstance(padding, tuple) else padding}")
    return found


def _arithmetic_mistakes(student, quantity: str, target: int) -> list[str]:
    found = []
    if student * 2 == target:
        found.append("half the right value: one GPU's half of the layer, or MACs where FLOPs were asked")
    if student == target * 2 and quantity == "macs":
        found.append("counted FLOPs (2 per multiply-accumulate) where MACs were asked")
    if quantity in ("output_width", "output_height") and student == target - 1:
        found.append("forgot the + 1 in W2 = (W1 − F + 2P)/S + 1")
    return found


def _at_224(student, quantity: str, row: Row | None, target, reanalyze_at) -> bool:
    """The student's number is what the network gives at 224×224 (the paper's figure), not 227."""
    other = reanalyze_at(224, 224)
    if other is None:
        return False
    try:
        alt = quantity_of(other.row(row.path), quantity) if row is not None else \
            quantity_of(other.totals, quantity, other.output)
    except KeyError:
        return False
    return alt == student and alt != target
