"""Every example of command output in README.md is what the command prints, so a new user who
copies one sees what the README shows. Three forms, each found and run here:

- `<!-- example: archcalc ARGS -->` then a fenced block: the block is the command's output,
  exactly; `<!-- example-start: archcalc ARGS -->`: the output begins with the block (the
  README says in words what follows).
- `<!-- transcript -->` then a fenced block of `$ archcalc ARGS` lines, each followed by what
  that command prints, exactly.
- a command in a fenced block with a `# → TEXT` comment: TEXT is a line the command prints
  (a trailing ` …` allows the line to go on).

A fenced block with a `$ archcalc` line but no transcript marker, or a comment that claims an
output without the arrow, would go untested: the last test refuses both.
"""
from __future__ import annotations

import re
import shlex

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from conftest import REPO

README = (REPO / "README.md").read_text()
FENCE = re.compile(r"(<!-- (example|example-start|transcript)(?:: (archcalc [^>]*?))? -->\n)?```[a-z]*\n(.*?)\n```",
                   re.S)
ARROW = re.compile(r"^(archcalc [^#]*?)\s+# → (.*)$", re.M)


def _printed(command: str) -> str:
    args = shlex.split(command)
    assert args[0] == "archcalc"
    result = CliRunner().invoke(main, args[1:], catch_exceptions=False)
    assert result.exit_code in (0, 1), f"{command}: exit {result.exit_code}\n{result.output}"  # 1: solve's no solution
    return result.stdout.rstrip("\n")


def _blocks():
    return [(m[2], m[3], m[4]) for m in FENCE.finditer(README)]


EXAMPLES = [(form, command, body) for form, command, body in _blocks() if form in ("example", "example-start")]
TRANSCRIPTS = [body for form, _, body in _blocks() if form == "transcript"]
ARROWS = [(m[1].strip(), m[2]) for m in ARROW.finditer(README)]


def test_the_readme_has_examples_of_every_form():
    assert len(EXAMPLES) >= 2 and len(TRANSCRIPTS) >= 1 and len(ARROWS) >= 6


@pytest.mark.parametrize("form, command, body", EXAMPLES, ids=[c for _, c, _ in EXAMPLES])
def test_example_block_is_the_output(form, command, body, monkeypatch):
    monkeypatch.chdir(REPO)
    printed = _printed(command)
    if form == "example":
        assert printed == body, f"README's example of `{command}` differs from its output"
    else:
        assert printed.startswith(body + "\n"), f"README's example of `{command}` is not how its output begins"


@pytest.mark.parametrize("body", TRANSCRIPTS)
def test_transcript_is_the_output(body, monkeypatch):
    monkeypatch.chdir(REPO)
    parts = re.split(r"^\$ (archcalc .*)$", body, flags=re.M)
    assert parts[0] == "", "a transcript starts with a $ archcalc line"
    for command, shown in zip(parts[1::2], parts[2::2]):
        assert _printed(command) == shown.strip("\n"), f"README's transcript of `{command}` differs from its output"


@pytest.mark.parametrize("command, claim", ARROWS, ids=[c for c, _ in ARROWS])
def test_an_arrow_comment_is_a_line_the_command_prints(command, claim, monkeypatch):
    monkeypatch.chdir(REPO)
    lines = [line.strip() for line in _printed(command).splitlines()]
    if claim.endswith(" …"):
        assert any(line.startswith(claim.removesuffix(" …")) for line in lines), (command, claim)
    else:
        assert claim in lines, (command, claim)


def test_no_output_in_the_readme_goes_untested():
    untested = [body for form, _, body in _blocks() if form is None and re.search(r"^\$ archcalc", body, re.M)]
    assert untested == [], "mark a block of `$ archcalc` lines with <!-- transcript -->"
    for line in README.splitlines():
        # a comment after a command that reads like output (a result: '=', a list, a count)
        match = re.match(r"^archcalc (solve|run|explain)\b.*?\s# (?!→)(.*)$", line)
        assert not (match and re.search(r"=|\[|solutions?", match[2])), f"use '# → ' for an output: {line}"
