"""The main job's output, frozen: `summarize` of every zoo spec as a table, as Markdown and
as JSON. A change to any figure, column or word shows up here as a diff to read; rewrite the
files after a deliberate change with pytest --update-golden."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from conftest import REPO, SPECS

ZOO = sorted(p.name for p in SPECS.glob("*.yaml"))
FORMATS = {"table": "txt", "markdown": "md", "json": "json"}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ZOO)
def test_summarize_is_golden(name, fmt, monkeypatch, golden):
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["summarize", f"specs/{name}", "--format", fmt], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    golden(f"summarize/{name.removesuffix('.yaml')}.{FORMATS[fmt]}", result.stdout)


@pytest.mark.parametrize("name", ZOO)
def test_every_column_is_golden(name, monkeypatch, golden):
    """Receptive fields, training FLOPs and memory too (JSON), and what each peer tool prints."""
    monkeypatch.chdir(REPO)
    runner = CliRunner()
    full = runner.invoke(main, ["summarize", f"specs/{name}", "--format", "json", "--columns", "rf", "--columns",
                                "train", "--memory"], catch_exceptions=False)
    assert full.exit_code == 0, full.output
    golden(f"summarize/{name.removesuffix('.yaml')}.full.json", full.stdout)
    peers = runner.invoke(main, ["compare-conventions", f"specs/{name}", "--format", "json"], catch_exceptions=False)
    assert peers.exit_code == 0, peers.output
    golden(f"conventions/{name.removesuffix('.yaml')}.json", peers.stdout)
