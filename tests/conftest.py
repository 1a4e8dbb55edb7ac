from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from archcalc.engine.analyze import analyze
from archcalc.spec import load_spec, load_spec_text

# CI (CI=true, or .ci/run's ARCHCALC_CI=1) runs the property tests on hypothesis' derandomized
# examples, so a green commit stays green; developers' runs and the long fuzzing profile explore
# new random examples (what they find becomes a test of its own, as in test_conventions_property).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") or os.environ.get("ARCHCALC_CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
# What a test puts on PYTHONPATH for a child process so that it imports the archcalc under test:
# the source tree, or nothing when CI tests the installed wheel (ARCHCALC_TEST_INSTALLED=1).
SOURCE_PATH = "" if os.environ.get("ARCHCALC_TEST_INSTALLED") else str(REPO)
SPECS = REPO / "specs"
GOLDEN = Path(__file__).parent / "golden"
REFERENCE = json.loads((Path(__file__).parent / "reference" / "torch_counts.json").read_text())


def analyze_text(text: str, overrides=None, batch: int = 1, filename: str = "test.yaml", variant=None):
    return analyze(load_spec_text(text, filename), overrides, batch, variant)


def analyze_file(name: str, overrides=None, batch: int = 1, variant=None):
    return analyze(load_spec(SPECS / name), overrides, batch, variant)


def one_layer(input_shape, layer: str) -> str:
    """A spec text with a single layer, e.g. one_layer([3, 32, 32], "conv2d: {...}")."""
    return f"archcalc: 1\ninput: {list(input_shape)}\nlayers:\n  - {layer}\n"


@pytest.fixture(scope="session")
def reference():
    return REFERENCE


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite the golden files from today's output (then read the diff: it is user-facing text)")


def pytest_configure(config):
    config.addinivalue_line("markers", "torch: needs PyTorch (the backend, import, the peer tools)")
    config.addinivalue_line("markers", "slow: takes seconds (property tests over many examples, fuzzing)")


def _uses_torch(module) -> bool:
    """The module imports torch at its top, or imports something from a module that does
    (tests/kinds.py's table and runners)."""
    names = getattr(module, "__dict__", {})
    if "torch" in names:
        return True
    origins = {getattr(v, "__module__", None) for v in names.values()} - {module.__name__, None}
    return any("torch" in getattr(sys.modules.get(o), "__dict__", {}) for o in origins)


def pytest_collection_modifyitems(config, items):
    """A test module that uses torch at its top is marked `torch` as a whole (so a new one
    can't be forgotten); tests that reach torch through a command are marked by hand.
    `pytest -m "not torch and not slow"` is the inner loop."""
    for item in items:
        if _uses_torch(item.module):
            item.add_marker(pytest.mark.torch)


@pytest.fixture
def golden(request):
    """`golden(name, text)`: text must equal tests/golden/<name>. With --update-golden (or
    ARCHCALC_UPDATE_GOLDEN=1) the file is rewritten from text instead; read the diff."""
    update = request.config.getoption("--update-golden") or bool(os.environ.get("ARCHCALC_UPDATE_GOLDEN"))

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert path.exists(), f"no golden file {path}: run pytest --update-golden and read the diff"
        assert text == path.read_text(), f"{name} differs from its golden file (pytest --update-golden rewrites it)"

    return check
