"""Memory, under rules stated in the report.

- weights: parameters and buffers in the chosen dtype (BatchNorm's batch counter is int64).
- activations: every layer's output, per sample and per batch.
- peak inference: weights, plus the tensors alive at the worst moment of a forward pass
  without gradients: a layer's input and output while it runs (element-wise layers in
  place), a merge's input until its last branch has run, and finished branch outputs until
  they are summed or joined.
- training: weights, their gradients, the optimizer's state (SGD with momentum: one copy of
  the parameters; Adam: two), and the activations autograd saves for the backward pass,
  each counted once however many layers save it (each kind states what it saves).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from archcalc.engine import numbers as N
from archcalc.engine.analyze import Analysis, Row
from archcalc.layers.base import kinds

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
OPTIMIZER_COPIES = {"none": 0, "sgd": 0, "sgd-momentum": 1, "adam": 2}


@dataclass
class Memory:
    dtype: str
    weights: object
    activations: object
    peak_inference: object
    saved_for_backward: object | None  # None when a kind's saved tensors are not modelled
    training: dict = field(default_factory=dict)  # optimizer -> bytes
    unmodelled: list[str] = field(default_factory=list)


def _tree(analysis: Analysis):
    """(row, children, branches) nodes in execution order."""
    nodes, roots = {}, []
    for row in analysis.rows:
        node = {"row": row, "children": [], "branches": {b: [] for b in (row.branches or [])}}
        nodes[row.path] = node
        parent, _, _ = row.path.rpartition(".")
        if not parent:
            roots.append(node)
        elif parent in nodes:
            nodes[parent]["children"].append(node)
        else:
            merge, _, branch = parent.rpartition(".")
            nodes[merge]["branches"].setdefault(branch, []).append(node)
    return roots


def _in_place(row: Row) -> bool:
    kind = kinds()[row.kind]
    return kind.elementwise or kind.view


def _peak(nodes, in_bytes, elem, held) -> tuple[object, object]:
    """(peak bytes of activations during this sequence, bytes of its output)."""
    peak, current = N.add(held, in_bytes), in_bytes
    for node in nodes:
        row = node["row"]
        out = N.mul(row.activations, elem)
        if row.leaf:
            during = current if _in_place(row) else N.add(current, out)
            peak = N.maximum(peak, N.add(held, during))
        elif row.family == "merge":
            done = 0
            for items in node["branches"].values():
                branch_peak, branch_out = _peak(items, current, elem, N.add(held, done)) if items else (
                    N.add(held, N.add(done, current)), current)
                peak = N.maximum(peak, branch_peak)
                done = N.add(done, branch_out)
            peak = N.maximum(peak, N.add(held, N.add(done, out)))
        else:
            inner_peak, out = _peak(node["children"], current, elem, held)
            peak = N.maximum(peak, inner_peak)
        current = out
    return peak, current


def _saved(analysis: Analysis, elem: int) -> tuple[object | None, list[str]]:
    registry = kinds()
    tensors: dict[int, object] = {}
    unmodelled: set[str] = set()
    counter = [0]

    def new() -> int:
        counter[0] += 1
        return counter[0]

    def walk(nodes, current: int, grad: bool) -> tuple[int, bool]:
        for node in nodes:
            row = node["row"]
            if row.leaf:
                kind = registry[row.kind]
                out = current if kind.view else new()
                rule = kind.saved_for_backward(row.args, row.input, row.output, elem)
                if rule is None:
                    unmodelled.add(row.kind)
                elif grad or row.params:  # autograd records a layer once something needs a gradient
                    for what, numel, nbytes in rule:
                        key = current if what == "input" else out if what == "output" else new()
                        per_batch = 1 if what == "stat" else analysis.batch
                        tensors[key] = N.mul(N.mul(numel, nbytes), per_batch)
                grad = grad or bool(row.params)
                current = out
            elif row.family == "merge":
                outs = [walk(items, current, grad) for items in node["branches"].values() if items]
                grad = any(g for _, g in outs) or grad
                current = new()
            else:
                current, grad = walk(node["children"], current, grad)
        return current, grad

    walk(_tree(analysis), 0, False)
    if unmodelled:
        return None, sorted(unmodelled)
    return N.total(tensors.values()), []


RULES = (
    "weights: parameters and buffers in the dtype (BatchNorm's batch counter stays int64)",
    "activations: every layer's output",
    "peak inference: weights + the tensors alive at the worst moment of a forward pass without gradients "
    "(a layer's input and output; element-wise layers in place; a merge's input and finished branches)",
    "training: weights + gradients + optimizer state (momentum 1 copy, Adam 2) + the activations autograd "
    "saves for backward, each tensor once",
)


def lines(m: Memory, batch: int) -> list[str]:
    """The memory section of a report, each figure with its rule."""
    def size(x) -> str:
        return f"{N.fmt(x)} bytes" + (f" ({float(x) / 2**20:,.1f} MiB)" if not N.is_symbolic(x) else "")

    out = [f"memory ({m.dtype}, batch {batch}): weights {size(m.weights)}; activations {size(m.activations)}; "
           f"peak inference {size(m.peak_inference)}"]
    if m.saved_for_backward is None:
        out.append("training memory: not modelled for " + ", ".join(m.unmodelled))
    else:
        out.append(f"training: saved for backward {size(m.saved_for_backward)}; total with SGD "
                   f"{size(m.training['sgd'])}, SGD-momentum {size(m.training['sgd-momentum'])}, "
                   f"Adam {size(m.training['adam'])}")
    return out


def memory(analysis: Analysis, dtype: str = "float32") -> Memory:
    elem = DTYPE_BYTES[dtype]
    registry = kinds()
    weights = N.total(registry[r.kind].weight_bytes(r.args, r.params, r.buffers, elem) for r in analysis.rows
                      if r.leaf)
    activations = N.mul(analysis.totals["activations"], elem)
    input_bytes = N.mul(N.mul(N.product(analysis.input), analysis.batch), elem)
    peak, _ = _peak(_tree(analysis), input_bytes, elem, 0)
    saved, unmodelled = _saved(analysis, elem)
    result = Memory(dtype, weights, activations, N.add(weights, peak), saved, unmodelled=unmodelled)
    if saved is not None:
        params = N.mul(analysis.totals["params"], elem)
        for optimizer, copies in OPTIMIZER_COPIES.items():
            if optimizer == "none":
                continue
            result.training[optimizer] = N.add(N.add(weights, N.mul(params, 1 + copies)), saved)
    return result
