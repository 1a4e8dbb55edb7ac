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
from archcalc.spec.errors import SpecError

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


MAXVIT_ATTENTION = """
archcalc: 1
input: [64, 49, 64]
layers:
  - relative_positional_attention: {head_dim: 32, partition_size: 7}
"""


def test_maxvit_attention_derives_each_product_as_written_out():
    """maxvit_t's first stage: 64 windows of 7×7 tokens of 64 features, 2 heads of 32. Each
    number written out from the definition: to_qkv 3·G·P·D², Q·Kᵀ and A·V G·h·P²·d each, the
    softmax over G·h·P² scores, merge G·P·D²; the two linear layers, the (2·7 − 1)² offsets'
    table per head and its 49² index."""
    g, p, d, h, dh = 64, 49, 64, 2, 32
    row = analyze(load_spec_text(MAXVIT_ATTENTION, "m.yaml")).row("relative_positional_attention_1")
    steps = {s.quantity: s.result for s in row.steps}
    assert list(steps)[3:8] == ["Q, K, V projections (MACs)", "Q·Kᵀ (MACs)", "softmax (elements, no MACs)",
                                "A·V (MACs)", "output projection (MACs)"]
    assert steps["Q, K, V projections (MACs)"] == 3 * g * p * d * d == 38_535_168
    assert steps["Q·Kᵀ (MACs)"] == steps["A·V (MACs)"] == g * h * p * p * dh == 9_834_496
    assert steps["softmax (elements, no MACs)"] == g * h * p * p
    assert steps["output projection (MACs)"] == g * p * d * d
    assert row.macs == 4 * g * p * d * d + 2 * g * p * p * d
    assert (row.params, row.buffers) == (4 * d * (d + 1) + 13 * 13 * h, 49 * 49)


def test_maxvit_attention_counts_no_product_where_torchs_einsum_multiplies_element_wise():
    """A head of size 1 (Q·Kᵀ sums over d = 1) or a partition of one token (A·V sums over P =
    1): torch's einsum multiplies element-wise there and FlopCounterMode counts no product;
    the derivation says so (the torch tests below measure it). A partition_size other than
    √P is refused, but 1: one bias per head, broadcast, as torchvision accepts it."""
    doc = "archcalc: 1\ninput: [3, {p}, 6]\nlayers:\n  - relative_positional_attention: {{head_dim: {dh}, partition_size: {s}}}\n"
    one_wide = analyze(load_spec_text(doc.format(p=4, dh=1, s=2), "m.yaml")).row("relative_positional_attention_1")
    steps = {s.quantity: s for s in one_wide.steps}
    assert steps["Q·Kᵀ (MACs)"].result == 0 and "element-wise" in steps["Q·Kᵀ (MACs)"].formula
    assert steps["A·V (MACs)"].result == 3 * 6 * 4 * 4 * 1 and one_wide.macs == 4 * 3 * 4 * 36 + 3 * 6 * 16
    one_token = analyze(load_spec_text(doc.format(p=1, dh=2, s=1), "m.yaml")).row("relative_positional_attention_1")
    assert one_token.macs == 4 * 3 * 36 + 3 * 3 * 1 * 2  # Q·Kᵀ counted, A·V not
    broadcast = analyze(load_spec_text(doc.format(p=5, dh=3, s=1), "m.yaml")).row("relative_positional_attention_1")
    assert (broadcast.params, broadcast.buffers) == (4 * 6 * 7 + 2, 1)
    with pytest.raises(SpecError, match="partitions of 5 tokens are not 2×2"):
        analyze(load_spec_text(doc.format(p=5, dh=3, s=2), "m.yaml"))


torch = pytest.importorskip("torch")


