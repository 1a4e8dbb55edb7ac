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
    none = run("solve", str(REPO / "examples" / "solve" / "impossible_padding.yaml"))
    assert none.exit_code == 1 and "no integer solution" in none.stdout


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
