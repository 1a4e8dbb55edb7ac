"""archcalc sweep: compiled formulas equal the concrete engine at every point checked."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from archcalc.cli import main
from archcalc.engine.sweep import parse_over, sweep
from archcalc.spec import load_spec_text
from archcalc.spec.errors import SpecError
from conftest import SPECS, analyze_text

RESNET = (SPECS / "resnet50.yaml").read_text().replace("input: [3, 224, 224]", "input: [3, H, W]")
ALEXNET = (SPECS / "alexnet.yaml").read_text().replace("input: [3, 227, 227]", "input: [3, H, W]")


def test_parse_over():
    assert parse_over("H=32:128:32") == ("H", [32, 64, 96, 128])
    assert parse_over("H=224,227") == ("H", [224, 227])
    with pytest.raises(SpecError):
        parse_over("H=a:b")


@settings(max_examples=8, deadline=None)
@given(st.lists(st.integers(32, 600), min_size=1, max_size=4, unique=True),
       st.lists(st.integers(32, 600), min_size=1, max_size=3, unique=True))
@pytest.mark.slow
def test_sweep_equals_the_engine_point_by_point(hs, ws):
    spec = load_spec_text(RESNET, "r.yaml")
    result = sweep(spec, [("H", hs), ("W", ws)])
    for i in range(result.points):
        h, w = result.grid["H"][i], result.grid["W"][i]
        concrete = analyze_text(RESNET, {"H": str(h), "W": str(w)})
        assert result.values["macs"][i] == concrete.totals["macs"]
        assert result.values["flops"][i] == concrete.totals["flops"]
        assert result.values["params"][i] == concrete.totals["params"]
        assert result.values["activation_memory"][i] == 4 * concrete.totals["activations"]


def test_invalid_sizes_are_flagged():
    spec = load_spec_text(ALEXNET, "a.yaml")
    result = sweep(spec, [("H", [20, 67, 227]), ("W", [227])])
    assert result.valid == [False, True, True]


def test_sweeping_a_var_and_the_cli():
    spec = load_spec_text((SPECS / "mlp.yaml").read_text(), "mlp.yaml")
    result = sweep(spec, [("hidden", [16, 256])])
    assert result.values["params"] == [(784 + 1) * 16 + (16 + 1) * 10, 203_530]
    out = CliRunner().invoke(main, ["sweep", str(SPECS / "mlp.yaml"), "--over", "hidden=16,256", "--format", "json"])
    doc = json.loads(out.stdout)
    assert doc["columns"][:2] == ["hidden", "params"] and doc["rows"][1][1] == 203_530
    bad = CliRunner().invoke(main, ["sweep", str(SPECS / "mlp.yaml"), "--over", "hiden=1,2"])
    assert bad.exit_code == 2 and "did you mean 'hidden'?" in bad.stderr


def test_exact_fallback_agrees_with_numpy(monkeypatch):
    import builtins

    spec = load_spec_text(ALEXNET, "a.yaml")
    fast = sweep(spec, [("H", [67, 227, 300]), ("W", [227, 400])])
    real_import = builtins.__import__

    def no_numpy(name, *args, **kwargs):
        if name == "numpy":
            raise ImportError
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_numpy)
    slow = sweep(spec, [("H", [67, 227, 300]), ("W", [227, 400])])
    assert slow.method.startswith("exact") and fast.method.startswith("compiled")
    assert slow.values == fast.values and slow.valid == fast.valid
