"""Exports to learning-management systems: a key as a Moodle XML question bank
(`archcalc export --format moodle`), grades as Canvas's gradebook import (`archcalc grade
--format canvas`).

The Moodle file is parsed back with ElementTree and checked question by question against
the Marker's own right values and the key's tolerances, and against what archcalc itself
accepts: every string a short answer accepts is graded right by archcalc, every string it
gives no credit is graded wrong, and a numerical question's interval is archcalc's. The
structure is the one Moodle's own exporter writes (question/format/xml/tests/xmlformat_test.php:
test_export_numerical, test_export_shortanswer). The Canvas CSV is checked against the header
rules of Canvas's importer (app/models/gradebook_importer.rb: row_has_student_headers?,
update_column_count, header?)."""
from __future__ import annotations

import csv
import html
import io
import re
import xml.etree.ElementTree as ET
from fractions import Fraction

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.grading.key import load_key
from archcalc.grading.mark import INVALID, Marker, Numbers
from archcalc.grading.submission import Submission, Submitted
from conftest import REPO

COURSE = REPO / "examples" / "homework" / "course"
KEYS = ("lecture.yaml", "cs231n.yaml", "cs231n_invalid.yaml", "d2l.yaml", "pooling.yaml", "pooling_avg.yaml")
# Moodle's own export (xmlformat_test.php): the children of a question and of an answer, in order
MOODLE_QUESTION = ["name", "questiontext", "generalfeedback", "defaultgrade", "penalty", "hidden", "idnumber"]
WORDS = {"output_height": "the output height", "output_width": "the output width", "params": "the number of parameters",
         "values": "the output numbers on the given input"}