@pytest.mark.torch
def test_maxvit_attention_is_torchvisions_to_the_bit_and_counted_as_flopcountermode_counts_it():
    """torchvision's RelativePositionalMultiHeadAttention itself, over partitions of 1, 4, 5
    and 9 tokens, head sizes 1 to 4 and partition sides 1 to 3 (some torchvision refuses): the
    engine refuses exactly those, and otherwise gives its output shape, parameters, buffers and
    FlopCounterMode's FLOPs (no product where its einsum sums an axis of size 1); archcalc's
    module, given torchvision's weights, computes the same output to the bit, the reference in
    tests/kinds.py the same to rounding, and a bare torchvision module imports as the kind."""
    import itertools

    tv = pytest.importorskip("torchvision.models.maxvit")
    import archcalc
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.torch_backend.importing import import_model
    from kinds import RelativeAttentionReference

    accepted = 0
    for g, p, d, dh, s in itertools.product([1, 3], [1, 4, 5, 9], [2, 4, 6], [1, 2, 3, 4], [1, 2, 3]):
        torch.manual_seed(0)
        x = torch.randn(2, g, p, d)
        text = (f"archcalc: 1\ninput: [{g}, {p}, {d}]\nlayers:\n"
                f"  - relative_positional_attention: {{head_dim: {dh}, partition_size: {s}}}\n")
        try:
            theirs = tv.RelativePositionalMultiHeadAttention(d, dh, s * s).eval()
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                y = theirs(x)
        except (RuntimeError, ValueError):
            with pytest.raises(SpecError):
                analyze(load_spec_text(text, "m.yaml"))
            continue
        accepted += 1
        spec = load_spec_text(text, "m.yaml")
        ours = analyze(spec, None, 2)
        assert ours.output == tuple(y.shape[1:])
        assert ours.totals["params"] == sum(t.numel() for t in theirs.parameters())
        assert ours.totals["buffers"] == sum(t.numel() for t in theirs.buffers())
        assert ours.totals["flops"] == counter.get_total_flops(), (g, p, d, dh, s)
        built = archcalc.build_module(spec).eval()
        built.load_state_dict({f"relative_positional_attention_1.{k}": v for k, v in theirs.state_dict().items()})
        reference = RelativeAttentionReference((g, p, d), {"head_dim": dh, "partition_size": s})
        with torch.no_grad():
            reference.qkv.load_state_dict(theirs.to_qkv.state_dict())
            reference.out.load_state_dict(theirs.merge.state_dict())
            reference.table.copy_(theirs.relative_position_bias_table)
            assert torch.equal(built(x), y)
            torch.testing.assert_close(reference(x), y)
        if (g, p, d, dh, s) == (3, 9, 6, 2, 3):
            imported = analyze(load_spec_text(import_model("m", f"{g},{p},{d}", model=theirs).text, "i.yaml"))
            assert [(r.kind, dict(r.args.items())) for r in imported.leaves()] == [
                ("relative_positional_attention", {"head_dim": 2, "partition_size": 3})]
    assert accepted == 96


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("name,size,params", [
    ("vit_b_16", "3,224,224", 86_567_656), ("vit_b_32", "3,224,224", 88_224_232),
    ("vit_l_16", "3,224,224", 304_326_632), ("vit_l_32", "3,224,224", 306_535_400),
    ("vit_h_14", "3,224,224", 632_045_800),  # at 224: the SWAG linear-probe weights' meta (the default's is at 518)
    ("swin_t", "3,224,224", 28_288_354), ("swin_s", "3,224,224", 49_606_258), ("swin_b", "3,224,224", 87_768_224),
    # Swin V2's weights are trained and evaluated at 256 (their transforms' crop_size, meta min_size)
    ("swin_v2_t", "3,256,256", 28_351_570), ("swin_v2_s", "3,256,256", 49_737_442),
    ("swin_v2_b", "3,256,256", 87_930_848),
    # Video Swin on a 16-frame clip (8 temporal patches, the window's 8): torchvision's _ops are at that length
    ("swin3d_t", "3,16,224,224", 28_158_070), ("swin3d_s", "3,16,224,224", 49_816_678),
    ("swin3d_b", "3,16,224,224", 88_048_984), ("maxvit_t", "3,224,224", 30_919_624)])
