"""Hostile specs: nothing executes, nothing hangs, nothing exhausts memory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archcalc.spec import load_spec_text
from archcalc.spec.errors import SpecError
from archcalc.spec.expr import parse_expr
from archcalc.spec.loader import MAX_DEPTH, load_yaml, plain
from conftest import REPO, SOURCE_PATH, SPECS, analyze_text, one_layer

BILLION_LAUGHS = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)])


def test_billion_laughs_fails_fast():
    start = time.perf_counter()
    with pytest.raises(SpecError, match="anchors"):
        load_yaml(BILLION_LAUGHS, "bomb.yaml")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("text", [
    "a: !!python/object/apply:os.system ['ls']",
    "a: !!python/name:os.system",
    "a: !custom 1",
    "a: !!str 1",
    "!!map {a: 1}",
])
def test_every_tag_is_refused(text):
    with pytest.raises(SpecError, match="tags are not allowed") as err:
        load_yaml(text, "t.yaml")
    assert err.value.loc.line == 1


def test_aliases_merge_keys_and_several_documents():
    with pytest.raises(SpecError, match="anchors"):
        load_yaml("a: &x 1\nb: *x\n", "t.yaml")
    with pytest.raises(SpecError, match="merge keys"):
        load_yaml("a: {b: 1}\nc: {<<: {d: 1}}\n", "t.yaml")
    with pytest.raises(SpecError, match="more than one YAML document"):
        load_yaml("a: 1\n---\nb: 2\n", "t.yaml")


def test_yaml_1_2_scalars():
    doc = plain(load_yaml("a: 1e-4\nb: no\nc: 0o17\nd: yes\ne: 'true'\nf: ~\ng: 1_000\n", "t.yaml"))
    assert doc == {"a": 1e-4, "b": "no", "c": 15, "d": "yes", "e": "true", "f": None, "g": "1_000"}


def test_block_scalars_read_as_yaml_folds_them():
    """A folded doc (>) joins its lines with spaces, a literal one (|) keeps them: no control
    character of a parser's own (ruamel's round-trip scanner marks each fold with \\x07)."""
    doc = plain(load_yaml("a: >\n  one\n  two\n\n  three\nb: |\n  x\n  y\n", "t.yaml"))
    assert doc == {"a": "one two\nthree\n", "b": "x\ny\n"}


def test_depth_and_size_bounds():
    deep = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    with pytest.raises(SpecError, match="nesting deeper"):
        load_yaml(deep, "t.yaml")
    with pytest.raises(SpecError, match="larger than"):
        load_yaml("a: " + "x" * 2_000_000, "t.yaml")
    with pytest.raises(SpecError, match="digits"):
        load_yaml("a: " + "9" * 500, "t.yaml")


@pytest.mark.parametrize("text,fragment", [
    ("__import__('os')", "only floor, ceil, min and max may be called"),
    ("().__class__", "attribute is not allowed"),
    ("x[0]", "subscript is not allowed"),
    ("lambda: 1", "lambda is not allowed"),
    ("[i for i in x]", "listcomp is not allowed"),
    ("f'{x}'", "joinedstr is not allowed"),
    ("'abc'", "only numbers may be written literally"),
    ("max(x=1)", "functions take plain arguments"),
    ("a if b else c", "ifexp is not allowed"),
    ("9**9**9", "exponent must be an integer from 0 to 64"),
    ("2**64**2", "exponent must be an integer from 0 to 64"),
    ("(" * 50 + "1" + ")" * 50, "nested deeper than"),
    ("1+" * 400 + "1", "longer than"),
    ("a < b", "compare is not allowed"),
])
def test_expression_whitelist(text, fragment):
    with pytest.raises(SpecError) as err:
        parse_expr(text).evaluate({"x": 1, "a": 1, "b": 2, "c": 3})
    assert fragment in err.value.render()


def test_expressions_evaluate_exactly():
    assert parse_expr("(227 - 11)//4 + 1").evaluate({}) == 55
    assert parse_expr("10**12").evaluate({}) == 10**12
    assert parse_expr("max(3, min(7, 5)) + ceil(7/2) + floor(7/2)").evaluate({}) == 12
    assert parse_expr("stride == 1 and not project", condition=True).evaluate({"stride": 1, "project": False})


def test_huge_but_legitimate_layer_is_exact():
    a = analyze_text(one_layer([1_000_000], "linear: {out_features: 1000000, bias: false}"))
    assert a.totals["params"] == 10**12 and isinstance(a.totals["params"], int)


def test_spec_text_cannot_reach_python(tmp_path):
    marker = tmp_path / "pwned"
    text = f"archcalc: 1\ninput: [3, 8, 8]\nvars: {{x: \"__import__('os').system('touch {marker}')\"}}\nlayers:\n  - relu\n"
    with pytest.raises(SpecError):
        load_spec_text(text)
    assert not marker.exists()


def test_a_runaway_simplification_falls_back_with_a_note():
    from archcalc.engine import numbers as N

    sp = N.sympy_module()
    x = sp.Symbol("x")
    heavy = sum(sp.sin(x) ** k * sp.cos(x) ** (30 - k) for k in range(30))
    start = time.perf_counter()
    _, note = N.simplify_bounded(heavy, seconds=0.05)
    assert time.perf_counter() - start < 5
    assert note == "simplification stopped after 0.05 s; compared the expanded form"


# --- Files that are not files: devices, FIFOs, sockets, files without a true size -------------

HOSTILE_SECONDS = 10
HOSTILE_MEMORY = 2_500_000_000  # bytes of virtual memory
KEY = REPO / "examples" / "homework" / "course" / "key.yaml"
SUBMISSIONS = REPO / "examples" / "homework" / "course" / "submissions"


def _bounded():
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (HOSTILE_MEMORY, HOSTILE_MEMORY))


def cli(*args, cwd=None):
    """The command line in its own process, under the guarantee's bounds: 10 s and 2.5 GB of
    virtual memory (past either, the test fails: TimeoutExpired, or a MemoryError traceback)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (SOURCE_PATH, os.environ.get("PYTHONPATH"))))}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "archcalc", *map(str, args)], capture_output=True, text=True,
                            timeout=HOSTILE_SECONDS, preexec_fn=_bounded, env=env, cwd=cwd)
    assert time.perf_counter() - start < HOSTILE_SECONDS
    assert "Traceback" not in result.stderr, result.stderr
    return result


