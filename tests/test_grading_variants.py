"""Per-student variants: each student's numbers are drawn from the key's ranges, the same on
every run (sha256 of seed, id and name), and only where the spec fits; the sheet shows the
student's numbers and never a right value; grading takes each submission's numbers by id."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.engine.analyze import analyze
from archcalc.grading.draw import as_set
from archcalc.grading.key import load_key
from archcalc.grading.variants import MAX_ATTEMPTS, Drawer
from archcalc.spec import load_spec
from conftest import REPO, SOURCE_PATH

COURSE = REPO / "examples" / "homework" / "course"
KEY = COURSE / "key_variants.yaml"
ROSTER = COURSE / "roster.csv"
SPEC = COURSE / "specs" / "conv_exercise.yaml"
RANGES = {"W": range(32, 257), "F": [3, 5, 7, 11], "S": [1, 2, 4], "P": range(0, 4), "K": [16, 32, 64, 96]}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def by_hand(v: dict) -> tuple | None:
    """conv1 then a 2 × 2 pool of stride 2, from the lecture's formulas: the output [K, w, w],
    or None where a division is not exact (or the kernel is larger than the padded input)."""
    span = v["W"] - v["F"] + 2 * v["P"]
    if span < 0 or span % v["S"]:
        return None
    conv = span // v["S"] + 1
    if conv < 2 or (conv - 2) % 2:
        return None
    return (v["K"], (conv - 2) // 2 + 1, (conv - 2) // 2 + 1)


@pytest.fixture(scope="module")
def drawer():
    return Drawer(load_key(KEY))


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    out = tmp_path_factory.mktemp("variants") / "out"
    result = run("variants", "--key", KEY, "--roster", ROSTER, "-o", out)
    assert result.exit_code == 0, result.output
    return out


def answers(out: Path) -> dict[str, dict[str, str]]:
    return {row["id"]: row for row in csv.DictReader((out / "answers.csv").open(encoding="utf-8"))}


# ---- the draw ---------------------------------------------------------------------------------


def test_the_same_seed_and_id_give_the_same_numbers(drawer):
    again = Drawer(load_key(KEY))
    ids = [f"s{i:03d}" for i in range(40)]
    assert [drawer.values(i) for i in ids] == [again.values(i) for i in ids]
    assert len({tuple(drawer.values(i).items()) for i in ids}) > 35  # different ids, different numbers
    assert drawer.values("ada") != drawer.values("ben")
    assert Drawer(load_key(KEY), seed=7).values("ada") != drawer.values("ada")  # --seed overrides


def test_the_draw_is_sha256_of_seed_id_and_name(drawer):
    """Recomputed from the documented method: a student whose first draw fits keeps it."""
    for sid in ("ada", "ben", "cleo", "s001", "s002", "s003"):
        first = {}
        for name, values in RANGES.items():
            digest = hashlib.sha256(f"2026:{sid}:{name}".encode()).digest()
            first[name] = list(values)[int.from_bytes(digest[:8], "big") % len(values)]
        if by_hand(first) is not None:
            assert drawer.values(sid) == first, sid
        else:
            assert drawer.values(sid) != first, sid  # redrawn


def test_the_draw_does_not_depend_on_pythons_hash_seed():
    code = ("from archcalc.grading.key import load_key; from archcalc.grading.variants import Drawer; "
            f"d = Drawer(load_key({str(KEY)!r})); print([d.values(f's{{i}}') for i in range(5)])")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": SOURCE_PATH}).stdout
               for seed in ("1", "2")}
    assert len(outputs) == 1 and "W" in outputs.pop()


def test_every_drawn_geometry_fits(drawer):
    spec = load_spec(SPEC)
    redrawn, seen = 0, {name: set() for name in RANGES}
    for i in range(300):
        v = drawer.values(f"student{i}")
        for name, values in RANGES.items():
            assert v[name] in values
            seen[name].add(v[name])
        analysis = analyze(spec, as_set(v))
        assert [w for w in analysis.warnings if w.code == "inexact-division"] == []
        assert analysis.output == by_hand(v), v  # every division exact, the shape the formula gives
        first = {n: list(r)[int.from_bytes(hashlib.sha256(f"2026:student{i}:{n}".encode()).digest()[:8], "big")
                            % len(r)] for n, r in RANGES.items()}
        redrawn += by_hand(first) is None
    assert redrawn > 50  # the ranges hold many geometries that do not fit: redrawing is exercised
    assert all(seen[name] == set(RANGES[name]) for name in ("F", "S", "P", "K"))  # every value is drawn


def test_must_fit_false_keeps_strides_that_floor(tmp_path):
    text = KEY.read_text().replace("must_fit: true", "must_fit: false").replace("spec: specs/", f"spec: {COURSE}/specs/")
    (tmp_path / "key.yaml").write_text(text)
    loose = Drawer(load_key(tmp_path / "key.yaml"))
    assert any(by_hand(loose.values(f"s{i}")) is None for i in range(60))


def test_ranges_that_never_fit_are_a_clear_error(tmp_path):
    text = KEY.read_text().replace("F: [3, 5, 7, 11]", "F: [300, 301]").replace("spec: specs/", f"spec: {COURSE}/specs/")
    (tmp_path / "key.yaml").write_text(text)
    result = run("variants", "--key", tmp_path / "key.yaml", "--roster", ROSTER, "-o", tmp_path / "out")
    assert result.exit_code == 2 and f"in {MAX_ATTEMPTS} attempts" in result.stderr
    assert "W in 32..256, F in [300, 301]" in result.stderr and "kernel is larger" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("draw, message", [
    ("X: [1, 2]", "the spec has no var or dimension 'X'"),
    ("W: {range: [9, 3]}", "the range [9, 3] is empty"),
    ("W: {range: [3]}", "a range of two whole numbers"),
    ("W: [3, 4.5]", "a list of whole numbers"),
    ("W: [3]\n  colour: red", "unknown key 'colour' in variants"),
])
def test_a_bad_draw_is_the_instructors_located_error(tmp_path, draw, message):
    (tmp_path / "key.yaml").write_text(f"spec: {SPEC}\nvariants:\n  draw:\n    {draw}\n"
                                       "questions:\n  q1: {answer: conv1.params}\n")
    result = run("variants", "--key", tmp_path / "key.yaml", "--roster", ROSTER, "-o", tmp_path / "out")
    assert result.exit_code == 2 and message in result.stderr and "key.yaml:" in result.stderr, result.stderr


def test_a_name_both_set_and_drawn_is_an_error(tmp_path):
    (tmp_path / "key.yaml").write_text(f"spec: {SPEC}\nset: {{W: 64}}\nvariants:\n  draw: {{W: [32, 64]}}\n"
                                       "questions:\n  q1: {answer: conv1.params}\n")
    result = run("variants", "--key", tmp_path / "key.yaml", "--roster", ROSTER, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "'W' is both set and drawn" in result.stderr


# ---- the roster and the files written ------------------------------------------------------------


@pytest.mark.parametrize("roster, message", [
    ("name,email\nAda,a@x\n", "no 'id' column"),
    ("id,name\nada,Ada\nADA,Ada again\n", "listed twice"),
    ("id\n../etc/passwd\n", "cannot name a file"),
    ("id\n.hidden\n", "cannot name a file"),
    ("id\n", "lists no students"),
])
def test_a_bad_roster_is_a_located_error(tmp_path, roster, message):
    (tmp_path / "roster.csv").write_text(roster)
    result = run("variants", "--key", KEY, "--roster", tmp_path / "roster.csv", "-o", tmp_path / "out")
    assert result.exit_code == 2 and message in result.stderr and "roster.csv" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_the_command_writes_each_sheet_the_variants_and_the_answers(drawn, drawer):
    assert sorted(p.name for p in drawn.iterdir()) == ["ada.md", "answers.csv", "ben.md", "cleo.md", "variants.yaml"]
    key = load_key(KEY)
    for sid in ("ada", "ben", "cleo"):
        numbers = drawer.values(sid)
        assert f'"{sid}": {{' + ", ".join(f"{k}: {v}" for k, v in numbers.items()) + "}" in \
            (drawn / "variants.yaml").read_text()
        row = answers(drawn)[sid]
        k, w, _ = by_hand(numbers)
        conv = (numbers["W"] - numbers["F"] + 2 * numbers["P"]) // numbers["S"] + 1
        assert row["q1"] == f"{conv} × {conv} × {k}" and row["q4"] == f"{w} × {w} × {k}"  # W × H × D
        assert row["q2"] == str((numbers["F"] ** 2 * 3 + 1) * k)
        assert row["q3"] == str(numbers["F"] ** 2 * 3 * k * conv * conv)
        assert float(row["q5"]) == pytest.approx((numbers["F"] ** 2 * 3 + 1) * k / (k * conv * conv), abs=1e-6)
        assert list(row) == ["id", *(q.id for q in key.questions)]


def test_a_sheet_shows_the_students_numbers_and_no_right_value(drawn, drawer):
    for sid, row in answers(drawn).items():
        sheet = (drawn / f"{sid}.md").read_text()
        numbers = drawer.values(sid)
        for name, value in numbers.items():
            assert f"**{name} = {value}**" in sheet
        assert f"{numbers['W']} × {numbers['W']} × 3" in sheet  # the input, as the course writes it
        assert f"kernel_size {numbers['F']}, stride {numbers['S']}, padding {numbers['P']}" in sheet
        assert f"named `{sid}.yaml`" in sheet and "{W}" not in sheet
        flat = sheet.replace(" ", "").replace(",", "")
        for qid, right in row.items():
            if qid == "id":
                continue
            sizes = [s.strip() for s in right.split("×")]
            if len(sizes) == 3:  # a shape: in the course's order and in torch's
                assert "×".join(sizes) not in flat and "×".join(sizes[::-1]) not in flat, (sid, qid)
            else:
                assert not re.search(rf"(?<![\d.]){re.escape(right)}(?![\d.])", flat), (sid, qid, right)


def test_a_second_run_keeps_the_numbers_and_refuses_to_change_them(tmp_path):
    out = tmp_path / "out"
    assert run("variants", "--key", KEY, "--roster", ROSTER, "-o", out).exit_code == 0
    before = (out / "variants.yaml").read_text()
    (tmp_path / "roster.csv").write_text(ROSTER.read_text() + "dan,Dan,dan@example.edu\n")
    result = run("variants", "--key", KEY, "--roster", tmp_path / "roster.csv", "-o", out)
    assert result.exit_code == 0 and "3 student(s) kept their numbers" in result.output
    after = (out / "variants.yaml").read_text()
    assert after.startswith(before.rstrip("\n")) and '"dan"' in after and (out / "dan.md").exists()
    result = run("variants", "--key", KEY, "--roster", ROSTER, "-o", out, "--seed", "1")
    assert result.exit_code == 2 and "other numbers than this draw" in result.stderr
    assert (out / "variants.yaml").read_text() == after


# ---- grading each student for their own numbers ------------------------------------------------------


def _submission(row: dict) -> str:
    return "".join(f"{q}: {v}\n" for q, v in row.items() if q != "id")


def _gradebook(folder: Path, variants: Path) -> dict[str, dict]:
    result = run("grade", "--key", KEY, "--variants", variants, folder, "--format", "csv")
    assert result.exit_code == 0, result.output
    return {r["id"]: r for r in csv.DictReader(io.StringIO(result.stdout))}


def test_each_student_is_graded_for_their_own_numbers(drawn, tmp_path):
    right = answers(drawn)
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ada.yaml").write_text(_submission(right["ada"]))
    (subs / "ben.yaml").write_text(_submission(right["ben"]))
    (subs / "zed.yaml").write_text(_submission(right["ada"]))  # on no roster
    book = _gradebook(subs, drawn / "variants.yaml")
    assert {sid: (r["total"], r["max"]) for sid, r in book.items()} == {
        "ada": ("6", "6"), "ben": ("6", "6"), "zed": ("0", "6")}
    (subs / "ada.yaml").write_text(_submission(right["ben"]))  # swapped: each has the other's numbers
    (subs / "ben.yaml").write_text(_submission(right["ada"]))
    book = _gradebook(subs, drawn / "variants.yaml")
    assert int(book["ada"]["total"]) < 6 and int(book["ben"]["total"]) < 6


def test_an_id_without_a_variant_scores_0_with_the_reason(drawn, tmp_path):
    (tmp_path / "Zed.yaml").write_text(_submission(answers(drawn)["ada"]))
    result = run("grade", "--key", KEY, "--variants", drawn / "variants.yaml", tmp_path / "Zed.yaml", "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["score"] == 0 and doc["max_score"] == 6
    assert "no variant for id 'Zed': is the file named after the student's roster id?" in doc["error"]
    (tmp_path / "ADA.yaml").write_text(_submission(answers(drawn)["ada"]))  # ids match ignoring case
    doc = json.loads(run("grade", "--key", KEY, "--variants", drawn / "variants.yaml", tmp_path / "ADA.yaml",
                         "--format", "json").stdout)
    assert doc["score"] == 6 and doc["student"] == "ada"


def test_a_variants_key_needs_its_variants_file(tmp_path):
    (tmp_path / "ada.yaml").write_text("q1: 1\n")
    result = run("grade", "--key", KEY, tmp_path / "ada.yaml")
    assert result.exit_code == 2 and "--variants" in result.stderr


def test_a_variants_file_for_other_names_is_refused(drawn, tmp_path):
    (tmp_path / "v.yaml").write_text('students:\n  "ada": {W: 64, F: 3}\n')
    (tmp_path / "ada.yaml").write_text("q1: 1\n")
    result = run("grade", "--key", KEY, "--variants", tmp_path / "v.yaml", tmp_path / "ada.yaml")
    assert result.exit_code == 2 and "the key draws W, F, S, P, K" in result.stderr and "v.yaml:2" in result.stderr


def _upload(tmp_path: Path, text: str, metadata: object | None) -> Path:
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True, exist_ok=True)
    (root / "submission" / "homework.yaml").write_text(text)
    if metadata is not None:
        (root / "submission_metadata.json").write_text(json.dumps(metadata))
    return root / "submission"


@pytest.mark.parametrize("user, score", [
    ({"email": "x@example.edu", "id": 1, "name": "Ben", "sid": "ben"}, 6),  # Gradescope's student id
    ({"email": "ben", "id": 1, "name": "Ben"}, 6),  # or the email, where the roster's ids are emails
    ({"email": "nobody@example.edu", "id": 1}, 0),
])
def test_gradescope_takes_the_id_from_the_submission_metadata(drawn, tmp_path, user, score):
    upload = _upload(tmp_path, _submission(answers(drawn)["ben"]), {"id": 9, "users": [user]})
    result = run("grade", "--key", KEY, "--variants", drawn / "variants.yaml", upload, "--format", "gradescope")
    doc = json.loads(result.stdout)
    assert doc["score"] == score
    if not score:
        assert "no variant for this student (tried 'nobody@example.edu', 'homework')" in doc["output"]


@pytest.mark.parametrize("metadata", [None, "not a mapping", {"users": []}, {"users": [{"sid": None}]}])
def test_without_usable_metadata_the_file_name_is_the_id(drawn, tmp_path, metadata):
    upload = _upload(tmp_path, _submission(answers(drawn)["ben"]), metadata)
    shutil.move(upload / "homework.yaml", upload / "ben.yaml")
    result = run("grade", "--key", KEY, "--variants", drawn / "variants.yaml", upload, "--format", "gradescope")
    assert json.loads(result.stdout)["score"] == 6


@pytest.mark.slow
def test_an_autograder_with_variants_grades_each_upload_for_its_student(drawn, tmp_path):
    zipped = tmp_path / "autograder.zip"
    assert run("autograder", "--key", KEY, "-o", zipped).exit_code == 2  # a variants key needs its file
    result = run("autograder", "--key", KEY, "--variants", drawn / "variants.yaml", "-o", zipped)
    assert result.exit_code == 0, result.output
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(zipped) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():
            os.chmod(root / "source" / info.filename, info.external_attr >> 16 or 0o644)
    assert (root / "source" / "variants.yaml").read_text() == (drawn / "variants.yaml").read_text()
    _upload(tmp_path, _submission(answers(drawn)["cleo"]), {"users": [{"email": "cleo@x", "sid": "cleo"}]})
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable, "PYTHONPATH": ""}
    proc = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((root / "results" / "results.json").read_text())["score"] == 6


def test_variants_without_a_key_is_a_usage_error(drawn):
    result = run("grade", "--variants", drawn / "variants.yaml", REPO / "examples" / "homework" / "output_size.yaml")
    assert result.exit_code == 2 and "--key" in result.stderr
