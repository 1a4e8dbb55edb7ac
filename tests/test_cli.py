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


def _md_rows(md: str) -> list[list[str]]:
    """A Markdown summary's body rows as cells (the path cell keeps its indentation)."""
    rows = [line[2:-2].split(" | ") for line in md.splitlines() if line.startswith("| ")]
    return [r for r in rows if r[0] not in ("path", "**total**")]


def _count(cell: str) -> int:
    return int(cell.replace(",", ""))


def test_tables_fold_a_repeats_identical_copies_and_unfold_shows_every_row():
    """resnet50's layer1.rest (bottleneck ×2): copy 1 in full, then one row for copy 2 whose
    counts are copy 2's, read from the unfolded table; --unfold lists every row JSON lists."""
    spec = str(SPECS / "resnet50.yaml")
    folded = _md_rows(run("summarize", spec, "--format", "markdown").stdout)
    unfolded_md = run("summarize", spec, "--format", "markdown", "--unfold").stdout
    unfolded = _md_rows(unfolded_md)
    layers = json.loads(run("summarize", spec, "--format", "json").stdout)["layers"]
    assert [(r[0], r[1]) for r in unfolded] == [("  " * l["depth"] + l["path"].rsplit(".", 1)[-1], l["kind"])
                                                for l in layers]  # every row, as before folding
    assert [_count(r[3]) for r in unfolded] == [l["params"] for l in layers]
    assert "identical repeated copies" not in unfolded_md

    names = [r[0].strip() for r in folded]
    rest = names.index("rest")  # layer1's
    assert folded[rest][1] == "bottleneck ×2" and names[rest + 1] == "1" and folded[rest + 1][1] == "bottleneck"
    fold = rest + 2 + 10  # copy 1, then add_1 with its 8 layers and relu_1: the folded row
    assert names[rest + 2:fold] == ["add_1", "conv1", "bn1", "relu_1", "conv2", "bn2", "relu_2", "conv3", "bn3",
                                     "relu_1"]
    assert folded[fold][:3] == ["    2", "bottleneck, as 1", "256×56×56"]
    assert names[fold + 1] == "layer2"
    start = [r[0] for r in unfolded].index("  rest")  # layer1.rest in the unfolded table
    copy2 = [i for i in range(start, len(unfolded)) if unfolded[i][0] == "    2"][0]
    assert unfolded[copy2][1] == "bottleneck"
    for col in (3, 4, 5, 6):  # params, neurons, MACs, FLOPs
        assert folded[fold][col] == unfolded[copy2][col]
    assert len(folded) < len(unfolded)
    layer3 = next(r for r in folded if r[0] == "    2–5")  # layer3.rest: copies 2 to 5 of 5
    assert layer3[1] == "bottleneck ×4, each as 1"
    by_path = {l["path"]: l for l in layers}
    assert _count(layer3[3]) == sum(by_path[f"layer3.rest.{i}"]["params"] for i in range(2, 6))
    assert _count(layer3[5]) == sum(by_path[f"layer3.rest.{i}"]["macs"] for i in range(2, 6))
    # the totals and shares are those of the unfolded table
    assert [r for r in unfolded_md.splitlines() if r.startswith("| **total")] == \
        [r for r in run("summarize", spec, "--format", "markdown").stdout.splitlines() if r.startswith("| **total")]


def test_folded_tables_say_so_once_in_every_format():
    spec = str(SPECS / "resnet50.yaml")
    note = "4 runs of identical repeated copies folded into one row each (--unfold shows every row)"
    assert f"  {note}\n" in run("summarize", spec).stdout
    assert f"- {note}\n" in run("summarize", spec, "--format", "markdown").stdout
    html = run("summarize", spec, "--format", "html").stdout
    assert html.count(f"<li>{note}</li>") == 1 and "<td>layer3.rest.2–5</td>" in html
    for fmt in ("table", "markdown", "html"):
        assert "identical repeated copies" not in run("summarize", spec, "--format", fmt, "--unfold").stdout
        assert "identical repeated copies" not in run("summarize", str(SPECS / "alexnet.yaml"), "--format", fmt).stdout


_REPEATED = """archcalc: 1
name: repeated
input: [16, 32, 32]
blocks:
  unit:
    params: {width: 16}
    layers:
      - conv2d: {name: conv, out_channels: width, kernel_size: 3, padding: 1, bias: false}
      - batch_norm2d: {name: bn}
      - relu
layers:
  - conv2d: {name: stem, out_channels: 16, kernel_size: 3, padding: 1}
  - unit: {name: body, REPEAT}
  - flatten
  - linear: {name: fc, out_features: 10}
"""


def _repeated(tmp_path, name: str, call: str) -> str:
    """_REPEATED with `call` in the block call, written to NAME.yaml."""
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(_REPEATED.replace(", REPEAT", call))
    return str(spec)


