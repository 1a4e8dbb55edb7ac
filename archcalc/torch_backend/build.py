"""Spec → torch.nn.Module. Each layer kind supplies its own module (LayerKind.torch_module);
this file only assembles them, naming every submodule by its spec path."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from archcalc.engine import numbers as N
from archcalc.engine.analyze import Analysis, analyze
from archcalc.layers.base import kinds
from archcalc.spec import Spec, load_spec
from archcalc.spec.errors import Location, SpecError


class ArchcalcNet(nn.Sequential):
    """A network built from a spec: `net.conv1` is the spec's layer conv1."""

    def __init__(self, name: str):
        super().__init__()
        self.spec_name = name

    def extra_repr(self) -> str:
        return f"spec={self.spec_name!r}"


def build_from_analysis(analysis: Analysis, device: str | torch.device = "cpu") -> ArchcalcNet:
    if analysis.symbolic:
        raise SpecError("cannot build a module with symbolic sizes: " + ", ".join(analysis.symbols),
                        Location(analysis.spec.file), hint="bind them, e.g. --set H=224 or build_module(spec, H=224)",
                        code="needs-concrete-size")
    registry = kinds()
    net = ArchcalcNet(analysis.spec.name)
    with torch.device(device):
        for row in analysis.rows:
            if not row.leaf:
                continue
            module = registry[row.kind].torch_module(row.args, tuple(int(d) for d in row.input))
            net.add_module(row.path, module)
    return net.eval()


def build_module(spec: Spec | str, *, device: str | torch.device = "cpu", **bindings: Any) -> nn.Module:
    """The spec as a torch module whose submodule names are the spec's layer paths.

    `bindings` set vars and symbolic dimensions (`build_module("specs/alexnet.yaml", classes=10)`).
    `device="meta"` builds without allocating memory."""
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    analysis = analyze(spec, {k: str(v) for k, v in bindings.items()})
    return build_from_analysis(analysis, device)


def concrete(x) -> int:
    return int(N.normalize(x))
