"""Attention and transformers: the counts symbolic in the sequence length, torchvision's
Vision Transformers and video MViTs imported from torchvision itself and verified exactly, and
each peer tool's figure for ViT-B/16 (torchinfo's 173.23 M among them) measured on the real model."""
from __future__ import annotations

import json
import math
import re

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.engine import numbers as N
from archcalc.engine.analyze import analyze
from archcalc.spec import load_spec_text

SELF_ATTENTION = """
archcalc: 1
input: [T, 768]
layers:
  - multihead_attention: {num_heads: 12}
"""


def test_self_attention_is_a_polynomial_in_t_with_its_quadratic_term(tmp_path):
    """BERT-base's attention: 4·T·E² for the projections, 2·T²·E for Q·Kᵀ and A·V (written
    out here from the definition, not from archcalc), and each term in the derivation."""
    a = analyze(load_spec_text(SELF_ATTENTION, "a.yaml"))
    t = N.sympy_module().Symbol("T", integer=True, positive=True)
    e = 768
    assert N.sympy_module().expand(a.totals["macs"] - (4 * t * e * e + 2 * t * t * e)) == 0
    assert a.totals["params"] == 4 * e * e + 4 * e
    steps = {s.quantity: s for s in a.row("multihead_attention_1").steps}
    assert N.fmt(steps["Q·Kᵀ (MACs)"].result) == "768*T**2"
    assert [s for s in steps if s in ("Q, K, V projections (MACs)", "Q·Kᵀ (MACs)", "softmax (elements, no MACs)",
                                      "A·V (MACs)", "output projection (MACs)")] == list(steps)[1:6]
    t7 = {s.quantity: s.result for s in analyze(load_spec_text(SELF_ATTENTION, "a.yaml"), {"T": "7"})
          .row("multihead_attention_1").steps}
    assert (t7["Q, K, V projections (MACs)"], t7["output projection (MACs)"]) == (3 * 7 * e * e, 7 * e * e)
    assert t7["Q·Kᵀ (MACs)"] == t7["A·V (MACs)"] == 7 * 7 * e and t7["softmax (elements, no MACs)"] == 12 * 7 * 7
    (tmp_path / "a.yaml").write_text(SELF_ATTENTION)
    out = CliRunner().invoke(main, ["summarize", str(tmp_path / "a.yaml"), "--format", "json"])
    assert json.loads(out.stdout)["totals"]["macs"] == "1536*T**2 + 2359296*T"


