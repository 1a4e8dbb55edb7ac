"""Fuzzing the input surfaces: every run ends with exit 0, 1 or 2 and a readable message,
never an uncaught exception, and never a raw terminal escape.

Fast profile for CI (ARCHCALC_FUZZ_EXAMPLES unset: 30 examples per target). Long profile:

    ARCHCALC_FUZZ_EXAMPLES=10000 python -m pytest tests/test_fuzz.py -q
"""
from __future__ import annotations

import pytest

import json
import os
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archcalc.cli import main
from archcalc.spec.loader import load_yaml, plain
from conftest import REPO, SPECS

EXAMPLES = int(os.environ.get("ARCHCALC_FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ZOO = sorted(p.name for p in SPECS.glob("*.yaml"))
NASTY = ["[bold]x[/bold]", "\x1b[2J\x1b[31mred", "ü∂≈", "", " ", "?", "H", "__import__('os')", "1e400",
         "-1", "0", "999999999999999999999999", "null", "~", "<<", "!!python/name:os.system", "\t\r\n"]


def run(*args):
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # an uncaught exception is a bug: show it
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.stdout, result.stderr)
    for stream in (result.stdout, result.stderr):
        assert "\x1b" not in stream, "a terminal escape reached the output"
        assert "Traceback" not in stream
    if result.exit_code == 2:  # a located message: on stderr, in check's report, or as JSON
        assert "error: " in result.stderr + result.stdout or '"error": {' in result.stderr, (
            result.stdout, result.stderr)
    return result


def write(text: str) -> Path:
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, encoding="utf-8")
    with handle:
        handle.write(text)
    return Path(handle.name)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from(NASTY))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(NASTY)), inner,
                                                 max_size=5)), max_leaves=30)


@pytest.mark.slow
@FUZZ
@given(documents)
def test_random_yaml_documents(doc):
    path = write(json.dumps(doc))  # JSON is YAML 1.2
    try:
        run("summarize", str(path))
    finally:
        path.unlink()


@pytest.mark.slow
@FUZZ
@given(st.text(max_size=300))
def test_random_text(text):
    path = write(text)
    try:
        run("summarize", str(path))
    finally:
        path.unlink()


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_spec(draw):
    name = draw(st.sampled_from(ZOO))
    doc = plain(load_yaml((SPECS / name).read_text(), name))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        target = draw(st.sampled_from(paths))
        parent = doc
        for key in target[:-1]:
            parent = parent[key]
        key = target[-1]
        action = draw(st.sampled_from(["drop", "rename", "retype"]))
        if action == "drop":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(NASTY + ["kernel_size", "name", "repeat", "when"]))] = parent.pop(key)
        else:
            parent[key] = draw(st.one_of(st.sampled_from([0, -1, 0.5, 10**30, -10**30, None, [], {}, True]),
                                         st.sampled_from(NASTY), scalars))
    return name, doc


COMMANDS = [["summarize"], ["check"], ["explain"],
            ["summarize", "--memory", "--columns", "rf", "--columns", "train", "--format", "json"],
            ["summarize", "--convention", "thop"], ["compare-conventions", "--format", "json"]]


@pytest.mark.slow
@FUZZ
@given(mutated_spec(), st.sampled_from(COMMANDS))
def test_mutated_zoo_specs(case, command):
    _, doc = case
    path = write(json.dumps(doc))
    try:
        run(command[0], str(path), *command[1:])
    finally:
        path.unlink()


LAYERS = ["conv1", "conv2", "fc6", "pool5", "total", "nope", "conv1.x"]
QUANTITIES = ["params", "output", "neurons", "macs", "output_width", "output_height", "flops", "bogus"]


@FUZZ
@given(st.dictionaries(st.tuples(st.sampled_from(LAYERS), st.sampled_from(QUANTITIES)).map(".".join),
                       st.one_of(scalars, st.lists(st.integers(-5, 300), max_size=4),
                                 st.sampled_from(["35K", "60M", "14.4 billion", "1/0", "2**99999", "[bold]"]),
                                 st.fixed_dictionaries({"value": scalars}, optional={"points": scalars, "rel": scalars})),
                       min_size=1, max_size=6),
       st.one_of(st.none(), st.fixed_dictionaries({"rel": scalars})))
@pytest.mark.slow
def test_random_answers_files(answers, tolerance):
    doc = {"spec": str(REPO / "specs" / "alexnet.yaml"), "answers": answers}
    if tolerance is not None:
        doc["tolerance"] = tolerance
    path = write(json.dumps(doc))
    try:
        run("grade", str(path))
    finally:
        path.unlink()


def test_regressions_found_by_the_long_profile(tmp_path):
    spec = tmp_path / "inf.yaml"
    spec.write_text("archcalc: 1\ninput: ['1e400', 227]\nlayers:\n  - relu\n")
    assert "too large" in run("summarize", str(spec)).stderr
    spec.write_text("archcalc: 1\ninput: [1e400, 227]\nlayers:\n  - relu\n")
    assert "too large" in run("summarize", str(spec)).stderr
    answers = tmp_path / "a.yaml"
    answers.write_text(f"spec: {REPO / 'specs' / 'alexnet.yaml'}\nanswers:\n  total.output_height: 0\n")
    result = run("grade", str(answers))
    assert result.exit_code == 2 and "the network's output has no output_height" in result.stderr


def test_markup_and_escapes_in_names_are_printed_literally(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text('archcalc: 1\nname: "[bold red]hi[/] \\e[31m"\ninput: [4]\nlayers:\n  - relu\n')
    result = run("summarize", str(spec))
    assert "[bold red]hi[/]" in result.stdout and "\\x1b[31m" in result.stdout
    spec.write_text('archcalc: 1\ninput: [4]\n"\\e[2J": 1\nlayers:\n  - relu\n')
    result = run("summarize", str(spec))
    assert result.exit_code == 2 and "unknown top-level key '\\x1b[2J'" in result.stderr
