"""`archcalc grade --key`: the instructor's key and the students' submissions are separate
files; every answer stands alone; the report (Gradescope's results.json too) is always
written; a folder gives a gradebook."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.report.grade_report import GRADESCOPE_TEST, GRADESCOPE_TOP
from conftest import REPO

COURSE = REPO / "examples" / "homework" / "course"
KEY = str(COURSE / "key.yaml")
ALEXNET = REPO / "specs" / "alexnet.yaml"


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def graded(submission: str, key: str = KEY) -> dict:
    result = run("grade", "--key", key, submission, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def by_id(doc: dict) -> dict:
    return {r["key"]: r for r in doc["results"]}


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_the_issues_key_gives_five_of_five():
    doc = graded(str(COURSE / "submissions" / "ada.yaml"))
    assert (doc["score"], doc["max_score"], doc["mode"]) == (5, 5, "key")
    assert all(r["ok"] for r in doc["results"])


def test_a_submission_cannot_set_the_spec_points_or_tolerance():
    doc = graded(str(COURSE / "submissions" / "mallory.yaml"))
    assert doc["score"] == 0 and doc["max_score"] == 5
    assert doc["ignored"] == ["spec", "points"]
    q1 = by_id(doc)["q1"]
    assert q1["max_points"] == 1 and "points and tolerances are the key's" in q1["note"]


def test_a_figures_precision_is_not_the_tolerance(tmp_path):
    """0G is 0, not 0 ± 500 M; 0.3M is 300,000, not 290,400."""
    doc = graded(write(tmp_path, "s.yaml", "q2: 0G\nq3: 0.3M\nq4: 0G\n"))
    assert [r["ok"] for r in doc["results"]] == [False] * 4
    doc = graded(write(tmp_path, "s.yaml", "q4: 60M\n"))  # 60,000,000 is 1.6 % from 60,965,224
    assert not by_id(doc)["q4"]["ok"] and "1%" in by_id(doc)["q4"]["note"]


def test_answering_one_question_scores_that_question_only():
    doc = graded(str(COURSE / "submissions" / "cleo.yaml"))
    assert (doc["score"], doc["max_score"]) == (1, 5)
    assert [r["note"] for r in doc["results"][1:]] == ["no answer"] * 3


def test_unreadable_answers_fail_alone_and_results_json_is_written():
    result = run("grade", "--key", KEY, str(COURSE / "submissions" / "ben.yaml"), "--format", "gradescope")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert set(doc) <= set(GRADESCOPE_TOP) and all(set(t) <= set(GRADESCOPE_TEST) for t in doc["tests"])
    assert doc["score"] == 2 and sum(t["max_score"] for t in doc["tests"]) == 5
    outputs = {t["name"].split()[0]: t["output"] for t in doc["tests"]}
    assert "another order" in outputs["q1"]  # 55x55x96 read, in the lecture's order
    assert "O" in outputs["q3"] and "unreadable" in outputs["q3"]
    assert "no answer" in outputs["q4"]


@pytest.mark.parametrize("text", ["q1: [96, 55\n", "- just\n- a list\n", "\x00\x01", "q1: !!python/object:os.system x\n"])
def test_a_submission_that_is_not_a_mapping_still_gets_results(tmp_path, text):
    path = tmp_path / "broken.yaml"
    path.write_bytes(text.encode())
    result = run("grade", "--key", KEY, str(path), "--format", "gradescope")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["score"] == 0 and len(doc["tests"]) == 4
    assert "could not be read" in doc["output"]


def test_shape_order_is_the_keys_convention(tmp_path):
    key = write(tmp_path, "key.yaml", f"spec: {ALEXNET}\nconventions: {{shape_order: W×H×D}}\n"
                                      "questions:\n  q1: {answer: conv1.output}\n  q2: {answer: pool1.output}\n")
    doc = graded(write(tmp_path, "s.yaml", "q1: 55 × 55 × 96\nq2: [96, 27, 27]\n"), key)
    q1, q2 = by_id(doc)["q1"], by_id(doc)["q2"]
    assert q1["ok"] and q1["correct"] == "55 × 55 × 96"
    assert not q2["ok"] and "W × H × D" in q2["note"]


def test_biases_and_neurons_conventions(tmp_path):
    key = write(tmp_path, "key.yaml", f"spec: {ALEXNET}\nconventions: {{biases: false, neurons: every}}\n"
                                      "questions:\n  q1: {answer: conv1.params}\n  q2: {answer: pool1.neurons}\n"
                                      "  q3: {answer: conv1.weights}\n  q4: {answer: total.weights}\n")
    doc = graded(write(tmp_path, "s.yaml", "q1: 34848\nq2: 69984\nq3: 34848\nq4: 60954656\n"), key)
    assert [r["ok"] for r in doc["results"]] == [True] * 4  # 11·11·3·96; 96·27·27 pooled outputs; 60,965,224 − biases


def test_weights_only_is_diagnosed_when_biases_count(tmp_path):
    doc = graded(write(tmp_path, "s.yaml", "q2: 34848\n"))
    assert any("bias" in d for d in by_id(doc)["q2"]["diagnoses"])


def test_a_stride_that_does_not_fit(tmp_path):
    spec = write(tmp_path, "spec.yaml", "archcalc: 1\nname: unfit\ninput: [3, 224, 224]\nlayers:\n"
                                        "  - conv2d: {name: conv1, out_channels: 96, kernel_size: 11, stride: 4}\n")
    key = write(tmp_path, "key.yaml", f"spec: {spec}\nconventions: {{stride_must_fit: true}}\n"
                                      "questions:\n  q1: {answer: conv1.output}\n")
    assert by_id(graded(write(tmp_path, "s.yaml", "q1: doesn't fit\n"), key))["q1"]["ok"]
    q1 = by_id(graded(write(tmp_path, "s.yaml", "q1: [96, 54, 54]\n"), key))["q1"]
    assert not q1["ok"] and q1["correct"] == "invalid" and "54.25" in q1["note"]
    key = write(tmp_path, "key.yaml", f"spec: {spec}\nquestions:\n  q1: {{answer: conv1.output}}\n")
    assert by_id(graded(write(tmp_path, "s.yaml", "q1: [96, 54, 54]\n"), key))["q1"]["ok"]  # torch floors
    assert not by_id(graded(write(tmp_path, "s.yaml", "q1: invalid\n"), key))["q1"]["ok"]


def test_symbolic_answers_are_compared_symbolically(tmp_path):
    spec = write(tmp_path, "spec.yaml", "archcalc: 1\nname: k\ninput: [3, 32, 32]\ndims: {K: {min: 1, max: 512}}\n"
                                        "layers:\n  - conv2d: {name: conv, out_channels: K, kernel_size: 3}\n")
    key = write(tmp_path, "key.yaml", f"spec: {spec}\nquestions:\n  q1: {{answer: conv.params}}\n"
                                      "  q2: {answer: conv.macs}\n")
    doc = graded(write(tmp_path, "s.yaml", "q1: 27*K + K\nq2: 900*27*K\n"), key)
    assert [r["ok"] for r in doc["results"]] == [True, True]
    doc = graded(write(tmp_path, "s.yaml", "q1: 27*K\nq2: 27*X\n"), key)
    assert [r["ok"] for r in doc["results"]] == [False, False]


def test_a_folder_gives_one_gradebook_row_each(tmp_path):
    feedback = tmp_path / "feedback"
    result = run("grade", "--key", KEY, str(COURSE / "submissions"), "--format", "csv", "--feedback", str(feedback))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["id"]: (r["total"], r["max"]) for r in rows} == {
        "ada": ("5", "5"), "ben": ("2", "5"), "cleo": ("1", "5"), "mallory": ("0", "5")}
    assert [r["q2"] for r in rows] == ["2", "2", "0", "0"]
    assert sorted(p.name for p in feedback.iterdir()) == ["ada.txt", "ben.txt", "cleo.txt", "mallory.txt"]
    assert "score 2/5" in (feedback / "ben.txt").read_text()


def test_the_key_is_not_graded_when_it_lies_among_the_submissions(tmp_path):
    (tmp_path / "key.yaml").write_text(f"spec: {ALEXNET}\nquestions:\n  q1: {{answer: conv1.params}}\n")
    (tmp_path / "s1.yaml").write_text("q1: 34944\n")
    result = run("grade", "--key", str(tmp_path / "key.yaml"), str(tmp_path), "--format", "csv")
    assert result.stdout.splitlines()[1:] == ["s1,1,1,1,"]


def test_a_csv_id_is_never_a_formula(tmp_path):
    (tmp_path / "=cmd.yaml").write_text("q1: 34944\n")
    result = run("grade", "--key", KEY, str(tmp_path), "--format", "csv")
    assert result.stdout.splitlines()[1].startswith("'=cmd,")


@pytest.mark.parametrize("text, message", [
    ("spec: {spec}\nquestions:\n  q1: {{answer: conv1.parms}}\n", "did you mean 'params'?"),
    ("spec: {spec}\nquestions:\n  q1: {{answer: conv9.params}}\n", "the spec has no layer 'conv9'"),
    ("spec: {spec}\nanswers:\n  conv1.params: 1\n", "a key lists questions"),
    ("spec: {spec}\nquestions:\n  q1: {{answer: conv1.params, tolerance: lots}}\n", "a tolerance is exact"),
    ("spec: {spec}\nconventions: {{shape_order: XYZ}}\nquestions:\n  q1: {{answer: conv1.params}}\n",
     "shape_order must order C, H and W"),
])
def test_a_bad_key_is_the_instructors_located_error(tmp_path, text, message):
    key = write(tmp_path, "key.yaml", text.format(spec=ALEXNET))
    result = run("grade", "--key", key, str(COURSE / "submissions" / "ada.yaml"))
    assert result.exit_code == 2 and message in result.stderr and "key.yaml:" in result.stderr


def test_self_study_mode_says_so():
    result = run("grade", str(REPO / "examples" / "homework" / "output_size.yaml"))
    assert "self-study" in result.stdout


def test_a_gradebook_needs_a_key():
    result = run("grade", str(REPO / "examples" / "homework" / "output_size.yaml"), "--format", "csv")
    assert result.exit_code == 2 and "--key" in result.stderr


def _autograder(tmp_path, *options) -> Path:
    """The generated autograder unpacked as Gradescope lays it out, under a temporary root."""
    zipped = tmp_path / "autograder.zip"
    result = run("autograder", "--key", KEY, "-o", str(zipped), *options)
    assert result.exit_code == 0, result.output
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    with zipfile.ZipFile(zipped) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():  # extractall drops the modes
            os.chmod(root / "source" / info.filename, info.external_attr >> 16 or 0o644)
    return root


def _run_autograder(root: Path) -> dict:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable, "PYTHONPATH": ""}
    proc = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


@pytest.mark.slow
def test_a_generated_autograder_runs_in_a_gradescope_layout(tmp_path):
    root = _autograder(tmp_path, "--visibility", "after_due_date", "--hide-answers")
    assert sorted(p.name for p in (root / "source").iterdir()) == ["archcalc", "key.yaml", "run_autograder",
                                                                    "setup.sh", "spec.yaml"]
    shutil.copy(COURSE / "submissions" / "ben.yaml", root / "submission" / "answers.yaml")
    doc = _run_autograder(root)
    assert set(doc) <= set(GRADESCOPE_TOP) and doc["score"] == 2 and doc["visibility"] == "after_due_date"
    assert all(t["visibility"] == "after_due_date" for t in doc["tests"])
    assert "34,944" in doc["tests"][1]["output"] and "290,400" not in json.dumps(doc)  # the right values withheld
    (root / "submission" / "answers.yaml").unlink()
    doc = _run_autograder(root)  # nothing submitted: still a result
    assert doc["score"] == 0 and "no .yaml file" in doc["output"]
    (root / "submission" / "a.yaml").write_text("q1: [96, 55, 55]\n")
    (root / "submission" / "b.yml").write_text("q2: 34944\n")
    assert "submit one" in _run_autograder(root)["output"]


def test_the_autograder_refuses_a_broken_key(tmp_path):
    key = write(tmp_path, "key.yaml", f"spec: {ALEXNET}\nquestions:\n  q1: {{answer: conv9.params}}\n")
    result = run("autograder", "--key", key, "-o", str(tmp_path / "a.zip"))
    assert result.exit_code == 2 and "conv9" in result.stderr and not (tmp_path / "a.zip").exists()


def test_receptive_fields_weights_memory_and_ratios(tmp_path):
    """Each against the engine's own figures: conv2's receptive field 51 (AlexNet, per axis),
    total weights memory 4 bytes per parameter (AlexNet has no buffers), fc6's share of the
    parameters as a ratio."""
    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec

    a = analyze(load_spec(ALEXNET))
    ratio = a.row("fc6").params / a.totals["params"]
    key = write(tmp_path, "key.yaml", f"spec: {ALEXNET}\nquestions:\n  q1: {{answer: conv2.rf}}\n"
                                      "  q2: {answer: total.weights_memory, tolerance: '1%'}\n"
                                      "  q3: {answer: fc6.params / total.params, tolerance: {abs: 0.005}}\n"
                                      "  q4: {answer: conv1.activations_memory}\n")
    assert a.row("conv2").rf[0].size == 51 and a.totals["buffers"] == 0
    text = f"q1: 51\nq2: {a.totals['params'] * 4 / 1e6:.0f}MB\nq3: {ratio:.3f}\nq4: {96 * 55 * 55 * 4}\n"
    doc = graded(write(tmp_path, "s.yaml", text), key)
    assert [r["ok"] for r in doc["results"]] == [True] * 4, doc
    doc = graded(write(tmp_path, "s.yaml", "q1: 51 x 51\nq2: 244 MiB\nq3: 0.5\nq4: 1.2MB\n"), key)
    assert [r["ok"] for r in doc["results"]] == [True, False, False, False]  # 244 MiB is 255,852,544 bytes


@pytest.mark.parametrize("written, ok", [("9*C^2", True), ("9*C**2", True), ("9 * C²", True), ("3*3*C*C", True),
                                         ("9*C", False), ("9*K^2", False)])
def test_a_power_of_a_symbolic_size(tmp_path, written, ok):
    """A same-depth 3×3 convolution without bias: 9·C² parameters, C symbolic."""
    spec = write(tmp_path, "spec.yaml", "archcalc: 1\nname: c\ninput: [C, 32, 32]\ndims: {C: {min: 1, max: 512}}\n"
                                        "layers:\n  - conv2d: {name: conv, out_channels: C, kernel_size: 3, bias: false}\n")
    key = write(tmp_path, "key.yaml", f"spec: {spec}\nquestions:\n  q1: {{answer: conv.params}}\n")
    assert by_id(graded(write(tmp_path, "s.yaml", f"q1: \"{written}\"\n"), key))["q1"]["ok"] is ok


def test_partial_credit_per_mistake(tmp_path):
    key = write(tmp_path, "key.yaml", f"spec: {ALEXNET}\npartial: {{bias-missing: 0.5}}\nquestions:\n"
                                      "  q1: {answer: conv1.params, points: 2}\n"
                                      "  q2: {answer: conv2.params, points: 2, partial: {full-depth: 1/4}}\n"
                                      "  q3: {answer: conv3.params, points: 2, partial: {}}\n")
    conv1_weights, conv2_full = 11 * 11 * 3 * 96, (5 * 5 * 96 + 1) * 256
    doc = graded(write(tmp_path, "s.yaml", f"q1: {conv1_weights}\nq2: {conv2_full}\nq3: {3 * 3 * 256 * 384}\n"), key)
    q1, q2, q3 = (by_id(doc)[q] for q in ("q1", "q2", "q3"))
    assert (q1["points"], q2["points"], q3["points"]) == (1, 0.5, 0)
    assert "bias-missing" in q1["diagnosis_codes"] and "partial credit" in q1["note"]
    assert doc["score"] == 1.5


def test_follow_through_credit_for_a_number_that_follows_from_the_students_own_mistake(tmp_path):
    """conv1 without its padding? AlexNet's conv1 has none: take conv2 (P = 2) and what
    conv3 then gets; the student's conv3 output follows from their own conv2 answer."""
    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec_text

    written = "{name: conv2, out_channels: 256, kernel_size: 5, padding: 2, groups: 2}"
    assert written in ALEXNET.read_text()
    unpadded = analyze(load_spec_text(ALEXNET.read_text().replace(written, written.replace("padding: 2", "padding: 0")), "a.yaml"))
    wrong2, wrong3 = unpadded.row("conv2").output, unpadded.row("conv3").output
    text = (f"q1: {list(wrong2)}\nq2: {list(wrong3)}\n")
    for follow, points in (("false", 0), ("true", 1)):
        key = write(tmp_path, "key.yaml", f"spec: {ALEXNET}\nfollow_through: {follow}\nquestions:\n"
                                          "  q1: {answer: conv2.output}\n  q2: {answer: conv3.output}\n")
        doc = graded(write(tmp_path, "s.yaml", text), key)
        q1, q2 = by_id(doc)["q1"], by_id(doc)["q2"]
        assert q1["points"] == 0 and "padding-forgotten" in q1["diagnosis_codes"]
        assert q2["points"] == points and "padding-forgotten" in q2["diagnosis_codes"]
    doc = graded(write(tmp_path, "s.yaml", f"q2: {list(wrong3)}\n"), key)  # no such mistake of their own before
    assert by_id(doc)["q2"]["points"] == 0


