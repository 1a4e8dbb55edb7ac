"""Tied weights (`share: PATH`): parameters counted once, MACs every time, as torch counts."""
from __future__ import annotations

import pytest
import torch

from archcalc.spec import load_spec_text
from archcalc.spec.errors import SpecError
from archcalc.torch_backend import build_module, verify_spec
from conftest import analyze_text

SIAMESE = """archcalc: 1
name: tied
input: [16]
layers:
  - linear: {name: enc, out_features: 16}
  - relu
  - linear: {name: enc_again, out_features: 16, share: enc}
  - relu
  - linear: {name: third, out_features: 16, share: enc_again}
  - linear: {name: head, out_features: 4}
"""


def test_params_once_macs_every_time():
    a = analyze_text(SIAMESE)
    assert a.row("enc").params == 16 * 16 + 16 and a.row("enc_again").params == 0 and a.row("third").params == 0
    assert a.row("third").shares == "enc"  # a chain of shares ends at the owner
    assert a.row("enc_again").macs == a.row("enc").macs == 256
    assert a.totals["params"] == 272 + 68 and a.totals["macs"] == 3 * 256 + 64


def test_equals_torch_over_unique_parameters():
    spec = load_spec_text(SIAMESE, "tied.yaml")
    net = build_module(spec)
    assert sum(p.numel() for p in net.parameters()) == analyze_text(SIAMESE).totals["params"]
    assert net.enc_again.weight is net.enc.weight and net.third.bias is net.enc.bias
    [v] = verify_spec(spec, device="cpu")
    assert v.agree, v.disagreements()
    out = net(torch.randn(2, 16))
    out.sum().backward()  # one gradient, gathered from three uses
    assert net.enc.weight.grad is not None


def test_sharing_errors():
    with pytest.raises(SpecError, match="not an earlier layer") as err:
        analyze_text(SIAMESE.replace("share: enc}", "share: enk}"))
    assert "did you mean 'enc'" in err.value.hint
    with pytest.raises(SpecError, match="their parameters differ"):
        analyze_text(SIAMESE.replace("{name: head, out_features: 4}", "{name: head, out_features: 4, share: enc}"))


TIED_HEAD = """archcalc: 1
name: tied_head
input: {shape: [T], dtype: index}
dims: {T: {min: 1, default: 5}}
layers:
  - embedding: {name: wte, num_embeddings: 11, embedding_dim: 6}
  - linear: {name: lm_head, out_features: 11, bias: false, share: wte}
"""


def test_a_linear_layer_shares_an_embeddings_table():
    """An embedding's weight [V, E] is a bias-free linear E → V's weight: a language model's
    output layer tied to its input embedding counts it once, and torch builds one tensor."""
    a = analyze_text(TIED_HEAD)
    assert a.row("lm_head").shares == "wte" and a.row("lm_head").params == 0 and a.totals["params"] == 66
    spec = load_spec_text(TIED_HEAD, "tied_head.yaml")
    net = build_module(spec, T=5)
    assert net.lm_head.weight is net.wte.weight and sum(p.numel() for p in net.parameters()) == 66
    [v] = verify_spec(spec, device="cpu")
    assert v.agree, v.disagreements()
    for other in ("out_features: 11, bias: true", "out_features: 12, bias: false"):  # a bias, another shape
        with pytest.raises(SpecError, match="their parameters differ") as err:
            analyze_text(TIED_HEAD.replace("out_features: 11, bias: false", other))
        assert "weight [11, 6], as the embedding 'wte' holds" in err.value.expected
