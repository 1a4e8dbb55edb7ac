"""Spec → torch.nn.Module. Each layer kind supplies its own module (LayerKind.torch_module);
this file only assembles them into the spec's hierarchy, so that every module's qualified
name is the spec path of its row (`net.get_submodule("layer1.1.main.conv2d_1")`)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from archcalc.engine.analysis import Analysis, Row
from archcalc.engine.analyze import analyze
from archcalc.spec import Spec, load_spec
from archcalc.spec.errors import Location, SpecError


class Block(nn.Sequential):
    """A block call or a repeat group: its children run in order. Where the spec routes
    tensors (`from:`, tensor arguments such as cross-attention's memory), `routes` says what
    a child reads instead of the output before it and which tensors it is given besides, and
    `keeps` which children's outputs later layers read: the network's `store` holds them, by
    the name the spec gives them, for one forward call."""

    def __init__(self):
        super().__init__()
        self.routes: dict[str, tuple[str | None, tuple[str, ...]]] = {}  # child → (reads, tensor args)
        self.keeps: dict[str, str] = {}  # child → the name later layers read its output by
        self.store: dict | None = None  # shared with the network that holds this block

    def forward(self, x):
        if not self.routes and not self.keeps:
            return super().forward(x)
        store = self.store
        for name, module in self._modules.items():
            reads, refs = self.routes.get(name, (None, ()))
            if reads is not None:
                x = store[reads]
            x = module(x, *(store[r] for r in refs))
            if name in self.keeps:
                store[self.keeps[name]] = x
        return x


class ArchcalcNet(Block):
    """A network built from a spec: `net.conv1` is the spec's layer conv1. Its forward takes
    the spec's inputs in order, or by name (one for most specs; a transformer's source and target)."""

    def __init__(self, name: str, inputs: tuple[str, ...] = ("input",)):
        super().__init__()
        self.spec_name, self.inputs = name, inputs
        self.store = {}

    def forward(self, input, input2=None, input3=None, input4=None, input5=None, input6=None, input7=None,
                input8=None):
        """The spec's inputs in order (MAX_INPUTS at most): named parameters, not *inputs, so
        that torch.fx traces the network (`archcalc import` of a built spec) and callers may
        pass them by keyword (input, input2, …)."""
        xs = (input, input2, input3, input4, input5, input6, input7, input8)[:len(self.inputs)]
        if any(x is None for x in xs):
            raise TypeError(f"the spec's network takes {len(self.inputs)} inputs ({', '.join(self.inputs)})")
        self.store.clear()
        self.store.update(zip(self.inputs, xs))
        try:
            return super().forward(xs[0])
        finally:
            self.store.clear()  # no tensor outlives the call

    def extra_repr(self) -> str:
        return f"spec={self.spec_name!r}"


class Merge(nn.Module):
    """A merge kind's branches, each a Block (an empty branch is an identity), combined as the
    kind says (LayerKind.torch_combine: a sum, torch.cat, ...)."""

    def __init__(self, kind, args, branches: list[str]):
        super().__init__()
        self.kind, self.args = kind, args
        for name in branches:
            self.add_module(name, Block())

    def forward(self, x: torch.Tensor, *tensors: torch.Tensor) -> torch.Tensor:
        """`tensors`: the kind's tensor arguments (an attention mask), by the names it gives them."""
        branches = list(self.children())
        given = self.kind.torch_branch_inputs(self.args, x, len(branches))
        named = dict(zip((str(t) for t in self.kind.tensor_refs(self.args)), tensors))
        named = {arg.name: named[str(getattr(self.args, arg.name))] for arg in self.kind.args
                 if self.kind.is_tensor_arg(arg) and getattr(self.args, arg.name) is not None}
        return self.kind.torch_combine(self.args, [branch(part) for branch, part in zip(branches, given)], **named)

    def extra_repr(self) -> str:
        shown = {k: v for k, v in self.args.items() if v is not None and (k != "split_dim" or self.args.get("split"))}
        args = ", ".join(f"{k}={v}" for k, v in shown.items())
        return self.kind.kind + (f", {args} (per sample)" if args else "")


