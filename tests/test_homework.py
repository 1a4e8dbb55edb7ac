"""explain, grade, solve and run: the homework side of archcalc."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from archcalc.cli import main
from archcalc.engine import numbers as N
from archcalc.report.grade_report import GRADESCOPE_TEST, GRADESCOPE_TOP
from archcalc.spec.expr import parse_expr
from conftest import REFERENCE, REPO, analyze_text, one_layer

HOMEWORK = REPO / "examples" / "homework"


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("layer", ["conv1", "conv2", "fc6"])
@pytest.mark.parametrize("fmt", ["text", "markdown", "latex"])
def test_explain_golden(layer, fmt, monkeypatch, golden):
    monkeypatch.chdir(REPO)
    result = run("explain", "specs/alexnet.yaml", layer, "--format", fmt)
    assert result.exit_code == 0
    golden(f"explain/alexnet_{layer}.{fmt}", result.stdout)


def test_explain_conv2_shows_the_grouped_depth():
    out = run("explain", str(REPO / "specs" / "alexnet.yaml"), "conv2").stdout
    assert "params = (F·F·D/groups + 1)·K = (5·5·96/2 + 1)·256 = 307,456" in out


def test_explain_symbolic_and_unknown_path(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("archcalc: 1\ninput: [3, H, W]\nlayers:\n  - conv2d: {name: c, out_channels: 8, kernel_size: 3, stride: 2}\n")
    out = run("explain", str(spec), "c").stdout
    assert "H2 = ⌊(H1 − F + 2P)/S⌋ + 1 = ⌊(H − 3 + 2·0)/2⌋ + 1 = floor((H - 3)/2) + 1" in out
    bad = run("explain", str(spec), "cc")
    assert bad.exit_code == 2 and "no layer has the path 'cc'" in bad.stderr and "did you mean 'c'?" in bad.stderr


def recompute(text: str):
    """Evaluate a step's substituted text with archcalc's safe parser (⌊⌋ floor, ⌈⌉ ceil)."""
    expr = text.replace("·", "*").replace("−", "-").replace(",", "")
    expr = re.sub(r"⌊(.*?)⌋", r"floor(\1)", expr)
    expr = re.sub(r"⌈(.*?)⌉", r"ceil(\1)", expr)
    return N.normalize(parse_expr(expr).evaluate({}))


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(["conv2d", "max_pool2d", "avg_pool2d"]), st.integers(1, 40), st.integers(1, 6),
       st.integers(1, 4), st.integers(0, 3), st.booleans())
def test_explain_steps_recompute_to_their_results(kind, size, k, s, p, ceil_mode):
    args = {"kernel_size": k, "stride": s, "padding": p}
    if kind == "conv2d":
        args.update(out_channels=4, groups=1)
    else:
        args["ceil_mode"] = ceil_mode
    try:
        a = analyze_text(one_layer([2, size, size + 1], f"{kind}: {json.dumps(args)}"))
    except Exception:
        return  # settings torch refuses too (tested elsewhere)
    row = a.rows[0]
    steps = [st_ for st_ in row.steps if st_.substituted]
    assert steps
    for step in steps:
        assert recompute(step.substituted) == step.result, step.text()


def test_grade_golden_with_diagnoses(monkeypatch, golden):
    monkeypatch.chdir(REPO)
    for fmt in ("text", "json", "gradescope"):
        result = run("grade", "examples/homework/student_mistakes.yaml", "--format", fmt)
        assert result.exit_code == 1
        golden(f"grade/student_mistakes.{fmt}", result.stdout)
    text = run("grade", "examples/homework/student_mistakes.yaml").stdout
    for diagnosis in ("the bias terms (one per filter or output) are missing",
                      "used the full input depth D = 96; with groups=2",
                      "forgot the zero padding P = 2",
                      "computed with a 224×224 input",
                      "counted FLOPs (2 per multiply-accumulate) where MACs were asked"):
        assert diagnosis in text


def test_gradescope_shape_and_scores():
    doc = json.loads(run("grade", str(HOMEWORK / "student_mistakes.yaml"), "--format", "gradescope").stdout)
    assert set(doc) <= set(GRADESCOPE_TOP)
    for test in doc["tests"]:
        assert set(test) <= set(GRADESCOPE_TEST)
        assert {"name", "score", "max_score", "output"} <= set(test)
        assert 0 <= test["score"] <= test["max_score"]
    assert doc["score"] == sum(t["score"] for t in doc["tests"]) == 4
    assert sum(t["max_score"] for t in doc["tests"]) == 9


def test_course_table_shows_the_slides_inconsistency():
    doc = json.loads(run("grade", str(HOMEWORK / "alexnet_table.yaml"), "--format", "json").stdout)
    by_key = {r["key"]: r for r in doc["results"]}
    assert by_key["conv1.neurons"]["ok"] is False and by_key["conv1.neurons"]["correct"] == "290,400"
    assert by_key["conv1.params"]["ok"] is True  # "35 K", with its bias
    assert by_key["conv2.params"]["ok"] is True  # 307K with the grouped depth 48
    assert by_key["conv1.output_width"]["ok"] is True  # an expression "(227 - 11)/4 + 1"


@pytest.mark.parametrize("name", ["fc_200x200", "local_200x200", "conv_200x200", "output_size"])
def test_course_exercises_are_all_right(name):
    result = run("grade", str(HOMEWORK / f"{name}.yaml"))
    assert result.exit_code == 0, result.stdout


def test_answers_files_are_data_only(tmp_path):
    answers = tmp_path / "a.yaml"
    answers.write_text(f"spec: {REPO / 'specs' / 'alexnet.yaml'}\nanswers:\n  conv1.params: \"__import__('os').system('x')\"\n")
    result = run("grade", str(answers))
    assert result.exit_code == 2 and "only floor, ceil, min and max may be called" in result.stderr
    answers.write_text(f"spec: {REPO / 'specs' / 'alexnet.yaml'}\nanswers:\n  conv1.parms: 1\n")
    result = run("grade", str(answers))
    assert result.exit_code == 2 and "did you mean 'params'?" in result.stderr
    answers.write_text(f"spec: {REPO / 'specs' / 'alexnet.yaml'}\nanswers:\n  conv9.params: 1\n")
    assert "the spec has no layer 'conv9'" in run("grade", str(answers)).stderr


def test_solve_examples():
    pad = run("solve", str(REPO / "examples" / "solve" / "padding_keeps_27.yaml"), "--for", "padding")
    assert pad.exit_code == 0 and "solution: conv2.padding = 2" in pad.stdout and "method: sympy" in pad.stdout
    exact = run("solve", str(REPO / "examples" / "solve" / "alexnet_exact_input.yaml"), "--exact", "--smallest")
    assert exact.exit_code == 0 and "smallest solution: H = 227" in exact.stdout
    every = json.loads(run("solve", str(REPO / "examples" / "solve" / "alexnet_exact_input.yaml"), "--exact",
                           "--format", "json").stdout)
    assert [s["H"] for s in every["solutions"]][:3] == [227, 259, 291]  # 227 + 32k
    assert every["parts"][0]["class"] == {"unknown": "H", "modulus": 32, "residue": 3, "min": 227, "max": 483,
                                          "count": 9}
    none = run("solve", str(REPO / "examples" / "solve" / "impossible_padding.yaml"))
    assert none.exit_code == 1 and "no integer solution" in none.stdout


SOLVE = REPO / "examples" / "solve"


def _conv_out(size, kernel, stride=1, padding=0):
    """torch's Conv2d output length (its documentation's formula, dilation 1), written here apart
    from the engine."""
    return (size + 2 * padding - kernel) // stride + 1


def test_solve_each_axis_of_a_per_axis_padding_apart():
    """padding: ["?", "?"] is two unknowns, solved apart: 8x8 kept under a 5x3 kernel needs (2, 1)."""
    text = run("solve", str(SOLVE / "padding_per_axis.yaml"))
    assert text.exit_code == 0, text.output
    assert "solution: conv1.padding[0] = 2, conv1.padding[1] = 1" in text.stdout
    assert "2 independent parts" in text.stdout
    out = json.loads(run("solve", str(SOLVE / "padding_per_axis.yaml"), "--format", "json").stdout)
    assert out["unknowns"] == ["conv1.padding[0]", "conv1.padding[1]"]
    assert out["count"] == 1 and out["solutions"] == [{"conv1.padding[0]": 2, "conv1.padding[1]": 1}]
    assert [p["unknowns"] for p in out["parts"]] == [["conv1.padding[0]"], ["conv1.padding[1]"]]
    assert [p["constraints"] for p in out["parts"]] == [["conv1.output[1] = 8"], ["conv1.output[2] = 8"]]
    # the concrete engine, and the formula, agree; and no other padding up to 20 keeps 8
    spec = (SOLVE / "padding_per_axis.yaml").read_text()
    bound = analyze_text(spec, {"conv1.padding[0]": "2", "conv1.padding[1]": "1"})
    assert bound.row("conv1").output == (4, 8, 8)
    assert [p for p in range(21) if _conv_out(8, 5, padding=p) == 8] == [2]
    assert [p for p in range(21) if _conv_out(8, 3, padding=p) == 8] == [1]
    # --for padding names both axes; padding[0] one (the other bound with --set)
    assert run("solve", str(SOLVE / "padding_per_axis.yaml"), "--for", "padding").exit_code == 0
    one = run("solve", str(SOLVE / "padding_per_axis.yaml"), "--for", "padding[0]", "--set", "conv1.padding[1]=1")
    assert one.exit_code == 0 and "solution: conv1.padding[0] = 2" in one.stdout
    half = run("solve", str(SOLVE / "padding_per_axis.yaml"), "--for", "padding[0]")
    assert half.exit_code == 2 and "these open quantities have no value: conv1.padding[1]" in half.stderr


def test_solve_summarises_a_residue_class():
    """--exact on W in 11..1023 under an 11x11 stride-4 conv: every W ≡ 3 (mod 4), and only those."""
    path = str(SOLVE / "stride_divides_width.yaml")
    text = run("solve", path, "--exact")
    assert text.exit_code == 0, text.output
    assert "254 solutions: W ≡ 3 (mod 4), 11 ≤ W ≤ 1023 (254 values: 11, 15, 19, …, 1023)" in text.stdout
    out = json.loads(run("solve", path, "--exact", "--format", "json").stdout)
    expected = [w for w in range(11, 1024) if (w - 11) % 4 == 0]  # the stride divides W − F exactly
    assert out["count"] == len(expected) == 254 and not out["listed_all"]
    assert [s["W"] for s in out["solutions"]] == expected[:20]
    (part,) = out["parts"]
    assert part["class"] == {"unknown": "W", "modulus": 4, "residue": 3, "min": 11, "max": 1023, "count": 254}
    assert part["ranges"] == {"W": [11, 1023]} and [s["W"] for s in part["solutions"]] == expected[:20]
    spec = (SOLVE / "stride_divides_width.yaml").read_text()
    for w in expected[:3] + expected[-2:]:  # the engine: exact there, and the output torch's
        analysis = analyze_text(spec, {"W": str(w)})
        assert not [x for x in analysis.warnings if x.code == "inexact-division"]
        assert analysis.row("conv1").output == (96, _conv_out(35, 11, 4), _conv_out(w, 11, 4))
    for w in (12, 13, 14, 1022):  # and not exact off the class
        assert [x for x in analyze_text(spec, {"W": str(w)}).warnings if x.code == "inexact-division"]


def test_solve_lists_solutions_that_are_no_class(tmp_path):
    """W with ⌊(W − 3)/4⌋ + 1 = 5 is 19..22: a run inside the range, not a class of it, so listed."""
    spec = tmp_path / "s.yaml"
    spec.write_text("archcalc: 1\ninput: [1, 8, W]\ndims: {W: {min: 3, max: 64}}\nlayers:\n"
                    "  - conv2d: {name: c, out_channels: 1, kernel_size: [1, 3], stride: [1, 4]}\n"
                    "expect:\n  layers:\n    c: {output: [1, 8, 5]}\n")
    text = run("solve", str(spec))
    assert text.exit_code == 0 and "4 solutions: W ∈ {19, 20, 21, 22}" in text.stdout
    out = json.loads(run("solve", str(spec), "--format", "json").stdout)
    assert [s["W"] for s in out["solutions"]] == [w for w in range(3, 65) if _conv_out(w, 3, 4) == 5]
    assert out["parts"][0]["class"] is None


def test_solve_independent_parts_combine(tmp_path):
    """Two independent sizes, each a class: every combination is a solution, and says so."""
    spec = tmp_path / "s.yaml"
    spec.write_text("archcalc: 1\ninput: [3, H, W]\ndims: {H: {min: 11, max: 40}, W: {min: 11, max: 40}}\n"
                    "layers:\n  - conv2d: {name: c, out_channels: 2, kernel_size: 11, stride: [4, 2]}\n")
    text = run("solve", str(spec), "--exact")
    assert text.exit_code == 0
    assert "120 solutions (8 × 15: every combination of the parts'):" in text.stdout
    assert "H ≡ 3 (mod 4), 11 ≤ H ≤ 39" in text.stdout and "W ≡ 1 (mod 2), 11 ≤ W ≤ 39" in text.stdout
    out = json.loads(run("solve", str(spec), "--exact", "--format", "json").stdout)
    hs = [h for h in range(11, 41) if (h - 11) % 4 == 0]
    ws = [w for w in range(11, 41) if (w - 11) % 2 == 0]
    assert out["count"] == len(hs) * len(ws) == 120
    assert out["solutions"][:3] == [{"H": 11, "W": w} for w in ws[:3]]
    for h, w in ((hs[-1], ws[-1]), (hs[0], ws[1])):
        analysis = analyze_text(spec.read_text(), {"H": str(h), "W": str(w)})
        assert not analysis.warnings and analysis.row("c").output == (2, _conv_out(h, 11, 4), _conv_out(w, 11, 2))


def test_solve_parts_tied_by_a_merge_are_checked_together(tmp_path):
    """Two branches' paddings that only an add's equal sizes tie: solved apart they do not hold
    together, so every combination of the parts' solutions is checked by the engine."""
    spec = tmp_path / "s.yaml"
    spec.write_text("archcalc: 1\ninput: [2, 6, 6]\nlayers:\n  - add:\n      name: sum\n      branches:\n"
                    "        a:\n          - conv2d: {name: c, out_channels: 2, kernel_size: 3, padding: \"?\"}\n"
                    "        b:\n          - conv2d: {name: d, out_channels: 2, kernel_size: 5, padding: \"?\"}\n"
                    "expect:\n  layers:\n    sum.a.c: {output: [2, 6, 6]}\n")
    out = run("solve", str(spec), "--max", "30")
    assert out.exit_code == 0, out.output
    assert "solution: c.padding = 1, d.padding = 2" in out.stdout and "every combination was checked" in out.stdout
    assert _conv_out(6, 3, padding=1) == _conv_out(6, 5, padding=2) == 6
    assert analyze_text(spec.read_text(), {"c.padding": "1", "d.padding": "2"}).row("sum").output == (2, 6, 6)


