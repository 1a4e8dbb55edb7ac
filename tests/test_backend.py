"""The torch backend: every spec builds, runs and agrees with the engine; the check can fail."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.layers import linear as linear_family
from archcalc.spec import load_spec
from archcalc.torch_backend import build_module, verify_spec
from archcalc.torch_backend.verify import parse_size
from conftest import SPECS

ALL_SPECS = sorted(p.name for p in SPECS.glob("*.yaml"))


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize("name", ALL_SPECS)
def test_every_spec_verifies(name, device):
    results = verify_spec(load_spec(SPECS / name), device=device, max_memory=parse_size("2GB"))
    for v in results:
        assert v.agree, v.disagreements()
        assert v.layers, "nothing was compared"


def test_fully_connected_14_4_billion_verifies_on_meta_without_allocating():
    spec = load_spec(SPECS / "course_200x200_fully_connected.yaml")
    [v] = verify_spec(spec, device="cpu", max_memory=parse_size("2GB"))
    assert v.ran_on == "meta" and "57.6 GB" in v.note and v.agree
    assert v.layers[1].checks["params"].torch == 14_400_000_000
    out = run("verify", str(SPECS / "course_200x200_fully_connected.yaml"), "--device", "cpu", "--max-memory", "2GB")
    assert out.exit_code == 0 and "checked on the meta device instead" in out.stdout


def test_build_module_names_submodules_by_path_and_runs():
    net = build_module(str(SPECS / "alexnet.yaml"), classes=10)
    names = [n for n, _ in net.named_children()]
    assert names[:5] == ["conv1", "relu_1", "local_response_norm_1", "pool1", "conv2"]
    assert net.conv2.groups == 2 and net.fc8.out_features == 10
    assert net(torch.randn(2, 3, 227, 227)).shape == (2, 10)
    assert sum(p.numel() for p in net.parameters()) == 60_965_224 - 4_097_000 + 4097 * 10


def test_build_module_on_meta_and_symbolic_needs_binding(tmp_path):
    net = build_module(str(SPECS / "course_200x200_fully_connected.yaml"), device="meta")
    assert net.hidden.weight.is_meta
    from archcalc.spec.errors import SpecError

    with pytest.raises(SpecError, match="symbolic sizes: K"):
        build_module(str(SPECS / "course_200x200_convolutional.yaml"))
    assert build_module(str(SPECS / "course_200x200_convolutional.yaml"), K=5).hidden.out_channels == 5


def test_a_wrong_engine_rule_is_caught(monkeypatch):
    """Break the engine's linear parameter rule: verify must fail and name layer and quantity."""
    original = linear_family.Linear.infer.__func__

    def off_by_one(cls, x, a, ctx):
        result = original(cls, x, a, ctx)
        result.params += 1
        return result

    monkeypatch.setattr(linear_family.Linear, "infer", classmethod(off_by_one))
    out = run("verify", str(SPECS / "alexnet.yaml"))
    assert out.exit_code == 1
    assert "fc6 params: engine 37,752,833, torch 37,752,832 (torch has 1 fewer)" in out.stdout
    doc = json.loads(run("verify", str(SPECS / "mlp.yaml"), "--format", "json").stdout)
    assert doc["agree"] is False
    hidden = doc["results"][0]["layers"][0]
    assert hidden["path"] == "hidden" and hidden["checks"]["params"]["agree"] is False


def test_verify_folder_json_and_exit_codes(tmp_path):
    doc = json.loads(run("verify", str(SPECS), "--format", "json").stdout)
    assert doc["agree"] is True and len(doc["results"]) == len(ALL_SPECS)
    (tmp_path / "good.yaml").write_text((SPECS / "perceptron.yaml").read_text())
    (tmp_path / "bad.yaml").write_text("archcalc: 1\ninput: [3]\nlayers:\n  - conv2d: {out_channels: 1, kernel_size: 1}\n")
    out = run("verify", str(tmp_path))
    assert out.exit_code == 2 and "bad.yaml:4:5: error: conv2d 'conv2d_1': expects" in out.stderr
    assert "✓ perceptron" in out.stdout


def test_symbolic_specs_verify_at_samples_defaults_and_set(tmp_path):
    sym = tmp_path / "alexnet_hw.yaml"
    sym.write_text((SPECS / "alexnet.yaml").read_text().replace(
        "input: [3, 227, 227]", "input: [3, H, W]\ndims: {H: {min: 67, default: 227}, W: {min: 67, default: 227}}"))
    spec = load_spec(sym)
    [at_default] = verify_spec(spec)
    assert at_default.bindings == {"H": 227, "W": 227} and at_default.agree
    sampled = verify_spec(spec, samples=4)
    assert len(sampled) == 4 and all(v.agree for v in sampled)
    assert len({tuple(v.bindings.values()) for v in sampled}) == 4
    [at_set] = verify_spec(spec, {"H": "300", "W": "250"})
    assert at_set.bindings == {} and at_set.agree
    out = run("verify", str(sym), "--set", "H=224", "--set", "W=224")
    assert out.exit_code == 0


def test_symbolic_without_default_asks_for_sizes(tmp_path):
    sym = tmp_path / "s.yaml"
    sym.write_text("archcalc: 1\ninput: [3, H, W]\nlayers:\n  - relu\n")
    out = run("verify", str(sym))
    assert out.exit_code == 2 and "have no default size" in out.stderr and "--samples N" in out.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda():
    out = run("verify", str(SPECS / "alexnet.yaml"), "--device", "cuda")
    assert out.exit_code == 0 and "cuda" in out.stdout


def test_cuda_absent_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    out = run("verify", str(SPECS / "alexnet.yaml"), "--device", "cuda")
    assert out.exit_code == 2 and "no CUDA device is available" in out.stderr


def test_missing_torch_names_the_extra(monkeypatch):
    import sys

    from archcalc.torch_backend import require_torch

    monkeypatch.setitem(sys.modules, "torch", None)
    from archcalc.spec.errors import SpecError

    with pytest.raises(SpecError) as err:
        require_torch()
    assert "archcalc[torch]" in err.value.hint


def test_parse_size():
    assert parse_size("2GB") == 2 * 10**9 and parse_size("512MiB") == 512 * 2**20 and parse_size("1000") == 1000