def test_a_bad_partial_is_the_instructors_error(tmp_path):
    for text, message in (("partial: {bias-mising: 0.5}", "did you mean 'bias-missing'?"),
                          ("partial: {bias-missing: 2}", "between 0 and 1"),
                          ("follow_through: yes please", "true or false")):
        key = write(tmp_path, "key.yaml", f"spec: {ALEXNET}\n{text}\nquestions:\n  q1: {{answer: conv1.params}}\n")
        result = run("grade", "--key", key, str(COURSE / "submissions" / "ada.yaml"))
        assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_the_right_value_shown_reads_back_as_right(tmp_path):
    """What the feedback shows as the right value, submitted as it is shown, is graded right
    (a shape of 4096 shown as [4,096] would be unreadable)."""
    key = write(tmp_path, "key.yaml", f"spec: {ALEXNET}\nquestions:\n  q1: {{answer: fc6.output}}\n"
                                      "  q2: {answer: fc6.params}\n  q3: {answer: conv1.output}\n")
    shown = {r["key"]: r["correct"] for r in graded(write(tmp_path, "s.yaml", "{}\n"), key)["results"]}
    assert shown["q1"] == "[4096]"
    text = "".join(f"{q}: \"{value}\"\n" for q, value in shown.items())
    assert all(r["ok"] for r in graded(write(tmp_path, "s.yaml", text), key)["results"])