DEVICES = [d for d in ("/dev/zero", "/dev/urandom") if os.path.exists(d)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("role", ["spec", "answers", "key", "submission"])
def test_a_device_is_refused_before_it_is_read(device, role):
    args = {"spec": ("summarize", device), "answers": ("grade", device),
            "key": ("grade", "--key", device, SUBMISSIONS), "submission": ("grade", "--key", KEY, device)}[role]
    result = cli(*args)
    what = "submission" if role == "submission" else role
    refusal = f"{device}: error: {device} is a character device, not a regular {what} file"
    if role == "submission":  # a submission that cannot be read scores 0 with the reason; the grading goes on
        assert result.returncode == 0 and refusal in result.stdout
    else:
        assert result.returncode == 2 and refusal in result.stderr


@pytest.mark.parametrize("command", ["summarize", "check", "explain", "grade"])
def test_a_fifo_is_refused_without_a_hang(tmp_path, command):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)  # nobody ever writes to it: opening it for reading would block forever
    result = cli(command, fifo)
    assert result.returncode == 2 and "spec.yaml is a FIFO (named pipe), not a regular" in result.stderr + result.stdout


def test_a_fifo_swapped_in_after_the_check_cannot_hang_the_open(tmp_path, monkeypatch):
    from archcalc import textio

    fifo = tmp_path / "late.yaml"
    os.mkfifo(fifo)
    regular = os.stat(__file__)
    real_stat = os.stat
    monkeypatch.setattr(textio.os, "stat", lambda p, *a, **k: regular if str(p) == str(fifo) else real_stat(p, *a, **k))
    with pytest.raises(SpecError, match="is a FIFO"):  # opened non-blocking, then fstat'ed
        textio.read_bytes(fifo)


def test_a_file_is_read_to_the_limit_whatever_its_size_says(monkeypatch):
    from archcalc import textio

    maps = "/proc/self/maps"  # a regular file whose stat says 0 bytes
    if not os.path.exists(maps):
        pytest.skip("no /proc")
    assert os.stat(maps).st_size == 0
    monkeypatch.setenv("ARCHCALC_MAX_FILE_BYTES", "100")
    with pytest.raises(SpecError, match="at least 101 bytes") as err:
        textio.read_bytes(maps)
    assert err.value.code == "limit"


def _folder_of_specials(folder: Path) -> None:
    import socket

    os.mkfifo(folder / "fifo.yaml")
    (folder / "zero.yaml").symlink_to("/dev/zero")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(folder / "socket.yaml"))
    except OSError:  # a path too long for a socket's address
        pass
    finally:
        sock.close()


def test_a_folders_special_files_are_skipped_with_a_note(tmp_path):
    import shutil

    shutil.copy(SPECS / "lenet5.yaml", tmp_path / "lenet5.yaml")
    alone = cli("check", tmp_path, "--format", "json")
    _folder_of_specials(tmp_path)
    result = cli("check", tmp_path, "--format", "json")
    assert result.returncode == alone.returncode == 0
    assert json.loads(result.stdout)["specs"] == json.loads(alone.stdout)["specs"]
    assert "fifo.yaml: note: skipped, a FIFO (named pipe) is not a regular file" in result.stderr
    assert "zero.yaml: note: skipped, a link to a character device is not a regular file" in result.stderr
    assert "error" not in result.stderr
    # what standard error says, the machine formats say too
    fifo, zero = str(tmp_path / "fifo.yaml"), str(tmp_path / "zero.yaml")
    noted = {n["file"]: n["message"] for n in json.loads(result.stdout)["notes"]}
    assert noted[fifo] == "skipped, a FIFO (named pipe) is not a regular file"
    assert noted[zero] == "skipped, a link to a character device is not a regular file"
    assert json.loads(alone.stdout)["notes"] == []
    junit = cli("check", tmp_path, "--format", "junit")
    import xml.etree.ElementTree as ET

    skipped = {c.get("classname"): c.find("skipped").get("message")
               for c in ET.fromstring(junit.stdout).iter("testcase") if c.find("skipped") is not None}
    assert skipped[fifo] == noted[fifo] and skipped[zero] == noted[zero]
    github = cli("check", tmp_path, "--format", "github").stdout
    assert f"::notice file={fifo},title=archcalc%3A note::skipped, a FIFO (named pipe) is not a regular file" in github


def test_verify_json_lists_the_skipped_files_in_its_notes(tmp_path):
    for i in range(2):
        (tmp_path / f"bad{i}.yaml").write_text(BAD_SPEC)
    os.mkfifo(tmp_path / "fifo.yaml")
    proc = _verify_in_process([str(tmp_path), "--format", "json"])
    doc = json.loads(proc.stdout[:proc.stdout.rindex("}") + 1])
    assert doc["notes"] == [{"file": str(tmp_path / "fifo.yaml"),
                             "message": "skipped, a FIFO (named pipe) is not a regular file"}]
    assert len(doc["errors"]) == 2


def test_a_submission_folders_special_files_are_skipped_with_a_note(tmp_path):
    import shutil

    for f in SUBMISSIONS.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    alone = cli("grade", "--key", KEY, tmp_path, "--format", "csv")
    _folder_of_specials(tmp_path)
    result = cli("grade", "--key", KEY, tmp_path, "--format", "csv")
    assert result.returncode == alone.returncode == 0 and result.stdout == alone.stdout
    assert "fifo.yaml: note: skipped" in result.stderr and "zero.yaml: note: skipped" in result.stderr
    upload = tmp_path / "upload"  # Gradescope: the one .yaml file of an upload, its specials skipped
    upload.mkdir()
    shutil.copy(SUBMISSIONS / "ada.yaml", upload / "ada.yaml")
    _folder_of_specials(upload)
    result = cli("grade", "--key", KEY, upload, "--format", "gradescope")
    assert result.returncode == 0 and json.loads(result.stdout)["score"] > 0


# --- What is printed: control, bidirectional and zero-width characters never reach a reader raw ---

RLO, ZWSP, LRI, FSI = "\u202e", "\u200b", "\u2066", "\u2068"
INVISIBLE = [RLO, ZWSP, LRI, FSI, "\u200d", "\u200e", "\u061c", "\u2060", "\ufeff", "\x1b", "\r", "\u2028",
             "\U000e0041"]
HOSTILE_NAME = "evil" + RLO + "gnp.exe" + ZWSP + "x" + "\x1b[31m"


def _hostile_spec(folder: Path) -> Path:
    spec = folder / f"odd{RLO}name.yaml"
    spec.write_text(f'archcalc: 1\nname: {json.dumps(HOSTILE_NAME)}\ndoc: "a{LRI}b{FSI}c\\u200d\\ufeff"\n'
                    "input: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 3}\n", encoding="utf-8")
    return spec