def test_torchvision_vision_transformers_import_and_verify_exactly(name, size, params):
    """Imported from torchvision itself and verified exactly (output, FlopCounterMode's FLOPs,
    every layer, params, buffers); the parameters are torchvision's documented num_params, and
    the MACs its documented GFLOPS (`_ops`, which are multiply-adds) to the 3 decimals given."""
    torchvision = pytest.importorskip("torchvision")
    from archcalc.torch_backend.importing import import_and_verify

    weights = torchvision.models.get_model_weights(name)
    meta = (weights.IMAGENET1K_SWAG_LINEAR_V1 if name == "vit_h_14" else weights.DEFAULT).meta
    assert meta["num_params"] == params
    torch.manual_seed(0)
    imported, results = import_and_verify(f"{_module(name)}:{name}", size)
    assert [r.message() for r in results if not r.ok] == []
    assert {r.name for r in results} >= {"import.output", "import.flops", "against.layers", "against.params"}
    a = analyze(load_spec_text(imported.text, "vit.yaml"))
    assert a.totals["params"] == params  # torchvision's documented count
    assert round(a.totals["macs"] / 1e9, 3) == meta["_ops"]
    if name == "vit_b_16":
        t, e, f, layers = 197, 768, 3072, 12  # 196 patches and the class token; width, MLP width, depth
        per_layer = 4 * t * e * e + 2 * t * t * e + 2 * t * e * f
        assert a.totals["macs"] == 196 * 768 * 3 * 16 * 16 + layers * per_layer + e * 1000 == 17_563_828_224
    if name == "maxvit_t":  # 5.558 GMACs
        # the attentions written out: at each stage's H·W = T tokens of D features, partitions of P = 7·7, a
        # window and a grid attention per block, each 4·T·D² (to_qkv, merge) + 2·T·P·D (Q·Kᵀ, A·V)
        stages = [(56 * 56, 64, 2), (28 * 28, 128, 2), (14 * 14, 256, 5), (7 * 7, 512, 2)]
        attention = [r for r in a.leaves() if r.kind == "relative_positional_attention"]
        assert len(attention) == 2 * sum(blocks for _, _, blocks in stages)
        assert sum(r.macs for r in attention) == sum(2 * blocks * (4 * t * d * d + 2 * t * 49 * d)
                                                     for t, d, blocks in stages)


def _module(name: str) -> str:
    return "torchvision.models.video" if name.startswith("swin3d") else "torchvision.models"


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


@pytest.mark.slow
@pytest.mark.torch
def test_each_peer_tool_on_maxvit_t_is_what_compare_conventions_says():
    """The tools run on torchvision's own MaxViT-T, against archcalc's figure for the imported
    spec: the attention's rules among every other kind's (fvcore's einsums rounded as numpy
    prints them, thop's in full, ptflops without them but with the softmax, torchinfo the
    leaf linear layers once per sample)."""
    pytest.importorskip("torchvision")
    import torchvision

    from archcalc import conventions as C
    from archcalc.torch_backend.importing import import_model
    from test_conventions import _peer, _run_peer

    torch.manual_seed(0)
    model = torchvision.models.maxvit_t().eval()
    spec = analyze(load_spec_text(import_model("maxvit", "3,224,224", model=model).text, "maxvit.yaml"))
    x = torch.randn(1, 3, 224, 224)
    measured = {}
    for name in ("torchinfo", "fvcore", "ptflops", "thop"):
        _peer(name)
        with torch.no_grad():
            measured[name] = _run_peer(name, model, x)
        assert measured[name] == C.figures(spec, name).total, name
    assert measured == {"torchinfo": 2_013_574_048, "fvcore": 5_608_201_264, "ptflops": 5_483_328_960,
                        "thop": 5_635_933_184}


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
def test_self_attention_imports_masked_or_not_and_cross_attention_names_its_memory():
    """A mask changes no count (torch's FlopCounterMode counts the masked products too), so a
    masked self-attention imports and verifies; cross-attention to a value computed from the
    input names that layer as its memory."""
    from archcalc.torch_backend.importing import import_model, verify_import

    for how, written in (("self", "{name: attention, num_heads: 4}"), ("mask", "{name: attention, num_heads: 4}"),
                         ("cross", "{name: attention, from: input, num_heads: 4, memory: memory}")):
        imported = import_model("a", "10,16", model=_Attending(how))
        assert f"- multihead_attention: {written}" in imported.text
        assert [r.message() for r in verify_import(imported, "a")[0] if not r.ok] == []


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


