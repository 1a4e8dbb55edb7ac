"""What analysing a spec gives: a tree of rows, with totals and warnings.

Every layer, block call, repeat and merge of the expanded spec is a Row. A row carries the
kind class that computed it (`layer`; None for blocks and repeats), its children (a block's
or a repeat's rows) and its branches (a merge's); `Analysis.rows` lists them all depth
first, as the tables print them, and `Analysis.roots` is the top of the tree. The walker
(analyze.py) builds every row once, by keyword; memory, diagrams, the torch builder, the
conventions and grading read this tree and never rebuild it from the dotted paths.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, NamedTuple

from archcalc.engine import numbers as N
from archcalc.spec.errors import Location

if TYPE_CHECKING:
    from archcalc.layers.base import Args, LayerKind, Step
    from archcalc.spec.model import Spec

COUNTS = ("params", "buffers", "neurons", "activations", "macs", "flops")
PER_SAMPLE_SCALED = ("activations", "macs", "flops")  # --batch multiplies these, never params
SUMMED = COUNTS + ("backward_macs",)


class BranchRows(NamedTuple):
    """One branch of a merge: its name, its rows in order (empty: the input passes through)
    and the shape it is given (the merge's input, or its slice of it)."""

    name: str
    rows: list
    input: tuple

    @property
    def output(self) -> tuple:
        return self.rows[-1].output if self.rows else self.input


@dataclass(kw_only=True, eq=False)
class Row:
    """One node of the analysed spec. Leaves are layers; blocks, repeats and merges hold the
    sums of the leaves inside them (a merge adds its own combining step, which counts 0 in
    archcalc's rules)."""

    path: str
    kind: str  # the spec's word: a layer kind, a block's name, "bottleneck ×2" for a repeat
    layer: type[LayerKind] | None  # the kind class (layers and merges); None for blocks and repeats
    family: str  # the kind's family, or "block" / "repeat"
    depth: int
    loc: Location
    input: tuple
    output: tuple
    params: Any = 0
    buffers: Any = 0
    neurons: Any = None  # output elements of a layer with weights; None for the others
    activations: Any = 0
    macs: Any = 0
    flops: Any = 0
    backward_macs: Any = 0  # the backward pass (weight and input gradients), for training cost
    steps: list[Step] = field(default_factory=list)
    args: Args | None = None  # the bound arguments (layers and merges)
    children: list[Row] = field(default_factory=list)  # a block's or repeat's rows, in order
    branches: list[BranchRows] = field(default_factory=list)  # a merge's branches, in order
    own: dict | None = None  # a merge's own combining step (params, buffers, macs, flops at the batch)
    weights: dict | None = None  # given values of the layer's parameters (numeric exercises)
    rf: tuple | None = None  # receptive field per spatial axis (layers/receptive.py), None if not spatial
    rf_branch: str | None = None  # a merge's branch with the widest field
    owner: Row | None = None  # tied weights: the row whose weights this layer reuses (counted there, once)
    call: str = "module"  # how the model calls a layer: "module" (nn.ReLU) or "function" (F.relu); peers count apart
    reads: str | None = None  # `from: NAME`: the input or earlier row this row reads instead of the row before

    @property
    def leaf(self) -> bool:
        return self.layer is not None and not self.layer.merge

    @property
    def is_merge(self) -> bool:
        return self.layer is not None and self.layer.merge

    @property
    def own_macs(self):
        """The multiply-accumulates of this row's own operation: a layer's, or a merge's
        combining step (its branches' layers are rows of their own); 0 for blocks."""
        if self.leaf:
            return self.macs
        return self.own["macs"] if self.own else 0

    @property
    def name(self) -> str:
        """The last part of the path: the name under its block, branch or repeat."""
        return self.path.rsplit(".", 1)[-1]

    @property
    def shares(self) -> str | None:
        """The path of the layer whose weights this one reuses."""
        return self.owner.path if self.owner is not None else None

    def inside(self) -> Iterator[Row]:
        """Every row below this one, depth first (children, or each branch in turn). A stack,
        not nested generators: a row 6 levels down would pass through 6 of them."""
        stack = self._below()
        while stack:
            row = stack.pop()
            yield row
            stack += row._below()

    def _below(self) -> list[Row]:
        """The rows right below this one, last first (a stack pops them in order)."""
        below = self.children + [r for b in self.branches for r in b.rows] if self.branches else list(self.children)
        below.reverse()
        return below

    def leaves(self) -> list[Row]:
        return [r for r in self.inside() if r.leaf]


@dataclass
class AnalysisWarning:
    path: str
    code: str
    message: str
    loc: Location | None = None


@dataclass
class Analysis:
    spec: Spec
    bindings: dict[str, Any]
    batch: int
    input: tuple
    output: tuple
    roots: list[Row]
    totals: dict[str, Any]
    warnings: list[AnalysisWarning]
    symbols: list[str]
    variant: str | None = None
    name: str = ""
    more_inputs: dict[str, tuple] = field(default_factory=dict)  # inputs: after the first, by name
    rows: list[Row] = field(init=False)  # every row, depth first, as tables list them

    def __post_init__(self) -> None:
        self.rows = [r for root in self.roots for r in (root, *root.inside())]
        self._by_path = {r.path: r for r in self.rows}

    @property
    def symbolic(self) -> bool:
        return bool(self.symbols)

    def inputs_text(self, shape=None) -> str:
        """"input 3×227×227", or "inputs src S, tgt T" for a spec of several inputs; `shape`
        writes one shape (a table's writes symbolic sizes in parentheses)."""
        shape = shape or (lambda dims: "×".join(N.fmt(d) for d in dims))
        if not self.more_inputs:
            return f"input {shape(self.input)}"
        shapes = {self.spec.input_name: self.input, **self.more_inputs}
        return "inputs " + ", ".join(f"{name} {shape(dims)}" for name, dims in shapes.items())

    def leaves(self) -> list[Row]:
        return [r for r in self.rows if r.leaf]

    def training_flops(self, row: Row | None = None):
        """Forward plus backward FLOPs (2 per MAC) of one training step, per the batch."""
        if row is None:
            return N.add(self.totals["flops"], N.mul(2, self.totals["backward_macs"]))
        return N.add(row.flops, N.mul(2, row.backward_macs))

    def epoch_training_flops(self, samples: int):
        """Training FLOPs of one pass over `samples` samples, at this batch size."""
        return N.mul(self.training_flops(), N.true_div(samples, self.batch))

    def row(self, path: str) -> Row:
        return self._by_path[path]

    def __repr__(self) -> str:
        t = self.totals
        return (f"<Analysis {self.name}: {len(self.leaves())} layers, params {t['params']}, MACs {t['macs']}, "
                f"FLOPs {t['flops']}>")

    def recounted(self, own_macs: Callable[[Row], Any]) -> Analysis:
        """A copy whose leaves and merges count `own_macs(row)` multiply-adds (FLOPs twice
        that), blocks and merges summing what is inside them as the walker sums: the same
        network under another tool's counting convention (conventions.apply)."""
        copies: dict[int, Row] = {}

        def copy(row: Row) -> Row:
            new = replace(row, children=[copy(c) for c in row.children],
                          branches=[BranchRows(b.name, [copy(r) for r in b.rows], b.input) for b in row.branches],
                          owner=copies.get(id(row.owner)))
            copies[id(row)] = new
            own = own_macs(row) if row.layer is not None else 0
            inner = [r.macs for r in new.children + [r for b in new.branches for r in b.rows]]
            new.macs = N.total([own, *inner])
            new.flops = N.mul(new.macs, 2)
            return new

        roots = [copy(r) for r in self.roots]
        totals = dict(self.totals)
        totals["macs"] = N.total(r.macs for r in roots)
        totals["flops"] = N.mul(totals["macs"], 2)
        return Analysis(self.spec, self.bindings, self.batch, self.input, self.output, roots, totals,
                        list(self.warnings), self.symbols, self.variant, self.name)


def subtotal(parts: list[Row], own: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The counts of a block or merge: its rows' sums (neurons None when none has any), plus
    a merge's own combining step."""
    out = {}
    for q in SUMMED:
        values = [getattr(r, q) for r in parts if getattr(r, q) is not None]
        if own and own.get(q) is not None:
            values.append(own[q])
        out[q] = N.total(values) if values or q != "neurons" else None
    return out
