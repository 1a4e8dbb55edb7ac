"""The traced data flow as the spec language writes it: chains of layers, and merges whose
branches start from one value (the merge's immediate dominator: the last value every path
from the input to it passes) and meet again at the merge. Then names, as a person would
give them, from the model's own module paths."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from archcalc.spec.write import NAME, Entry
from archcalc.torch_backend.importing.traced import Problems, Traced


@dataclass
class TracedEntry(Entry):
    """An entry of the spec being written, with where it came from (for names and share:)."""

    source: str | None = None  # the module path (layers from modules) or the fx value (merges)
    has_params: bool = False


class _Chains:
    def __init__(self, values: list[Traced], output: str):
        self.by_id = {v.id: v for v in values}
        self.uses = Counter(i for v in values for i in v.inputs) + Counter([output])
        self.order = {v.id: i for i, v in enumerate(values)}
        self.dom: dict[str, set | None] = {}  # None: a value no data flows into (a `parameter`)
        for v in values:
            flows = [self.dom[i] for i in v.inputs if self.dom[i] is not None]
            self.dom[v.id] = ({v.id} if v.op == "input" else set.intersection(*flows) | {v.id} if flows else None)
        self.emitted: set[str] = set()
        self.problems = Problems()

    def idom(self, v: Traced) -> str:
        return max(self.dom[v.id] - {v.id}, key=self.order.__getitem__)

    def chain(self, start: str, end: str, pieces: list | None = None) -> list[TracedEntry]:
        """The items from the value after `start` up to `end`, walking back from `end`; a
        merge's branch may begin with a piece of a split of `start` (put in `pieces`)."""
        items: list[TracedEntry] = []
        current = end
        while current != start:
            v = self.by_id[current]
            if v.op == "piece" and pieces is not None and v.inputs[0] == start and v.id not in self.emitted:
                self.emitted.add(v.id)
                pieces.append(v)
                break
            if v.op == "piece":
                self.problems.report(f"'{v.id}', a piece of a split, is not where a branch of one add, mul or concat "
                                     "begins: the spec language cannot say that", v.where)
                return items
            if v.id in self.emitted:
                self.problems.report(f"the value of '{v.module or v.id}' is used in two places that do not meet at "
                                     "one add or concat: the spec language cannot say that", v.where)
                return items
            self.emitted.add(v.id)
            if not v.inputs and v.op == "layer":  # a `parameter`: the branch begins with it
                items.append(self._item(v))
                break
            if v.op == "input":
                self.problems.report(f"a branch of '{v.id}' does not start from the value its other branches "
                                     "start from", v.where)
                return items
            items.append(self._item(v))
            current = v.inputs[0] if v.op == "layer" else self.idom(v)
        return items[::-1]

    def _item(self, v: Traced) -> TracedEntry:
        if v.op == "layer":
            return TracedEntry(v.kind.kind, dict(v.args), source=v.module, has_params=v.has_params, call=v.call)
        fork, pieces = self.idom(v), []
        branches = [("", self.chain(fork, i, pieces)) for i in self._flat_inputs(v, fork)]
        return TracedEntry(v.kind.kind, dict(v.args) | self._split(v, pieces, len(branches)), source=v.id,
                           branches=branches)

    def _flat_inputs(self, v: Traced, fork: str) -> list[str]:
        """`a + b + c` traces as `(a + b) + c`: written as one merge of three branches, as a
        person writes it, wherever the inner merge (same kind, same arguments) is used nowhere
        else and its branches start where the outer's do (Inception's cat of a cat of two
        branches of one value stays nested)."""
        inputs = []
        for i in v.inputs:
            inner = self.by_id[i]
            if (inner.op == "merge" and inner.kind is v.kind and inner.args == v.args and self.uses[i] == 1
                    and self.idom(inner) == fork):
                inputs.extend(self._flat_inputs(inner, fork))
                self.emitted.add(i)
            else:
                inputs.append(i)
        return inputs

    def _split(self, merge: Traced, pieces: list[Traced], branches: int) -> dict:
        """The merge's split arguments, when its branches begin with a split's pieces: each
        piece once, in order (branch k takes piece k)."""
        if not pieces:
            return {}
        first = pieces[0].args
        keys = [(p.args["of"], p.args["index"]) for p in pieces]
        if keys != [(first["of"], k) for k in range(first["pieces"])] or len(pieces) != branches:
            self.problems.report(f"'{merge.id}' combines the pieces of a split other than each once and in order: a "
                                 "spec's split gives branch k the k-th piece", merge.where,
                                 hint="reorder the merge's arguments to follow the split's pieces")
            return {}
        return {"split": first["split"], "split_dim": first["split_dim"]}


def structure(values: list[Traced], output: str) -> list[TracedEntry]:
    """The spec's items, named, for the data flow `values` (topological order) ending at `output`."""
    chains = _Chains(values, output)
    start = next(v.id for v in values if v.op == "input")
    items = chains.chain(start, output)
    chains.problems.raise_if_any()
    _Names().assign(items)
    return items


class _Names:
    """Spec names in execution order: a layer's from its module path (layer1.0.conv1 →
    layer1_0_conv1), a merge's from what its branches share (layer1_0), a branch's from what
    its layers share beyond that (downsample), else main / identity / branch<n>; unique."""

    def __init__(self):
        self.used: set[str] = set()
        self.owners: dict[str, str] = {}  # module path → the name of its first call

    def unique(self, base: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", base)
        base = base if NAME.match(base) else "m_" + base
        name, n = base, 2
        while name in self.used:
            name, n = f"{base}_{n}", n + 1
        self.used.add(name)
        return name

    def assign(self, items: list[TracedEntry]) -> None:
        for item in items:
            if item.branches is None:
                self._layer(item)
            else:
                self._merge(item)

    def _layer(self, item: TracedEntry) -> None:
        """Named after its module; a module called again shares the first call's weights."""
        item.name = self.unique(item.source) if item.source else None
        if item.source and item.has_params:
            item.share = self.owners.get(item.source)
            self.owners.setdefault(item.source, item.name)

    def _merge(self, item: TracedEntry) -> None:
        prefix = _common_prefix(_sources(item.branches))
        item.name = self.unique(prefix or item.source)
        named, taken = [], set()
        for i, (_, branch) in enumerate(item.branches, start=1):
            label = _branch_label(branch, prefix, i)
            if not label or label in taken:
                label = f"branch{i}"
            taken.add(label)
            named.append((label, branch))
        item.branches = named
        for _, branch in named:
            self.assign(branch)


def _branch_label(branch: list[TracedEntry], prefix: str, i: int) -> str:
    """identity for an empty branch; what its layers' paths share beyond the merge's; main for
    the first otherwise."""
    if not branch:
        return "identity"
    inner = _sources([("", branch)])
    rest = _common_prefix(inner)[len(prefix):].strip("_") if inner else ""
    return rest if NAME.match(rest or "") else "main" if i == 1 else ""


def _sources(branches) -> list[str]:
    return [x.source.replace(".", "_") for _, b in branches for x in _leaves(b) if x.source]


def _leaves(items: list[TracedEntry]):
    for item in items:
        if item.branches is not None:
            for _, b in item.branches:
                yield from _leaves(b)
        else:
            yield item


def _common_prefix(names: list[str]) -> str:
    if not names:
        return ""
    parts = [n.split("_") for n in names]
    common = []
    for group in zip(*parts):
        if len(set(group)) != 1:
            break
        common.append(group[0])
    if len(names) == 1 and common:
        common = common[:-1]  # one layer: its parent's path
    return "_".join(common)