def _raw(text: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in INVISIBLE if c in text]


def test_printable_escapes_every_invisible_and_direction_changing_character():
    from archcalc.printable import dumps, html, printable

    for c in INVISIBLE:
        assert c not in printable(f"a{c}b") and c not in html(f"a{c}b") and c not in dumps({"k": f"a{c}b"})
        assert json.loads(dumps({"k": f"a{c}b"}))["k"] == f"a{c}b"  # JSON keeps the text, escaped
    assert printable("tab\tnewline\n×→é中") == "tab\tnewline\n×→é中"
    assert printable(RLO) == "\\u202e" and html(f"<{ZWSP}>") == "&lt;\\u200b&gt;"


@pytest.mark.parametrize("fmt", ["table", "markdown", "html", "json"])
def test_a_hostile_name_and_doc_are_printed_escaped(tmp_path, fmt):
    spec = _hostile_spec(tmp_path)
    result = cli("summarize", spec, "--format", fmt)
    assert result.returncode == 0
    assert _raw(result.stdout) == []
    if fmt == "json":
        assert json.loads(result.stdout)["name"] == HOSTILE_NAME  # as written, JSON-escaped
    else:
        assert "evil\\u202egnp.exe\\u200bx\\x1b[31m" in result.stdout
    written = tmp_path / f"report.{fmt}"
    assert cli("summarize", spec, "--format", fmt, "-o", written).returncode == 0
    assert _raw(written.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("command", [("check",), ("check", "--format", "json"), ("check", "--format", "github"),
                                     ("check", "--format", "junit"), ("explain",), ("diagram",),
                                     ("compare-conventions",), ("compare-conventions", "--format", "markdown")])
def test_every_report_escapes_them(tmp_path, command):
    result = cli(*command, _hostile_spec(tmp_path))
    assert result.returncode == 0 and result.stdout and _raw(result.stdout + result.stderr) == []


def test_errors_and_notes_escape_them(tmp_path):
    spec = tmp_path / f"bad{RLO}.yaml"
    spec.write_text(f'archcalc: 1\ninput: [3, 8, 8]\nlayers:\n  - conv2d: {{out_channels: 4, kernel_size: 3, '
                    f'name: "c{RLO}onv{ZWSP}"}}\n', encoding="utf-8")
    for fmt in ("table", "json"):
        result = cli("summarize", spec, "--format", fmt)
        assert result.returncode == 2 and _raw(result.stderr) == [] and "\\u202e" in result.stderr
    os.mkfifo(tmp_path / f"pipe{RLO}.yaml")
    result = cli("check", tmp_path)
    assert "pipe\\u202e.yaml: note: skipped" in result.stderr and _raw(result.stderr) == []


def test_grade_feedback_escapes_the_students_text(tmp_path):
    upload = tmp_path / f"mallory{RLO}.yaml"
    upload.write_text(f'q1: "55{RLO}x55{ZWSP}x96"\nq2: 34944\n', encoding="utf-8")
    for fmt in ("text", "json", "csv", "gradescope"):
        result = cli("grade", "--key", KEY, upload, "--format", fmt)
        assert result.returncode == 0 and _raw(result.stdout + result.stderr) == [], fmt
    result = cli("grade", "--key", KEY, upload, "--format", "gradescope")
    assert "55\\u202ex55\\u200bx96" in "".join(t["output"] for t in json.loads(result.stdout)["tests"])
    feedback = tmp_path / "feedback"
    assert cli("grade", "--key", KEY, tmp_path, "--feedback", feedback).returncode == 0
    for f in feedback.iterdir():
        assert _raw(f.read_text(encoding="utf-8")) == []


# --- Every error located: NUL and other characters YAML cannot hold; look-alike letters --------

@pytest.mark.parametrize("char,name", [("\0", "NUL, a zero byte"), ("\x07", "a control character"),
                                       ("\x7f", "a control character"), ("\ufffe", "a noncharacter")])
def test_a_character_yaml_cannot_hold_is_located(char, name):
    padding = "".join(f"# comment line {i}\n" for i in range(300))  # far past ruamel's first chunk
    text = f"archcalc: 1\n{padding}input: [3, 8, 8]\nlayers:\n  - re{char}lu\n"
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "nul.yaml")
    assert (err.value.loc.line, err.value.loc.column) == (304, 7)
    assert f"invalid character U+{ord(char):04X} ({name})" in err.value.message


def test_a_nul_byte_is_located_on_the_command_line(tmp_path):
    for what, args in (("spec", ("summarize",)), ("answers", ("grade",)), ("key", ("grade", "--key"))):
        bad = tmp_path / f"{what}.yaml"
        bad.write_bytes(b"spec: a.yaml\nanswers:\n  q1: 1\x002\n")
        result = cli(*args, bad, *((SUBMISSIONS,) if what == "key" else ()))
        assert result.returncode == 2 and f"{what}.yaml:3:8: error: invalid character U+0000 (NUL" in result.stderr
    upload = tmp_path / "sub" / "ada.yaml"
    upload.parent.mkdir()
    upload.write_bytes(b"q1: 55x55x96\nq2: 34\x00944\n")
    result = cli("grade", "--key", KEY, upload.parent, "--format", "json")
    assert "ada.yaml:2:7: error: invalid character U+0000" in json.loads(result.stdout)[0]["error"]


