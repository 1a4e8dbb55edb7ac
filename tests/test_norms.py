"""Normalisation beyond what the kind-wide tests draw (tests/kinds.py): the functional forms
`archcalc import` reads, and the settings where torch warns or misreads instead of refusing,
each shown against torch itself."""
from __future__ import annotations

import warnings

import pytest

from archcalc.spec.errors import SpecError
from conftest import analyze_text, one_layer

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from archcalc.torch_backend.importing import import_model, verify_import  # noqa: E402


class _Functional(torch.nn.Module):
    """Norms called as functions, without weights or running statistics."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.conv1d = torch.nn.Conv1d(8, 4, 1)

    def forward(self, x):
        x = F.group_norm(self.conv(x), 4, eps=1e-3)
        x = F.instance_norm(x, momentum=0.2)
        x = torch.group_norm(x, 2)
        x = F.rms_norm(x, [6, 6], eps=1e-6)
        x = F.rms_norm(x, (6,))
        return F.instance_norm(self.conv1d(x.flatten(2)))


def test_functional_norms_import_as_their_kinds():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imported = import_model("_Functional", "3,8,8", model=_Functional())
        for line in ("- group_norm: {call: function, num_groups: 4, eps: 0.001, affine: false}", "- instance_norm2d: {call: function, momentum: 0.2}",
                     "- group_norm: {call: function, num_groups: 2, affine: false}",
                     "- rms_norm: {call: function, normalized_shape: [6, 6], eps: 1e-06, elementwise_affine: false}",
                     "- rms_norm: {call: function, normalized_shape: 6, elementwise_affine: false}", "- instance_norm1d: {call: function}\n"):
            assert line in imported.text, line
        assert [r.message() for r in verify_import(imported, "f")[0] if not r.ok] == []


class _WithWeights(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)
        self.gamma = torch.nn.Parameter(torch.ones(4))

        self.beta = torch.nn.Parameter(torch.zeros(4))

    def forward(self, x):
        return F.group_norm(self.conv(x), 2, self.gamma, self.beta)


def test_a_functional_norm_with_tensors_of_a_module_that_is_no_layer_is_refused_with_its_line():
    """γ and β held by the model itself, beside its convolution: no layer module to read them
    from (ConvNeXt's LayerNorm2d holds its own and imports); γ without β is no group_norm."""
    with pytest.raises(SpecError, match="is passed 'gamma', a tensor of 'the model itself'") as info:
        import_model("_WithWeights", "3,8,8", model=_WithWeights())
    assert info.value.errors[0].loc.file.endswith("test_norms.py")
    with pytest.raises(SpecError, match="γ but no β"):
        import_model("_GammaOnly", "3,8,8", model=_GammaOnly())


class _GammaOnly(_WithWeights):
    def forward(self, x):
        return F.group_norm(self.conv(x), 2, self.gamma)


@pytest.mark.parametrize("layer,module", [
    ("instance_norm2d: {num_features: 6}", lambda: torch.nn.InstanceNorm2d(6)),
    ("batch_norm2d: {num_features: 6, affine: false, track_running_stats: false}",
     lambda: torch.nn.BatchNorm2d(6, affine=False, track_running_stats=False)),
    ("group_norm: {num_groups: 2, num_channels: 6, affine: false}", lambda: torch.nn.GroupNorm(2, 6, affine=False)),
])
def test_a_channel_count_torch_does_not_use_is_a_warning(layer, module):
    """Without affine weights or running statistics torch never reads the channel count: it
    runs (InstanceNorm warns), so archcalc warns instead of refusing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert module().eval()(torch.randn(2, 4, 5, 5)).shape == (2, 4, 5, 5)
    analysis = analyze_text(one_layer([4, 5, 5], layer))
    assert [w.code for w in analysis.warnings] == ["unused-argument"] and "6" in analysis.warnings[0].message


@pytest.mark.parametrize("layer,module", [
    ("instance_norm2d: {num_features: 6, affine: true}", lambda: torch.nn.InstanceNorm2d(6, affine=True)),
    ("instance_norm2d: {num_features: 6, track_running_stats: true}",
     lambda: torch.nn.InstanceNorm2d(6, track_running_stats=True)),
    ("group_norm: {num_groups: 2, num_channels: 6}", lambda: torch.nn.GroupNorm(2, 6)),
])
def test_a_channel_count_torch_uses_is_checked(layer, module):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((ValueError, RuntimeError)):
            module().eval()(torch.randn(2, 4, 5, 5))
    with pytest.raises(SpecError, match="does not match its input") as info:
        analyze_text(one_layer([4, 5, 5], layer))
    assert info.value.code == "shape-mismatch"


def test_instance_norm_one_rank_short_is_refused_where_torch_misreads_it():
    """A batch of [C, L] is a 3-D tensor, which InstanceNorm2d takes for one [C, H, W] sample
    without a batch axis: it runs, normalising each sample's channels together."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch.nn.InstanceNorm2d(4)(torch.randn(2, 4, 5)).shape == (2, 4, 5)
    with pytest.raises(SpecError) as info:
        analyze_text(one_layer([4, 5], "instance_norm2d"))
    assert info.value.code == "wrong-rank" and info.value.hint.startswith("use instance_norm1d; torch would read")


def test_one_position_per_channel():
    """torch normalises a channel of one position by its own statistics in no mode; with
    running statistics eval runs it, training does not."""
    x = torch.randn(2, 4, 1, 1)
    with pytest.raises(ValueError):
        torch.nn.InstanceNorm2d(4).eval()(x)
    tracked = torch.nn.InstanceNorm2d(4, track_running_stats=True)
    assert tracked.eval()(x).shape == x.shape
    with pytest.raises(ValueError):
        tracked.train()(x)
    with pytest.raises(SpecError, match="one position") as info:
        analyze_text(one_layer([4, 1, 1], "instance_norm2d"))
    assert info.value.code == "size-too-small"
    analysis = analyze_text(one_layer([4, 1, 1], "instance_norm2d: {track_running_stats: true}"))
    assert [w.code for w in analysis.warnings] == ["size-too-small"]


def test_symbolic_sizes():
    analysis = analyze_text("archcalc: 1\ninput: [C, H, W]\nlayers:\n  - group_norm: 4\n  - rms_norm: [H, W]\n"
                            "  - instance_norm2d: {affine: true, track_running_stats: true, bias: false}\n")
    group, rms, instance = analysis.rows
    assert str(group.params) == "2*C" and str(rms.params) == "H*W"
    assert (str(instance.params), str(instance.buffers)) == ("C", "2*C + 1")
