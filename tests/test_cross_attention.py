"""Cross-attention and encoder-decoders: a spec of several inputs (`inputs:`), a layer that
reads another tensor (`from:`) or attends to one (a tensor argument: the memory), torch's
decoder classes and nn.Transformer, each checked against torch itself: the built network
(verify), training FLOPs around a real backward pass, the peers run on it, `archcalc
import` of torch's classes and of a seq2seq model with a tied output layer, and Vaswani et
al.'s base and big models."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.engine import numbers as N
from archcalc.spec.errors import SpecError
from conftest import SPECS, analyze_file, analyze_text

ENCODER_DECODER = """
archcalc: 1
inputs:
  src: [S, 32]
  tgt: [T, 32]
layers:
  - transformer_encoder: {name: encoder, num_layers: 2, nhead: 4, dim_feedforward: 64, norm: true}
  - linear: {name: project, from: tgt, out_features: 32}
  - transformer_decoder: {name: decoder, memory: encoder, num_layers: 2, nhead: 2, dim_feedforward: 48}
  - multihead_attention: {name: again, num_heads: 4, memory: src}
  - transformer: {name: whole, src: encoder, nhead: 4, num_encoder_layers: 1, num_decoder_layers: 2,
                  dim_feedforward: 40}
"""


def test_cross_attention_counts_written_out():
    """Each term from its definition (T queries over the memory's S positions, E = 32), not
    from archcalc: the decoder's self-attention, its cross-attention and its feed-forward
    network; multihead_attention attending to the source."""
    a = analyze_text(ENCODER_DECODER, {"S": "7", "T": "5"})
    t, s, e = 5, 7, 32
    decoder = a.row("decoder")
    per_layer = (4 * t * e * e + 2 * t * t * e) + (2 * t * e * e + 2 * s * e * e + 2 * t * s * e) + 2 * t * e * 48
    assert decoder.macs == 2 * per_layer and decoder.input == (5, 32) and decoder.output == (5, 32)
    assert decoder.params == 2 * (8 * e * e + 8 * e + 2 * e * 48 + 48 + e + 6 * e)
    again = a.row("again")
    assert again.macs == t * e * e + 2 * s * e * e + t * e * e + 2 * t * s * e
    assert a.row("project").reads == "tgt" and a.output == (5, 32)
    assert set(a.more_inputs) == {"tgt"} and a.more_inputs["tgt"] == (5, 32)
    steps = {st.quantity: st.result for st in decoder.steps}
    assert steps["cross-attention Q·Kᵀ and A·V (MACs)"] == 2 * 2 * t * s * e
    assert steps["cross-attention softmax (elements, no MACs)"] == 2 * 2 * t * s


def test_symbolic_cross_attention_has_its_s_t_term():
    a = analyze_text(ENCODER_DECODER)
    sp = N.sympy_module()
    s, t = (sp.Symbol(n, integer=True, positive=True) for n in "ST")
    macs = sp.Poly(a.row("again").macs, s, t)
    assert macs.coeff_monomial(s * t) == 2 * 32 and macs.coeff_monomial(s) == 2 * 32 * 32


def test_errors_name_the_tensor_and_where_it_was_read(tmp_path):
    cases = {
        "memory: encoder,": ("memory: encodr,", "neither an input nor an earlier layer", "did you mean 'encoder'"),
        "from: tgt,": ("from: tg,", "'project' reads 'tg'", "did you mean 'tgt'"),
    }
    for good, (bad, message, hint) in cases.items():
        with pytest.raises(SpecError) as info:
            analyze_text(ENCODER_DECODER.replace(good, bad, 1))
        assert message in info.value.message and hint in (info.value.hint or ""), info.value.render()
        assert info.value.loc.line in (8, 9)
    with pytest.raises(SpecError, match="not a sequence of d_model = 32"):
        analyze_text(ENCODER_DECODER.replace("tgt: [T, 32]", "tgt: [T, 32]\n  wide: [S, 16]")
                     .replace("memory: encoder,", "memory: wide,"))
    with pytest.raises(SpecError, match="'input' or 'inputs', not both"):
        analyze_text("archcalc: 1\ninput: [3]\ninputs: {a: [3]}\nlayers: [relu]\n")
    with pytest.raises(SpecError, match="has the name of an input"):
        analyze_text(ENCODER_DECODER.replace("name: encoder,", "name: src,"))


def test_json_and_explain_say_what_a_layer_reads(tmp_path):
    path = tmp_path / "ed.yaml"
    path.write_text(ENCODER_DECODER)
    out = CliRunner().invoke(main, ["summarize", str(path), "--format", "json", "--set", "S=7", "--set", "T=5"])
    doc = json.loads(out.stdout)
    assert doc["inputs"] == {"src": [7, 32], "tgt": [5, 32]}
    assert next(r for r in doc["layers"] if r["path"] == "project")["reads"] == "tgt"
    out = CliRunner().invoke(main, ["explain", str(path), "decoder"])
    assert "input (T)×32, memory 'encoder' (S)×32 → output (T)×32" in out.output
    out = CliRunner().invoke(main, ["summarize", str(path)])
    assert "inputs src (S)×32, tgt (T)×32" in out.output
    from archcalc.pictures.diagram import svg

    assert "ed: inputs src S×32, tgt T×32," in svg(analyze_text(ENCODER_DECODER, filename="ed.yaml"))


torch = pytest.importorskip("torch")


@pytest.mark.torch
@pytest.mark.parametrize("sizes", [{"S": 7, "T": 5}, {"S": 3, "T": 9}])
def test_the_built_network_agrees_with_torch_and_trains_as_counted(sizes):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.spec import load_spec_text
    from archcalc.torch_backend import verify_spec
    from archcalc.torch_backend.build import build_from_analysis

    spec = load_spec_text(ENCODER_DECODER, "ed.yaml")
    [result] = verify_spec(spec, {k: str(v) for k, v in sizes.items()}, device="cpu")
    assert result.agree, [(p, c) for p, c in result.disagreements()]
    a = analyze_text(ENCODER_DECODER, {k: str(v) for k, v in sizes.items()}, batch=2)
    net = build_from_analysis(a, "meta").train()
    xs = [torch.empty(2, sizes["S"], 32, device="meta"), torch.empty(2, sizes["T"], 32, device="meta")]
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        net(*xs).sum().backward()
    assert a.training_flops() == counter.get_total_flops()


@pytest.mark.torch
@pytest.mark.parametrize("name", ["torchinfo", "fvcore", "ptflops", "thop", "torch"])
@pytest.mark.parametrize("batch", [1, 3])
def test_each_peer_on_the_encoder_decoder_is_what_its_convention_says(name, batch):
    from archcalc import build_module
    from archcalc import conventions as C
    from archcalc.spec import load_spec_text
    from test_conventions import _peer, _run_peer

    if name != "torch":
        _peer(name)
    spec = load_spec_text(ENCODER_DECODER, "ed.yaml")
    a = analyze_text(ENCODER_DECODER, {"S": "7", "T": "5"}, batch=batch)
    torch.manual_seed(0)
    net = build_module(spec, S=7, T=5).eval()
    xs = (torch.randn(batch, 7, 32), torch.randn(batch, 5, 32))
    with torch.no_grad():
        assert _run_peer(name, net, xs) == C.figures(a, name).total


MODELS = '''
import torch
from torch import nn


def transformer():
    return nn.Transformer(32, 4, 2, 3, 40, batch_first=True)


def sequence_first():
    return nn.Transformer(32, 4, 1, 1, 40)


def decoder():
    return nn.TransformerDecoder(nn.TransformerDecoderLayer(32, 4, 40, batch_first=True), 2, norm=nn.LayerNorm(32))


def decoder_layer():
    return nn.TransformerDecoderLayer(32, 4, 40, batch_first=True, norm_first=True)


class Seq2Seq(nn.Module):
    """Shared embeddings and a tied output layer, as Vaswani et al.'s section 3.4."""

    def __init__(self, vocab=50, d=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, 4, 64, batch_first=True), 2)
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, 4, 64, batch_first=True), 2)
        self.out = nn.Linear(d, vocab, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, src, tgt):
        memory = self.encoder(self.emb(src))
        return self.out(self.decoder(self.emb(tgt), memory))