def test_causal_attention_counts_whole_and_says_what_a_causal_kernel_skips():
    spec = """
archcalc: 1
input: [4, 10, 16]
layers:
  - scaled_dot_product_attention: {is_causal: true, branches: [[], [], []]}
"""
    a = analyze(load_spec_text(spec, "c.yaml"))
    row = a.row("scaled_dot_product_attention_1")
    assert row.macs == 2 * 4 * 10 * 10 * 16  # torch's FlopCounterMode counts the masked products too
    skipped = next(s for s in row.steps if s.quantity.startswith("a causal kernel skips"))
    assert skipped.result == 2 * 4 * 16 * (10 * 10 - 10 * 11 // 2)  # the 45 masked scores of each head


torch = pytest.importorskip("torch")


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("name,params", [("vit_b_16", 86_567_656), ("vit_b_32", 88_224_232), ("swin_t", 28_288_354),
                                         ("swin_s", 49_606_258), ("swin_b", 87_768_224)])
def test_torchvision_vision_transformers_import_and_verify_exactly(name, params):
    pytest.importorskip("torchvision")
    from archcalc.torch_backend.importing import import_and_verify

    torch.manual_seed(0)
    imported, results = import_and_verify(f"torchvision.models:{name}", "3,224,224")
    assert [r.message() for r in results if not r.ok] == []
    assert {r.name for r in results} >= {"import.output", "import.flops", "against.layers", "against.params"}
    a = analyze(load_spec_text(imported.text, "vit.yaml"))
    assert a.totals["params"] == params  # torchvision's documented count
    if name == "vit_b_16":
        t, e, f, layers = 197, 768, 3072, 12  # 196 patches and the class token; width, MLP width, depth
        per_layer = 4 * t * e * e + 2 * t * t * e + 2 * t * e * f
        assert a.totals["macs"] == 196 * 768 * 3 * 16 * 16 + layers * per_layer + e * 1000 == 17_563_828_224


@pytest.mark.slow
@pytest.mark.torch
def test_each_peer_tool_on_mvit_v2_s_is_what_compare_conventions_says():
    """The tools run on torchvision's own mvit_v2_s at its clip, against archcalc's figures for
    the imported spec: fvcore's 64,456,924,584 (its einsums as numpy prints their cost), thop's,
    ptflops' and torchinfo's 1,641,352,816."""
    torchvision = pytest.importorskip("torchvision")
    from archcalc import conventions as C
    from archcalc.torch_backend.importing import import_model
    from test_conventions import _peer, _run_peer

    model = torchvision.models.video.mvit_v2_s().eval()
    spec = analyze(load_spec_text(import_model("mvit", "3,16,224,224", model=model).text, "mvit.yaml"))
    x = torch.randn(1, 3, 16, 224, 224)
    measured = {}
    for name in ("torchinfo", "fvcore", "ptflops", "thop"):
        _peer(name)
        with torch.no_grad():
            measured[name] = _run_peer(name, model, x)
        assert measured[name] == C.figures(spec, name).total, name
    assert (measured["torchinfo"], measured["fvcore"]) == (1_641_352_816, 64_456_924_584)


MVIT_BLOCK = """
archcalc: 1
input: [25089, 96]
layers:
  - multiscale_block: {thw: [8, 56, 56], num_heads: 2, output_channels: 192, kernel_q: 3, kernel_kv: 3,
                       stride_q: [1, 2, 2], stride_kv: [1, 4, 4], residual_pool: true, rel_pos_embed: true,
                       proj_after_attn: true}
"""


def test_an_mvit_blocks_derivation_names_each_product():
    """mvit_v2_s's second block (8×56×56 tokens of 96 channels to 8×28×28 of 192, two heads of
    96), each step written out here from the definition: queries pooled by stride 1×2×2, keys
    and values by 1×4×4 (8×14×14), the class token beside each grid."""
    a = analyze(load_spec_text(MVIT_BLOCK, "b.yaml"))
    row = a.row("multiscale_block_1")
    steps = {st.quantity: st.result for st in row.steps}
    n, nq, nk, h, d, c, c_out = 1 + 8 * 56 * 56, 1 + 8 * 28 * 28, 1 + 8 * 14 * 14, 2, 96, 96, 192
    products = {"Q, K, V projections (MACs)": n * c * 3 * c_out, "Q pooling (MACs)": h * d * 8 * 28 * 28 * 27,
                "K pooling (MACs)": h * d * 8 * 14 * 14 * 27, "V pooling (MACs)": h * d * 8 * 14 * 14 * 27,
                "Q·Kᵀ (MACs)": h * nq * nk * d, "A·V (MACs)": h * nq * nk * d,
                "relative positions (MACs)": h * (nq - 1) * d * (14 + 14 + 8), "output projection (MACs)": nq * c_out ** 2,
                "skip projection (MACs)": n * c * c_out, "MLP (MACs)": nq * 2 * c_out * 4 * c_out}
    assert {k: steps[k] for k in products} == products
    assert steps["softmax (elements, no MACs)"] == h * nq * nk
    assert row.output == (nq, c_out) and row.macs == sum(products.values()) == steps["MACs"]
    tables = (2 * (2 * 28 - 1) + 2 * 8 - 1) * d  # 56 // 2 = 28 rows a side for H and W, 2·8 − 1 for T
    qkv, proj, skip = c * 3 * c_out + 3 * c_out, c_out * c_out + c_out, c * c_out + c_out
    mlp, pools, norms = c_out * 4 * c_out + 4 * c_out + 4 * c_out * c_out + c_out, 3 * (d * 27 + 2 * d), 2 * (c + c_out)
    assert steps["relative position tables (params)"] == tables
    assert row.params == qkv + pools + tables + proj + skip + mlp + norms == 428_352


@pytest.mark.torch
def test_an_mvit_block_with_one_channel_a_head_counts_its_einsums_as_torch_does():
    """Relative positions with d = 1: torch runs the einsums along H and W as element-wise
    products (FlopCounterMode counts 0) and the matmul along T as a product; the row says so,
    and the built block measures it."""
    from torch.utils.flop_counter import FlopCounterMode

    import archcalc

    spec = load_spec_text("archcalc: 1\ninput: [37, 4]\nlayers:\n  - multiscale_block: {thw: [4, 3, 3], "
                          "num_heads: 4, kernel_kv: 3, stride_kv: [1, 2, 2], rel_pos_embed: true}\n", "d1.yaml")
    row = analyze(spec).row("multiscale_block_1")
    rel = next(st for st in row.steps if st.quantity == "relative positions (MACs)")
    assert rel.result == 4 * 36 * 1 * 4 and "not counted" in rel.formula  # h·(Nq − 1)·d·Tk, keys 4×2×2
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        archcalc.build_module(spec).eval()(torch.randn(1, 37, 4))
    assert counter.get_total_flops() == 2 * row.macs


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("name,params,weights", [("mvit_v1_b", 36_610_672, "MViT_V1_B_Weights"),
                                                 ("mvit_v2_s", 34_537_744, "MViT_V2_S_Weights")])
def test_torchvision_video_transformers_import_and_verify_exactly(name, params, weights):
    """torchvision's MViT models at their clip, 16 frames of 224×224 (their weights' min_size and
    min_temporal_size): every check of the import passes, the parameters are torchvision's
    documented count (its weights' num_params), the FLOPs FlopCounterMode's on the model,
    measured here, whose MACs are torchvision's documented GFLOPS (its weights' _ops, 70.599 and
    64.224), and the spec's own modules with torchvision's weights (the same names, blocks.i as
    blocks_i) give the model's output to the bit, with the same FLOPs."""
    pytest.importorskip("torchvision")
    import torchvision
    from torch.utils.flop_counter import FlopCounterMode

    import archcalc
    from archcalc.torch_backend.importing import import_and_verify

    meta = getattr(torchvision.models.video, weights).DEFAULT.meta
    assert (meta["min_temporal_size"], *meta["min_size"]) == (16, 224, 224) and meta["num_params"] == params
    torch.manual_seed(0)
    imported, results = import_and_verify(f"torchvision.models.video:{name}", "3,16,224,224")
    assert [r.message() for r in results if not r.ok] == []
    assert {r.name for r in results} >= {"import.output", "import.flops", "against.layers", "against.params"}
    a = analyze(load_spec_text(imported.text, "mvit.yaml"))
    assert a.totals["params"] == params and a.output == (400,)
    assert round(a.totals["macs"] / 1e9, 3) == meta["_ops"]
    assert sum(r.kind == "multiscale_block" for r in a.leaves()) == 16
    net = archcalc.build_module(load_spec_text(imported.text, "mvit.yaml")).eval()
    ours, theirs = net.state_dict(), imported.model.state_dict()
    assert [re.sub(r"_(\d+)\b", r".\1", k) for k in ours] == list(theirs)
    net.load_state_dict(dict(zip(ours, theirs.values())))
    x = torch.randn(1, 3, 16, 224, 224)
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            expected = imported.model(x)
        with FlopCounterMode(display=False) as built:
            y = net(x)
    assert a.totals["flops"] == counter.get_total_flops() == built.get_total_flops()
    assert torch.equal(y, expected)


def _small_mvit(v2: bool):
    """torchvision's MViT class at a small clip (4 frames of 32×32: tokens 2×8×8), three blocks
    in mvit_v1_b's or mvit_v2_s's manner: pooled keys, a stage that halves the grid and doubles
    the width (with d = 1 in its first block for v2: relative positions over one channel)."""
    from torchvision.models.video.mvit import MSBlockConfig, MViT

    blocks = [MSBlockConfig(1, 8, 8 if v2 else 16, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 2, 2]),
              MSBlockConfig(16 if v2 else 2, 8 if v2 else 16, 16, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 2, 2]),
              MSBlockConfig(2, 16, 16, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 1, 1])]
    return MViT((32, 32), 4, blocks, residual_pool=v2, residual_with_cls_embed=False, rel_pos_embed=v2,
                proj_after_attn=v2, num_classes=10).eval()


