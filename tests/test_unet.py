"""specs/unet.yaml against an independent plain-PyTorch UNet (tests/models/unet.py, written
as users write it: the copies cropped by slicing): layer by layer with `check --against`,
the parameters torch's module holds, and FlopCounterMode's FLOPs on the meta device."""
from __future__ import annotations

import importlib.util

import pytest
import torch
from click.testing import CliRunner
from torch.utils.flop_counter import FlopCounterMode

from archcalc.cli import main
from conftest import REPO, analyze_file
from test_zoo import unet_params

MODELS = REPO / "tests" / "models"


def _models():
    spec = importlib.util.spec_from_file_location("unet_model", MODELS / "unet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _torch_counts(factory, size: int):
    with torch.device("meta"):
        model = factory()
        x = torch.empty(1, 1, size, size)
    with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
        y = model(x)
    return tuple(y.shape[1:]), sum(p.numel() for p in model.parameters()), counter.get_total_flops()


@pytest.mark.parametrize("factory,variant,size", [("unet", None, 572), ("unet_padded", "padded", 512)])
def test_unet_equals_the_plain_pytorch_model(factory, variant, size):
    output, params, flops = _torch_counts(getattr(_models(), factory), size)
    a = analyze_file("unet.yaml", variant=variant)
    assert output == a.output
    assert params == a.totals["params"] == unet_params() == 31_030_658
    assert flops == a.totals["flops"] == 2 * a.totals["macs"]
    if variant is None:
        assert a.totals["macs"] == 150_428_424_448


@pytest.mark.parametrize("factory,variant", [("unet", None), ("unet_padded", "padded")])
def test_unet_check_against_the_plain_pytorch_model(monkeypatch, factory, variant):
    monkeypatch.chdir(REPO)
    args = ["check", "specs/unet.yaml", "--against", f"tests/models/unet.py:{factory}"]
    result = CliRunner().invoke(main, args + (["--variant", variant] if variant else []), catch_exceptions=False)
    assert result.exit_code == 0, result.stdout
    # the other model differs from the first convolution on (padding): the check sees it
    other = "unet_padded" if variant is None else "unet"
    wrong = CliRunner().invoke(main, args[:3] + [f"tests/models/unet.py:{other}"]
                               + (["--variant", variant] if variant else []), catch_exceptions=False)
    assert wrong.exit_code == 1 and "'enc1.conv1'" in wrong.stdout
