"""The documentation site: the layer-kind reference generated from the registry lists every
kind with formulas, its numbers are the engine's and agree with the course's formulas, the
examples the tutorials show hold (per-layer `expect:` among them), and the site builds with
warnings as errors (`mkdocs build --strict`; skipped without mkdocs, a failure in CI:
ARCHCALC_CI=1)."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest
import sympy
from click.testing import CliRunner
from ruamel.yaml import YAML

from archcalc.cli import main
from archcalc.layers.registry import kinds
from archcalc.report import reference
from conftest import REPO, SOURCE_PATH

S = sympy.symbols


def require(module: str, why: str) -> None:
    """Skip without an optional tool; in CI (ARCHCALC_CI=1) its absence is a failure."""
    if importlib.util.find_spec(module) is None:
        if os.environ.get("ARCHCALC_CI") == "1":
            pytest.fail(f"{module} is not installed ({why}); CI installs it")
        pytest.skip(f"{module} is not installed ({why})")


@pytest.fixture(scope="module")
def pages():
    return reference.pages()


def test_the_reference_lists_every_registered_kind(pages):
    headings = {name: re.findall(r"^## `([a-z0-9_]+)`$", text, re.M) for name, text in pages.items()
                if name != "index.md"}
    listed = [k for found in headings.values() for k in found]
    assert sorted(listed) == sorted(kinds())  # every kind, once
    for page, found in headings.items():
        assert all(kinds()[k].family == page[:-3] for k in found), page
    index = pages["index.md"]
    assert all(f"[`{k}`]({kinds()[k].family}.md#{k})" in index for k in kinds())
    assert f"{len(kinds())} in {len(headings)} families" in index


def test_every_kind_is_analysed_for_its_formulas():
    failed = {name: reference.example(name).error for name in kinds() if reference.example(name).row is None}
    assert failed == {}
    stale = set(reference._curated()) - set(kinds())
    assert stale == set()  # an example for a kind that no longer exists


def test_the_markdown_format_of_kinds_is_the_reference():
    out = CliRunner().invoke(main, ["kinds", "--format", "markdown"], catch_exceptions=False).stdout
    assert sorted(re.findall(r"^### `([a-z0-9_]+)`$", out, re.M)) == sorted(kinds())


def _row(name):
    row = reference.example(name).row
    assert row is not None
    return row


def test_conv2d_formulas_are_the_course_s():
    """The lecture's W2 = (W1 − F + 2P)/S + 1 (floored) and (F·F·D + 1)·K, written here."""
    d1, h1, w1, k, f, s, p = S("D1 H1 W1 K F S P", integer=True, positive=True)
    row = _row("conv2d")
    h2, w2 = sympy.floor((h1 - f + 2 * p) / s) + 1, sympy.floor((w1 - f + 2 * p) / s) + 1
    assert sympy.simplify(row.output[1] - h2) == 0 and sympy.simplify(row.output[2] - w2) == 0
    assert sympy.expand(row.params - (f * f * d1 + 1) * k) == 0
    assert sympy.expand(row.macs - w2 * h2 * k * f * f * d1) == 0
    assert sympy.expand(row.flops - 2 * row.macs) == 0
    section = "\n".join(reference.kind_section("conv2d"))
    assert "| H2 | ⌊(H1 − F + 2P)/S⌋ + 1 |" in section
    assert "`torch.nn.Conv2d`" in section


def test_lstm_and_linear_counts_are_the_textbook_s():
    t, x, h, d1, d2 = S("T x h D1 D2", integer=True, positive=True)
    lstm = _row("lstm")
    assert sympy.expand(lstm.params - 4 * (h * x + h * h + 2 * h)) == 0  # torch: W_ih, W_hh, b_ih, b_hh
    assert sympy.expand(lstm.macs - t * 4 * h * (x + h)) == 0
    linear = _row("linear")
    assert sympy.expand(linear.params - (d1 + 1) * d2) == 0 and linear.macs == d1 * d2


def test_a_peer_rule_counts_on_the_symbolic_example():
    """torchinfo counts a convolution's weights and bias × output positions: MACs + K·H2·W2."""
    section = "\n".join(reference.kind_section("conv2d"))
    line = next(l for l in section.splitlines() if l.startswith("| torchinfo"))
    row = _row("conv2d")
    expected = row.macs + row.output[0] * row.output[1] * row.output[2]
    found = sympy.sympify(re.search(r"`([^`]+)` MACs", line).group(1), locals={n: sympy.Symbol(n, integer=True,
                                                                                            positive=True)
                                                                               for n in "D1 H1 W1 K F S P".split()})
    assert sympy.simplify(found - expected) == 0


