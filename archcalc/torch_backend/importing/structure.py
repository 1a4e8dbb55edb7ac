"""The traced data flow as the spec language writes it: chains of layers, and merges whose
branches start from one value (the merge's immediate dominator: the last value every path
from the input to it passes) and meet again at the merge. Then names, as a person would
give them, from the model's own module paths."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from archcalc.spec.write import NAME, Entry
from archcalc.torch_backend.importing.traced import Problems, Traced


@dataclass
class TracedEntry(Entry):
    """An entry of the spec being written, with where it came from (for names and share:)."""

    source: str | None = None  # the module path (layers from modules) or the fx value (merges)
    has_params: bool = False
    refs: dict = field(default_factory=dict)  # tensor arguments: argument → the value id it names
    weights_of: str | None = None  # the module whose parameters its module holds (a tied head), if another
    share_of: "TracedEntry | None" = None  # the entry whose weights it shares (share: is that entry's full path)


class _Chains:
    def __init__(self, values: list[Traced], output: str):
        self.by_id = {v.id: v for v in values}
        self.uses = Counter(i for v in values for i in v.inputs) + Counter([output])
        self.order = {v.id: i for i, v in enumerate(values)}
        self.up: dict[str, str | None] = {}  # each value data flows into → its immediate dominator (None: an input,
        # or values from different inputs meeting); a value no data flows into (a `parameter`) is not in it
        for v in values:
            flowing = [i for i in v.inputs if i in self.up]
            if v.op == "input":
                self.up[v.id] = None
            elif flowing:
                common = flowing[0]
                for other in flowing[1:]:
                    common = self._common(common, other)
                self.up[v.id] = common
        self.emitted: set[str] = set()
        self.entries: dict[str, TracedEntry] = {}  # value id → the entry that makes it (for tensor arguments)
        self.problems = Problems()

    def _common(self, a: str | None, b: str | None) -> str | None:
        """The last value both a and b pass through (each is its own), walking the dominator tree
        up from the later of the two (a dominator comes before what it dominates); None when they
        come from different inputs of the model."""
        while a != b:
            if a is None or b is None:
                return None
            if self.order[a] > self.order[b]:
                a = self.up[a]
            else:
                b = self.up[b]
        return a

    def idom(self, v: Traced) -> str:
        """The last value every path from the input to v passes, v aside: where a merge's branches
        start (Cooper, Harvey and Kennedy's dominator tree, over the values in the order they
        were computed)."""
        before = self.up.get(v.id)
        if before is None:  # its inputs come from different inputs of the model, and meet first here
            self.problems.report(f"'{v.id}' combines values that come from different inputs of the model: a merge's "
                                 "branches start from one value", v.where,
                                 hint="a spec's layer reads another input by `from:` or a tensor argument (memory)")
            raise _Unsayable
        return before

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
            entry = TracedEntry(v.kind.kind, dict(v.args), source=v.module, has_params=v.has_params, call=v.call,
                                refs=dict(v.refs), weights_of=v.weights_of)
        else:
            fork, pieces = self.idom(v), []
            branches = [("", self.chain(fork, i, pieces)) for i in self._flat_inputs(v, fork)]
            entry = TracedEntry(v.kind.kind, dict(v.args) | self._split(v, pieces, len(branches)), source=v.id,
                                branches=branches, refs=dict(v.refs))
        self.entries[v.id] = entry
        return entry

    def segments(self, start: str, output: str) -> list[TracedEntry]:
        """The top level: the chain to the output, after the chains to the values its layers
        name as tensor arguments (an encoder's output, the memory), each chain walked back to
        an input or a value emitted before; a chain that does not go on from the value before
        it reads its start by `from:`."""
        ends, queue = [], [output]
        while queue:
            end = queue.pop()
            if end in ends:
                continue
            ends.append(end)
            queue.extend(r for v in self.by_id.values() for r in v.refs.values()
                         if self.by_id[r].op != "input" and self._reaches(v.id, end))
        items: list[TracedEntry] = []
        flow = start
        for end in sorted(ends, key=self.order.__getitem__):
            if end in self.emitted or end == flow:
                continue
            begin = self._begin(end) or start
            part = self.chain(begin, end)
            if part and begin != flow:
                part[0].reads = begin
            items += part
            flow = end
        return items

    def _reaches(self, value: str, end: str) -> bool:
        """Whether `value` is computed on the way to `end` (walking back its inputs)."""
        seen, todo = set(), [end]
        while todo:
            v = todo.pop()
            if v == value:
                return True
            if v not in seen:
                seen.add(v)
                todo.extend(self.by_id[v].inputs + list(self.by_id[v].refs.values()))
        return False

    def _begin(self, end: str) -> str | None:
        """Where the chain to `end` begins: walking back first inputs and merges' forks, the
        first input of the model or value already emitted."""
        current = end
        while True:
            v = self.by_id[current]
            if v.op == "input" or (current != end and current in self.emitted):
                return current
            if not v.inputs:
                return None  # a `parameter`: no data flows into it (the chain reports what it must)
            current = v.inputs[0] if v.op in ("layer", "piece") else self.idom(v)

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


class _Unsayable(Exception):
    """A data flow the spec language cannot say, reported in the problems."""


def structure(values: list[Traced], output: str) -> list[TracedEntry]:
    """The spec's items, named, for the data flow `values` (topological order) ending at `output`."""
    chains = _Chains(values, output)
    start = next(v.id for v in values if v.op == "input")
    try:
        items = chains.segments(start, output)
    except _Unsayable:
        items = []
    chains.problems.raise_if_any()
    _Names().assign(items)
    inputs = [v.id for v in values if v.op == "input"]
    _name_references(items, chains.entries, {inputs[0]: "input"} if len(inputs) == 1 else {})
    return items


def _name_references(items: list[TracedEntry], entries: dict[str, TracedEntry], renamed: dict[str, str]) -> None:
    """Tensor arguments and `from:` as the spec names them: an input by its name (`input` for
    the one input of a spec written with `input:`), a layer by its full path (merge.branch.layer)."""
    paths: dict[int, str] = {}
    targets = {v for item in _all(items) for v in [item.reads, *item.refs.values()] if v}
    for value in targets:  # a layer read from a function has no name of its own: one from its value
        entry = entries.get(value)
        if entry is not None and entry.name is None:
            entry.name = re.sub(r"[^A-Za-z0-9_]", "_", value)

    _paths(items, "", paths)
    for item in _all(items):  # share: names the owner by its path (a layer inside a merge's branch: merge.branch.layer)
        if item.share_of is not None:
            item.share = paths[id(item.share_of)]
    for item in _all(items):
        if item.reads:
            item.reads = _reference(item.reads, entries, paths, renamed)
        for arg, value in item.refs.items():
            item.args[arg] = _reference(value, entries, paths, renamed)


def _paths(group: list[TracedEntry], prefix: str, paths: dict[int, str]) -> None:
    """Each named entry's full path (merge.branch.layer), by its id. (A module-level function, as
    _reference: a nested one that calls itself is a reference cycle, which leaves the whole
    reading to the garbage collector rather than freed when import is done with it.)"""
    for item in group:
        if item.name:
            paths[id(item)] = prefix + item.name
        for label, branch in item.branches or []:
            _paths(branch, f"{prefix}{item.name}.{label}.", paths)


def _reference(value: str, entries: dict[str, TracedEntry], paths: dict[int, str], renamed: dict[str, str]) -> str:
    entry = entries.get(value)
    return paths[id(entry)] if entry is not None else renamed.get(value, value)  # an input: its name


class _Names:
    """Spec names in execution order: a layer's from its module path (layer1.0.conv1 →
    layer1_0_conv1), a merge's from what its branches share (layer1_0), a branch's from what
    its layers share beyond that (downsample), else main / identity / branch<n>; unique."""

    def __init__(self):
        self.used: set[str] = set()
        self.owners: dict[str, TracedEntry] = {}  # module path → the entry of its first call

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
        """Named after its module; a module called again, or one holding another's parameters
        (a tied LM head), shares the first call's weights."""
        item.name = self.unique(item.source) if item.source else None
        if item.source and item.has_params:
            weights = item.weights_of or item.source  # a module holding another's parameters shares them
            item.share_of = self.owners.get(weights)
            self.owners.setdefault(weights, item)

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


def _all(items: list[TracedEntry]):
    """Every entry, merges and what their branches hold included."""
    for item in items:
        yield item
        for _, branch in item.branches or []:
            yield from _all(branch)


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
