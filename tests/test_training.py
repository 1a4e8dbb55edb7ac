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


def test_gpt2s_training_flops_beside_the_rules_of_thumb(tmp_path):
    """GPT-2 small at T = 1,024: 6·N·T and PaLM's 6·N·T + 12·L·d·T², and exact − rule by family,
    each written out here from the model: the token table is looked up (−6·V·E·T), the tied LM
    head multiplies (6·T·E·V, forward and both gradients) while the linear layers' biases
    multiply nothing (−6·T each), the position table, the norms' scales and shifts likewise."""
    from archcalc.engine.training import rules_of_thumb

    a = analyze(load_spec(SPECS / "gpt2_small.yaml"), {"T": "1024"})
    r = rules_of_thumb(a)
    t, e, v, n, layers = 1024, 768, 50257, 124_439_808, 12
    assert (r.tokens, r.params, r.width) == (t, n, layers * e)
    assert r.per_token == 6 * n * t and r.with_attention == 6 * n * t + 12 * layers * e * t * t
    biases = layers * (3 * e + e + 4 * e + e)
    norms = (2 * layers + 1) * 2 * e
    diff = dict((family, d) for family, _, d in r.differences)
    assert diff["embedding"] == -6 * v * e * t
    assert diff["linear"] == 6 * t * e * v - 6 * biases * t
    assert diff["norm"] == -6 * norms * t
    assert diff["structure"] == -6 * 1024 * e * t  # wpe, whose 1,024 rows are all parameters
    assert r.exact - r.with_attention == sum(diff.values())
    assert r.exact == a.training_flops()
    (tmp_path / "g.yaml").write_text((SPECS / "gpt2_small.yaml").read_text())
    out = CliRunner().invoke(main, ["summarize", str(tmp_path / "g.yaml"), "--set", "T=1024", "--columns", "train",
                                    "--format", "json"])
    doc = json.loads(out.stdout)["training_rules_of_thumb"]
    assert doc["six_n_t"] == 6 * n * t and doc["difference_by_family"]["embedding"] == -6 * v * e * t
    text = CliRunner().invoke(main, ["summarize", str(SPECS / "lenet5.yaml"), "--columns", "train"]).stdout
    assert "rules of thumb" not in text  # no attention: no transformer rule to compare with


MAXVIT_ATTENTION = """
archcalc: 1
input: [3, %d, 8]
layers:
  - %s
  - relative_positional_attention: {head_dim: %d, partition_size: %d}
"""


@pytest.mark.parametrize("first", ["identity", "linear: {out_features: 8}"])
@pytest.mark.parametrize("p,head_dim,side", [(9, 4, 3), (4, 1, 2), (1, 2, 1)])
def test_maxvit_attention_training_flops_equal_torch(first, p, head_dim, side):
    """MaxViT's partitioned attention, forward and backward: every projection's and product's
    gradients (Q·Kᵀ's none for heads of 1, A·V's none for one-token partitions, where torch's
    einsum multiplies element-wise), to_qkv's input gradient only after a linear layer."""
    from archcalc.spec import load_spec_text

    analysis = analyze(load_spec_text(MAXVIT_ATTENTION % (p, first, head_dim, side), "m.yaml"), batch=2)
    assert analysis.training_flops() == torch_training_flops(analysis)


@pytest.mark.parametrize("first", ["identity", "linear: {out_features: 8}"])
@pytest.mark.parametrize("kind", ["shifted_window_attention", "shifted_window_attention_v2"])
def test_window_attention_training_flops_equal_torch(first, kind):
    """Swin's window attention and Swin V2's, at a batch of 2: V2's position-bias MLP runs once
    per pass, forward and backward (its weights' gradients and its second layer's input
    gradient, M·512·(2 + 2·h) MACs, whatever the batch); the qkv projection's input gradient
    only when something before has weights."""
    from archcalc.spec import load_spec_text

    spec = f"""
archcalc: 1
input: [7, 9, 8]
layers:
  - {first}
  - {kind}: {{window_size: [3, 4], num_heads: 2, shift_size: [1, 2]}}
  - {kind}: {{window_size: 4, num_heads: 4}}
"""
    analysis = analyze(load_spec_text(spec, "window.yaml"), batch=2)
    assert analysis.training_flops() == torch_training_flops(analysis)
    if kind.endswith("v2"):
        once = analyze(load_spec_text(spec, "window.yaml"), batch=1)
        per_pass = sum(((2 * w0 - 1) * (2 * w1 - 1)) * 512 * (2 + h) for w0, w1, h in ((3, 4, 2), (4, 4, 4)))
        assert 2 * once.totals["macs"] - analysis.totals["macs"] == per_pass
