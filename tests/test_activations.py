"""Activations beyond what the kind-wide tests see: with inplace=True between layers that keep
their input, each saves what autograd saves, once (which tensor it keeps decides whether the
next layer's is the same one); `archcalc import` reads their functional forms (F.hardtanh_,
F.rrelu, torch.selu_, F.logsigmoid, F.glu, F.softmin, ...) as their kinds, with their
arguments, and the imported spec verifies against the model; F.prelu's slopes, a tensor
outside any module, are named as what a spec cannot say."""
from __future__ import annotations

import warnings

import pytest

from archcalc.engine.analyze import analyze
from archcalc.engine.memory import memory
from archcalc.spec import load_spec_text
from archcalc.spec.errors import SpecError

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from archcalc.torch_backend.importing import import_model, verify_import  # noqa: E402
from test_memory import autograd_saved_bytes  # noqa: E402

IN_PLACE = ["relu", "relu6", "leaky_relu", "elu", "silu", "hardswish", "hardsigmoid", "mish", "selu", "celu",
            "hardtanh", "threshold: {threshold: 0.1, value: 2.0, inplace: true}", "rrelu"]


@pytest.mark.parametrize("kind", IN_PLACE)
def test_in_place_activations_between_convolutions_save_what_autograd_saves(kind):
    """The next convolution keeps its input: the same tensor as the activation's output where
    the activation keeps its own output (relu, leaky_relu, elu, selu, celu, rrelu), a second
    one where it keeps a copy of its input (relu6, silu, hardswish, ...)."""
    item = kind if ":" in kind else f"{kind}: {{inplace: true}}"
    text = ("archcalc: 1\ninput: [3, 6, 6]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 3}\n"
            f"  - {item}\n  - conv2d: {{out_channels: 2, kernel_size: 1}}\n")
    analysis = analyze(load_spec_text(text, "m.yaml"), batch=2)
    assert memory(analysis).saved_for_backward == autograd_saved_bytes(analysis)


class _Functional(torch.nn.Module):
    """Every activation between the convolutions is a function call, none a module."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 8, 1)

    def forward(self, x):
        x = F.hardtanh_(self.conv1(x), -2.0, 2.0)
        x = F.rrelu(x, 0.1, 0.3, self.training, True)
        x = torch.selu_(F.softplus(x, beta=2.0))
        x = F.threshold(F.logsigmoid(x), 0.1, 20.0)
        x = F.softshrink(F.hardswish(x, inplace=True), 0.25)
        x = F.glu(F.celu(self.conv2(x), 0.5), dim=1)
        x = F.softmin(F.tanhshrink(F.softsign(F.mish(x))), dim=1)
        return F.hardshrink(F.hardsigmoid(x), 0.1).hardshrink(0.2)


def test_functional_activations_read_as_their_kinds():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imported = import_model("_Functional", "3,8,8", model=_Functional())
        results, _ = verify_import(imported, "f")
    # each a call of a function: `call: function`, so the peer conventions count it as those tools do
    for line in ("- hardtanh: {call: function, min_val: -2.0, max_val: 2.0, inplace: true}",
                 "- rrelu: {call: function, lower: 0.1, upper: 0.3, inplace: true}", "- softplus: {call: function, beta: 2.0}",
                 "- selu: {call: function, inplace: true}", "- logsigmoid: {call: function}", "- threshold: {call: function, threshold: 0.1, value: 20.0}",
                 "- hardswish: {call: function, inplace: true}", "- softshrink: {call: function, lambd: 0.25}", "- celu: {call: function, alpha: 0.5}",
                 "- glu: {call: function, dim: 0}", "- mish: {call: function}", "- softsign: {call: function}", "- tanhshrink: {call: function}", "- softmin: {call: function, dim: 0}",
                 "- hardsigmoid: {call: function}", "- hardshrink: {call: function, lambd: 0.1}", "- hardshrink: {call: function, lambd: 0.2}"):
        assert line in imported.text, line
    assert [r.message() for r in results if not r.ok] == []


class _FunctionalPReLU(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)
        self.slopes = torch.nn.Parameter(torch.full((4,), 0.25))

    def forward(self, x):
        return F.prelu(self.conv(x), self.slopes)


class _OwnPReLU(torch.nn.Module):
    """A module that is one prelu, calling F.prelu with its own slopes."""

    def __init__(self, n):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.full((n,), 0.25))

    def forward(self, x):
        return F.prelu(x, self.weight)


def test_functional_prelu_reads_its_modules_slopes():
    """F.prelu(x, self.weight) in a module that is that layer: a prelu of the slopes' count;
    slopes held by a module with other modules, or computed in forward, are refused by name."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), _OwnPReLU(4))
    imported = import_model("own", "3,8,8", model=model)
    assert "- prelu: {name: m_1, num_parameters: 4}" in imported.text, imported.text
    assert [r.message() for r in verify_import(imported, "p")[0] if not r.ok] == []
    with pytest.raises(SpecError, match="a tensor of 'the model itself', which holds other modules too"):
        import_model("_FunctionalPReLU", "3,8,8", model=_FunctionalPReLU())
    from archcalc.layers.base import COMPUTED, Untranslatable
    from archcalc.layers.registry import kinds

    with pytest.raises(Untranslatable, match="takes slopes computed in forward"):
        kinds()["prelu"].imported_call("prelu", (COMPUTED,), {}, (4, 8, 8), (4, 8, 8))
