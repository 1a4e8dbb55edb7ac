"""Per-layer `expect:` as the documents teach it: docs/language.md's example spec passes
`archcalc check`, its numbers are the hand formulas in its comments, its error example is
what check prints, and a path no layer has is answered with the paths meant (a layer's own
name, a repeat counted from 0, an argument after the layer), in check, solve and explain."""
from __future__ import annotations

import io
import re

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from archcalc.cli import main
from archcalc.engine.analyze import analyze
from archcalc.spec import load_spec
from archcalc.spec.errors import did_you_mean_path
from conftest import REPO, SPECS

LANGUAGE = (REPO / "docs" / "language.md").read_text()


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _example() -> str:
    found = [b for b in re.findall(r"```yaml\n(.*?)```", LANGUAGE, re.S) if "name: small_cnn" in b]
    assert len(found) == 1, "docs/language.md lost its per-layer expect example"
    return found[0]


def test_the_documented_example_passes_check(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "small_cnn.yaml").write_text(_example())
    result = run("check", "small_cnn.yaml")
    assert result.exit_code == 0, result.output
    layers = YAML(typ="safe").load(io.StringIO(_example()))["expect"]["layers"]
    checks = 1 + sum(len(v) for v in layers.values())  # the total params, and each layer's figures
    assert f"small_cnn.yaml: {checks} check(s) hold" in result.output


def test_the_documented_numbers_are_the_hand_formulas():
    expect = YAML(typ="safe").load(io.StringIO(_example()))["expect"]
    conv1 = (3 * 3 * 3 + 1) * 16  # in_channels·k·k weights and a bias, for each of 16 filters
    conv2 = (16 * 3 * 3 + 1) * 16
    fc = (16 * 8 * 8 + 1) * 10  # two 2×2 pools: 32 → 16 → 8
    layers = expect["layers"]
    assert layers["stage.1.conv"] == {"output": [16, 32, 32], "params": conv1}
    assert layers["stage.2.conv"] == {"input": [16, 16, 16], "params": conv2, "macs": 16 * 3 * 3 * 16 * 16 * 16}
    assert layers["stage"] == {"output": [16, 8, 8], "params": conv1 + conv2}
    assert layers["fc"] == {"input": [16 * 8 * 8], "params": fc}
    assert expect["params"] == conv1 + conv2 + fc


def test_the_documented_error_is_what_check_prints(tmp_path, monkeypatch):
    said = re.search(r"With `stage.0.conv:` in place of `stage.1.conv:` it says\n\n```\n(.*?)```", LANGUAGE, re.S)
    assert said, "docs/language.md lost its wrong-path example"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "small_cnn.yaml").write_text(_example().replace("stage.1.conv:", "stage.0.conv:"))
    result = run("check", "small_cnn.yaml")
    assert result.exit_code == 2
    assert said.group(1) in result.output


def test_a_wrong_layer_figure_fails_at_its_line_with_the_derivation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = _example().replace("params: 2320", "params: 2304")
    (tmp_path / "s.yaml").write_text(text)
    result = run("check", "s.yaml")
    line, col = next((i, t.index("2304") + 1) for i, t in enumerate(text.splitlines(), 1) if "params: 2304" in t)
    assert result.exit_code == 1
    assert f"s.yaml:{line}:{col}: fail: layers.stage.2.conv.params: expected 2,304, found 2,320" in result.output
    assert "(3·3·16 + 1)·16 = 2,320" in result.output


def _resnet_paths() -> list[str]:
    return [r.path for r in analyze(load_spec(SPECS / "resnet18.yaml"), {}).rows]


@pytest.mark.parametrize("asked, first", [
    ("layer1.first.conv1", "layer1.first.add_1.main.conv1"),   # summarize's tree hides no part: the branch
    ("layer1.first.add_1.conv1", "layer1.first.add_1.main.conv1"),
    ("layer1.0.conv1", "layer1.first.add_1.main.conv1"),      # torchvision's name for it
    ("layer2.rest.0.add_1.main.conv1", "layer2.rest.1.add_1.main.conv1"),  # repeats count from 1
    ("fc.weight", "fc"),                                      # a parameter of the layer
    ("FC", "fc"),
    ("conv_1", "conv1"),
])
def test_a_path_no_layer_has_is_answered_with_the_path_meant(asked, first):
    hint = did_you_mean_path(asked, _resnet_paths())
    assert hint and hint.startswith(f"did you mean '{first}'"), hint


def test_the_repeat_note_only_where_a_repeat_was_counted_from_zero():
    paths = _resnet_paths()
    assert did_you_mean_path("layer2.rest.0.add_1.main.conv1", paths).endswith("(repeats are numbered from 1)")
    assert "repeats" not in did_you_mean_path("layer1.0.conv1", paths)  # 0 here is no repeat of the spec
    assert did_you_mean_path("nothing_like_it", paths) is None


def test_solve_and_explain_give_the_same_hint(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(_example().replace("kernel_size: 3, padding: 1", 'kernel_size: 3, padding: "?"')
                    .replace("stage.1.conv:", "stage.0.conv:"))
    hint = "did you mean 'stage.1.conv' or 'stage.2.conv'? (repeats are numbered from 1)"
    solved = run("solve", str(spec))
    assert solved.exit_code == 2 and "no layer has the path 'stage.0.conv'" in solved.output and hint in solved.output
    explained = run("explain", str(REPO / "specs" / "vgg16.yaml"), "stage1.conv.0")
    assert explained.exit_code == 2
    assert "did you mean 'stage1.conv.1' or " in explained.output and "(repeats are numbered from 1)" in explained.output


def test_the_readme_example_is_alexnets_own_expect():
    """The README's per-layer example is quoted from specs/alexnet.yaml, which check passes
    (tests/test_check.py checks the zoo): every line of it is a line of that spec."""
    readme = (REPO / "README.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "layers:" in b and "expect:" in b)
    spec = (SPECS / "alexnet.yaml").read_text().splitlines()
    assert [line for line in block.splitlines() if line not in spec] == []
    assert "From specs/alexnet.yaml" in readme


def test_the_documented_path_is_the_one_summarize_json_lists():
    import json

    listed = [r["path"] for r in json.loads(run("summarize", str(SPECS / "resnet18.yaml"), "--format", "json").output)["layers"]]
    assert "layer1.first.add_1.main.conv1" in listed and "layer1.first.add_1.main" not in listed  # a branch: no row