MOODLE_ANSWER = {"numerical": ["text", "feedback", "tolerance"], "shortanswer": ["text", "feedback"]}


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def exported(key, tmp_path) -> tuple[ET.Element, str]:
    out = tmp_path / "quiz.xml"
    result = run("export", "--key", str(key), "--format", "moodle", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<quiz>')
    return ET.fromstring(text.encode("utf-8")), result.stderr


def questions(root: ET.Element) -> dict[str, ET.Element]:
    return {q.find("name/text").text.split(":")[0]: q for q in root.findall("question")}


def answers(question: ET.Element) -> list[tuple[str, int, ET.Element]]:
    """(the answer as a student types it, the credit, the element): a short answer's \\* is a star."""
    out = []
    for a in question.findall("answer"):
        text = a.find("text").text or ""
        if question.get("type") == "shortanswer":
            assert not re.search(r"(?<!\\)\*", text), f"{text!r}: an unescaped * is Moodle's wildcard"
            text = text.replace("\\*", "*")
        out.append((text, int(a.get("fraction")), a))
    return out


def paragraphs(element: ET.Element) -> list[str]:
    """An HTML text of <p> paragraphs, as a reader sees it."""
    return [html.unescape(p) for p in re.findall(r"<p>(.*?)</p>", element.find("text").text or "", re.S)]


def graded(marker: Marker, qid: str, raw) -> bool:
    report = marker.grade(Submission("s.yaml", "s", {qid: Submitted(raw, None)}))
    return next(r for r in report.results if r.key == qid).ok


@pytest.mark.parametrize("name", KEYS)
def test_each_question_is_exported_with_the_markers_right_value_tolerance_and_points(name, tmp_path):
    marker = Marker(load_key(COURSE / name))
    root, _ = exported(COURSE / name, tmp_path)
    found = questions(root)
    assert list(found) == [q.id for q in marker.key.questions]
    for q in marker.key.questions:
        question, right = found[q.id], marker.rights[q.id]
        kind = question.get("type")
        assert [c.tag for c in question][:7] == MOODLE_QUESTION
        assert Fraction(question.find("defaultgrade").text) == q.points
        generated = q.text or f"{q.path}: {WORDS[q.quantity]} ({q.quantity})?"
        assert paragraphs(question.find("questiontext"))[0] == generated
        assert f"The right answer: {marker._shown(right)}." in paragraphs(question.find("generalfeedback"))
        for _, _, a in answers(question):
            assert [c.tag for c in a] == MOODLE_ANSWER[kind] and a.get("format") == "plain_text"
        if right.value is INVALID or isinstance(right.value, (tuple, Numbers)):
            assert kind == "shortanswer" and question.find("usecase").text == "0"
            continue
        assert kind == "numerical"
        [(text, credit, a)] = answers(question)
        allowed = Fraction(a.find("tolerance").text)
        assert credit == 100 and Fraction(text) == right.value and allowed == q.tolerance.allowed(right.value)
        # Moodle's interval is archcalc's: its ends are right, a unit beyond them wrong
        for end in (Fraction(text) + allowed, Fraction(text) - allowed):
            assert graded(marker, q.id, str(end))
        assert not graded(marker, q.id, str(Fraction(text) + allowed + 1))


@pytest.mark.parametrize("name", KEYS)
def test_every_string_a_short_answer_accepts_archcalc_accepts(name, tmp_path):
    marker = Marker(load_key(COURSE / name))
    root, _ = exported(COURSE / name, tmp_path)
    for qid, question in questions(root).items():
        if question.get("type") != "shortanswer":
            continue
        given = answers(question)
        assert marker._shown(marker.rights[qid]) in [t for t, credit, _ in given if credit == 100]
        for text, credit, a in given:
            assert graded(marker, qid, text) is (credit == 100), (qid, text)
            if credit == 0:
                assert "another order" in " ".join(paragraphs(a.find("feedback")))


def test_the_lectures_questions_by_hand(tmp_path):
    """The published answers: 55 × 55 × 96; 34,944 exactly and within 1 %; 290,400; about 60 M (2 %)."""
    found = questions(exported(COURSE / "lecture.yaml", tmp_path)[0])
    q1 = [(t, c) for t, c, _ in answers(found["q1"])]
    assert ("55 × 55 × 96", 100) in q1 and ("55x55x96", 100) in q1 and ("55*55*96", 100) in q1
    assert ("96 × 55 × 55", 0) in q1 and ("55 × 96 × 55", 100) not in q1
    numbers = {q: (answers(found[q])[0][0], found[q].find("answer/tolerance").text) for q in ("q2", "q3", "q4", "q7")}
    assert numbers == {"q2": ("34944", "0"), "q3": ("34944", "349.44"), "q4": ("290400", "0"),
                       "q7": ("60965224", "1219304.48")}
    assert found["q2"].find("defaultgrade").text == "2"
    assert paragraphs(found["q2"].find("generalfeedback"))[1] == \
        "params = (F·F·D/groups + 1)·K = (11·11·3 + 1)·96 = 34,944"


def test_invalid_is_a_short_answer_with_the_words_archcalc_reads(tmp_path):
    found = questions(exported(COURSE / "cs231n_invalid.yaml", tmp_path)[0])
    for qid in ("q1", "q2"):
        accepted = [t for t, c, _ in answers(found[qid]) if c == 100]
        assert "invalid" in accepted and "doesn't fit" in accepted
        assert any("torch floors to 4" in p for p in paragraphs(found[qid].find("generalfeedback")))
        assert "Write 'invalid' if the hyperparameters do not fit." in paragraphs(found[qid].find("questiontext"))


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_hostile_question_text_stays_well_formed_and_shows_as_written(tmp_path):
    hostile = 'He said "<script>alert(1)</script>" & \'left\' ]]> \u202eRTL\u202c שלום مرحبا'
    spec = write(tmp_path, "spec.yaml", "archcalc: 1\nname: s\ninput: [3, 8, 8]\nlayers:\n"
                                        "  - conv2d: {name: conv, out_channels: 2, kernel_size: 3}\n")
    key = write(tmp_path, "key.yaml", f"spec: {spec}\nquestions:\n"
                                      f"  q1: {{answer: conv.params, text: {yaml_quoted(hostile)}}}\n"
                                      f"  q2: {{answer: conv.output, text: \"tab\\tvtab\\x0bnul\\0 <&>\"}}\n")
    root, _ = exported(key, tmp_path)
    found = questions(root)
    assert paragraphs(found["q1"].find("questiontext"))[0] == hostile
    assert paragraphs(found["q2"].find("questiontext"))[0] == "tab\tvtab\ufffdnul\ufffd <&>"  # no XML 1.0 character
    assert "<script>" not in (found["q1"].find("questiontext/text").text or "")  # HTML-escaped: shown, never run


def yaml_quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_a_formula_is_a_case_sensitive_short_answer(tmp_path):
    spec = write(tmp_path, "spec.yaml", "archcalc: 1\nname: k\ninput: [3, 32, 32]\ndims: {K: {min: 1, max: 512}}\n"
                                        "layers:\n  - conv2d: {name: conv, out_channels: K, kernel_size: 3}\n"
                                        "  - flatten: {name: flat}\n")
    key = write(tmp_path, "key.yaml", f"spec: {spec}\nquestions:\n  q1: {{answer: conv.params}}\n"
                                      "  q2: {answer: conv.output}\n  q3: {answer: flat.output}\n")
    marker = Marker(load_key(key))
    found = questions(exported(key, tmp_path)[0])
    assert found["q1"].get("type") == "shortanswer" and found["q1"].find("usecase").text == "1"
    assert [t for t, c, _ in answers(found["q1"])] == ["28*K"]  # (3·3·3 + 1)·K
    assert found["q1"].find("answer/text").text == "28\\*K"
    assert [t for t, c, _ in answers(found["q2"]) if c == 100] == [
        "K × 30 × 30", "K×30×30", "K x 30 x 30", "[K, 30, 30]", "(K, 30, 30)"]  # K*30*30 is a product
    assert [t for t, c, _ in answers(found["q3"])] == ["[900*K]"]
    for qid in ("q1", "q2", "q3"):
        assert found[qid].find("usecase").text == "1"
        assert all(graded(marker, qid, t) is (c == 100) for t, c, _ in answers(found[qid]))
    assert paragraphs(found["q1"].find("questiontext"))[0] == "conv: the number of parameters (params)?"


def test_vectors_and_receptive_fields(tmp_path):
    """A flattened [4096] and a 3 × 3 receptive field: one number stands for equal sizes."""
    spec = write(tmp_path, "spec.yaml", "archcalc: 1\nname: v\ninput: [4, 32, 32]\nlayers:\n"
                                        "  - conv2d: {name: conv, out_channels: 4, kernel_size: 3, padding: 1}\n"
                                        "  - flatten: {name: flat}\n")
    key = write(tmp_path, "key.yaml", f"spec: {spec}\nconventions: {{shape_order: W×H×D}}\nquestions:\n"
                                      "  q1: {answer: flat.output}\n  q2: {answer: conv.rf}\n")
    marker = Marker(load_key(key))
    found = questions(exported(key, tmp_path)[0])
    assert [t for t, c, _ in answers(found["q1"])] == ["[4096]", "4096"]  # not [4,096]: a comma parts sizes
    assert "3x3" in [t for t, c, _ in answers(found["q2"])] and "3" in [t for t, c, _ in answers(found["q2"])]
    for qid in ("q1", "q2"):
        assert found[qid].find("usecase").text == "0"
        assert all(graded(marker, qid, t) is (c == 100) for t, c, _ in answers(found[qid]))


def test_a_ratio_that_is_no_terminating_decimal(tmp_path):
    """conv1's share of AlexNet's parameters, 34,944 / 60,965,224: 15 significant digits; an
    exact question gets the rounding as its tolerance, a 1 % one an interval inside the key's."""
    key = write(tmp_path, "key.yaml", f"spec: {REPO / 'specs' / 'alexnet.yaml'}\nquestions:\n"
                                      "  q1: {answer: conv1.params / total.params}\n"
                                      "  q2: {answer: conv1.params / total.params, tolerance: \"1%\"}\n")
    root, notes = exported(key, tmp_path)
    right = Fraction(34944, 60965224)
    found = questions(root)
    for qid, allowed in (("q1", Fraction(0)), ("q2", right / 100)):
        text, tolerance = found[qid].find("answer/text").text, Fraction(found[qid].find("answer/tolerance").text)
        written = Fraction(text)
        assert len(text.lstrip("0.")) == 15 and abs(written - right) <= Fraction(5, 10**19)
        assert (written - tolerance, written + tolerance) != (right - allowed, right + allowed)
        if allowed:
            assert right - allowed <= written - tolerance and written + tolerance <= right + allowed
        else:
            assert written - tolerance <= right <= written + tolerance and tolerance <= Fraction(5, 10**19)
    assert "q1: the right value" in notes and "not exact" in notes
    xml = (tmp_path / "quiz.xml").read_text(encoding="utf-8")  # what stderr says, the file says too
    assert "<!-- archcalc note: q1: the right value" in xml and xml.count("archcalc note:") == notes.count("note:")


def test_export_needs_a_valid_key(tmp_path):
    result = run("export", "--key", write(tmp_path, "key.yaml", "spec: nowhere.yaml\nquestions: {q1: conv.params}\n"),
                 "--format", "moodle")
    assert result.exit_code == 2 and "nowhere.yaml" in result.output


# ---- Canvas ------------------------------------------------------------------------------------

SUBMISSIONS = str(COURSE / "submissions")
KEY = str(COURSE / "key.yaml")


def canvas(*args) -> tuple[list[list[str]], str]:
    result = run("grade", "--key", KEY, SUBMISSIONS, "--format", "canvas", *args)
    assert result.exit_code == 0, result.output
    return list(csv.reader(io.StringIO(result.stdout))), result.stderr


def canvas_reads_the_header(row: list[str]) -> bool:
    """Canvas's GradebookImporter: Student, ID, then SIS User ID and SIS Login ID, then Section
    as the last student column; what follows are assignments."""
    return (len(row) > 3 and "Student" in row[0] and "ID" in row[1] and re.search(r"SIS\s+User\s+ID", row[2])
            and re.search(r"SIS\s+Login\s+ID", row[3]) and "Section" in row[4]) is not None and len(row) == 6


def test_a_canvas_gradebook_has_canvas_header_points_possible_and_one_total_each():
    rows, _ = canvas()
    assert canvas_reads_the_header(rows[0]) and rows[0][5] == "key"  # the key's file name
    assert rows[1][0] == "Points Possible" and rows[1][5] == "5"
    gradebook = run("grade", "--key", KEY, SUBMISSIONS, "--format", "csv").stdout
    totals = {r["id"]: r["total"] for r in csv.DictReader(io.StringIO(gradebook))}
    assert {r[3]: r[5] for r in rows[2:]} == totals == {"ada": "5", "ben": "2", "cleo": "1", "mallory": "0"}
    assert all(r[0] == r[3] and r[1] == r[2] == r[4] == "" for r in rows[2:])  # no roster: the id is the login


def test_a_roster_names_each_student_and_an_id_it_lacks_is_said(tmp_path):
    roster = write(tmp_path, "roster.csv", "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Homework 1 (4567)\n"
                                           "    Points Possible,,,,,5\n\"Lovelace, Ada\",101,S1,ada,Sec A,\n"
                                           "Test Student,999,,,Sec A,\n\"Byron, Ben\",102,S2,,Sec B,\n"
                                           "=HYPERLINK(\"x\"),103,S3,cleo,Sec B,\n")
    rows, warning = canvas("--roster", roster, "--assignment", "Homework 1 (4567)")
    assert rows[0][5] == "Homework 1 (4567)"
    by_login = {r[3]: r for r in rows[2:]}
    assert by_login["ada"] == ["Lovelace, Ada", "101", "S1", "ada", "Sec A", "5"]
    assert by_login["cleo"][0] == "'=HYPERLINK(\"x\")"  # never a formula
    assert by_login["ben"] == ["ben", "", "", "ben", "", "2"]  # not in the roster (no login there): the id
    assert "not in the roster" in warning and "ben, mallory" in warning
    rows, _ = canvas("--roster", write(tmp_path, "r.csv", "submission,Student,ID\nben,\"Byron, Ben\",102\n"))
    assert ["Byron, Ben", "102", "", "", "", "2"] in rows


@pytest.mark.parametrize("args, words", [
    (["--format", "csv", "--roster", "r.csv"], "add --format canvas"),
    (["--format", "canvas", "--assignment", "Final Score"], "would not read it"),
    (["--format", "canvas", "--assignment", "ID"], "would not read it"),
    (["--format", "canvas", "--roster", "nowhere.csv"], "no such roster file"),
    (["--format", "canvas", "--roster", "noid.csv"], "names the column"),
    (["--format", "canvas", "--roster", "twice.csv"], "of 2 students"),
])
def test_canvas_usage_errors(tmp_path, args, words):
    write(tmp_path, "noid.csv", "Name,Score\nada,1\n")
    write(tmp_path, "twice.csv", "SIS Login ID\nada\nada\n")
    args = [str(tmp_path / a) if a.endswith(".csv") else a for a in args]
    result = run("grade", "--key", KEY, SUBMISSIONS, *args)
    assert result.exit_code == 2 and words in result.output, result.output


def test_a_self_study_file_has_no_canvas_gradebook():
    result = run("grade", str(REPO / "examples" / "homework" / "student_mistakes.yaml"), "--format", "canvas")
    assert result.exit_code == 2 and "--format canvas" in result.output
