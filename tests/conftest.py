from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import settings

from archcalc.engine.analyze import analyze
from archcalc.spec import load_spec, load_spec_text

# CI (CI=true) runs the property tests on hypothesis' derandomized examples, so a green commit
# stays green; developers' runs and the long fuzzing profile explore new random examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "specs"
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
