"""`archcalc import` on torchvision's own CNNs: every classification model but the transformers,
the video CNNs and the segmentation models (78 in all, tests/models/torchvision_zoo.py), each
imported from the real model and verified against it exactly: output shape, FLOPs
(FlopCounterMode on the model), parameters, buffers and every parameterised layer."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
from archcalc.torch_backend.importing import import_and_verify  # noqa: E402
from archcalc.torch_backend.importing.fx import _recorded  # noqa: E402

MODELS = Path(__file__).parent / "models"
sys.path.insert(0, str(MODELS))
import torchvision_zoo  # noqa: E402
sys.path.insert(0, str(Path(__file__).parent))
from test_import_recorded import recorded_as_traced  # noqa: E402


def test_the_list_is_the_issues_78_models():
    names = set(torchvision_zoo.MODELS)
    assert len(names) == 78 and not any(n.startswith(torchvision_zoo.TRANSFORMERS) for n in names)
    assert {"r3d_18", "mc3_18", "r2plus1d_18", "s3d", "fcn_resnet50", "lraspp_mobilenet_v3_large"} <= names


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("name", list(torchvision_zoo.MODELS))
def test_each_torchvision_cnn_imports_and_verifies_exactly(name):
    torch.manual_seed(0)
    imported, results = import_and_verify(f"{MODELS / 'torchvision_zoo.py'}:{name}", torchvision_zoo.MODELS[name])
    assert [r.message() for r in results if not r.ok] == []
    assert {r.name for r in results} >= {"import.output", "import.flops", "against.layers", "against.params",
                                          "against.buffers"}
    # read from one recorded run (import's fast path), exactly as torch.fx's trace reads
    assert _recorded(imported.model, imported.examples) is not None
    alike, fast, traced = recorded_as_traced(imported.model, imported.examples)
    assert alike, (fast, traced)