def test_an_autograder_for_values_questions_installs_torch(tmp_path):
    for key, torch_wanted in ((COURSE / "pooling.yaml", True), (COURSE / "key.yaml", False)):
        result = run("autograder", "--key", str(key), "-o", str(tmp_path / "a.zip"))
        assert result.exit_code == 0, result.output
        with zipfile.ZipFile(tmp_path / "a.zip") as zf:
            setup = zf.read("setup.sh").decode()
        assert ("download.pytorch.org/whl/cpu" in setup) is torch_wanted


def test_every_quantity_a_key_may_ask_has_its_words():
    """One table says each quantity in words (question texts, sheets, exports)."""
    from archcalc.grading.key import KEY_QUANTITIES, QUANTITY_WORDS

    assert sorted(QUANTITY_WORDS) == sorted(KEY_QUANTITIES)


# --- numbers of any size are compared exactly (issue 20) ------------------------------------------

@pytest.mark.parametrize("written,right,rel,ok", [
    (10**400 + 10**397, 10**400, "1/100", True),  # within 1%: 10^400 would overflow a float
    (10**400 + 2 * 10**398, 10**400, "1/100", False),  # 2% off
    (10**400 + 1, 10**400, None, True),  # "exact" means within float64's rounding, a relative 1e-9
    (10**400 + 10**392, 10**400, None, False),  # 1e-8 relative: outside it
    (2**53 + 1, 2**53, None, True),
    (float("inf"), float("inf"), None, True), (float("inf"), 10**400, "1/100", False),
    (10**400, float("inf"), "1/100", False), (float("nan"), float("nan"), None, False),
    (float("nan"), 1.0, "1/100", False), (1.0, float("nan"), None, False),
    (1.5, 1.0, "1/2", True), (1.51, 1.0, "1/2", False),
])
def test_numbers_are_compared_exactly_whatever_their_size(written, right, rel, ok):
    from fractions import Fraction

    from archcalc.grading.key import Tolerance
    from archcalc.grading.mark import Numbers

    tolerance = Tolerance(rel=Fraction(rel)) if rel else Tolerance()
    assert Numbers([[right, 2]]).judge([[written, 2]], tolerance)[0] is ok