def test_the_flop_counter_row_is_in_flops():
    section = "\n".join(reference.kind_section("linear"))
    line = next(l for l in section.splitlines() if "FlopCounterMode" in l)
    assert "`2*D1*D2` FLOPs" in line


def check_json(*args):
    result = CliRunner().invoke(main, ["check", *args, "--format", "json"], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def _checks(doc):
    return {c["name"]: c["ok"] for spec in doc["specs"] for c in spec["results"]}


def test_the_per_layer_expect_example_holds():
    code, doc = check_json(str(REPO / "examples" / "ci" / "small_cnn.yaml"))
    checks = _checks(doc)
    assert code == 0 and all(checks.values())
    for name in ("layers.stage1.conv.output", "layers.stage1.conv.macs", "layers.stage2.pool.output",
                 "layers.fc.input", "at[H=32, W=32].layers.stage2.conv.macs", "macs"):
        assert name in checks


def test_the_failing_example_fails_where_the_tutorial_says():
    code, doc = check_json(str(REPO / "examples" / "ci" / "over_budget.yaml"))
    failed = sorted(name for name, ok in _checks(doc).items() if not ok)
    assert code == 1 and failed == ["budget.params", "layers.conv2.output", "layers.conv2.params"]


def test_the_language_reference_s_expect_snippet_is_the_example_s():
    text = (REPO / "docs" / "language.md").read_text()
    snippet = re.search(r"From `examples/ci/small_cnn.yaml`.*?```yaml\n(.*?)```", text, re.S).group(1)
    shown = YAML(typ="safe").load(snippet)["expect"]
    actual = YAML(typ="safe").load((REPO / "examples" / "ci" / "small_cnn.yaml").read_text())["expect"]

    def within(part, whole):
        if isinstance(part, dict):
            return isinstance(whole, dict) and all(k in whole and within(v, whole[k]) for k, v in part.items())
        if isinstance(part, list) and part and isinstance(part[0], dict):
            return all(within(p, w) for p, w in zip(part, whole))
        return part == whole

    assert within(shown, actual)


def test_the_import_example_is_what_import_writes(tmp_path):
    require("torch", "archcalc import traces the model with torch.fx")
    out = tmp_path / "small_cnn.yaml"
    done = subprocess.run([sys.executable, "-m", "archcalc", "import", "examples/import/small_cnn.py:small_cnn",
                           "--input", "3,H,W", "-o", str(out)], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": SOURCE_PATH})
    assert done.returncode == 0, done.stderr
    assert out.read_text() == (REPO / "examples" / "import" / "small_cnn.yaml").read_text()
    first, *report = (done.stdout + done.stderr).splitlines()
    assert report == (REPO / "examples" / "import" / "small_cnn.report.txt").read_text().splitlines()
    tutorial = (REPO / "docs" / "tutorials" / "import.md").read_text()
    assert first.replace(str(out), "examples/import/small_cnn.yaml") in tutorial  # the line written there by hand


def test_the_api_page_s_example_runs(monkeypatch):
    """docs/reference/api.md's snippet, but for build_module (torch)."""
    text = (REPO / "docs" / "reference" / "api.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(REPO)
    scope: dict = {}
    exec("\n".join(line for line in code.splitlines() if "build_module" not in line and "print" not in line), scope)
    assert scope["analysis"].totals["params"] == 60965224 - 4097000 + (4096 + 1) * 10  # fc8 with 10 classes


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python", "matplotlib"):
        require(module.split(".")[0], 'the docs extra: pip install -e ".[docs]"')
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-4000:]
    site = tmp_path / "site"
    assert (site / "reference" / "kinds" / "conv" / "index.html").is_file()
    assert all((site / "img" / name).stat().st_size > 1000 for name in ("alexnet_diagram.svg", "alexnet_chart.svg"))
    lecture = (site / "tutorials" / "lecture" / "index.html").read_text()
    assert "60,965,224" in lecture and "&lt;!-- archcalc" not in lecture and "<!-- archcalc" not in lecture
