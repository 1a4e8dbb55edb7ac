"""Faults: bad files, torch failing inside verify, Ctrl-C, interrupted writes."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.layers import norm as norm_family
from conftest import SPECS


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_file_problems_each_have_their_message(tmp_path):
    assert "is a directory, not a spec file" in run("summarize", str(tmp_path)).stderr
    assert "no such spec file" in run("summarize", str(tmp_path / "missing.yaml")).stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text("  \n")
    assert "the spec file is empty" in run("summarize", str(empty)).stderr
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"archcalc: 1\nname: caf\xe9\n")
    result = run("summarize", str(latin))
    assert result.exit_code == 2 and "latin.yaml:2:10: error: the file is not UTF-8 text (byte 0xe9" in result.stderr
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 50_000_000)
    result = run("summarize", str(big))
    assert result.exit_code == 2 and "50,000,000 bytes, over the limit of 1,000,000" in result.stderr
    assert "ARCHCALC_MAX_FILE_BYTES" in result.stderr


def test_bom_and_windows_line_endings_are_fine(tmp_path):
    spec = tmp_path / "win.yaml"
    text = (SPECS / "lenet5.yaml").read_text().replace("\n", "\r\n")
    spec.write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = run("summarize", str(spec), "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["totals"]["params"] == 61_706


def test_limits_can_be_raised_where_legitimate(monkeypatch):
    text = "archcalc: 1\ninput: [4]\nlayers:\n  - relu: {repeat: 15000}\n"  # above the repeat limit, under the rows limit
    from conftest import analyze_text
    from archcalc.spec.errors import SpecError

    with pytest.raises(SpecError, match="above the limit of 10,000") as err:
        analyze_text(text)
    assert "ARCHCALC_MAX_REPEAT" in err.value.hint
    monkeypatch.setenv("ARCHCALC_MAX_REPEAT", "30000")
    assert len(analyze_text(text).rows) == 15001


@pytest.mark.torch
def test_a_torch_failure_is_reported_per_layer_and_the_rest_is_checked(monkeypatch):
    class Broken:
        @staticmethod
        def torch_module(a, x):
            from torch import nn

            class Boom(nn.Module):
                def forward(self, t):
                    raise RuntimeError("simulated kernel failure")

            return Boom()

    monkeypatch.setattr(norm_family.LocalResponseNorm, "torch_module", classmethod(
        lambda cls, a, x: Broken.torch_module(a, x)))
    result = run("verify", str(SPECS / "alexnet.yaml"), "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)["results"][0]
    assert "each layer was then run alone on meta" in doc["note"]
    layers = {layer["path"]: layer for layer in doc["layers"]}
    lrn = layers["local_response_norm_1"]
    assert not lrn["agree"] and "simulated kernel failure" in lrn["checks"]["params"]["reason"]
    assert "alexnet.yaml:13" in lrn["checks"]["params"]["reason"]  # the spec location
    assert layers["conv1"]["agree"] and layers["fc8"]["agree"]  # the rest still checked


@pytest.mark.torch
def test_ctrl_c_during_verify_exits_cleanly_with_what_was_done(monkeypatch):
    from archcalc.torch_backend import verify as verify_module

    calls = {"n": 0}
    original = verify_module.verify_spec

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(verify_module, "verify_spec", interrupted)
    result = CliRunner().invoke(main, ["verify", str(SPECS / "lenet5.yaml"), str(SPECS / "mlp.yaml"),
                                       str(SPECS / "perceptron.yaml")])
    assert result.exit_code == 130
    assert "✓ lenet5" in result.stdout and "interrupted: stopped after 1 verification(s)" in result.stderr


def test_output_is_written_atomically(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("the previous report")
    import os

    def fail(*_args):
        raise KeyboardInterrupt  # interrupted at the moment of writing

    monkeypatch.setattr(os, "replace", fail)
    result = CliRunner().invoke(main, ["summarize", str(SPECS / "lenet5.yaml"), "--format", "json", "-o",
                                       str(target)])
    assert result.exit_code != 0  # click reports the interruption ("Aborted!")
    assert target.read_text() == "the previous report"  # never half-written
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary left behind
    monkeypatch.undo()
    assert run("summarize", str(SPECS / "lenet5.yaml"), "--format", "json", "-o", str(target)).exit_code == 0
    assert json.loads(target.read_text())["totals"]["params"] == 61_706