def test_a_repeat_of_8_and_of_80_print_tables_of_one_length(tmp_path):
    """One copy's figures come from a spec with that one block and no repeat; the folded row
    holds N − 1 of them. The tables of 8 and 80 copies are as long as each other."""
    one = json.loads(run("summarize", _repeated(tmp_path, "one", ""), "--format", "json").stdout)["layers"]
    body = next(l for l in one if l["path"] == "body")
    tables = {}
    for n in (8, 80):
        spec = _repeated(tmp_path, f"n{n}", f", repeat: {n}")
        tables[n] = run("summarize", spec).stdout
        rows = _md_rows(run("summarize", spec, "--format", "markdown").stdout)
        assert [r[0].strip() for r in rows] == ["stem", "body", "1", "conv", "bn", "relu_1", f"2–{n}", "flatten_1",
                                                "fc"]
        fold = rows[6]
        assert fold[1] == f"unit ×{n - 1}, each as 1" and fold[2] == "16×32×32"
        assert _count(fold[3]) == (n - 1) * body["params"] and _count(fold[5]) == (n - 1) * body["macs"]
        assert _count(fold[6]) == (n - 1) * body["flops"] and _count(fold[4]) == (n - 1) * body["neurons"]
        assert len(_md_rows(run("summarize", spec, "--format", "markdown", "--unfold").stdout)) == 4 + 4 * n
    assert len(tables[8].splitlines()) == len(tables[80].splitlines())


def test_copies_that_differ_are_not_folded(tmp_path):
    """A width that depends on the copy's index makes every copy different; receptive fields,
    when shown, differ from copy to copy too (each 3×3 convolution widens them)."""
    differing = _repeated(tmp_path, "differing", ", width: \"16 + 8*i\", repeat: {times: 3, index: i}")
    md = run("summarize", differing, "--format", "markdown").stdout
    assert md == run("summarize", differing, "--format", "markdown", "--unfold").stdout
    assert "identical repeated copies" not in md and len(_md_rows(md)) == 4 + 4 * 3
    same = _repeated(tmp_path, "same", ", repeat: 8")
    with_rf = run("summarize", same, "--format", "markdown", "--columns", "rf").stdout
    assert with_rf == run("summarize", same, "--format", "markdown", "--columns", "rf", "--unfold").stdout
    assert "identical repeated copies" not in with_rf


def test_depth_and_folds():
    """At --depth 2 a copy is one row: a run of one such copy stays itself, longer runs fold."""
    rows = _md_rows(run("summarize", str(SPECS / "resnet50.yaml"), "--format", "markdown", "--depth", "2").stdout)
    paths = [r[0] for r in rows]
    assert paths[paths.index("  rest") + 1:][:3] == ["    1", "    2", "layer2"]
    assert rows[paths.index("    2–3")][1] == "bottleneck ×2, each as 1"


def test_a_folded_row_sums_symbolic_counts(tmp_path):
    spec = tmp_path / "symbolic.yaml"
    spec.write_text(_REPEATED.replace("[16, 32, 32]", "[16, H, W]").replace(", REPEAT", ", repeat: 4"))
    rows = _md_rows(run("summarize", str(spec), "--format", "markdown").stdout)
    assert rows[6][:7] == ["  2–4", "unit ×3, each as 1", "16×(H)×(W)", "7,008", "48*H*W", "6912*H*W", "13824*H*W"]


def test_a_table_wider_than_the_console_never_prints_a_count_cut_short():
    """LLaMA-2's symbolic counts with the training column do not fit 132 columns: the counts
    that are shown are whole (rich used to crop each column, printing 6,476,267,52 for
    6,476,267,520 and 1359872 for 1359872*T), and what is cut is marked with an ellipsis."""
    out = CliRunner().invoke(main, ["summarize", str(SPECS / "llama2_7b.yaml"), "--columns", "train",
                                    "--depth", "0"]).stdout
    assert "6,476,267,520" in out and "1359872*T" in out and "…" in out
    assert "6,476,267,52 " not in out


@pytest.mark.parametrize("name", ["alexnet", "inception_v3", "peephole_lstm", "mobilenet_v3_large"])
def test_a_table_that_fits_prints_as_its_columns_would(name, monkeypatch):
    """Where the whole table fits the console, each row is set as one cell, its columns padded
    as rich pads them (a fifth of the rendering's cost on a 400-row table): the same characters
    as the table of columns, on a wide console, on one exactly as wide as the table, and on one
    a character narrower (where the columns fold)."""
    from rich.console import Console

    from archcalc.engine.analyze import analyze
    from archcalc.report import table
    from archcalc.report.display import Summary
    from archcalc.spec import load_spec

    summary = Summary(analyze(load_spec(SPECS / f"{name}.yaml")))

    def text(width, columns=False):
        with monkeypatch.context() as patched:
            if columns:
                patched.setattr(table, "_fits", lambda *args: False)
            console = Console(width=width, color_system=None, record=True, file=open(os.devnull, "w"))
            console.print(table.build_table(summary, max_width=width))
        return console.export_text()

    widest = max(len(line) for line in text(250, columns=True).splitlines())
    assert widest < 250
    for width in (250, widest, widest - 1):
        assert text(width) == text(width, columns=True), width