@pytest.mark.torch
@pytest.mark.parametrize("v2", [False, True], ids=["v1", "v2"])
def test_each_peer_tool_on_a_torchvision_mvit_is_what_compare_conventions_says(v2):
    """The tools run on torchvision's own MViT classes (a small model), against archcalc's
    figure for the imported spec, which verifies exactly."""
    pytest.importorskip("torchvision")
    from archcalc import conventions as C
    from archcalc.torch_backend.importing import import_model, verify_import
    from test_conventions import _peer, _run_peer

    torch.manual_seed(0)
    model = _small_mvit(v2)
    imported = import_model("mvit", "3,4,32,32", model=model)
    assert [r.message() for r in verify_import(imported, "mvit")[0] if not r.ok] == []
    spec = analyze(load_spec_text(imported.text, "mvit.yaml"), None, 2)
    x = torch.randn(2, 3, 4, 32, 32)
    for name in ("torchinfo", "fvcore", "ptflops", "thop"):
        _peer(name)
        with torch.no_grad():
            assert _run_peer(name, model, x) == C.figures(spec, name).total, name


@pytest.mark.torch
def test_the_kinds_table_reference_for_multiscale_block_is_torchvisions_block():
    """tests/kinds.py's MultiscaleBlockReference, written from the papers, computes what
    torchvision's MultiscaleBlock computes (the same tensors copied in by name) over random
    settings: grids, widths, heads, kernels and strides, MViTv1's and v2's options."""
    pytest.importorskip("torchvision")
    import random
    from functools import partial

    from torchvision.models.video.mvit import MSBlockConfig, MultiscaleBlock

    from kinds import MultiscaleBlockReference

    names = {"norm1": "norm1", "norm2": "norm2", "qkv": "attn.qkv", "out": "attn.project.0", "mlp.0": "mlp.0",
             "mlp.2": "mlp.3", "shortcut": "project", "rel.0": "attn.rel_pos_t", "rel.1": "attn.rel_pos_h",
             "rel.2": "attn.rel_pos_w", **{f"pools.{i}.0": f"attn.pool_{p}.pool" for i, p in enumerate("qkv")},
             **{f"pools.{i}.1": f"attn.pool_{p}.norm_act.0" for i, p in enumerate("qkv")}}
    rng, compared = random.Random(0), 0
    torch.manual_seed(0)
    for _ in range(60):
        thw = [rng.randint(1, 4) for _ in range(3)]
        c, c_out, after = rng.randint(1, 12), rng.randint(1, 12), rng.random() < 0.5
        width = c_out if after else c
        heads = rng.choice([h for h in range(1, width + 1) if width % h == 0])
        a = {"thw": thw, "num_heads": heads, "output_channels": c_out, "proj_after_attn": after, "eps": 1e-6,
             **{k: [rng.choice([1, 3, 3, 2]) for _ in range(3)] for k in ("kernel_q", "kernel_kv")},
             **{k: [rng.randint(1, 2) for _ in range(3)] for k in ("stride_q", "stride_kv")},
             **{k: rng.random() < 0.5 for k in ("residual_pool", "residual_with_cls_embed", "rel_pos_embed")}}
        try:
            ours = MultiscaleBlockReference((1 + math.prod(thw), c), a).eval()
            theirs = MultiscaleBlock(thw, MSBlockConfig(heads, c, c_out, a["kernel_q"], a["kernel_kv"], a["stride_q"],
                                                        a["stride_kv"]), a["residual_pool"],
                                     a["residual_with_cls_embed"], a["rel_pos_embed"], after,
                                     norm_layer=partial(torch.nn.LayerNorm, eps=1e-6)).eval()
        except RuntimeError:  # a relative position table of no rows: both refuse
            continue
        copied = {}
        for key, value in ours.state_dict().items():
            prefix = max((p for p in names if key == p or key.startswith(p + ".")), key=len)
            copied[names[prefix] + key[len(prefix):]] = value
        theirs.load_state_dict(copied)
        x = torch.randn(2, 1 + math.prod(thw), c)
        with torch.no_grad():
            try:
                expected = theirs(x, tuple(thw))[0]
            except RuntimeError:  # an even query kernel: the skip path's grid differs, and torch refuses the sum
                with pytest.raises(RuntimeError):
                    ours(x)
                continue
            torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5)
        compared += 1
    assert compared >= 25