@pytest.mark.parametrize("written,char,code,name,latin", [
    ("сonv2d", "с", "U+0441", "CYRILLIC SMALL LETTER ES", "c"),
    ("cοnv2d", "ο", "U+03BF", "GREEK SMALL LETTER OMICRON", "o"),
    ("rеlu", "е", "U+0435", "CYRILLIC SMALL LETTER IE", "e"),
    ("reｌu", "ｌ", "U+FF4C", "FULLWIDTH LATIN SMALL LETTER L", "l"),
    ("lіnear", "і", "U+0456", "CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I", "i"),
    # by rule, not by hand: Unicode's confusables (UTS #39), NFKC, NFKD without accents
    ("Ιinear", "Ι", "U+0399", "GREEK CAPITAL LETTER IOTA", "l"),
    ("lιnear", "ι", "U+03B9", "GREEK SMALL LETTER IOTA", "i"),
    ("ӏinear", "ӏ", "U+04CF", "CYRILLIC SMALL LETTER PALOCHKA", "l"),
    ("reⅼu", "ⅼ", "U+217C", "SMALL ROMAN NUMERAL FIFTY", "l"),
    ("𝐫elu", "𝐫", "U+1D42B", "MATHEMATICAL BOLD SMALL R", "r"),
    ("rel𝘂", "𝘂", "U+1D602", "MATHEMATICAL SANS-SERIF BOLD SMALL U", "u"),
    ("ｒelu", "ｒ", "U+FF52", "FULLWIDTH LATIN SMALL LETTER R", "r"),
    ("rélu", "é", "U+00E9", "LATIN SMALL LETTER E WITH ACUTE", "e"),
    ("conv２d", "２", "U+FF12", "FULLWIDTH DIGIT TWO", "2"),
    ("cᴏnv2d", "ᴏ", "U+1D0F", "LATIN LETTER SMALL CAPITAL O", "o"),
])
def test_a_kind_written_with_look_alike_letters_names_the_letter(written, char, code, name, latin):
    args = " {out_channels: 4, kernel_size: 3}" if "nv2d" in written else \
        " {out_features: 2}" if "near" in written else ""
    text = f"archcalc: 1\ninput: [3, 8, 8]\nlayers:\n  - {written}:{args}\n" if args else \
        f"archcalc: 1\ninput: [3, 8, 8]\nlayers:\n  - {written}\n"
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "odd.yaml")
    column = 5 + written.index(char)
    assert (err.value.loc.line, err.value.loc.column) == (4, column)
    assert f"'{char}' ({code} {name}) at column {column} looks like Latin '{latin}'" in err.value.message
    assert err.value.code == "unknown-kind"


def test_the_hand_table_holds_only_what_the_rules_miss():
    """Each hand entry is a resemblance that neither Unicode's confusables nor NFKC/NFKD give;
    and the rules do not call a letter a look-alike of one it does not resemble ('и', Cyrillic
    I, is not Latin 'i' though its name says I)."""
    from archcalc.spec.confusables import table
    from archcalc.spec.lookalike import HAND, by_rule, looks_like

    assert {c: a for c, a in HAND.items() if a in by_rule(c)} == {}
    assert looks_like("и") == "" and looks_like("н") == "" and looks_like("ш") == ""
    assert all(not c.isascii() and v.isascii() and v.isalnum() for c, v in table().items())
    assert len(table()) > 500


def test_look_alike_letters_elsewhere_are_named_too():
    text = "archcalc: 1\ninput: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 3, pаdding: 1}\n"
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "odd.yaml")
    assert "'а' (U+0430 CYRILLIC SMALL LETTER A) (character 2 of the name) looks like Latin 'a'" in err.value.hint
    text = "archcalc: 1\ninput: [3, 8, 8]\nlayers:\n  - соnv\n"  # close to a kind, not one
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "odd.yaml")
    assert "did you mean" in err.value.hint and "'с' (U+0441), 'о' (U+043E) are not Latin letters" in err.value.hint


@pytest.mark.parametrize("command", ["summarize", "check"])
def test_on_a_terminal_rich_keeps_its_colours_and_user_text_stays_escaped(tmp_path, command):
    import pty

    spec = tmp_path / f"file\x1b[31mRED{RLO}.yaml"  # check prints the file, summarize the name
    spec.write_text('archcalc: 1\nname: "evil\\x1b[31mRED\\u202e"\ninput: [3, 8, 8]\nlayers:\n  - relu\n',
                    encoding="utf-8")
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": SOURCE_PATH, "TERM": "xterm-256color", "COLUMNS": "200"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "archcalc", command, str(spec)], stdout=slave, stderr=slave,
                            env=env, preexec_fn=_bounded)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=HOSTILE_SECONDS)
    os.close(master)
    text = b"".join(chunks).decode("utf-8")
    assert "\x1b[" in text  # rich's own styles
    assert "\\x1b[31mRED\\u202e" in text and "\x1b[31mRED" not in text and RLO not in text


def test_a_fifo_as_model_code_is_refused_before_the_import(tmp_path):
    from archcalc.torch_backend.against import load_factory

    fifo = tmp_path / "model.py"
    os.mkfifo(fifo)  # importing it would block on the open
    with pytest.raises(SpecError, match="model.py is a FIFO .named pipe., not a regular Python file"):
        load_factory(f"{fifo}:model")


# Near the row limit (engine/analyze.py's MAX_EXPANDED_ROWS, 20,000): 1,050 copies of a block
# of 19 rows (the block, two repeat groups of 8 layers) are 19,951 rows; every command and
# format must end in 10 s under 2.5 GB of address space, with exit 0 or a located error.
NEAR_LIMIT = """archcalc: 1
name: near_limit
input: [{input}]
{dims}blocks:
  b:
    layers:
      - {layer}: {{{args}, repeat: 8}}
      - relu: {{repeat: 8}}
layers:
  - b: {{repeat: 1050}}
"""
NEAR_LIMIT_SPECS = {
    # copies identical: copied, not walked (the cheap rows; the reports carry the cost)
    "cloned": NEAR_LIMIT.format(input="8", dims="", layer="linear", args="out_features: 8"),
    # receptive fields that grow copy by copy: every copy walked (the analysis time limit ends it)
    "walked": NEAR_LIMIT.format(input="4, 32", dims="", layer="conv1d",
                                args="out_channels: 4, kernel_size: 3, padding: 1"),
    # symbolic sizes: every count a polynomial
    "symbolic": NEAR_LIMIT.format(input="C, L", dims="dims: {C: {default: 8}, L: {default: 32}}\n", layer="conv1d",
                                  args="out_channels: C, kernel_size: 1"),
}
NEAR_LIMIT_COMMANDS = {
    "check": ["check"], "table": ["summarize"], "json": ["summarize", "--format", "json"],
    "markdown": ["summarize", "--format", "markdown"], "html": ["summarize", "--format", "html"],
    "memory": ["summarize", "--memory"], "rf": ["summarize", "--columns", "rf"],
    "train": ["summarize", "--columns", "train"], "unfold": ["summarize", "--unfold", "--format", "markdown"],
    **{f"convention-{c}": ["summarize", "--convention", c] for c in ("torchinfo", "fvcore", "ptflops", "thop",
                                                                    "torch")},
    "explain": ["explain"], "svg": ["diagram"], "dot": ["diagram", "--format", "dot"],
    "compare-conventions": ["compare-conventions"],
}


