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