class Cross(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(16, 24)
        self.b = nn.Linear(8, 16)
        self.attn = nn.MultiheadAttention(16, 4, kdim=24, vdim=24, batch_first=True)

    def forward(self, x, y):
        m = self.a(x)
        q = self.b(y)
        return self.attn(q, m, m, need_weights=False)[0] + q


class MaskedAttention(nn.Module):
    """F.scaled_dot_product_attention given a mask: the model's second input, or a buffer."""

    def __init__(self, buffered=False):
        super().__init__()
        self.qkv = nn.Linear(16, 48)
        self.buffered = buffered
        if buffered:
            self.register_buffer("mask", torch.zeros(1, 6, 6))

    def forward(self, x, mask=None):
        b, t, _ = x.shape
        q, k, v = self.qkv(x).split(16, dim=2)
        q, k, v = (z.view(b, t, 2, 8).transpose(1, 2) for z in (q, k, v))
        mask = self.mask if self.buffered else mask
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def masked():
    return MaskedAttention()


def buffered():
    return MaskedAttention(buffered=True)
'''


@pytest.fixture
def models(tmp_path):
    path = tmp_path / "seq_models.py"
    path.write_text(MODELS)
    return path


@pytest.mark.torch
@pytest.mark.parametrize("name,inputs,params,layers", [
    ("transformer", ["S,32", "T,32"], 47_912, ["transformer: {name: transformer, from: tgt"]),
    ("decoder", ["T,32", "S,32"], 22_608, ["transformer_decoder: {name: transformerdecoder", "memory: memory}"]),
    ("decoder_layer", ["T,32", "S,32"], 11_272, ["norm_first: true, memory: memory}"]),
    ("Seq2Seq", ["S", "T"], 44_352, ["embedding: {name: emb_2, from: tgt, share: emb",
                                     "memory: encoder}", "linear: {name: out, share: emb"]),
    ("Cross", ["7,16", "5,8"], 1_896, ["linear: {name: b, from: y", "memory: a}"]),
])
def test_torch_classes_and_models_of_two_inputs_import_and_verify(models, name, inputs, params, layers):
    from archcalc.torch_backend.importing import import_and_verify

    imported, results = import_and_verify(f"{models}:{name}", ";".join(inputs), sizes={"S": 7, "T": 5})
    assert [r.message() for r in results if not r.ok] == []
    assert {r.name for r in results} >= {"import.output", "import.flops", "against.layers", "against.params"}
    for text in layers:
        assert text in imported.text
    assert analyze_text(imported.text, filename="i.yaml").totals["params"] == params  # the model's own count


@pytest.mark.torch
def test_an_attention_mask_given_as_an_input_imports_and_one_held_by_the_model_is_named(models):
    from archcalc.torch_backend.importing import import_and_verify

    imported, results = import_and_verify(f"{models}:masked", "6,16;1,6,6")
    assert [r.message() for r in results if not r.ok] == []
    assert "inputs:\n  x: [6, 16]\n  mask: [1, 6, 6]" in imported.text and "attn_mask: mask" in imported.text
    with pytest.raises(SpecError) as info:
        import_and_verify(f"{models}:buffered", "6,16")
    assert "is passed attn_mask, a tensor that is neither an input of the model nor a layer's output" in \
        info.value.render() and "seq_models.py" in info.value.render()


@pytest.mark.torch
def test_import_cli_takes_an_input_per_argument_and_says_how_many(models):
    result = CliRunner().invoke(main, ["import", f"{models}:transformer", "--input", "7,32", "--input", "5,32"])
    assert result.exit_code == 0, result.output
    assert "inputs:\n  src: [7, 32]\n  tgt: [5, 32]" in result.output
    result = CliRunner().invoke(main, ["import", f"{models}:transformer", "--input", "7,32"])
    assert result.exit_code == 2 and "takes 2 inputs (src, tgt), not 1" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(main, ["import", f"{models}:sequence_first", "--input", "7,32", "--input", "5,32"])
    assert result.exit_code == 2 and "batch_first=False: specs put the batch first" in result.output
    result = CliRunner().invoke(main, ["import", f"{models}:Seq2Seq", "--input", "7", "--input", "5", "--dtype",
                                       "index", "--dtype", "float", "--dtype", "index"])
    assert result.exit_code == 2 and "one dtype (float or index) for every input, or one for each of the 2" in \
        result.output


@pytest.mark.torch
def test_a_built_encoder_decoder_imports_back_to_the_same_numbers():
    from archcalc import build_module
    from archcalc.spec import load_spec_text
    from archcalc.torch_backend.importing import import_model, verify_import

    spec = load_spec_text(ENCODER_DECODER, "ed.yaml")
    original = analyze_text(ENCODER_DECODER, {"S": "7", "T": "5"})
    imported = import_model("ed", "7,32;5,32", model=build_module(spec, S=7, T=5))
    assert analyze_text(imported.text, filename="again.yaml").totals == original.totals
    assert [r.message() for r in verify_import(imported, "ed")[0] if not r.ok] == []


# ---- Vaswani et al. 2017 -----------------------------------------------------------------------

def test_transformer_base_and_big_counted_exactly_and_beside_the_papers_rounded_figures():
    """Table 3 prints 65 M and 213 M; at the 37,000 shared tokens the paper gives as "about
    37000", the exact counts are 63,082,496 and 214,245,376, each written out here from the
    layers' definitions (shared embedding table, tied output layer, post-norm layers)."""
    for variant, (d, ff, published) in {None: (512, 2048, 65e6), "big": (1024, 4096, 213e6)}.items():
        a = analyze_file("transformer_base.yaml", variant=variant)
        attention, ffn, norm = 4 * d * d + 4 * d, 2 * d * ff + ff + d, 2 * d
        encoder, decoder = 6 * (attention + ffn + 2 * norm), 6 * (2 * attention + ffn + 3 * norm)
        assert a.totals["params"] == encoder + decoder + 37_000 * d
        assert abs(a.totals["params"] - published) / published < 0.03


@pytest.mark.torch
@pytest.mark.parametrize("s,t", [(9, 7), (32, 48), (100, 20)])
def test_transformer_base_equals_flop_counter_mode_at_three_lengths(s, t):
    from archcalc.spec import load_spec
    from archcalc.torch_backend import verify_spec

    [result] = verify_spec(load_spec(SPECS / "transformer_base.yaml"), {"S": str(s), "T": str(t)}, device="meta")
    assert result.agree, result.disagreements()
    a = analyze_file("transformer_base.yaml", {"S": str(s), "T": str(t)})
    d, ff = 512, 2048
    encoder = 6 * (4 * s * d * d + 2 * s * s * d + 2 * s * d * ff)
    decoder = 6 * (4 * t * d * d + 2 * t * t * d + 2 * t * d * d + 2 * s * d * d + 2 * t * s * d + 2 * t * d * ff)
    assert a.totals["macs"] == encoder + decoder + t * d * 37_000
