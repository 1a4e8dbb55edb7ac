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


# --- hostile sweeps: every point within the bounds every analysis keeps (issue 20) -------------

SWEPT = """archcalc: 1
name: sw
dims: {H: {default: 32}, C: {default: 3}}
vars: {width: 16}
input: [C, H, H]
layers:
  - conv2d: {out_channels: width, kernel_size: 3, padding: 1}
  - flatten
  - linear: {out_features: 10}
"""


@pytest.mark.parametrize("over,sets,fragment", [
    # a range is measured before it is listed: 10^12 values would need terabytes
    ("H=1:1000000000000", [], "1,000,000,000,000 values, more than the 1,000,000 points a sweep may have"),
    ("H=9223372036854775808", [], "H = 9,223,372,036,854,775,808 passes torch's limit of 9,223,372,036,854,775,807"),
    ("width=1,100000000000000000000", [], "width = 100,000,000,000,000,000,000 passes torch's limit"),
    ("H=" + "9" * 1_000_000, [], "the values must be whole numbers of at most 30 digits"),
    ("H=5:3", [], "no values (STOP is below START)"),
    # each point within the bounds: an element count past int64, a count past 10^30
    ("H=4294967296", [], "at H=4,294,967,296: the element count of layer 'conv2d_1' is 295,147,905,179,352,825,856, "
                         "past torch's limit of 9,223,372,036,854,775,807"),
    ("width=1000,1000000000000000", ["--set", "C=10000000000000000", "--set", "H=1"],
     # conv: width·C·9 + width; linear: width·10 + 10
     f"at width=1,000,000,000,000,000: params is {10**15 * 10**16 * 9 + 10**15 + 10**15 * 10 + 10:,}, past 10^30"),
    # past 2^53 each point is evaluated exactly, and that is bounded too
    ("H=1:3000", ["--set", "width=1000000000000"], "a sweep may have 2,000 points, and this one has 3,000"),
])
def test_a_sweep_past_the_bounds_is_a_located_error(tmp_path, over, sets, fragment):
    path = tmp_path / "sw.yaml"
    path.write_text(SWEPT)
    result = CliRunner().invoke(main, ["sweep", str(path), "--over", over, *sets])
    assert result.exit_code == 2
    assert "--over: error:" in result.stderr and fragment in result.stderr, result.stderr[-2000:]


def test_a_sweep_near_the_bounds_prints_every_digit(tmp_path):
    """Counts past 2^53 (exact path) print whole in a narrow table: wrapped, never cut to '…'."""
    path = tmp_path / "sw.yaml"
    path.write_text(SWEPT)
    result = CliRunner().invoke(main, ["sweep", str(path), "--over", "H=1000,2000", "--set", "width=100000000"],
                                terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    digits = "".join(ch for ch in result.output if ch.isdigit())
    assert "14800000000000000" in digits and "29600000000000000" in digits  # macs and flops at H=2000
    (lo, hi) = [json.loads(CliRunner().invoke(main, ["sweep", str(path), "--over", "H=1000,2000", "--set",
                                                     "width=100000000", "--format", "json"]).output)["rows"]][0]
    width = 10**8
    macs = [width * h * h * 3 * 9 + width * h * h * 10 for h in (1000, 2000)]  # conv (C=3, 3×3), then linear to 10
    assert [lo[2], hi[2]] == macs and macs[1] == 14_800_000_000_000_000