class Called(nn.Module):
    """A layer the model calls as a function (`call: function`): its forward calls what the
    kind says (LayerKind.torch_call: F.relu, F.max_pool2d, ...), never the module's own
    __call__, so module hooks (ptflops', thop's) see no layer there, as in the model."""

    def __init__(self, kind, args, module: nn.Module):
        super().__init__()
        self.kind, self.args, self.module = kind, args, module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kind.torch_call(self.args, self.module, x)

    def extra_repr(self) -> str:
        return f"{self.kind.kind}, called as a function"


def build_from_analysis(analysis: Analysis, device: str | torch.device = "cpu") -> ArchcalcNet:
    if analysis.symbolic:
        raise SpecError("cannot build a module with symbolic sizes: " + ", ".join(analysis.symbols),
                        Location(analysis.spec.file), hint="bind them, e.g. --set H=224 or build_module(spec, H=224)",
                        code="needs-concrete-size")
    net = ArchcalcNet(analysis.name or analysis.spec.name, tuple(analysis.spec.input_names()))
    built: dict[int, nn.Module] = {}  # id(row) → its module, for share:
    with torch.device(device):
        _add(net, analysis.roots, built, _read_names(analysis.rows))
    for module in net.modules():
        if isinstance(module, Block):
            module.store = net.store
    return net.eval()


def _read_names(rows: list[Row]) -> set[str]:
    """The names some row reads by `from:` or a tensor argument: the rows that must keep their outputs."""
    names = set()
    for row in rows:
        if row.reads is not None:
            names.add(row.reads)
        if row.layer is not None:
            names.update(str(ref) for ref in row.layer.tensor_refs(row.args))
    return names


def _add(parent: nn.Module, rows: list[Row], built: dict[int, nn.Module], read: set[str]) -> None:
    """Each row's module under its parent, named by the row's last path component, so that a
    module's qualified name is the row's path."""
    for row in rows:
        refs = tuple(str(r) for r in row.layer.tensor_refs(row.args)) if row.layer is not None else ()
        if row.reads is not None or refs:
            parent.routes[row.name] = (row.reads, refs)
        if row.path in read:
            parent.keeps[row.name] = row.path
        if row.is_merge:
            module = Merge(row.layer, row.args, [b.name for b in row.branches])
            for branch in row.branches:
                _add(module.get_submodule(branch.name), branch.rows, built, read)
        elif row.leaf:
            module = row.layer.torch_module(row.args, tuple(int(d) for d in row.input))
            if row.call == "function":
                module = Called(row.layer, row.args, module)
            if row.owner is not None:
                _tie(module, built[id(row.owner)])
        else:
            module = Block()
            _add(module, row.children, built, read)
        built[id(row)] = module
        parent.add_module(row.name, module)


def _tie(module: nn.Module, owner: nn.Module) -> None:
    """`share:` the owner's parameter and buffer objects themselves, so that torch counts them
    once (module.parameters() skips repeats) while both layers compute with them."""
    for name, tensor in list(owner.named_parameters()) + list(owner.named_buffers()):
        parent, _, leaf = name.rpartition(".")
        target = module.get_submodule(parent) if parent else module
        if isinstance(tensor, nn.Parameter):
            setattr(target, leaf, tensor)
        else:
            target.register_buffer(leaf, tensor)


def build_module(spec: Spec | str, *, device: str | torch.device = "cpu", variant: str | None = None,
                 **bindings: Any) -> nn.Module:
    """The spec as a torch module whose submodule names are the spec's layer paths.

    `bindings` set vars and symbolic dimensions (`build_module("specs/alexnet.yaml", classes=10)`);
    `variant` selects one of the spec's variants; `device="meta"` allocates no memory."""
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    analysis = analyze(spec, {k: str(v) for k, v in bindings.items()}, variant=variant)
    return build_from_analysis(analysis, device)