@pytest.mark.torch
@pytest.mark.parametrize("batch", [1, 3])
def test_swin_v2_attention_counts_its_bias_mlp_once_per_pass(batch):
    """torchvision's ShiftedWindowAttentionV2 read as a spec's layer: its parameters (qkv,
    proj, logit_scale, cpb_mlp), buffers (the table of offsets and the index) and FLOPs equal
    the module's and FlopCounterMode's at every batch, the position-bias MLP (on a table of
    batch 1) counted once per pass: 2·(B·per sample + M·512·(2 + h))."""
    pytest.importorskip("torchvision")
    import json

    from torch.utils.flop_counter import FlopCounterMode
    from torchvision.models.swin_transformer import ShiftedWindowAttentionV2

    from archcalc.layers.registry import kind_of_module

    module = ShiftedWindowAttentionV2(24, [4, 6], [2, 3], 3).eval()
    kind = kind_of_module(module)
    args = kind.from_torch(module)
    assert kind.kind == "shifted_window_attention_v2" and args == {"window_size": [4, 6], "num_heads": 3,
                                                                   "shift_size": [2, 3]}
    doc = {"archcalc": 1, "input": [10, 13, 24], "layers": [{kind.kind: args}]}
    a = analyze(load_spec_text(json.dumps(doc), "v2.yaml"), None, batch)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.randn(batch, 10, 13, 24))
    assert a.totals["flops"] == counter.get_total_flops()
    assert a.totals["params"] == sum(p.numel() for p in module.parameters())
    assert a.totals["buffers"] == sum(b.numel() for b in module.buffers())
    m, h, t, n, c = 7 * 11, 3, 12 * 18, 24, 24  # offsets, heads, padded tokens, tokens per window, channels
    assert a.totals["macs"] == batch * (4 * t * c * c + 2 * t * n * c) + m * 512 * (2 + h)


@pytest.mark.torch
@pytest.mark.parametrize("which,shape", [
    ("v2", (10, 13, 24)), ("v2", (8, 8, 24)),
    ("3d", (4, 10, 13, 24)),  # T = 4 ≤ Wd = 8: the window shrinks to 4, that axis unshifted
    ("3d", (9, 7, 5, 24)), ("embed", (3, 5, 9, 10)), ("embed", (3, 4, 8, 8))])
def test_torchvisions_swin_modules_are_read_as_their_kinds_and_rebuilt_exactly(which, shape):
    """torchvision's ShiftedWindowAttentionV2, ShiftedWindowAttention3d and PatchEmbed3d, read
    with their kinds' from_torch: the spec's counts equal the module's parameters and buffers
    and FlopCounterMode's FLOPs at a batch of 2, and archcalc's module, given torchvision's
    weights (state_dict, same names), computes the same output."""
    pytest.importorskip("torchvision")
    import json

    from torch.utils.flop_counter import FlopCounterMode
    from torchvision.models.swin_transformer import ShiftedWindowAttentionV2
    from torchvision.models.video.swin_transformer import PatchEmbed3d, ShiftedWindowAttention3d

    import archcalc
    from archcalc.layers.registry import kind_of_module

    torch.manual_seed(0)
    module = {"v2": lambda: ShiftedWindowAttentionV2(24, [4, 6], [2, 3], 3),
              "3d": lambda: ShiftedWindowAttention3d(24, [8, 3, 4], [4, 1, 2], 4),
              "embed": lambda: PatchEmbed3d([2, 4, 4], 3, 12, torch.nn.LayerNorm)}[which]().eval()
    if which == "v2":
        with torch.no_grad():
            module.qkv.bias.normal_()  # its k third is zeroed in forward, the others kept
    kind = kind_of_module(module)
    spec = load_spec_text(json.dumps({"archcalc": 1, "input": list(shape),
                                      "layers": [{kind.kind: kind.from_torch(module)}]}), "m.yaml")
    a = analyze(spec, None, 2)
    x = torch.randn(2, *shape)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        y = module(x)
    assert (a.totals["params"], a.totals["buffers"], a.totals["flops"]) == (
        sum(p.numel() for p in module.parameters()), sum(b.numel() for b in module.buffers()),
        counter.get_total_flops())
    assert list(a.output) == list(y.shape[1:])
    ours = next(m for m in archcalc.build_module(spec).modules() if type(m).__name__ == type(module).__name__)
    ours.load_state_dict(module.state_dict())
    with torch.no_grad():
        assert torch.equal(ours.eval()(x), y)