@pytest.mark.slow
@pytest.mark.torch
def test_each_peer_tool_on_vit_b_16_is_what_compare_conventions_says():
    """The tools run on torchvision's own ViT-B/16, against archcalc's figure for the imported
    spec: torchinfo's 173,232,616 (its 173.23 M: the linear layers once per sample, the
    attention not at all), fvcore without Q·Kᵀ and A·V, ptflops' and thop's extras."""
    pytest.importorskip("torchvision")
    import torchvision

    from archcalc import conventions as C
    from archcalc.torch_backend.importing import import_model
    from test_conventions import _peer, _run_peer

    model = torchvision.models.vit_b_16().eval()
    spec = analyze(load_spec_text(import_model("vit", "3,224,224", model=model).text, "vit.yaml"))
    x = torch.randn(1, 3, 224, 224)
    measured = {}
    for name in ("torchinfo", "fvcore", "ptflops", "thop"):
        _peer(name)
        with torch.no_grad():
            measured[name] = _run_peer(name, model, x)
        assert measured[name] == C.figures(spec, name).total, name
    assert measured["torchinfo"] == 173_232_616


class _Attending(torch.nn.Module):
    """nn.MultiheadAttention called as the user's model calls it: self-attention, or with a
    mask, or as cross-attention over a second sequence computed from the first."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.attention = torch.nn.MultiheadAttention(16, 4, batch_first=True)
        self.memory = torch.nn.Linear(16, 16)

    def forward(self, x):
        if self.how == "self":
            return self.attention(x, x, x, need_weights=False)[0]
        if self.how == "default":  # need_weights=True, torch's default: the head-averaged weights returned too
            return self.attention(x, x, x)[0]
        if self.how == "mask":
            mask = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).triu(1)
            return self.attention(x, x, x, attn_mask=mask, need_weights=False)[0]
        m = self.memory(x)
        return self.attention(x, m, m, need_weights=False)[0]


@pytest.mark.torch
def test_self_attention_imports_masked_or_not_and_cross_attention_is_refused_by_name():
    """A mask changes no count (torch's FlopCounterMode counts the masked products too), so a
    masked self-attention imports and verifies; cross-attention is refused at its line."""
    from archcalc.spec.errors import SpecError
    from archcalc.torch_backend.importing import import_model, verify_import

    for how in ("self", "mask"):
        imported = import_model("a", "10,16", model=_Attending(how))
        assert "- multihead_attention: {name: attention, num_heads: 4}" in imported.text
        assert [r.message() for r in verify_import(imported, "a")[0] if not r.ok] == []
    with pytest.raises(SpecError) as err:
        import_model("a", "10,16", model=_Attending("cross"))
    assert "archcalc's multihead_attention is self-attention" in err.value.render()
    assert "test_transformers.py" in err.value.render()


class _Recurrent(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(8, 16, batch_first=True)

    def forward(self, x):
        out, _ = self.lstm(x, None)  # the default state, written out
        return out


@pytest.mark.torch
def test_a_module_called_with_an_explicit_none_state_imports():
    from archcalc.torch_backend.importing import import_model, verify_import

    imported = import_model("r", "5,8", model=_Recurrent())
    assert [r.message() for r in verify_import(imported, "r")[0] if not r.ok] == []


class _Classifier(torch.nn.Module):
    """Token ids → torch's own encoder stack (eval fast path and nested tensors as built by
    default) → a mean over the sequence → a linear head."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(100, 32)
        self.encoder = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 2)
        self.head = torch.nn.Linear(32, 5)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x)).mean(1))


