"""The CNNs of 2016–2024 written by hand (specs/), each checked against torchvision's own
model: every parameterised layer in call order (kind, output shape, parameters), the totals
of parameters and buffers (`check --against`), FLOPs as torch's FlopCounterMode counts them on
the model itself, and the figures torchvision documents for its weights (parameters; its
"GFLOPS", which are multiply-accumulates)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import analyze_file

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from archcalc.torch_backend.against import compare_with_model  # noqa: E402

MODELS = Path(__file__).parent / "models"
ZOO = MODELS / "torchvision_zoo.py"
sys.path.insert(0, str(MODELS))

# spec file, variant, torchvision model (its name in torchvision.models)
MODERN: list[tuple[str, str | None, str]] = [
    ("convnext_tiny.yaml", None, "convnext_tiny"),
    ("regnet_y_400mf.yaml", None, "regnet_y_400mf"),
]


def _torch_flops(model_name: str, input_shape) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    import torchvision_zoo

    try:
        with torch.device("meta"):
            model = torchvision_zoo.build(model_name).eval()
    except NotImplementedError:  # "Cannot copy out of meta tensor": a constructor that reads
        # tensors it made (RegNet's BlockParams: torch.arange(...).tolist()) is built on the CPU
        model = torchvision_zoo.build(model_name).eval().to("meta")
    x = torch.zeros((1, *input_shape), device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


@pytest.mark.torch
@pytest.mark.parametrize("spec,variant,model", MODERN, ids=[m[2] for m in MODERN])
def test_equals_torchvision_layer_by_layer(spec, variant, model):
    analysis = analyze_file(spec, variant=variant)
    outcomes = compare_with_model(analysis, f"{ZOO}:{model}")
    assert [o for o in outcomes if not o.ok] == []
    assert analysis.totals["flops"] == _torch_flops(model, analysis.input)


@pytest.mark.torch
@pytest.mark.parametrize("spec,variant,model", MODERN, ids=[m[2] for m in MODERN])
def test_totals_equal_torchvisions_documented_figures(spec, variant, model):
    meta = torchvision.models.get_model_weights(model).DEFAULT.meta
    analysis = analyze_file(spec, variant=variant)
    assert analysis.totals["params"] == meta["num_params"]
    assert round(analysis.totals["macs"] / 1e9, 3) == meta["_ops"]
