"""The command line as users run it: output formats, the JSON contract, imports, README."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from conftest import REPO, SPECS

CONTRACT_TOP = {"archcalc", "spec", "name", "batch", "bindings", "input", "output", "totals", "layers", "warnings"}
COUNTS = {"params", "buffers", "neurons", "activations", "macs", "flops"}
ROW = {"path", "kind", "depth", "leaf", "input", "output"} | COUNTS


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _is_number(v):
    return isinstance(v, int) and not isinstance(v, bool) or isinstance(v, str) and v != ""


def check_contract(doc: dict) -> None:
    """docs/json.md's shape: exact key sets, ints for known numbers, strings for symbolic ones."""
    assert set(doc) == CONTRACT_TOP
    assert isinstance(doc["archcalc"], str) and isinstance(doc["batch"], int)
    assert all(_is_number(d) for d in doc["input"] + doc["output"])
    assert set(doc["totals"]) == COUNTS and all(_is_number(v) for v in doc["totals"].values())
    for row in doc["layers"]:
        assert set(row) == ROW
        assert isinstance(row["leaf"], bool) and isinstance(row["depth"], int)
        for q in COUNTS:
            assert _is_number(row[q]) or (q == "neurons" and row[q] is None)
    for w in doc["warnings"]:
        assert set(w) == {"path", "code", "message"}


def test_json_matches_contract_and_the_example():
    result = run("summarize", str(SPECS / "alexnet.yaml"), "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)  # nothing else on stdout
    check_contract(doc)
    assert doc["totals"]["params"] == 60_965_224 and doc["totals"]["macs"] == 724_406_816
    conv1 = doc["layers"][0]
    assert conv1 == {"path": "conv1", "kind": "conv2d", "depth": 0, "leaf": True, "input": [3, 227, 227],
                     "output": [96, 55, 55], "params": 34944, "buffers": 0, "neurons": 290400,
                     "activations": 290400, "macs": 105415200, "flops": 210830400}
    assert doc["bindings"] == {"classes": 1000} and doc["output"] == [1000]
    relu = doc["layers"][1]
    assert relu["neurons"] is None and relu["params"] == 0


def test_json_symbolic_numbers_are_expression_strings(tmp_path):
    spec = tmp_path / "sym.yaml"
    spec.write_text((SPECS / "alexnet.yaml").read_text().replace("[3, 227, 227]", "[3, H, W]"))
    doc = json.loads(run("summarize", str(spec), "--format", "json").stdout)
    check_contract(doc)
    assert doc["input"] == [3, "H", "W"]
    assert doc["layers"][0]["output"] == [96, "floor((H - 11)/4) + 1", "floor((W - 11)/4) + 1"]
    assert doc["layers"][0]["params"] == 34944


def test_table_and_markdown_show_every_column_and_totals():
    table = run("summarize", str(SPECS / "alexnet.yaml")).stdout
    for col in ("path", "kind", "output", "params", "neurons", "MACs", "FLOPs", "% params", "% FLOPs"):
        assert col in table
    assert re.search(r"total\s+1,000\s+60,965,224\s+659,272\s+724,406,816\s+1,448,813,632", table)
    assert "conv layers (5): 3.8% of params, 91.9% of MACs" in table
    assert "linear layers (3): 96.2% of params, 8.1% of MACs" in table
    assert "FLOPs: 2 × MACs" in table  # the conventions footer
    md = run("summarize", str(SPECS / "alexnet.yaml"), "--format", "markdown").stdout
    assert "| conv1 | conv2d | 96×55×55 | 34,944 | 290,400 | 105,415,200 | 210,830,400 | 0.1% | 14.6% |" in md


def test_default_spec_is_the_embedded_alexnet():
    assert run("summarize").stdout == run("summarize", str(SPECS / "alexnet.yaml")).stdout
    from archcalc.cli import DEFAULT_SPEC

    assert DEFAULT_SPEC.read_text() == (SPECS / "alexnet.yaml").read_text()


def test_warnings_are_shown(tmp_path):
    spec = tmp_path / "a224.yaml"
    spec.write_text((SPECS / "alexnet.yaml").read_text().replace("[3, 227, 227]", "[3, 224, 224]"))
    out = run("summarize", str(spec)).stdout
    assert "[inexact-division] conv1" in out and "54.25, torch floors to 54" in out


def _imports_after_summarize(spec: str, command=("summarize",)) -> set[str]:
    code = ("import sys, runpy; sys.argv = ['archcalc', *%r, %r];\n"
            "try:\n    runpy.run_module('archcalc', run_name='__main__')\n"
            "except SystemExit: pass\n"
            "sys.stderr.write(repr(sorted(m for m in sys.modules if m in ('torch', 'sympy'))))") % (tuple(command), spec)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "COLUMNS": "132"})
    assert "60,965,224" in proc.stdout or "724,406,816" in proc.stdout or "floor" in proc.stdout, proc.stderr
    return set(eval(proc.stderr.strip().splitlines()[-1]))  # our own repr of a list of names


def test_summarize_imports_neither_torch_nor_sympy_for_a_concrete_spec():
    assert _imports_after_summarize("specs/alexnet.yaml") == set()


@pytest.mark.parametrize("command", [("summarize", "--convention", "ptflops"), ("compare-conventions",)])
def test_conventions_import_neither_torch_nor_sympy(command):
    assert _imports_after_summarize("specs/alexnet.yaml", command) == set()


def test_symbolic_spec_imports_sympy_but_not_torch(tmp_path):
    spec = tmp_path / "sym.yaml"
    spec.write_text((SPECS / "alexnet.yaml").read_text().replace("[3, 227, 227]", "[3, H, W]"))
    assert _imports_after_summarize(str(spec)) == {"sympy"}


def test_python_dash_m_and_console_script():
    proc = subprocess.run([sys.executable, "-m", "archcalc", "summarize", "specs/lenet5.yaml", "--format", "json"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and json.loads(proc.stdout)["totals"]["params"] == 61_706


def test_readme_example_is_what_the_command_prints():
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- example: archcalc summarize specs/alexnet.yaml -->\n```\n(.*?)\n```", readme, re.S)
    assert block, "README lost its example"
    proc = subprocess.run([sys.executable, "-m", "archcalc", "summarize", "specs/alexnet.yaml"],
                          capture_output=True, text=True, cwd=REPO)
    printed = "\n".join(line.rstrip() for line in proc.stdout.rstrip("\n").splitlines())
    assert printed == block.group(1), "regenerate README's example from the command's output"


def test_kinds_lists_the_registry():
    out = run("kinds").stdout
    for kind in ("conv2d", "locally_connected2d", "maxout", "lp_pool2d", "local_contrast_norm"):
        assert kind in out
    doc = json.loads(run("kinds", "--format", "json").stdout)
    assert doc["conv2d"]["args"]["kernel_size"]["required"] is True
    assert doc["conv2d"]["args"]["stride"]["default"] == 1


def test_batch_option_and_depth():
    doc = json.loads(run("summarize", str(SPECS / "lenet5.yaml"), "--format", "json", "--batch", "8").stdout)
    assert doc["batch"] == 8 and doc["totals"]["params"] == 61_706
    one = json.loads(run("summarize", str(SPECS / "lenet5.yaml"), "--format", "json").stdout)
    assert doc["totals"]["flops"] == 8 * one["totals"]["flops"]
    bad = run("summarize", str(SPECS / "lenet5.yaml"), "--batch", "0")
    assert bad.exit_code == 2
