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
    attention_matrices: object = 0  # bytes of every attention's h·T·S scores in one forward pass (the batch's)

    def kv_cache(self, batch: int):
        """The KV cache at `context` tokens for the batch (None without a context)."""
        return None if self.context is None else N.mul(N.mul(self.kv_cache_per_token, self.context), batch)


def _in_place(row: Row) -> bool:
    return row.layer.elementwise or row.layer.view


def score_matrix(row: Row):
    """Elements per sample of the largest score matrix (h·T·S) the row's attentions make (a
    stack's layers one at a time); 0 for a row without attention."""
    matrices = _scores(row)
    return N.maximum(*matrices) if matrices else 0


def _scores(row: Row) -> list:
    """Elements per sample of each score matrix the row makes (none for a block)."""
    if row.leaf:
        return row.layer.score_matrices(row.args, row.input)
    if row.is_merge:
        shape = row.layer.merge_attention_shape(row.args, [b.output for b in row.branches])
        return [N.product(shape[:3])] if shape is not None else []
    return []


def score_matrices(analysis: Analysis):
    """Elements per sample of every attention's score matrix (h·T·S) in one forward pass: the
    attention matrices an activation count of layers' outputs does not see."""
    return N.total(m for row in analysis.rows for m in _scores(row))


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
    (0 is the network's input), and a layer's rule names its input, its output, a tensor
    argument's tensor (by the name the spec gives it) or new ones (see
    LayerKind.saved_for_backward). A kept view (a slice of a split input) holds its whole
    tensor's storage: each tensor's bytes are known from where it was made."""

    def __init__(self, batch: int, elem: int, input_elements):
        self.batch, self.elem = batch, elem
        self.tensors: dict[int, object] = {}
        self.sizes: dict[int, object] = {0: N.mul(N.mul(input_elements, elem), batch)}
        self.names: dict[str, tuple] = {}  # an input's or a row's name: (its tensor, needs a gradient, strides)
        self.unmodelled: set[str] = set()
        self.weights: set[int] = set()  # views of a layer's weights: counted as weights, never saved here
        self.made = 0

    def new(self, elements=None, nbytes=None) -> int:
        self.made += 1
        if elements is not None:
            self.sizes[self.made] = N.mul(N.mul(elements, self.elem if nbytes is None else nbytes), self.batch)
        return self.made

    def keep(self, rule, inputs: list[int], out: int, args=None) -> None:
        labels: dict[str, int] = {}  # "new:<label>": one tensor however many entries name it
        for what, numel, nbytes in rule:
            key, made = self._key(what, inputs, out, args, labels)
            if key in self.weights:
                continue
            per_batch = 1 if what == "stat" else self.batch
            size = N.mul(N.mul(numel, nbytes), per_batch)
            self.tensors[key] = N.maximum(size, self.sizes[key]) if key in self.sizes and not made else size

    def _key(self, what: str, inputs: list[int], out: int, args, labels: dict[str, int]) -> tuple[int, bool]:
        """The tensor an entry names, and whether the entry made it."""
        if what.startswith("copy:"):
            if self.batch > 1:
                return self.new(), True  # torch's copy for the batch's layout: a tensor of its own
            what = what[len("copy:"):]  # at batch 1 the tensor itself
        if what == "input":
            return inputs[0], False
        if what.startswith("input:"):
            return inputs[int(what.split(":")[1])], False
        if what == "output":
            return out, False
        if what.startswith("arg:"):
            return self.names[str(getattr(args, what[len("arg:"):]))][0], False
        if what.startswith("new:"):
            label = what[len("new:"):]
            if label not in labels:
                labels[label] = self.new()
            return labels[label], True
        return self.new(), True  # "new", "stat"

    def walk(self, rows: list[Row], current: int, grad: bool, strides) -> tuple[int, bool, object]:
        """(the tensor after these rows, whether it needs a gradient, its strides: the batch
        axis first, None where unknown). A view is its input's tensor with its own strides."""
        for row in rows:
            if row.reads is not None:  # `from:`: it reads that tensor, not the one before
                current, grad, strides = self.names[row.reads]
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
                grad = grad or _trained(row)
                current = out
            else:
                current, grad, strides = self.walk(row.children, current, grad, strides)
            self.names[row.path] = (current, grad, strides)
        return current, grad, strides

    def _record(self, row: Row, rule, inputs: list[int], out: int, grad: bool) -> None:
        if rule is None:
            self.unmodelled.add(row.kind)
        elif grad or _trained(row):  # autograd records a layer once something needs a gradient
            self.keep(rule, inputs, out, row.args)


def _trained(row: Row) -> bool:
    """Whether the row has weights that learn: its own, or another layer's it shares."""
    return bool(row.params) or row.owner is not None


def _saved(analysis: Analysis, elem: int) -> tuple[object | None, list[str]]:
    saved = _Saved(analysis.batch, elem, N.product(analysis.input))
    saved.names[analysis.spec.input_name] = (0, False, contiguous((analysis.batch, *analysis.input)))
    for decl in analysis.spec.more_inputs:  # the spec's other inputs, which `from:` and tensor arguments name
        shape = analysis.more_inputs[decl.name]
        saved.names[decl.name] = (saved.new(N.product(shape), 8 if decl.dtype == "index" else None), False,
                                  contiguous((analysis.batch, *shape)))
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
                    kv_cache_per_token=N.mul(kv_cache_elements(analysis), elem), context=context,
                    attention_matrices=N.mul(N.mul(score_matrices(analysis), analysis.batch), elem))
    if saved is not None:
        params = N.mul(analysis.totals["params"], elem)
        for optimizer, copies in OPTIMIZER_COPIES.items():
            if optimizer == "none":
                continue
            result.training[optimizer] = N.add(N.add(weights, N.mul(params, 1 + copies)), saved)
    return result
