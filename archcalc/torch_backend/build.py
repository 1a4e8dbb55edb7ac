"""Spec → torch.nn.Module. Each layer kind supplies its own module (LayerKind.torch_module);
this file only assembles them into the spec's hierarchy, so that every module's qualified
name is the spec path of its row (`net.get_submodule("layer1.1.main.conv2d_1")`)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from archcalc.engine.analyze import Analysis, analyze
from archcalc.layers.base import batched_axis, kinds
from archcalc.spec import Spec, load_spec
from archcalc.spec.errors import Location, SpecError


class ArchcalcNet(nn.Sequential):
    """A network built from a spec: `net.conv1` is the spec's layer conv1."""

    def __init__(self, name: str):
        super().__init__()
        self.spec_name = name

    def extra_repr(self) -> str:
        return f"spec={self.spec_name!r}"


class Block(nn.Sequential):
    """A block call or a repeat group: its children run in order."""


class Merge(nn.Module):
    """add (residual sum) or concat (joined along a per-sample axis) of its branches,
    each a Block (an empty branch is an identity)."""

    def __init__(self, mode: str, branches: list[str], dim: int | None = None):
        super().__init__()
        self.mode, self.dim = mode, dim
        for name in branches:
            self.add_module(name, Block())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.children()]
        if self.mode == "add":
            total = outs[0]
            for o in outs[1:]:
                total = total + o
            return total
        return torch.cat(outs, dim=batched_axis(self.dim))

    def extra_repr(self) -> str:
        return self.mode if self.dim is None else f"{self.mode}, dim={self.dim} (per sample)"


def build_from_analysis(analysis: Analysis, device: str | torch.device = "cpu") -> ArchcalcNet:
    if analysis.symbolic:
        raise SpecError("cannot build a module with symbolic sizes: " + ", ".join(analysis.symbols),
                        Location(analysis.spec.file), hint="bind them, e.g. --set H=224 or build_module(spec, H=224)",
                        code="needs-concrete-size")
    registry = kinds()
    net = ArchcalcNet(analysis.name or analysis.spec.name)
    containers: dict[str, nn.Module] = {"": net}
    with torch.device(device):
        for row in analysis.rows:
            parent_path, _, name = row.path.rpartition(".")
            parent = containers[parent_path] if parent_path in containers else _branch(containers, parent_path)
            if row.leaf:
                module = registry[row.kind].torch_module(row.args, tuple(int(d) for d in row.input))
                if row.shares:
                    _tie(module, containers[row.shares])
            elif row.family == "merge":
                module = Merge(row.kind, row.branches or [], row.dim)
            else:
                module = Block()
            parent.add_module(name, module)
            containers[row.path] = module
    return net.eval()


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


def _branch(containers: dict[str, nn.Module], path: str) -> nn.Module:
    merge_path, _, branch = path.rpartition(".")
    module = containers[merge_path].get_submodule(branch)
    containers[path] = module
    return module


def build_module(spec: Spec | str, *, device: str | torch.device = "cpu", variant: str | None = None,
                 **bindings: Any) -> nn.Module:
    """The spec as a torch module whose submodule names are the spec's layer paths.

    `bindings` set vars and symbolic dimensions (`build_module("specs/alexnet.yaml", classes=10)`);
    `variant` selects one of the spec's variants; `device="meta"` allocates no memory."""
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    analysis = analyze(spec, {k: str(v) for k, v in bindings.items()}, variant=variant)
    return build_from_analysis(analysis, device)
