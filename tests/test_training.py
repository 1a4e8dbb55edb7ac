"""Training cost: forward + backward FLOPs per layer, equal to FlopCounterMode around a real
loss.backward() for every zoo CNN and for recurrent networks."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from archcalc.cli import main
from archcalc.engine import numbers as N
from archcalc.engine.analyze import analyze
from archcalc.spec import load_spec
from archcalc.spec.model import Value
from archcalc.torch_backend.build import build_from_analysis
from conftest import SPECS

CNNS = ["alexnet.yaml", "alexnet_torchvision.yaml", "zfnet.yaml", "overfeat_fast.yaml", "overfeat_accurate.yaml",
        "vgg16.yaml", "googlenet.yaml", "resnet18.yaml", "resnet50.yaml", "lenet5.yaml", "mlp.yaml"]


def torch_training_flops(analysis) -> int:
    net = build_from_analysis(analysis, "meta").train()
    shape = (analysis.batch, *(int(d) for d in analysis.input))
    x = torch.zeros(shape, dtype=torch.long, device="meta") if analysis.spec.input_dtype == "index" else \
        torch.empty(shape, device="meta")
    # attention on torch's math kernel: FlopCounterMode has no formula for the CPU's flash kernel
    with torch.backends.mkldnn.flags(enabled=False), sdpa_kernel(SDPBackend.MATH), \
            FlopCounterMode(display=False) as counter:
        net(x).sum().backward()
    return counter.get_total_flops()


def torch_quirk(analysis) -> int:
    """FlopCounterMode counts a grouped convolution's weight gradient `groups` times over (its
    formula does not divide by the groups); archcalc counts the arithmetic. The difference,
    so the comparison stays exact."""
    extra = 0
    for row in analysis.rows:
        if row.leaf and row.kind.startswith("conv") and row.args.groups != 1:
            extra += (row.args.groups - 1) * 2 * row.macs
    return extra


@pytest.mark.parametrize("name", CNNS)
def test_training_flops_equal_torch(name):
    spec = load_spec(SPECS / name)
    if len(spec.input) == 3 and name not in ("overfeat_fast.yaml", "overfeat_accurate.yaml"):
        spec.input[1:] = [Value(96, spec.input[1].loc), Value(96, spec.input[2].loc)]  # small: fast on meta
    analysis = analyze(spec, batch=2)
    assert analysis.training_flops() + torch_quirk(analysis) == torch_training_flops(analysis)


def test_the_first_layer_has_no_input_gradient():
    a = analyze(load_spec(SPECS / "alexnet.yaml"))
    assert a.row("conv1").backward_macs == a.row("conv1").macs  # weights only: the image needs no gradient
    assert a.row("conv2").backward_macs == 2 * a.row("conv2").macs


@pytest.mark.parametrize("name,bindings", [("char_rnn.yaml", {"T": "12"}), ("many_to_many_video.yaml", {"T": "6"}),
                                           ("many_to_one_sentiment.yaml", {"T": "9"}),
                                           ("vanilla_rnn.yaml", {"T": "7"}), ("peephole_lstm.yaml", {"T": "5"})])
def test_recurrent_training_flops_equal_torch(name, bindings):
    analysis = analyze(load_spec(SPECS / name), bindings)
    assert analysis.training_flops() == torch_training_flops(analysis)


def test_symbolic_training_flops_and_the_cli():
    a = analyze(load_spec(SPECS / "char_rnn.yaml"))
    t = N.sympy_module().Symbol("T", integer=True, positive=True)
    assert N.substitute(a.training_flops(), {"T": 12}) == analyze(load_spec(SPECS / "char_rnn.yaml"),
                                                                  {"T": "12"}).training_flops()
    assert a.training_flops().free_symbols == {t}
    out = CliRunner().invoke(main, ["summarize", str(SPECS / "lenet5.yaml"), "--columns", "train",
                                    "--dataset-size", "60000", "--format", "json"])
    doc = json.loads(out.stdout)
    assert doc["totals"]["training_flops"] == 2_263_920
    assert doc["epoch_training_flops"] == 2_263_920 * 60000
    text = CliRunner().invoke(main, ["summarize", str(SPECS / "lenet5.yaml"), "--dataset-size", "60000"]).stdout
    assert "one epoch of 60,000 samples: 135,835,200,000 training FLOPs" in text


ATTENTION = """
archcalc: 1
input: [T, 16]
blocks:
  heads:
    params: {n: 4}
    layers: [{linear: {out_features: "4*n"}}, {unflatten: {dim: 1, unflattened_size: [n, 4]}},
             {transpose: {dim0: 0, dim1: 1}}]
layers:
  - %s
  - multihead_attention: {num_heads: 4, add_bias_kv: true}
  - scaled_dot_product_attention:
      is_causal: true
      enable_gqa: true
      branches:
        q: [heads]
        k: [{heads: {n: 2}}]
        v: [{heads: {n: 2}}]
  - transpose: {dim0: 0, dim1: 1}
  - flatten: {start_dim: 1}
  - scaled_dot_product_attention:
      branches: [[], [{linear: {out_features: 16}}], []]
"""


@pytest.mark.parametrize("first", ["identity", "linear: {out_features: 16}"])
@pytest.mark.parametrize("t", [1, 7])
def test_attention_training_flops_equal_torch(first, t):
    """Self-attention and a scaled-dot-product merge (grouped-query, causal; one whose q and v
    branches are the input, which needs no gradient before the first weights): forward and
    backward, every product's gradient as FlopCounterMode counts it."""
    from archcalc.spec import load_spec_text

    analysis = analyze(load_spec_text(ATTENTION % first, "attention.yaml"), {"T": str(t)}, batch=2)
    assert analysis.training_flops() == torch_training_flops(analysis)


@pytest.mark.parametrize("first", ["identity", "linear: {out_features: 16}"])
def test_transformer_encoder_training_flops_equal_torch(first):
    """torch's own encoder layer and stack (post-norm and pre-norm, gelu, a final norm): the
    first layer's input projection has no input gradient when nothing before has weights."""
    from archcalc.spec import load_spec_text

    spec = f"""
archcalc: 1
input: [6, 16]
layers:
  - {first}
  - transformer_encoder_layer: {{nhead: 4, dim_feedforward: 24, dropout: 0.0}}
  - transformer_encoder: {{num_layers: 2, nhead: 2, dim_feedforward: 8, dropout: 0.0, norm_first: true,
                           activation: gelu, norm: true}}
"""
    analysis = analyze(load_spec_text(spec, "encoder.yaml"), batch=2)
    assert analysis.training_flops() == torch_training_flops(analysis)