def _bounded_run(args: list[str], seconds: float = 10, address_space: int = 2_500_000_000):
    """archcalc ARGS in a subprocess under an address-space limit and a timeout: (exit code, its output)."""
    import os
    import resource
    import subprocess
    import sys

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    env = {**os.environ, "PYTHONPATH": SOURCE_PATH}
    env.pop("ARCHCALC_MAX_ROWS", None)
    env.pop("ARCHCALC_MAX_ANALYSIS_SECONDS", None)
    done = subprocess.run([sys.executable, "-m", "archcalc", *args], capture_output=True, text=True,
                          timeout=seconds, preexec_fn=limit, env=env)
    return done.returncode, done.stdout + done.stderr


def test_the_near_limit_specs_are_near_the_limit():
    """The cloned and symbolic specs are accepted, within 100 rows of the limit."""
    from archcalc.engine.analyze import MAX_EXPANDED_ROWS

    for name in ("cloned", "symbolic"):
        rows = len(analyze_text(NEAR_LIMIT_SPECS[name]).rows)
        assert MAX_EXPANDED_ROWS - 100 < rows <= MAX_EXPANDED_ROWS, name


@pytest.mark.slow
@pytest.mark.parametrize("spec", sorted(NEAR_LIMIT_SPECS))
@pytest.mark.parametrize("command", sorted(NEAR_LIMIT_COMMANDS))
def test_a_near_limit_spec_ends_in_10_s_under_2_5_gb(tmp_path, spec, command):
    path = tmp_path / f"{spec}.yaml"
    path.write_text(NEAR_LIMIT_SPECS[spec])
    args = [*NEAR_LIMIT_COMMANDS[command], str(path)] + (["-o", str(tmp_path / "out")] if command != "check" else [])
    code, output = _bounded_run(args)
    assert "Traceback" not in output
    # a located error: file:line:col in text, the file and line in JSON's error object
    assert code == 0 or (code == 2 and (f"{path}:7:" in output or '"line": 7' in output)), output[-2000:]


def test_a_slow_analysis_stops_at_its_time_limit(monkeypatch):
    """Copies walked one by one (receptive fields that grow) past ARCHCALC_MAX_ANALYSIS_SECONDS:
    a located error naming the limit, at the layer reached."""
    from archcalc.engine import analyze as engine

    monkeypatch.setenv("ARCHCALC_MAX_ANALYSIS_SECONDS", "1")
    ticks = iter(range(10**9))
    monkeypatch.setattr(engine.time, "monotonic", lambda: next(ticks) / 1000)  # a millisecond per reading
    with pytest.raises(SpecError) as caught:
        analyze_text(NEAR_LIMIT_SPECS["walked"])
    err = caught.value
    assert err.code == "limit" and "takes more than 1 s" in err.message
    assert err.loc.line == 7 and "ARCHCALC_MAX_ANALYSIS_SECONDS" in err.hint


def test_verify_refuses_more_layers_than_its_limit(monkeypatch):
    pytest.importorskip("torch")
    from archcalc.spec import load_spec_text as load
    from archcalc.torch_backend.verify import verify_spec

    monkeypatch.setenv("ARCHCALC_MAX_VERIFY_LAYERS", "100")
    spec = load(NEAR_LIMIT_SPECS["cloned"].replace("repeat: 1050", "repeat: 7"), "near.yaml")  # 112 layers
    with pytest.raises(SpecError) as caught:
        verify_spec(spec)
    assert "112 layers to build and run, above verify's limit of 100" in caught.value.message
    assert "ARCHCALC_MAX_VERIFY_LAYERS" in caught.value.hint
    monkeypatch.setenv("ARCHCALC_MAX_VERIFY_LAYERS", "112")
    (result,) = verify_spec(spec)
    assert result.agree


def test_a_table_too_long_to_read_is_shown_to_a_depth_with_a_note(monkeypatch):
    """Copies that differ only in their receptive fields do not fold under --columns rf; past
    MAX_TABLE_ROWS the table stops at the deepest depth that fits and says so (JSON keeps all)."""
    from archcalc.report import summary
    from archcalc.report.fold import fold_note

    monkeypatch.setattr(summary, "MAX_TABLE_ROWS", 40)
    analysis = analyze_text(NEAR_LIMIT_SPECS["walked"].replace("repeat: 1050", "repeat: 30"))
    assert len(summary.visible_rows(analysis, None, rf=False)) < 40  # identical but for rf: folded
    shown = summary.visible_rows(analysis, None, rf=True)
    assert [r.depth for r in shown] == [0] + [1] * 30
    # each copy folded: itself, the conv group and its 8 convs (their fields differ), the relu group, 8 relus as one
    assert fold_note(shown).startswith("391 rows: shown down to depth 1, the deepest that keeps the table under 40 ")
    assert len(summary.visible_rows(analysis, None, unfold=True, rf=True)) == 30 * 19 + 1


# --- runaway arithmetic, printing any number, torch imported last (issue 20) ----------------------
# Each hostile case runs the command line in a subprocess under 2.5 GB of address space and a
# 10-second clock: it ends with exit 0 or a located error (1 or 2), never a traceback.

from fractions import Fraction  # noqa: E402

from archcalc.engine import numbers as N  # noqa: E402
from conftest import REPO  # noqa: E402

ADDRESS_SPACE = int(2.5 * 2**30)


def _limited():
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_hostile(tmp_path, text: str, *args: str, seconds: float = 10.0) -> subprocess.CompletedProcess:
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "archcalc", *args, str(path)], capture_output=True, text=True,
                          timeout=seconds, preexec_fn=_limited, env={**os.environ, "PYTHONPATH": SOURCE_PATH})
    assert time.perf_counter() - start < seconds
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    assert proc.returncode in (0, 1, 2), proc.stderr[-3000:]
    return proc


def _squares(lines: int) -> str:
    names = [f"v{i}" for i in range(lines)]
    pairs = [f'{names[0]}: "2**64"'] + [f'{b}: "{a}*{a}"' for a, b in zip(names, names[1:])]
    return "archcalc: 1\ninput: [3, 8, 8]\nvars: {" + ", ".join(pairs) + "}\nlayers:\n  - relu\n"


@pytest.mark.parametrize("lines", [9, 26, 60])
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_vars_that_square_each_other_stop_at_the_bit_limit(tmp_path, lines, fmt):
    proc = run_hostile(tmp_path, _squares(lines), "summarize", "--format", fmt)
    assert proc.returncode == 2
    text = proc.stdout + proc.stderr
    assert "more than the limit of 4,096 bits" in text and "in var 'v6'" in text  # 2**64 squared 6 times is 2**4096
    assert "'v7'" not in text  # the vars reading a failed one are not reported again