def _encoders():
    nn = torch.nn
    return {
        "layer": nn.TransformerEncoderLayer(32, 4, 64, batch_first=True),
        "pre-norm gelu layer": nn.TransformerEncoderLayer(32, 2, 48, batch_first=True, norm_first=True,
                                                          activation="gelu", bias=False),
        "stack": nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 3),
        "stack with a final norm": nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 2,
                                                         norm=nn.LayerNorm(32)),
    }


@pytest.mark.torch
@pytest.mark.parametrize("name", list(_encoders()))
def test_torchs_encoder_classes_import_and_verify_in_eval(name):
    """The model in eval mode, where torch would take its native fast path: verification counts
    the ordinary path, as archcalc does, and every figure agrees."""
    from archcalc.torch_backend.importing import import_model, verify_import

    model = _encoders()[name].eval()
    imported = import_model("e", "T,32", model=model, sizes={"T": 9})
    assert "transformer_encoder" in imported.text
    assert [r.message() for r in verify_import(imported, "e")[0] if not r.ok] == []


@pytest.mark.torch
def test_an_encoder_inside_a_model_imports_and_sequence_first_is_refused():
    from archcalc.spec.errors import SpecError
    from archcalc.torch_backend.importing import import_model, verify_import

    imported = import_model("c", "T", model=_Classifier(), sizes={"T": 7})
    assert "- transformer_encoder: {name: encoder, num_layers: 2, nhead: 4, dim_feedforward: 64}" in imported.text
    assert [r.message() for r in verify_import(imported, "c")[0] if not r.ok] == []
    with pytest.raises(SpecError, match="batch_first=False"):
        import_model("s", "T,32", model=torch.nn.TransformerEncoderLayer(32, 4, 64), sizes={"T": 5})


