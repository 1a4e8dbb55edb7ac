"""Broken specs: each gives a located, readable message (its golden file) and exit code 2.

Regenerate after a deliberate wording change with pytest --update-golden, then read the
diff: every line of it is user-facing text.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from conftest import REPO

GOLDEN = Path(__file__).parent / "golden" / "errors"
CASES = sorted(p.stem for p in GOLDEN.glob("*.yaml"))


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_there_are_at_least_15_cases():
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES)
def test_error_message_matches_golden(case, monkeypatch, golden):
    monkeypatch.chdir(REPO)
    result = run("summarize", f"tests/golden/errors/{case}.yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    golden(f"errors/{case}.txt", result.stderr)
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"tests/golden/errors/{case}.yaml:") and ": error: " in first


@pytest.mark.parametrize("case", ["groups_mismatch", "many_errors_at_once", "yaml_tag"])
def test_json_errors(case, monkeypatch):
    monkeypatch.chdir(REPO)
    result = run("summarize", f"tests/golden/errors/{case}.yaml", "--format", "json")
    assert result.exit_code == 2 and result.stdout == ""
    payload = json.loads(result.stderr)
    err = payload["error"]
    assert set(err) == {"code", "file", "line", "column", "message", "expected", "found", "hint"}
    assert err["file"] == f"tests/golden/errors/{case}.yaml" and isinstance(err["line"], int)
    if case == "many_errors_at_once":
        assert len(payload["errors"]) == 4


def test_missing_file_and_bad_set(monkeypatch):
    monkeypatch.chdir(REPO)
    missing = run("summarize", "specs/nope.yaml")
    assert missing.exit_code == 2 and "no such spec file: specs/nope.yaml" in missing.stderr
    bad_set = run("summarize", "specs/alexnet.yaml", "--set", "clases=10")
    assert bad_set.exit_code == 2 and "did you mean 'classes'?" in bad_set.stderr
    not_pair = run("summarize", "specs/alexnet.yaml", "--set", "classes")
    assert not_pair.exit_code == 2 and "expected NAME=VALUE" in not_pair.stderr
    fraction = run("summarize", "specs/alexnet.yaml", "--set", "classes=7/2")
    assert fraction.exit_code == 2 and "expected a whole number" in fraction.stderr


def test_an_error_inside_a_block_names_each_call_and_its_parameters(monkeypatch):
    monkeypatch.chdir(REPO)
    result = run("summarize", "tests/golden/errors/error_inside_a_block.yaml", "--format", "json")
    err = json.loads(result.stderr)["error"]
    assert err["line"] == 8 and "out_channels 30 is not divisible by groups=4" in err["message"]
    assert err["context"] == [
        "in block 'unit' called at tests/golden/errors/error_inside_a_block.yaml:14:9 (c=30, g=4)",
        "in block 'stage' called at tests/golden/errors/error_inside_a_block.yaml:16:5 (c=30)"]