def test_check_of_squaring_vars_is_a_located_error(tmp_path):
    proc = run_hostile(tmp_path, _squares(26), "check")
    assert proc.returncode == 2 and "hostile.yaml:3:" in proc.stdout + proc.stderr


def test_a_symbolic_var_that_doubles_its_expression_stops_at_the_node_limit(tmp_path):
    pairs = ['a: "H + 1"'] + [f'v{i}: "{p}*{p} + {p}"' for i, p in enumerate(["a"] + [f"v{i}" for i in range(25)])]
    text = ("archcalc: 1\ndims: {H: null}\ninput: [3, H, H]\nvars: {" + ", ".join(pairs) + "}\nlayers:\n"
            "  - linear: {out_features: v25}\n")
    proc = run_hostile(tmp_path, text, "summarize")
    assert proc.returncode == 2 and f"nodes, more than the limit of {N.MAX_EXPR_NODES:,}" in proc.stderr


def test_a_layer_stack_whose_symbolic_size_nests_deeper_and_deeper_stops(tmp_path):
    text = """archcalc: 1
input: [1, H, H]
dims: {H: {min: 8}}
blocks:
  b:
    layers:
      - upsample: {scale_factor: 3}
      - conv2d: {out_channels: 1, kernel_size: 3, stride: 2, padding: 1}
layers:
  - b: {repeat: 5000}
"""
    proc = run_hostile(tmp_path, text, "summarize")
    assert proc.returncode == 2 and f"deep, more than the limit of {N.MAX_EXPR_DEPTH}" in proc.stderr
    assert "hostile.yaml:8:" in proc.stderr  # the layer that went past it


@pytest.mark.parametrize("text,fragment", [
    ("input: [1000000000000000000000000000000, 3]\nlayers:\n  - linear: {out_features: 4}\n",
     "the input: a size or count is too large: its size 1: 1,000,000,000,000,000,000,000,000,000,000 is more than "
     "torch's limit of 9,223,372,036,854,775,807 (2^63 - 1)"),
    ("input: [4611686018427387904]\nlayers:\n  - linear: {out_features: 4611686018427387904}\n",
     f"linear 'linear_1': a size or count is too large: its params: {(2**62 + 1) * 2**62:,} "  # (in + 1)·out
     "is more than the limit of 10^30"),
    ("input: [3, 100000, 100000]\nlayers:\n  - conv2d: {out_channels: 1000000000000, kernel_size: 1}\n",
     "its output element count: 10,000,000,000,000,000,000,000 is more than torch's limit"),
    ("vars: {n: \"2**64*2**64*2**64\"}\ninput: [3, n]\nlayers:\n  - relu\n", "the input: a size or count is too large"),
    ("input: [3, 8]\nlayers:\n  - linear: {out_features: \"(2**64)**63\"}\n", "its output size 2"),
])
def test_sizes_and_counts_past_what_any_network_has_are_located_errors(tmp_path, text, fragment):
    proc = run_hostile(tmp_path, "archcalc: 1\n" + text, "summarize", "--format", "json")
    assert proc.returncode == 2
    assert fragment in json.loads(proc.stdout)["error"]["message"] if proc.stdout.strip() else fragment in proc.stderr


def test_a_receptive_field_that_doubles_every_layer_is_dropped_with_a_warning(tmp_path):
    text = "archcalc: 1\ninput: [1, 1, 1]\nlayers:\n  - conv2d: {out_channels: 1, kernel_size: 1, stride: 2, repeat: 10000}\n"
    proc = run_hostile(tmp_path, text, "summarize")
    assert proc.returncode == 0 and "the receptive field is no longer followed" in proc.stdout


def test_the_largest_legitimate_counts_pass_the_bounds():
    a = analyze_text(one_layer([3, 100_000, 100_000], "conv2d: {out_channels: 1000000, kernel_size: 1}"))
    assert a.totals["macs"] == 3 * 10**16 and a.totals["activations"] == 10**16


def _nested(levels: int):
    sp = N.sympy_module()
    h, e = sp.Symbol("H"), sp.Symbol("H")
    for _ in range(levels):
        e = (e + 1) * h  # Mul(Add(e, 1), H): two levels deeper each time, nothing expands
    return e