class _ByHand(torch.nn.Module):
    """Attention written by hand, as tutorials write it: separate projections, q @ kᵀ scaled by
    a number computed from the sizes, a softmax, @ v, the heads joined."""

    def __init__(self, e=32, h=4):
        super().__init__()
        self.h = h
        self.q, self.k, self.v, self.o = (torch.nn.Linear(e, e) for _ in range(4))

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = (p(x).view(b, t, self.h, c // self.h).transpose(1, 2) for p in (self.q, self.k, self.v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // self.h)
        y = torch.nn.functional.softmax(att, dim=-1) @ v
        return self.o(y.transpose(1, 2).reshape(b, t, c))


@pytest.mark.torch
def test_attention_written_by_hand_imports_and_each_tool_counts_it_as_compare_says():
    """Two matmul merges, nested at their fork; ptflops patches torch.matmul but not the @
    operator, so it misses Q·Kᵀ and A·V (the operator recorded by import), fvcore and thop
    count them: each tool run on the model itself."""
    from archcalc import conventions as C
    from archcalc.torch_backend.importing import import_model, verify_import
    from test_conventions import _peer, _run_peer

    model = _ByHand().eval()
    imported = import_model("h", "16,32", model=model)
    assert imported.text.count("operator: true") == 2
    assert [r.message() for r in verify_import(imported, "h")[0] if not r.ok] == []
    a = analyze(load_spec_text(imported.text, "h.yaml"))
    products = 2 * 4 * 16 * 16 * 8  # Q·Kᵀ and A·V: heads · T · T · d each
    assert a.totals["macs"] == 4 * 16 * 32 * 32 + products
    x = torch.randn(1, 16, 32)
    for name in ("fvcore", "ptflops", "thop"):
        _peer(name)
        with torch.no_grad():
            assert _run_peer(name, model, x) == C.figures(a, name).total, name


@pytest.mark.torch
def test_a_call_that_returns_the_attention_weights_is_imported_as_such_and_each_tool_counts_it():
    """attn(x, x, x) returns the head-averaged weights too (torch's default need_weights=True):
    torch's count is the same, but Q·Kᵀ and A·V then run as torch.bmm, which fvcore and
    ptflops count (ptflops its softmax too); the spec says so, and each tool on the model
    itself prints what compare-conventions says."""
    from archcalc import conventions as C
    from archcalc.torch_backend.importing import import_model, verify_import
    from test_conventions import _peer, _run_peer

    for how, written in (("default", "need_weights: true"), ("self", None)):
        model = _Attending(how).eval()
        imported = import_model("a", "10,16", model=model)
        assert (written in imported.text) if written else "need_weights" not in imported.text
        assert [r.message() for r in verify_import(imported, "a")[0] if not r.ok] == []
        a = analyze(load_spec_text(imported.text, "a.yaml"))
        for name in ("fvcore", "ptflops", "thop"):
            _peer(name)
            with torch.no_grad():
                assert _run_peer(name, model, torch.randn(1, 10, 16)) == C.figures(a, name).total, (how, name)


class _GPTBlock(torch.nn.Module):
    """A GPT-style block as written by hand around F.scaled_dot_product_attention: one linear
    layer to q, k and v split in three, heads by view and transpose, a causal mask, the heads
    joined back, then a GELU MLP; both residual."""

    def __init__(self, e=32, h=4):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = torch.nn.LayerNorm(e), torch.nn.LayerNorm(e)
        self.qkv, self.proj = torch.nn.Linear(e, 3 * e), torch.nn.Linear(e, e)
        self.fc, self.out = torch.nn.Linear(e, 4 * e), torch.nn.Linear(4 * e, e)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.h, c // self.h).transpose(1, 2) for z in (q, k, v))
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).contiguous().view(b, t, c))
        return x + self.out(torch.nn.functional.gelu(self.fc(self.ln2(x))))


@pytest.mark.torch
def test_a_gpt_block_written_around_scaled_dot_product_attention_imports_and_verifies():
    """The split becomes the attention merge's split, the causal flag its is_causal; the MACs
    are the block's definition written out here: 4·T·E² + 8·T·E² for the projections and the
    MLP, 2·T·T·E for Q·Kᵀ and A·V (counted whole, as torch counts causal attention)."""
    from archcalc.torch_backend.importing import import_model, verify_import

    imported = import_model("g", "12,32", model=_GPTBlock().eval())
    assert "scaled_dot_product_attention:" in imported.text and "is_causal: true" in imported.text
    assert [r.message() for r in verify_import(imported, "g")[0] if not r.ok] == []
    t, e = 12, 32
    assert analyze(load_spec_text(imported.text, "g.yaml")).totals["macs"] == 12 * t * e * e + 2 * t * t * e