def test_solve_without_a_solution_says_which_unknown(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text((SOLVE / "padding_per_axis.yaml").read_text().replace("[4, 8, 8]", "[4, 8, 9]"))
    text = run("solve", str(spec))
    assert text.exit_code == 1
    assert "no integer solution: no value of conv1.padding[1] meets conv1.output[2] = 9" in text.stdout
    out = json.loads(run("solve", str(spec), "--format", "json").stdout)
    assert out["count"] == 0 and out["solutions"] == []
    assert out["reasons"] == ["no value of conv1.padding[1] meets conv1.output[2] = 9"]
    assert not [p for p in range(50) if _conv_out(8, 3, padding=p) == 9]  # 2P = 4 − 3 has no integer root
    # a constraint no value can change is named as such
    spec.write_text((SOLVE / "padding_per_axis.yaml").read_text().replace("[4, 8, 8]", "[3, 8, 8]"))
    text = run("solve", str(spec))
    assert text.exit_code == 1
    assert "no integer solution: conv1.output[0] = 3: it is 4 whatever the open quantities are" in text.stdout
    # and a search that finds nothing says where it searched
    spec.write_text((SOLVE / "stride_divides_width.yaml").read_text().replace("{min: 11, max: 1023}",
                                                                                "{min: 12, max: 14}"))
    narrow = run("solve", str(spec), "--exact")
    assert narrow.exit_code == 1
    assert ("no integer solution in the searched range: no value of W in 12..14 meets every division exact"
            in narrow.stdout)
    assert all(_conv_out(w, 11, 4) != (w - 11) / 4 + 1 for w in (12, 13, 14))
    # a division that floors whatever W is (H = 32: 32 − 11 = 21 is no multiple of 4)
    spec.write_text((SOLVE / "stride_divides_width.yaml").read_text().replace("[3, 35, W]", "[3, 32, W]"))
    fixed = run("solve", str(spec), "--exact")
    assert fixed.exit_code == 1 and (32 - 11) % 4 == 1
    assert "no integer solution: every division exact: 'conv1' divides inexactly whatever" in fixed.stdout


def test_the_readme_shows_solve_as_it_prints(monkeypatch):
    """Each `$ archcalc solve …` session in README.md is what the command prints now."""
    monkeypatch.chdir(REPO)
    sessions = re.findall(r"^\$ archcalc (solve [^\n]+)\n(.*?)(?=^\$ |^```)", (REPO / "README.md").read_text(),
                          re.M | re.S)
    assert len(sessions) >= 3
    for command, shown in sessions:
        assert run(*command.split()).stdout == shown, command


@pytest.mark.torch
def test_solve_solutions_are_torch_shapes():
    """torch itself: the per-axis padding keeps 8x8, and conv1 reads every column at a W of the
    class (no floored remainder: the last window ends at the last column) and not off it."""
    import torch

    conv = torch.nn.Conv2d(1, 4, (5, 3), padding=(2, 1))
    assert tuple(conv(torch.zeros(1, 1, 8, 8)).shape[1:]) == (4, 8, 8)
    for w in (11, 15, 1023, 12, 14):
        out = torch.nn.functional.conv2d(torch.zeros(1, 3, 35, w), torch.zeros(96, 3, 11, 11), stride=4)
        last_end = (out.shape[-1] - 1) * 4 + 11
        assert (last_end == w) == ((w - 11) % 4 == 0)


@pytest.mark.torch
def test_run_pooling_slide_matches_torch_reference():
    course = REFERENCE["course"]
    out = json.loads(run("run", str(REPO / "examples" / "numeric" / "max_pool_slide.yaml"), "--format", "json").stdout)
    assert out["pool"][0] == course["maxpool2x2_s2_matrix1"]["output"] == [[8, 9], [5, 7]]
    avg = json.loads(run("run", str(REPO / "examples" / "numeric" / "avg_pool_slide.yaml"), "--format", "json").stdout)
    assert avg["pool"][0] == course["avgpool2x2_s2_matrix2"]["output"] == [[13, 8], [79, 19.5]]
    conv = json.loads(run("run", str(REPO / "examples" / "numeric" / "conv_1d.yaml"), "--format", "json").stdout)
    assert conv["conv"] == [[1 - 3 + 0.5, 2 - 4 + 0.5, 3 - 5 + 0.5]]


@pytest.mark.torch
def test_run_errors(tmp_path):
    spec = tmp_path / "r.yaml"
    spec.write_text("archcalc: 1\ninput: {shape: [1, 2, 2], values: [[[1, 2, 3], [4, 5, 6]]]}\nlayers:\n  - relu\n")
    result = run("run", str(spec))
    assert result.exit_code == 2 and "do not have the input's shape" in result.stderr
    spec.write_text("archcalc: 1\ninput: {shape: [2], values: [1, 2]}\nlayers:\n"
                    "  - linear: {out_features: 1, weights: {weight: [[1, 2, 3]]}}\n")
    result = run("run", str(spec))
    assert result.exit_code == 2 and "weights.weight of 'linear_1' has the wrong shape" in result.stderr