@pytest.mark.parametrize("text,env,fragment", [
    ("x*x", {"x": 2**4000}, "more than the limit of 4,096 bits"),
    ("x + x", {"x": 2**4096 - 1}, "it has 4,097 bits"),
    ("x/y", {"x": 1, "y": 2**4096}, "more than the limit of 4,096 bits"),
    ("max(x, 1)*x", {"x": 2**3000}, "more than the limit of 4,096 bits"),
    ("(H*x)**2", {"x": 2**3000}, "result would exceed 4096 bits"),  # sympy would multiply 2**3000 out
    ("e + 1", {"e": _nested(N.MAX_EXPR_DEPTH // 2)}, "deep, more than the limit of"),
])
def test_every_operation_of_an_expression_is_bounded(text, env, fragment):
    env = {"H": N.sympy_module().Symbol("H"), **env}
    with pytest.raises(SpecError) as err:
        parse_expr(text).evaluate(env)
    assert fragment in err.value.render()


def test_measuring_an_expression_counts_shared_subtrees_in_linear_time():
    sp = N.sympy_module()
    e = sp.Symbol("x")
    for _ in range(60):
        e = e**2 + e  # a tree of about 4·10^18 nodes, 180 distinct ones
    start = time.perf_counter()
    assert N.expr_nodes(e) > 10**18 and "nodes, more than the limit" in N.oversize(e)
    assert time.perf_counter() - start < 1


LARGEST = 2**N.MAX_BITS - 1


@pytest.mark.parametrize("value", [LARGEST, -LARGEST, Fraction(LARGEST, 7), Fraction(1, 2**(N.MAX_BITS - 1)),
                                   Fraction(-3, 5**1700), 10**5000, -(2**60000), Fraction(10**5000 + 1, 7)],
                         ids=["largest", "-largest", "largest/7", "1/2^4095", "-3/5^1700", "10^5000", "-2^60000",
                              "(10^5000+1)/7"])
def test_any_exact_number_prints_in_every_format(value):
    """Python refuses str() of an int past 4,300 digits; archcalc's formatters never do."""
    texts = [N.fmt(value), N.decimal_text(value), json.dumps(N.to_json(value)), N.float_text(value)]
    sys.set_int_max_str_digits(0)
    try:
        if isinstance(value, int):
            assert texts[0] == f"{value:,}" and texts[1] == str(value)
            assert json.loads(texts[2]) in (value, str(value))
        else:
            assert N.to_json(value) == f"{value.numerator}/{value.denominator}"
            whole, _, places = texts[1].rstrip("…").partition(".")
            assert abs(Fraction(texts[1].rstrip("…")) - value) < Fraction(1, 10**4)
    finally:
        sys.set_int_max_str_digits(4300)


def test_fraction_text_is_exact_where_it_terminates():
    assert N.fraction_text(Fraction(217, 4)) == "54.25"
    assert N.fraction_text(Fraction(41, 3)) == "13.6667…"
    assert N.fraction_text(Fraction(-1, 8)) == "-0.125"
    assert N.fraction_text(Fraction(2**60 + 1, 2)) == f"{(2**60 + 1) // 2}.5"  # float would round it
    assert N.float_text(Fraction(3 * 10**400, 2)) == "1.5e+400"


MAX_VALUES = """archcalc: 1
input: [3, 8, 8]
vars: {a: "2**64", b: "a**63", big: "(b*2**63 - 1) + b*2**63", neg: "-big", seventh: "big/7", tiny: "1/(b*2**63)",
       tinyn: "-3/(5**64)**27"}
expect: {params: 0}
layers:
  - relu
"""


@pytest.mark.parametrize("args", [
    ("summarize",), ("summarize", "--format", "json"), ("summarize", "--format", "markdown"),
    ("summarize", "--format", "html"), ("explain",), ("explain", "--format", "markdown"),
    ("explain", "--format", "latex"), ("check",), ("check", "--format", "json"), ("check", "--format", "junit"),
    ("check", "--format", "github"), ("compare-conventions",), ("compare-conventions", "--format", "json"),
    ("diagram",),
])
def test_the_largest_values_allowed_print_in_every_format(tmp_path, args):
    proc = run_hostile(tmp_path, MAX_VALUES, *args)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("command", [("verify",), ("check", "--verify"), ("run",)])
def test_an_invalid_spec_fails_before_torch_is_imported(tmp_path, command):
    path = tmp_path / "bad.yaml"
    path.write_text("archcalc: 1\ninput: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 9}\n")
    script = (f"import sys\nfrom archcalc.cli import main\ntry:\n    main({[*command, str(path)]!r})\n"
              "except SystemExit as e:\n    print('exit', e.code)\nprint('torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": SOURCE_PATH})
    assert proc.stdout.split()[-3:] == ["exit", "2", "False"], proc.stdout + proc.stderr
    assert "bad.yaml:4:" in proc.stdout + proc.stderr  # the located error, not a missing torch


def _verify_in_process(args: list[str]) -> subprocess.CompletedProcess:
    """`archcalc verify ARGS` in a fresh interpreter that prints its exit code and whether torch got imported."""
    script = (f"import sys\nfrom archcalc.cli import main\ntry:\n    main({['verify', *args]!r})\n"
              "except SystemExit as e:\n    print('exit', e.code)\nprint('torch' in sys.modules)\n")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


BAD_SPEC = "archcalc: 1\ninput: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 9}\n"


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_several_invalid_specs_fail_without_importing_torch(tmp_path, fmt):
    """verify over several files (or a folder) validates every spec first: when none is valid,
    each error is reported, located, exit 2, and torch is never imported."""
    for i in range(3):
        (tmp_path / f"bad{i}.yaml").write_text(BAD_SPEC)
    start = time.perf_counter()
    proc = _verify_in_process([str(tmp_path), "--format", fmt])
    assert time.perf_counter() - start < HOSTILE_SECONDS
    assert proc.stdout.split()[-3:] == ["exit", "2", "False"], proc.stdout + proc.stderr
    if fmt == "table":
        assert all(f"bad{i}.yaml:4:5: error:" in proc.stderr for i in range(3)), proc.stderr
    else:
        doc = json.loads(proc.stdout[:proc.stdout.rindex("}") + 1])
        assert [(Path(e["file"]).name, e["line"]) for e in doc["errors"]] == [(f"bad{i}.yaml", 4) for i in range(3)]
        assert doc["results"] == [] and doc["agree"] is False


def test_invalid_specs_among_valid_ones_are_reported_first_then_the_rest_verified(tmp_path):
    (tmp_path / "a_bad.yaml").write_text(BAD_SPEC)
    (tmp_path / "b_ok.yaml").write_text("archcalc: 1\ninput: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4, "
                                        "kernel_size: 3}\n")
    (tmp_path / "c_big.yaml").write_text(NEAR_LIMIT_SPECS["cloned"])  # 16,801 layers: past verify's limit
    proc = _verify_in_process([str(tmp_path), "--format", "json"])
    assert proc.stdout.split()[-3:] == ["exit", "2", "True"], proc.stdout + proc.stderr
    doc = json.loads(proc.stdout[:proc.stdout.rindex("}") + 1])
    assert [r["name"] for r in doc["results"]] == ["b_ok"] and doc["results"][0]["agree"]
    assert [Path(e["file"]).name for e in doc["errors"]] == ["a_bad.yaml", "c_big.yaml"]
    assert "above verify's limit of 2,000" in doc["errors"][1]["message"]


BROKEN_TORCH = '''
import importlib.abc, importlib.machinery, sys
class Broken(importlib.abc.Loader):
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        raise ImportError("libtorch_cpu.so: failed to map segment from shared object")
class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        return importlib.machinery.ModuleSpec(name, Broken()) if name == "torch" else None
sys.meta_path.insert(0, Finder())
from archcalc.cli import main
main(sys.argv[1:])
'''


@pytest.mark.parametrize("args", [("verify", "specs/lenet5.yaml"), ("verify", "specs/lenet5.yaml", "specs/mlp.yaml"),
                                  ("check", "--verify", "specs/lenet5.yaml"), ("import", "tests/models/tiny_resnet.py:tiny_resnet", "--input", "3,32,32")])
def test_a_torch_that_cannot_be_loaded_is_a_located_error(args):
    """torch found but failing to load (its libraries cannot be mapped under `ulimit -v`: the
    CUDA build maps about 3.3 GB of address space on import): a message and a hint, no traceback."""
    proc = subprocess.run([sys.executable, "-c", BROKEN_TORCH, *args], capture_output=True, text=True, timeout=60,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "Traceback" not in proc.stderr and proc.returncode == 2, proc.stderr
    assert "PyTorch is installed but could not be loaded (ImportError: libtorch_cpu.so" in proc.stdout + proc.stderr


# --- hostile inputs, round three: tried as an attacker would, each bounded (issue 20) -------------

HEAD = "archcalc: 1\ninput: [3, 8, 8]\n"
NODES_NEAR_LIMIT = 49_990  # under the YAML nodes limit of 50,000


def _var_chain(count: int) -> str:
    chain = ", ".join(f'v{i}: "v{i - 1}+1"' for i in range(1, count))
    return HEAD + f"vars: {{v0: 1, {chain}}}\nlayers:\n  - linear: {{out_features: v{count - 1}}}\n"


HOSTILE = {
    # name: (spec text, extra arguments, exit code, what the output must say)
    "flow nested 100,000 deep": (HEAD + "layers: " + "[" * 100_000 + "]" * 100_000 + "\n", (), 2,
                                 "hostile.yaml:3:48: error: nesting deeper than 40 levels"),
    "mappings nested 50,000 deep": (HEAD + "layers: " + "{a: " * 50_000 + "1" + "}" * 50_000 + "\n", (), 2,
                                    "error: nesting deeper than 40 levels"),
    "one line of 990,000 characters": (HEAD + "name: " + "x" * 990_000 + "\nlayers: [relu]\n", (), 2,
                                       "hostile.yaml:3:7: error: a value longer than 10,000 characters"),
    "60,000 YAML nodes": ("archcalc: 1\ninput: [" + ",".join(["1"] * 60_000) + "]\nlayers:\n  - relu\n", (), 2,
                          "error: more than 50,000 YAML nodes"),
    "an input of 49,990 sizes": ("archcalc: 1\ninput: [" + ",".join(["1"] * NODES_NEAR_LIMIT) + "]\nlayers:\n"
                                 "  - relu\n", ("--format", "json"), 0, '"params": 0'),
    "24,990 vars, each reading the last": (_var_chain(24_990), ("--format", "json"), 0,
                                           f'"params": {8 * 24_990 + 24_990}'),  # linear 8 → v24989 = 24,990
    "vars that read each other": (HEAD + 'vars: {a: "b+1", b: "a+1"}\nlayers:\n  - linear: {out_features: a}\n',
                                  (), 2, "hostile.yaml:3:11: error: expression 'b+1'"),
    "dims named like Python's internals": ("archcalc: 1\ndims: {__class__: {default: 4}, print: {default: 2}}\n"
                                           "input: [__class__, print, 8]\nlayers:\n  - relu\n", (), 2,
                                           "names may not start with '__'"),
    # Python folds identifiers to NFKC ('ｗidth' would be read as 'width'): refused instead
    "a var named in full-width letters": (HEAD + 'vars: {width: 8, ｗidth: 3}\nlayers:\n  - linear: '
                                          '{out_features: "ｗidth*2"}\n', (), 2,
                                          "hostile.yaml:3:18: error: 'ｗidth' is not a valid var name"),
    "a size of 100,000 digits": ("archcalc: 1\ndims: {H: null}\ninput: [3, H, H]\nlayers:\n  - relu\n",
                                 ("--set", "H=" + "9" * 100_000), 2, "longer than 500 characters"),
    "a size of 1e309": ("archcalc: 1\ndims: {H: null}\ninput: [3, H, H]\nlayers:\n  - relu\n", ("--set", "H=1e309"),
                        2, "expression '1e309': a number literal is too large (or not finite)"),
    "a size of nan": ("archcalc: 1\ndims: {H: null}\ninput: [3, H, H]\nlayers:\n  - relu\n", ("--set", "H=nan"), 2,
                      "expression 'nan': unknown name 'nan'"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_spec_ends_in_10_s_under_2_5_gb(tmp_path, case):
    text, args, code, fragment = HOSTILE[case]
    proc = run_hostile(tmp_path, text, "summarize", *args)
    assert proc.returncode == code and fragment in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-2000:]


@pytest.mark.parametrize("value,fragment", [
    ("nan", "expression 'nan': unknown name 'nan'"), (".nan", "'.nan' is not a finite number"),
    (".inf", "'.inf' is not a finite number"), ("-.inf", "'-.inf' is not a finite number"),
    ("1e309", "'1e309' is too large for a number here"), ("1e-400", "expected values are exact integers, not 0.0"),
    ("1" + "0" * 5000, "integer literal has 5001 digits"), ("10**10**10", "exponent must be an integer from 0 to 64"),
    ("2**4096", "exponent must be an integer from 0 to 64"),
])
def test_an_answers_file_with_hostile_numbers_is_a_located_error(tmp_path, value, fragment):
    (tmp_path / "ok.yaml").write_text(HEAD + "layers:\n  - conv2d: {out_channels: 4, kernel_size: 3}\n")
    key = "params" if value.startswith(".") or value.startswith("-.") or value == "1e309" else "total.params"
    proc = run_hostile(tmp_path, f"spec: ok.yaml\nanswers:\n  {key}: {value}\n", "grade")
    assert proc.returncode == 2 and "hostile.yaml:3:" in proc.stderr and fragment in proc.stderr, proc.stderr


def test_a_file_name_with_a_newline_cannot_forge_a_report_line(tmp_path):
    (tmp_path / "a\n::error file=x.yaml::forged.yaml").write_text(BAD_SPEC)
    for fmt in ("text", "github"):
        result = cli("check", tmp_path, "--format", fmt)
        lines = (result.stdout + result.stderr).splitlines()
        assert result.returncode == 2 and not any(line.startswith("::error file=x.yaml") for line in lines), lines
    assert "a\\x0a::error file=x.yaml::forged.yaml:4:5: error:" in cli("check", tmp_path).stdout


@pytest.mark.parametrize("args,fragment", [
    (("no_such_module_xyz:build", "--input", "3,8,8"), "No module named 'no_such_module_xyz'"),
    (("tests/models/tiny_resnet.py:tiny_resnet", "--input", "3,²,8"), "'²' is neither a positive size"),
    (("tests/models/tiny_resnet.py:tiny_resnet", "--input", "3," + "9" * 5000), "is neither a positive size"),
])
def test_import_of_what_cannot_be_imported_is_a_located_error(args, fragment):
    """Without the address-space limit: torch's CUDA build alone maps 3.3 GB (SECURITY.md)."""
    pytest.importorskip("torch")
    result = subprocess.run([sys.executable, "-m", "archcalc", "import", *args], capture_output=True, text=True,
                            timeout=120, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "Traceback" not in result.stderr
    assert result.returncode == 2 and fragment in result.stderr, result.stderr
