"""Memory, under rules stated in the report.

- weights: parameters and buffers in the chosen dtype (BatchNorm's batch counter is int64).
- activations: every layer's output, per sample and per batch.
- peak inference: weights, plus the tensors alive at the worst moment of a forward pass
  without gradients: a layer's input and output while it runs (element-wise layers in
  place) and an attention's score matrix (h·T·S, softmax in place: what a math kernel makes
  and a flash kernel does not), a merge's input until its last branch has run, and finished
  branch outputs until they are summed or joined.
- training: weights, their gradients, the optimizer's state (SGD with momentum: one copy of
  the parameters; Adam: two), and the activations autograd saves for the backward pass,
  each counted once however many layers save it (each kind states what it saves).
- KV cache: what autoregressive inference keeps per token, every attention's keys and
  values (each kind states its own), at a context of N tokens for the batch.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis, Row
from archcalc.layers.strides import contiguous

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
    kv_cache_per_token: object = 0  # bytes each token's keys and values take, per sample (0: no attention)
    context: int | None = None  # tokens the KV cache is given for (--context)

    def kv_cache(self, batch: int):
        """The KV cache at `context` tokens for the batch (None without a context)."""
        return None if self.context is None else N.mul(N.mul(self.kv_cache_per_token, self.context), batch)


def _in_place(row: Row) -> bool:
    return row.layer.elementwise or row.layer.view


def score_matrix(row: Row):
    """Elements per sample of the largest score matrix (h·T·S) the row's attentions make (a
    stack's layers one at a time); 0 for a row without attention."""
    if row.leaf:
        shapes = [(a.heads, a.queries, a.keys) for a in row.layer.attentions(row.args, row.input)]
    elif row.is_merge:
        shape = row.layer.merge_attention_shape(row.args, [b.output for b in row.branches])
        shapes = [shape[:3]] if shape is not None else []
    else:
        shapes = []
    return N.maximum(*(N.product(s) for s in shapes)) if shapes else 0


def _peak(rows: list[Row], in_bytes, elem, held, batch: int = 1) -> tuple[object, object]:
    """(peak bytes of activations during this sequence, bytes of its output)."""
    peak, current = N.add(held, in_bytes), in_bytes
    for row in rows:
        out = N.mul(row.activations, elem)
        if row.leaf:
            during = current if _in_place(row) else N.add(current, out)
            during = N.add(during, N.mul(N.mul(score_matrix(row), batch), elem))
            peak = N.maximum(peak, N.add(held, during))
        elif row.is_merge:
            done = 0
            for branch in row.branches:
                branch_peak, branch_out = _peak(branch.rows, current, elem, N.add(held, done), batch) \
                    if branch.rows else (N.add(held, N.add(done, current)), current)
                peak = N.maximum(peak, branch_peak)
                done = N.add(done, branch_out)
            scores = N.mul(N.mul(score_matrix(row), batch), elem)
            peak = N.maximum(peak, N.add(held, N.add(N.add(done, out), scores)))
        else:
            inner_peak, out = _peak(row.children, current, elem, held, batch)
            peak = N.maximum(peak, inner_peak)
        current = out
    return peak, current


