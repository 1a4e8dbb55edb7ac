"""`archcalc check`: the golden corpus in every output format, the zoo, --against, the schema."""
from __future__ import annotations

import json
import shlex
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.spec.loader import load_yaml, plain
from archcalc.spec.schema import spec_schema
from conftest import REPO, SPECS

GOLDEN = Path(__file__).parent / "golden" / "check"
CASES = sorted(p.stem for p in GOLDEN.glob("*.yaml"))


def _needs_torch(case: str) -> bool:
    return any(a in ("--against", "--verify") for a in case_args(case))
FORMATS = ("text", "json", "github", "junit")


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def case_args(case: str) -> list[str]:
    first = (GOLDEN / f"{case}.yaml").read_text().splitlines()[0]
    return shlex.split(first[len("# args:"):]) if first.startswith("# args:") else []


@pytest.mark.slow
def test_corpus_has_at_least_20_failing_or_broken_specs():
    failing = [c for c in CASES if run("check", str(GOLDEN / f"{c}.yaml"), *case_args(c)).exit_code != 0]
    assert len(failing) >= 20


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.torch) if _needs_torch(c) else c for c in CASES])
def test_golden_output(case, fmt, monkeypatch, golden):
    monkeypatch.chdir(REPO)
    result = run("check", f"tests/golden/check/{case}.yaml", *case_args(case), "--format", fmt)
    got = f"exit {result.exit_code}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
    golden(f"check/{case}.{fmt}.out", got)
    assert "Traceback" not in got
    if fmt == "json":
        doc = json.loads(result.stdout)
        assert doc["specs"][0]["exit"] == result.exit_code
    if fmt == "junit":
        ET.fromstring(result.stdout.encode())  # well-formed XML
    if fmt == "github" and result.exit_code:
        assert any(line.startswith("::error ") for line in result.stdout.splitlines())


def test_exit_codes_agree_across_formats():
    for case in CASES:
        codes = {fmt: int((GOLDEN / f"{case}.{fmt}.out").read_text().split()[1]) for fmt in FORMATS}
        assert len(set(codes.values())) == 1, (case, codes)


def test_zoo_passes_check():
    result = run("check", str(SPECS))
    assert result.exit_code == 0, result.stdout
    assert "0 fail, 0 invalid" in result.stdout


def test_zoo_expectations_are_many_and_published():
    doc = json.loads(run("check", str(SPECS), "--format", "json").stdout)
    by_spec = {Path(s["spec"]).name: s for s in doc["specs"]}
    for name, spec in by_spec.items():
        assert spec["results"], f"{name} declares no expectations"
    resnet = {(r["name"], r["variant"]) for r in by_spec["resnet50.yaml"]["results"]}
    assert {("params", None), ("buffers", None), ("macs", None), ("params", "resnet152"), ("macs", "resnet101")} <= resnet


@pytest.mark.torch
def test_against_passes_on_the_model_it_describes(monkeypatch):
    monkeypatch.chdir(REPO)
    ok = run("check", "tests/models/tiny_resnet.yaml", "--against", "tests/models/tiny_resnet.py:tiny_resnet")
    assert ok.exit_code == 0, ok.stdout
    bad = run("check", "tests/models/tiny_resnet.yaml", "--against", "tests/models/tiny_resnet.py:drifted")
    assert bad.exit_code == 1 and "'layer2_1.add_1.main.conv2'" in bad.stdout and "'layer2.1.conv2'" in bad.stdout


@pytest.mark.torch
def test_against_takes_a_module_path_too(monkeypatch):
    monkeypatch.chdir(REPO / "tests" / "models")  # the current folder is importable, as for users
    ok = run("check", "tiny_resnet.yaml", "--against", "tiny_resnet:tiny_resnet")
    assert ok.exit_code == 0, ok.stdout
    missing = run("check", "tiny_resnet.yaml", "--against", "no_such_module:factory")
    assert missing.exit_code == 2 and "importing no_such_module failed: ModuleNotFoundError" in missing.stdout


@pytest.mark.torch
def test_check_verify_runs_the_backend():
    result = run("check", str(SPECS / "lenet5.yaml"), "--verify", "--format", "json")
    assert result.exit_code == 0
    names = [r["name"] for r in json.loads(result.stdout)["specs"][0]["results"]]
    assert "verify" in names


def test_schema_is_valid_and_accepts_every_spec():
    schema = spec_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    for path in sorted(SPECS.glob("*.yaml")) + [REPO / "tests" / "models" / "tiny_resnet.yaml"]:
        errors = list(validator.iter_errors(plain(load_yaml(path.read_text(), str(path)))))
        assert not errors, (path.name, [e.message for e in errors[:3]])
    assert json.loads(run("schema").stdout) == schema


def test_schema_rejects_structural_errors():
    validator = jsonschema.Draft7Validator(spec_schema())
    errors_dir = Path(__file__).parent / "golden" / "errors"
    rejected = []
    for name in ("unknown_argument", "wrong_type", "missing_argument", "bad_version", "missing_input",
                 "two_kinds_in_one_item", "many_errors_at_once"):
        doc = plain(load_yaml((errors_dir / f"{name}.yaml").read_text(), name))
        if list(validator.iter_errors(doc)):
            rejected.append(name)
    assert rejected == ["unknown_argument", "wrong_type", "missing_argument", "bad_version", "missing_input",
                        "two_kinds_in_one_item", "many_errors_at_once"]
    budget = plain(load_yaml((GOLDEN / "unknown_budget.yaml").read_text(), "unknown_budget"))
    assert list(validator.iter_errors(budget))
    # what needs the engine (shapes, names in expressions) is not the schema's to judge
    shapes = plain(load_yaml((errors_dir / "groups_mismatch.yaml").read_text(), "groups_mismatch"))
    assert not list(validator.iter_errors(shapes))


def test_pre_commit_hook_is_declared():
    hooks = plain(load_yaml((REPO / ".pre-commit-hooks.yaml").read_text(), ".pre-commit-hooks.yaml"))
    assert hooks[0]["id"] == "archcalc-check" and hooks[0]["entry"].startswith("archcalc check")
