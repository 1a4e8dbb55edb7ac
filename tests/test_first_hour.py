"""A new user's first hour: what each command prints when tried as a newcomer would, each
found wrong once (issue 21) and pinned here: channels-last input, nested rows that read
alike, an unclosed `{`, the groups hint, `check --verify` on symbolic sizes, `diagram -o`,
trailing spaces."""
from __future__ import annotations

import io

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from conftest import REPO


def run(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kw)


# -- trailing spaces: rich pads every cell; not on a terminal, no line ends with a space ------------

@pytest.mark.parametrize("args", [
    ("summarize", "specs/alexnet.yaml"),
    ("summarize", "specs/resnet18.yaml", "--columns", "rf"),
    ("check", "tests/golden/check/figure_against_a_formula.yaml"),  # a message rich wraps
    ("grade", "examples/homework/student_mistakes.yaml"),
])
def test_no_line_ends_with_a_space(args, monkeypatch):
    monkeypatch.chdir(REPO)
    result = run(*args)
    assert result.exit_code in (0, 1), result.output  # 1: the check and the answers are wrong on purpose
    lines = result.stdout.splitlines()
    assert len(lines) > 3
    assert [line for line in lines if line.endswith(" ")] == []


def test_a_table_written_to_a_file_has_no_trailing_spaces(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = tmp_path / "t.txt"
    assert run("summarize", "specs/alexnet.yaml", "-o", out).exit_code == 0
    text = out.read_text()
    assert "conv1" in text and not any(line.endswith(" ") for line in text.splitlines())


def test_the_stripping_stream_keeps_inner_spaces_across_writes():
    """Spaces are held back until what follows is known: a space that a later write continues
    stays, one a newline follows goes."""
    from archcalc.report.output import _Printable

    sink = io.StringIO()
    stream = _Printable(sink, strip=True)
    for chunk in ("a  ", "  b   ", "\n", "  c", " \n  ", "d  "):
        stream.write(chunk)
    assert sink.getvalue() == "a    b\n  c\n  d"


# -- nested rows: two branches' conv2d_1 read apart -------------------------------------------------

_TWO_BRANCHES = """archcalc: 1
input: [3, 32, 32]
layers:
  - concat:
      branches: [[{conv2d: {out_channels: 8, kernel_size: 1}}], [{conv2d: {out_channels: 8, kernel_size: 3, padding: 1}}]]
  - conv2d: {out_channels: 4, kernel_size: 1}
"""


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_rows_that_share_a_name_below_one_merge_show_their_branch(tmp_path, fmt):
    spec = tmp_path / "two.yaml"
    spec.write_text(_TWO_BRANCHES)
    out = run("summarize", spec, "--format", fmt).stdout
    firsts = [line.strip("| ").split()[0] for line in out.splitlines() if "conv2d" in line]
    assert firsts == ["branch1.conv2d_1", "branch2.conv2d_1", "conv2d_1"]


def test_row_labels_are_unique_below_each_parent_in_every_zoo_spec():
    """Indented, a row is told by its label among its parent's rows: no two alike anywhere
    in the zoo's tables (googlenet's inception blocks have a `reduce` in two branches)."""
    from archcalc.report.summary import row_labels, visible_rows
    from conftest import analyze_file

    for name in ("googlenet.yaml", "resnet50.yaml", "inception_v3.yaml", "bert_base.yaml"):
        rows = visible_rows(analyze_file(name), None)
        labels = row_labels(rows)
        seen = set()
        stack: list[str] = []
        for row, label in zip(rows, labels):
            del stack[row.depth:]
            key = (tuple(stack), label)
            assert key not in seen, (name, row.path, label)
            seen.add(key)
            stack.append(label)


# -- an unclosed { or [ or quote: reported where it opens, with where YAML gave up ---------------------

@pytest.mark.parametrize("text, where, opened, gave_up", [
    ("archcalc: 1\ninput: [3, 32, 32]\nlayers:\n  - conv2d: {out_channels: 8, kernel_size: 3\n  - relu\n",
     "4:13", "'{' opened here is not closed", "the end of the file, after line 5"),
    ("archcalc: 1\ninput: [3, 32, 32]\nlayers:\n  - conv2d: {out_channels: 8, kernel_size: 3\n  - relu\n"
     "  - linear: {out_features: 10}\n", "4:13", "'{' opened here is not closed", "got ':', at line 6, column 11"),
    ("archcalc: 1\ninput: [3, 32, 32\nlayers:\n  - relu\n", "2:8", "'[' opened here is not closed",
     "got ':', at line 3, column 7"),
    ('archcalc: 1\nname: "abc\ninput: [3, 4]\nlayers: [relu]\n', "2:7", "the quote opened here is not closed",
     "the end of the file, after line 4"),
])
def test_an_unclosed_bracket_is_reported_where_it_opens(tmp_path, text, where, opened, gave_up):
    spec = tmp_path / "s.yaml"
    spec.write_text(text)
    result = run("summarize", spec)
    assert result.exit_code == 2
    first = result.stderr.splitlines()[0]
    assert first == f"{spec}:{where}: error: invalid YAML: {opened}"
    assert gave_up in result.stderr and "hint:" in result.stderr


# -- the groups hint: every choice it offers validates ------------------------------------------------

def _grouped(c_in: int, k_out: int, groups: int, producer: bool) -> str:
    first = f"  - conv2d: {{name: conv1, out_channels: {c_in}, kernel_size: 1}}\n  - relu\n" if producer else ""
    return (f"archcalc: 1\ninput: [{3 if producer else c_in}, 16, 16]\nlayers:\n{first}"
            f"  - conv2d: {{name: conv2, out_channels: {k_out}, kernel_size: 3, groups: {groups}}}\n")


def _choices(hint: str, text: str) -> list[str]:
    """The spec as each choice of the hint would make it."""
    import re

    groups_part, _, fix = hint.removeprefix("use ").partition(", or ")
    specs = [re.sub(r"groups: \d+", f"groups: {g}", text) for g in groups_part.removeprefix("groups=").split(" or ")]
    fixed = text
    for part in fix.split(" and "):
        if m := re.fullmatch(r"give the input (\d+) channels", part):
            fixed = re.sub(r"input: \[\d+,", f"input: [{m[1]},", fixed)
        elif m := re.fullmatch(r"make conv1 output (\d+) channels", part):
            fixed = re.sub(r"(name: conv1, out_channels: )\d+", rf"\g<1>{m[1]}", fixed)
        elif m := re.fullmatch(r"out_channels=(\d+)", part):
            fixed = re.sub(r"(name: conv2, out_channels: )\d+", rf"\g<1>{m[1]}", fixed)
        else:
            raise AssertionError(f"a choice the test cannot apply: {part!r} in {hint!r}")
    return specs + [fixed]


@pytest.mark.parametrize("producer", [False, True])
@pytest.mark.parametrize("c_in, k_out, groups", [
    (32, 16, 3), (33, 16, 3), (95, 256, 2), (95, 256, 5), (12, 20, 8), (3, 64, 4), (64, 100, 64), (24, 36, 5),
])
def test_following_the_groups_hint_gives_a_valid_spec(c_in, k_out, groups, producer):
    from archcalc.spec.errors import SpecError
    from conftest import analyze_text

    text = _grouped(c_in, k_out, groups, producer)
    with pytest.raises(SpecError) as err:
        analyze_text(text)
    assert err.value.code == "groups-mismatch"
    choices = _choices(err.value.hint, text)
    assert len(choices) >= 2
    for choice in choices:
        analyze_text(choice)  # raises if the hint led to another error


# -- a channels-last input: warned at the input's line -----------------------------------------------

def _conv_on(shape, conv="conv2d: {out_channels: 16, kernel_size: 3}") -> str:
    return f"archcalc: 1\ninput: {shape}\nlayers:\n  - {conv}\n  - relu\n"


def test_a_channels_last_input_is_warned_at_its_line(tmp_path):
    from conftest import analyze_text

    [w] = [w for w in analyze_text(_conv_on("[32, 32, 3]")).warnings]
    assert (w.code, w.path, w.loc.line) == ("channels-last", "conv2d_1", 2)
    assert w.message == "input is C×H×W; [32, 32, 3] looks channels-last: did you mean [3, 32, 32]?"
    spec = tmp_path / "hwc.yaml"
    spec.write_text(_conv_on("[32, 32, 3]"))
    table = run("summarize", spec)
    assert table.exit_code == 0
    assert ("warning [channels-last] conv2d_1 (line 2): input is C×H×W; [32, 32, 3] looks channels-last: "
            "did you mean [3, 32, 32]?") in table.stdout
    import json

    doc = json.loads(run("summarize", spec, "--format", "json").stdout)
    assert [(x["code"], x["path"]) for x in doc["warnings"]] == [("channels-last", "conv2d_1")]
    checked = run("check", spec)
    assert checked.exit_code == 0 and f"{spec}:2:8: [channels-last]" in checked.stdout


@pytest.mark.parametrize("shape, meant", [("[28, 28, 1]", "[1, 28, 28]"), ("[H, W, 3]", "[3, H, W]"),
                                          ("[480, 640, 4]", "[4, 480, 640]")])
def test_other_channels_last_inputs_are_warned(shape, meant):
    from conftest import analyze_text

    [w] = analyze_text(_conv_on(shape, "conv2d: {out_channels: 16, kernel_size: 1}")).warnings
    assert w.code == "channels-last" and w.message.endswith(f"did you mean {meant}?")


@pytest.mark.parametrize("text", [
    _conv_on("[3, 32, 32]"),  # channels first
    _conv_on("[64, 4, 4]"),  # a small feature map: 64 channels of 4×4
    _conv_on("[1, 28, 28]"),
    _conv_on("[32, 32, 3]", "linear: {out_features: 8}"),  # a linear layer acts on the last axis: no image
    _conv_on("[3, 32, 32]", "conv2d: {out_channels: 3, kernel_size: 1}\n  - conv2d: {out_channels: 8, "
                            "kernel_size: 1}"),  # not the input: a layer's output
])
def test_inputs_that_are_not_channels_last_are_not_warned(text):
    from conftest import analyze_text

    assert [w for w in analyze_text(text).warnings if w.code == "channels-last"] == []


def test_a_channels_last_input_with_in_channels_written_is_an_error_that_says_so():
    from archcalc.spec.errors import SpecError
    from conftest import analyze_text

    with pytest.raises(SpecError) as err:
        analyze_text(_conv_on("[32, 32, 3]", "conv2d: {in_channels: 3, out_channels: 16, kernel_size: 3}"))
    assert err.value.code == "shape-mismatch"
    assert "note: input is C×H×W; [32, 32, 3] looks channels-last: did you mean [3, 32, 32]?" in err.value.render()
    assert "fix the spec's input" in err.value.hint


def test_an_error_a_channels_last_input_causes_says_so():
    """[28, 28, 1]: a width of 1 is too small for the kernel; the error says why it likely is."""
    from archcalc.spec.errors import SpecError
    from conftest import analyze_text

    with pytest.raises(SpecError) as err:
        analyze_text(_conv_on("[28, 28, 1]"))
    assert "kernel is larger than the padded input" in err.value.message
    assert "did you mean [1, 28, 28]?" in err.value.render()


# -- check --verify on a valid symbolic spec without sizes: not "invalid" ------------------------------

_SYMBOLIC = "archcalc: 1\ninput: [3, H, W]\nlayers:\n  - conv2d: {out_channels: 16, kernel_size: 3}\n  - relu\n"


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_check_verify_without_sizes_passes_and_says_it_did_not_verify(tmp_path, fmt):
    spec = tmp_path / "sym.yaml"
    spec.write_text(_SYMBOLIC)
    result = run("check", spec, "--verify", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert "invalid" not in result.stdout.replace("0 invalid", "")
    assert "not-verified" in result.stdout and "--set H=... --set W=..." in result.stdout
    assert "1 pass, 0 fail, 0 invalid" in result.stdout


@pytest.mark.torch
def test_check_verify_with_sizes_runs_torch(tmp_path):
    pytest.importorskip("torch")
    spec = tmp_path / "sym.yaml"
    spec.write_text(_SYMBOLIC.replace("input: [3, H, W]", "input: [3, H, W]\ndims: {H: {default: 32}}"))
    result = run("check", spec, "--verify", "--set", "W=20", "--format", "json")
    assert result.exit_code == 0, result.output
    import json

    entry = json.loads(result.stdout)["specs"][0]
    assert [r["kind"] for r in entry["results"]] == ["verify"] and entry["warnings"] == []


# -- diagram -o says what it wrote, as plot does -------------------------------------------------------

@pytest.mark.parametrize("fmt, name", [("svg", "a.svg"), ("dot", "a.dot")])
def test_diagram_to_a_file_says_what_it_wrote(tmp_path, monkeypatch, fmt, name):
    monkeypatch.chdir(REPO)
    target = tmp_path / name
    result = run("diagram", "specs/alexnet.yaml", "--format", fmt, "-o", target)
    assert result.exit_code == 0
    assert result.stdout == f"wrote {target} (24 layers)\n"  # alexnet.txt's table: 24 layer rows
    assert target.read_text().startswith("<svg" if fmt == "svg" else "digraph")


def test_diagram_to_standard_output_is_the_picture_alone(monkeypatch):
    monkeypatch.chdir(REPO)
    out = run("diagram", "specs/lenet5.yaml").stdout
    assert out.startswith("<svg") and "wrote" not in out


def test_plot_says_what_it_wrote_in_the_same_words(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(REPO)
    target = tmp_path / "a.svg"
    result = run("plot", "specs/alexnet.yaml", "-o", target)
    assert result.exit_code == 0 and result.stdout == f"wrote {target} (8 bars)\n"  # 5 conv + 3 linear layers