class _Saved:
    """The tensors autograd keeps, each once: tensors are numbered as the walk makes them
    (0 is the network's input), and a layer's rule names its input, its output or new ones.
    A kept view (a slice of a split input) holds its whole tensor's storage: each tensor's
    bytes are known from where it was made."""

    def __init__(self, batch: int, elem: int, input_elements):
        self.batch, self.elem = batch, elem
        self.tensors: dict[int, object] = {}
        self.sizes: dict[int, object] = {0: N.mul(N.mul(input_elements, elem), batch)}
        self.unmodelled: set[str] = set()
        self.weights: set[int] = set()  # views of a layer's weights: counted as weights, never saved here
        self.made = 0

    def new(self, elements=None) -> int:
        self.made += 1
        if elements is not None:
            self.sizes[self.made] = N.mul(N.mul(elements, self.elem), self.batch)
        return self.made

    def keep(self, rule, inputs: list[int], out: int) -> None:
        for what, numel, nbytes in rule:
            if what == "input":
                key = inputs[0]
            elif what.startswith("input:"):
                key = inputs[int(what.split(":")[1])]
            else:
                key = out if what == "output" else self.new()
            if key in self.weights:
                continue
            per_batch = 1 if what == "stat" else self.batch
            size = N.mul(N.mul(numel, nbytes), per_batch)
            self.tensors[key] = N.maximum(size, self.sizes[key]) if key in self.sizes and what != "new" else size

    def walk(self, rows: list[Row], current: int, grad: bool, strides) -> tuple[int, bool, object]:
        """(the tensor after these rows, whether it needs a gradient, its strides: the batch
        axis first, None where unknown). A view is its input's tensor with its own strides."""
        for row in rows:
            if row.is_merge:
                outs = [self.walk(b.rows, current, grad, strides) for b in row.branches]  # a split's slices keep strides
                out = self.new(N.product(row.output))
                shapes = [b.output for b in row.branches]
                grads = [g for _, g, _ in outs]
                layouts = [((self.batch, *shape), st) for shape, (_, _, st) in zip(shapes, outs)]
                self._record(row, row.layer.merge_saved_for_backward(row.args, shapes, row.output, self.elem, grads,
                                                                      layouts), [o for o, _, _ in outs], out, any(grads))
                strides = row.layer.merge_output_strides(row.args, shapes, row.output, layouts, self.batch)
                current, grad = out, any(grads) or grad
            elif row.leaf:
                if row.layer.weights_view:
                    out = self.new()
                    self.weights.add(out)
                else:
                    out = current if row.layer.output_is_input(row.args) else self.new(N.product(row.output))
                self._record(row, row.layer.laid_out_saved_for_backward(row.args, row.input, row.output, self.elem,
                                                                        strides, self.batch), [current], out, grad)
                strides = row.layer.output_strides(row.args, row.input, row.output, strides, self.batch)
                grad = grad or bool(row.params)
                current = out
            else:
                current, grad, strides = self.walk(row.children, current, grad, strides)
        return current, grad, strides

    def _record(self, row: Row, rule, inputs: list[int], out: int, grad: bool) -> None:
        if rule is None:
            self.unmodelled.add(row.kind)
        elif grad or row.params:  # autograd records a layer once something needs a gradient
            self.keep(rule, inputs, out)


def _saved(analysis: Analysis, elem: int) -> tuple[object | None, list[str]]:
    saved = _Saved(analysis.batch, elem, N.product(analysis.input))
    saved.walk(analysis.roots, 0, False, contiguous((analysis.batch, *analysis.input)))
    if saved.unmodelled:
        return None, sorted(saved.unmodelled)
    return N.total(saved.tensors.values()), []


def kv_cache_elements(analysis: Analysis):
    """Elements per token per sample autoregressive inference keeps: every attention's keys
    and values, as its kind says (grouped-query attention keeps fewer heads)."""
    total = 0
    for row in analysis.rows:
        if row.leaf:
            total = N.add(total, row.layer.kv_cache(row.args, row.input))
        elif row.is_merge:
            total = N.add(total, row.layer.merge_kv_cache(row.args, [b.output for b in row.branches]))
    return total


def memory(analysis: Analysis, dtype: str = "float32", context: int | None = None) -> Memory:
    elem = DTYPE_BYTES[dtype]
    weights = N.total(r.layer.weight_bytes(r.args, r.params, r.buffers, elem) for r in analysis.leaves())
    activations = N.mul(analysis.totals["activations"], elem)
    input_bytes = N.mul(N.mul(N.product(analysis.input), analysis.batch), elem)
    peak, _ = _peak(analysis.roots, input_bytes, elem, 0, analysis.batch)
    saved, unmodelled = _saved(analysis, elem)
    result = Memory(dtype, weights, activations, N.add(weights, peak), saved, unmodelled=unmodelled,
                    kv_cache_per_token=N.mul(kv_cache_elements(analysis), elem), context=context)
    if saved is not None:
        params = N.mul(analysis.totals["params"], elem)
        for optimizer, copies in OPTIMIZER_COPIES.items():
            if optimizer == "none":
                continue
            result.training[optimizer] = N.add(N.add(weights, N.mul(params, 1 + copies)), saved)
    return result
