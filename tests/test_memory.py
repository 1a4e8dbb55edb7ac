"""Memory: weight bytes per dtype and activation bytes equal what torch holds; the tensors saved
for backward equal what autograd saves (saved-tensor hooks) on every zoo CNN; peak inference
follows its stated rule."""
from __future__ import annotations

import json

import os

import pytest
import torch
from click.testing import CliRunner
from torch.nn.attention import SDPBackend, sdpa_kernel
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from archcalc.cli import main
from archcalc.engine import numbers as N
from archcalc.engine.analyze import analyze
from archcalc.engine.memory import memory
from archcalc.spec import load_spec
from archcalc.spec.model import Value
from archcalc.torch_backend.build import build_from_analysis
from archcalc.spec.errors import SpecError
from archcalc.layers import strides
from archcalc.layers.registry import kinds
from conftest import SPECS, analyze_text
from kinds import REFUSALS, TABLE, all_inputs, engine, sample_input

CNNS = [("lenet5.yaml", None), ("alexnet.yaml", None), ("alexnet_torchvision.yaml", 96), ("vgg16.yaml", 64),
        ("resnet18.yaml", 64), ("resnet50.yaml", 64), ("googlenet.yaml", 64), ("zfnet.yaml", None), ("mlp.yaml", None)]


def small(name, size, batch=2):
    spec = load_spec(SPECS / name)
    if size:
        spec.input[1:] = [Value(size, spec.input[1].loc), Value(size, spec.input[2].loc)]
    return analyze(spec, batch=batch)


def autograd_saved_bytes(analysis, x=None, *more) -> int:
    """The bytes of the storages autograd saves in one training forward pass of the built
    network on x (random by default) and the spec's other inputs (`more`, random by default)."""
    x = torch.randn(analysis.batch, *analysis.input) if x is None else x
    inputs = (x, *more) if more else all_inputs(analysis, x)
    net = build_from_analysis(analysis, "cpu").train()
    weights = {t.untyped_storage().data_ptr() for t in list(net.parameters()) + list(net.buffers())}
    saved: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in weights:  # activations only: the weights are counted as weights
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    # attention on torch's math kernel, whose saved tensors archcalc models (the CPU's flash kernel keeps fewer)
    with torch.backends.mkldnn.flags(enabled=False), sdpa_kernel(SDPBackend.MATH), \
            torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(*inputs)
    return sum(saved.values())


def _with_gradient(shape):
    """A layer with weights that keeps the shape: what comes after it needs a gradient, so
    autograd saves what its backward needs (a network's first layer often saves nothing)."""
    if len(shape) <= 2:
        return TABLE["linear"], {"out_features": shape[-1]}
    return TABLE[f"conv{len(shape) - 1}d"], {"out_channels": shape[0], "kernel_size": 1}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(TABLE))
@settings(max_examples=int(os.environ.get("ARCHCALC_KIND_EXAMPLES", "8")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_each_kind_saves_what_its_rule_says(kind, data):
    """Every kind's saved_for_backward against autograd's saved tensors, after a layer with
    weights; a kind whose rule is None says it is not modelled (the report says so too)."""
    case = TABLE[kind]
    shape, args = data.draw(case.example())
    layers = [(case, args)] if case.dtype == "index" else [_with_gradient(shape), (case, args)]
    analysis = engine(shape, layers, case.dtype, batch=2)
    assume(not isinstance(analysis, SpecError))
    m = memory(analysis)
    if m.saved_for_backward is None:
        assert m.unmodelled == [kind]  # not modelled, and the report says for which kind
        return
    x = sample_input(case, shape, args)
    try:
        saved = autograd_saved_bytes(analysis, x)
    except REFUSALS:
        assume(False)  # torch refuses this batch (batch statistics of one value per channel)
    assert m.saved_for_backward == saved, (kind, shape, args)


def test_saved_for_backward_of_embedding_and_maxout():
    from archcalc.spec import load_spec_text

    for text in ("archcalc: 1\ninput: [12]\nlayers:\n  - linear: 6\n  - maxout: {out_features: 3, pieces: 4}\n"
                 "  - linear: 2\n",
                 "archcalc: 1\ninput: {shape: [7], dtype: index}\nlayers:\n"
                 "  - embedding: {num_embeddings: 20, embedding_dim: 5}\n  - flatten\n  - linear: 3\n"):
        analysis = analyze(load_spec_text(text, "m.yaml"), batch=2)
        if analysis.spec.input_dtype == "index":
            net = build_from_analysis(analysis, "cpu").train()
            weights = {t.untyped_storage().data_ptr() for t in net.parameters()}
            saved = {}

            def pack(t):
                if t.untyped_storage().data_ptr() not in weights:
                    saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
                return t

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                net(torch.randint(0, 20, (2, 7)))
            assert memory(analysis).saved_for_backward == sum(saved.values())
        else:
            assert memory(analysis).saved_for_backward == autograd_saved_bytes(analysis)


@pytest.mark.parametrize("name,size", CNNS)
def test_saved_for_backward_equals_autograd(name, size):
    analysis = small(name, size)
    assert memory(analysis).saved_for_backward == autograd_saved_bytes(analysis)


@pytest.mark.parametrize("dtype,torch_dtype", [("float32", torch.float32), ("float16", torch.float16),
                                               ("bfloat16", torch.bfloat16)])
def test_weight_bytes_per_dtype(dtype, torch_dtype):
    for name in ("resnet18.yaml", "alexnet.yaml"):
        analysis = analyze(load_spec(SPECS / name))
        net = build_from_analysis(analysis, "meta").to(torch_dtype)
        held = sum(t.numel() * t.element_size() for t in list(net.parameters()) + list(net.buffers()))
        assert memory(analysis, dtype).weights == held


def test_activation_bytes_equal_every_output():
    analysis = small("resnet18.yaml", 64, batch=3)
    net = build_from_analysis(analysis, "meta")
    total = [0]
    leaves = [net.get_submodule(r.path) for r in analysis.rows if r.leaf]
    for module in leaves:
        module.register_forward_hook(lambda _m, _i, out: total.__setitem__(0, total[0] + out.numel() * 4))
    with torch.no_grad():
        net(torch.empty(3, *analysis.input, device="meta"))
    assert memory(analysis).activations == total[0]


def test_peak_inference_rule_by_hand():
    a = analyze_text("archcalc: 1\ninput: [1, 10]\nlayers:\n  - conv1d: {out_channels: 4, kernel_size: 3}\n"
                     "  - relu\n  - conv1d: {out_channels: 2, kernel_size: 1}\n")
    m = memory(a)
    weights = (4 * 3 + 4 + 2 * 4 + 2) * 4
    # conv1 holds 10 in + 32 out, relu works in place (32), conv2 holds 32 in + 16 out: the worst, 48
    assert m.peak_inference == weights + (32 + 16) * 4
    residual = analyze_text("archcalc: 1\ninput: [2, 8]\nlayers:\n  - add: {branches: {a: [{conv1d: "
                            "{out_channels: 2, kernel_size: 1, bias: false}}], b: []}}\n")
    # while branch a runs: its input and output; then the sum: a's output, the input (branch b) and the result
    assert memory(residual).peak_inference == 4 * 4 + (16 + 16 + 16) * 4


def test_peak_inference_holds_the_attention_score_matrix():
    """While an attention runs, torch's math kernel holds its h·T·S scores beside its input
    and output: 4 heads over 10 positions, a memory of 6 for the cross-attention, batch 3."""
    self_attention = analyze_text("archcalc: 1\ninput: [10, 16]\nlayers:\n  - multihead_attention: {num_heads: 4}\n",
                                  batch=3)
    weights = (4 * 16 * 16 + 4 * 16) * 4
    assert memory(self_attention).peak_inference == weights + 3 * (160 + 160 + 4 * 10 * 10) * 4
    cross = analyze_text("archcalc: 1\ninputs: {x: [10, 16], m: [6, 16]}\nlayers:\n"
                         "  - multihead_attention: {num_heads: 4, memory: m}\n")
    assert memory(cross).peak_inference == weights + (160 + 160 + 4 * 10 * 6) * 4
    merge = "archcalc: 1\ninput: [2, 5, 8]\nlayers:\n  - {kind}: {{branches: {{q: [], k: [], v: []}}}}\n"
    attention, summed = (memory(analyze_text(merge.format(kind=k))) for k in ("scaled_dot_product_attention", "add"))
    assert attention.peak_inference - summed.peak_inference == 2 * 5 * 5 * 4  # a sum of the same tensors: no scores


def test_cli_memory_and_what_is_not_modelled():
    doc = json.loads(CliRunner().invoke(main, ["summarize", str(SPECS / "resnet18.yaml"), "--memory",
                                               "--dtype", "float16", "--format", "json"]).stdout)
    assert doc["memory"]["dtype"] == "float16" and doc["memory"]["weights"] == 2 * 11_689_512 + 2 * 9_620 - 20 * 2 + 20 * 8
    assert doc["memory"]["training"]["adam"] > doc["memory"]["training"]["sgd"]
    peephole = json.loads(CliRunner().invoke(main, ["summarize", str(SPECS / "peephole_lstm.yaml"), "--memory",
                                                    "--set", "T=10", "--format", "json"]).stdout)
    assert peephole["memory"]["saved_for_backward"] is None and peephole["memory"]["not_modelled"] == ["lstm"]


@pytest.mark.parametrize("name,bindings", [("char_rnn.yaml", {"T": "7"}), ("vanilla_rnn.yaml", {"T": "6"}),
                                           ("many_to_one_sentiment.yaml", {"T": "5"}),
                                           ("one_to_many_captioning.yaml", {"T": "4"}),
                                           ("many_to_many_video.yaml", {"T": "3"}),
                                           ("many_to_many_translation.yaml", {"S": "4", "T": "3"})])
def test_recurrent_saved_for_backward_equals_autograd(name, bindings):
    analysis = analyze(load_spec(SPECS / name), bindings, batch=2)
    net = build_from_analysis(analysis, "cpu").train()
    weights = {t.untyped_storage().data_ptr() for t in list(net.parameters()) + list(net.buffers())}
    saved: dict[int, int] = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in weights:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    shape = (2, *analysis.input)
    x = torch.randint(0, 5, shape) if analysis.spec.input_dtype == "index" else torch.randn(shape)
    with torch.backends.mkldnn.flags(enabled=False), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(x)
    assert memory(analysis).saved_for_backward == sum(saved.values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_peak_inference_against_the_cuda_allocator():
    """The allocator rounds blocks and cuDNN takes workspace, so the rule is an estimate: it
    must lie between the weights and the measured peak plus a margin."""
    analysis = small("resnet18.yaml", 224, batch=8)
    net = build_from_analysis(analysis, "cuda")
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        net(torch.randn(8, *analysis.input, device="cuda"))
    measured = torch.cuda.max_memory_allocated()
    predicted = memory(analysis).peak_inference
    assert memory(analysis).weights < measured and 0.5 * measured < predicted < 1.5 * measured


@pytest.mark.slow
def _seen_at_last_layer(analysis, case, shape, args, record) -> list:
    """record(input, output) of the last layer, as torch's module sees them in one training
    forward pass on CPU (a forward hook; the first tensor of a tuple); a batch torch refuses
    is not an example."""
    net = build_from_analysis(analysis, "cpu").train()
    seen = []

    def first(t):
        return t[0] if isinstance(t, (tuple, list)) else t

    net.get_submodule(analysis.roots[-1].path).register_forward_hook(
        lambda module, inputs, output: seen.append(record(first(inputs), first(output))))
    try:
        net(*all_inputs(analysis, sample_input(case, shape, args)))
    except REFUSALS:
        assume(False)
    assert len(seen) == 1
    return seen


@pytest.mark.parametrize("kind", sorted(k for k, c in TABLE.items() if not kinds()[k].merge))
@settings(max_examples=int(os.environ.get("ARCHCALC_KIND_EXAMPLES", "8")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_each_kind_says_whether_its_output_is_its_input(kind, data):
    """output_is_input (an in-place activation, a dropout at p = 0, a view) against the storage
    torch's module returns while training, after a layer with weights; where that output is
    not contiguous (an expand, a permute) a layer reading it may copy it, and the kind says
    which its readers keep."""
    case = TABLE[kind]
    shape, args = data.draw(case.example())
    layers = [(case, args)] if case.dtype == "index" else [_with_gradient(shape), (case, args)]
    analysis = engine(shape, layers, case.dtype, batch=2)
    assume(not isinstance(analysis, SpecError))
    row = analysis.roots[-1]
    seen = _seen_at_last_layer(analysis, case, shape, args, lambda x, y: (
        x.untyped_storage().data_ptr() == y.untyped_storage().data_ptr() if y.is_contiguous() else None))
    if seen[0] is not None:
        assert seen[0] == row.layer.output_is_input(row.args), (kind, shape, args)


@pytest.mark.parametrize("between", ["sigmoid\n  - dropout: 0.0", "relu: {inplace: true}\n  - dropout: {p: 0.3, inplace: true}",
                                     "tanh\n  - stochastic_depth: {p: 0.0, mode: row}"])
def test_a_layer_that_returns_its_input_saves_it_once(between):
    """A dropout at p = 0 (torchvision's ViT writes Dropout(0.0)) or in place hands on its
    input's storage: what the layers around it save is counted once, as autograd keeps it."""
    analysis = analyze_text(f"archcalc: 1\ninput: [12]\nlayers:\n  - linear: 16\n  - {between}\n  - linear: 4\n",
                            batch=3)
    assert memory(analysis).saved_for_backward == autograd_saved_bytes(analysis)


KV_SPEC = """
archcalc: 1
input: [T, 64]
blocks:
  heads:
    params: {n: 8}
    layers: [{linear: {out_features: "8*n", bias: false}}, {unflatten: {dim: 1, unflattened_size: [n, 8]}},
             {transpose: {dim0: 0, dim1: 1}}]
layers:
  - multihead_attention: {num_heads: 8}
  - scaled_dot_product_attention:
      enable_gqa: true
      is_causal: true
      branches: {q: [heads], k: [{heads: {n: 2}}], v: [{heads: {n: 2}}]}
  - transpose: {dim0: 0, dim1: 1}
  - flatten: {start_dim: 1}
  - transformer_encoder: {num_layers: 3, nhead: 4, dim_feedforward: 16}
"""


def test_the_kv_cache_is_every_attentions_keys_and_values_per_token(tmp_path):
    """Self-attention keeps E keys and E values a token; grouped-query attention its 2 key/value
    heads of 8 (not the 8 query heads); an encoder stack each of its layers' (counted here by
    hand, in bytes of bfloat16), at --context tokens for the batch."""
    from archcalc.spec import load_spec_text

    a = analyze(load_spec_text(KV_SPEC, "kv.yaml"), {"T": "16"}, batch=3)
    per_token = (2 * 64 + (2 * 8 + 2 * 8) + 3 * 2 * 64) * 2
    m = memory(a, "bfloat16", context=4096)
    assert m.kv_cache_per_token == per_token and m.kv_cache(3) == per_token * 4096 * 3
    (tmp_path / "kv.yaml").write_text(KV_SPEC)
    out = CliRunner().invoke(main, ["summarize", str(tmp_path / "kv.yaml"), "--set", "T=16", "--memory",
                                    "--dtype", "bfloat16", "--context", "4096", "--batch", "3"])
    assert f"KV cache: {per_token:,} bytes (0.0 MiB) per token per sample; at a context of 4,096 tokens " \
           f"{per_token * 4096 * 3:,} bytes" in out.stdout
    doc = CliRunner().invoke(main, ["summarize", str(tmp_path / "kv.yaml"), "--memory", "--format", "json"]).stdout
    assert json.loads(doc)["memory"]["kv_cache_per_token"] == per_token * 2  # float32, any T
    assert "KV cache" not in CliRunner().invoke(main, ["summarize", str(SPECS / "alexnet.yaml"), "--memory"]).stdout


def test_a_vision_transformers_saved_tensors_equal_autograds():
    """ViT-B/16's structure (two blocks, a 32×32 image: 5 tokens) in training: self-attention's
    saved tensors, its h·T·T attention weights among them, on torch's math path, equal what
    autograd keeps."""
    spec = load_spec(SPECS / "vit_b_16.yaml")
    spec.input[1:] = [Value(32, spec.input[1].loc), Value(32, spec.input[2].loc)]
    analysis = analyze(spec, {"image": "32", "depth": "2"}, batch=2)
    m = memory(analysis)
    assert m.unmodelled == [] and m.saved_for_backward == autograd_saved_bytes(analysis)


ATTENTION_KINDS = ["multihead_attention", "transformer_encoder_layer", "transformer_encoder",
                   "transformer_decoder_layer", "transformer_decoder", "transformer"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ATTENTION_KINDS)
@settings(max_examples=int(os.environ.get("ARCHCALC_KIND_EXAMPLES", "8")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_attention_kinds_save_what_their_rules_say_with_dropout_at_any_batch(kind, data):
    """Beyond the table's settings: dropout while training (its masks, and the zero scalar at
    p = 1), batches of one (where nn.MultiheadAttention's projections read their batch-first
    inputs as they are) and of several (where they copy them), and a relu before the layer,
    which keeps its output: the layer's input, kept once where the layer reads it itself."""
    case = TABLE[kind]
    shape, args = data.draw(case.example())
    args = dict(args, dropout=data.draw(st.sampled_from([0.0, 0.3, 1.0])))
    batch = data.draw(st.integers(1, 3))
    layers = [_with_gradient(shape), *([(TABLE["relu"], {})] if data.draw(st.booleans()) else []), (case, args)]
    analysis = engine(shape, layers, batch=batch)
    assume(not isinstance(analysis, SpecError))
    m = memory(analysis)
    assert m.unmodelled == []
    try:
        saved = autograd_saved_bytes(analysis, torch.randn(batch, *shape))
    except REFUSALS:
        assume(False)
    assert m.saved_for_backward == saved, (kind, shape, args, batch)


MEMORY_KEPT = """
archcalc: 1
inputs: {{x: [5, 8], src: [{s}, {width}]}}
layers:
  - linear: {{name: encoded, from: src, out_features: {width}}}
  - relu: {{name: memory}}
  - linear: {{name: query, from: x, out_features: 8}}
  - relu
  - {layer}
  - linear: 3
"""


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("s", [1, 4])
@pytest.mark.parametrize("layer,width", [
    ("transformer_decoder: {num_layers: 2, memory: memory, nhead: 2, dim_feedforward: 6, dropout: 0.2}", 8),
    ("transformer_decoder_layer: {memory: memory, nhead: 4, dim_feedforward: 6, norm_first: true}", 8),
    ("multihead_attention: {num_heads: 2, memory: memory}", 8),
    ("multihead_attention: {num_heads: 2, memory: memory, need_weights: true}", 3),
    ("transformer: {src: memory, num_encoder_layers: 1, num_decoder_layers: 2, nhead: 2, dim_feedforward: 6}", 8)])
def test_a_memory_kept_by_another_layer_is_kept_once_at_batch_one(layer, width, s, batch):
    """The memory (a relu's output, which the relu keeps) read by cross-attention: at batch 1
    the projections read it as it is (one tensor, however many layers read it), at a batch of
    several each projection its own copy (twice for separate K and V projections: E_kv ≠ E);
    a `from:` reads its tensor, not the row before."""
    analysis = analyze_text(MEMORY_KEPT.format(s=s, width=width, layer=layer), batch=batch)
    m = memory(analysis)
    assert m.unmodelled == []
    assert m.saved_for_backward == autograd_saved_bytes(analysis, torch.randn(batch, 5, 8),
                                                        torch.randn(batch, s, width))


@pytest.mark.parametrize("s,t,batch", [(3, 4, 2), (5, 1, 1), (2, 3, 1)])
def test_transformer_bases_saved_tensors_equal_autograds(s, t, batch):
    """specs/transformer_base.yaml (two layers each way, d_model 16, dropout 0.1, a vocabulary
    of 50) while training: the embeddings' indices, the encoder's layers, the decoder's, each
    of whose cross-attentions reads the encoder's output (the `encoder` repeat), the shared
    generator's input, as autograd keeps them; and the report no longer says "not modelled"."""
    spec = load_spec(SPECS / "transformer_base.yaml")
    analysis = analyze(spec, {"S": str(s), "T": str(t), "vocab": "50", "width": "16", "heads": "2", "ff": "12",
                              "layers": "2"}, batch=batch)
    m = memory(analysis)
    assert m.unmodelled == []
    src, tgt = torch.randint(0, 50, (batch, s)), torch.randint(0, 50, (batch, t))
    assert m.saved_for_backward == autograd_saved_bytes(analysis, src, tgt)
    out = CliRunner().invoke(main, ["summarize", str(SPECS / "transformer_base.yaml"), "--memory"]).stdout
    assert "not modelled" not in out and "saved for backward" in out


@pytest.mark.parametrize("spec, bindings", [("vit_b_16.yaml", {}), ("gpt2_small.yaml", {"T": "9"}),
                                            ("transformer_base.yaml", {"S": "7", "T": "5"}),
                                            ("swin_t.yaml", {}), ("char_transformer.yaml", {"T": "11"})])
def test_attention_matrices_are_the_softmaxes_torch_computes(spec, bindings):
    """Every attention's h·T·S scores, in bytes: the sum of the outputs of the softmaxes torch
    runs in a forward pass of the built module on its math kernel (on the meta device: no
    memory), at batch 2."""
    from archcalc.torch_backend.verify import more_inputs

    analysis = analyze(load_spec(SPECS / spec), bindings, batch=2)
    net = build_from_analysis(analysis, "meta").eval()
    def tensor(shape, dtype):
        return torch.zeros((2, *shape), dtype=torch.long if dtype == "index" else torch.float32, device="meta")

    inputs = [tensor(analysis.input, analysis.spec.input_dtype), *(tensor(shape, dtype) for shape, dtype in
                                                                 more_inputs(analysis))]
    elements = softmax_elements(net, inputs)
    assert elements > 0
    assert memory(analysis).attention_matrices == elements * 4


def softmax_elements(net, inputs) -> int:
    """The elements of every softmax torch computes in one forward pass (attention on its math
    kernel, MultiheadAttention's fast path off)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Softmaxes(TorchDispatchMode):
        elements = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func.overloadpacket in (torch.ops.aten._softmax, torch.ops.aten._safe_softmax):
                Softmaxes.elements += out.numel()
            return out

    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), Softmaxes():
            net(*inputs)
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
    return Softmaxes.elements


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(k for k in TABLE if not kinds()[k].merge))
@settings(max_examples=int(os.environ.get("ARCHCALC_KIND_EXAMPLES", "8")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_each_kinds_score_matrices_are_its_softmaxes(kind, data):
    """A kind that says it makes attention scores (score_matrices): as many elements as the
    softmaxes its torch module computes, window attention's and partitions' included."""
    case = TABLE[kind]
    shape, args = data.draw(case.example())
    analysis = engine(shape, [(case, args)], case.dtype, batch=2)
    assume(not isinstance(analysis, SpecError))
    row = analysis.roots[-1]
    said = N.total(row.layer.score_matrices(row.args, row.input))
    if said == 0:
        return  # no attention scores: nothing said (a softmax layer's output is its activations)
    net = build_from_analysis(analysis, "cpu").eval()
    try:
        measured = softmax_elements(net, all_inputs(analysis, sample_input(case, shape, args)))
    except REFUSALS:
        assume(False)
    assert said * 2 == measured, (kind, shape, args)


@pytest.mark.slow
@pytest.mark.parametrize("kind,layout", [(k, layout) for k, c in sorted(TABLE.items()) if not kinds()[k].merge
                                         for layout in ("contiguous", "transposed")
                                         if layout == "contiguous" or (c.dtype != "index" and max(c.ranks) >= 2)])
@settings(max_examples=int(os.environ.get("ARCHCALC_KIND_EXAMPLES", "8")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_each_kind_lays_out_its_output_as_it_says(kind, layout, data):
    """output_strides against the strides of what torch's module returns while training, given
    the strides its input arrives with: a new tensor after a layer with weights, or (transposed)
    that layer's output on the sample's first and last axes swapped back, a non-contiguous view.
    A kind that answers None does not say (a product reading its output is then not modelled)."""
    case = TABLE[kind]
    shape, args = data.draw(case.example())
    if layout == "transposed":
        assume(case.dtype != "index" and len(shape) >= 2 and shape[0] != shape[-1])
        swapped = (shape[-1], *shape[1:-1], shape[0])
        first = [(TABLE["permute"], {"dims": [len(shape) - 1, *range(1, len(shape) - 1), 0]}), _with_gradient(swapped),
                 (TABLE["transpose"], {"dim0": 0, "dim1": -1})]
    else:
        first = [] if case.dtype == "index" else [_with_gradient(shape)]
    analysis = engine(shape, [*first, (case, args)], case.dtype, batch=2)
    assume(not isinstance(analysis, SpecError))
    row = analysis.roots[-1]
    seen = _seen_at_last_layer(analysis, case, shape, args,
                               lambda x, y: (tuple(x.stride()), tuple(y.shape), tuple(y.stride())))
    given_strides, out_shape, out_strides = seen[0]
    if layout == "transposed":
        assume(not strides.is_contiguous((2, *shape), given_strides))  # axes of size 1: no transposed view
    said = row.layer.output_strides(row.args, row.input, row.output, given_strides, 2)
    if said is not None and out_shape == (2, *row.output):
        assert strides.view(out_shape, said, out_shape) and all(
            st == s or d == 1 for st, s, d in zip(said, out_strides, out_shape)), (kind, shape, args, said, out_strides)


SMALL_LLAMA = {"T": "5", "depth": "2", "hidden": "64", "heads": "4", "intermediate": "96", "vocab": "50"}


@pytest.mark.parametrize("name,bindings", [
    ("gpt2_small.yaml", {"T": "5", "depth": "2"}), ("bert_base.yaml", {"T": "5", "depth": "2"}),
    ("char_transformer.yaml", {"T": "6"}), ("llama2_7b.yaml", SMALL_LLAMA | {"kv_heads": "4"}),
    ("llama2_7b.yaml", SMALL_LLAMA | {"kv_heads": "2"})])
def test_the_language_models_saved_tensors_equal_autograds(name, bindings):
    """GPT-2 (q, k and v transposed views of slices of c_attn's output), BERT and LLaMA (of
    their own projections; with 2 key/value heads of 4, grouped-query attention repeats k and
    v), two blocks of each at a few tokens: scaled_dot_product_attention's saved tensors on
    torch's math kernel, v's copy among them, equal what autograd keeps."""
    analysis = analyze(load_spec(SPECS / name), bindings, batch=2)
    m = memory(analysis)
    assert m.unmodelled == []
    assert m.saved_for_backward == autograd_saved_bytes(analysis, torch.randint(0, 20, (2, *analysis.input)))


@pytest.mark.parametrize("name", ["gpt2_small.yaml", "bert_base.yaml", "char_transformer.yaml", "llama2_7b.yaml",
                                  "swin_t.yaml"])
def test_summarize_models_the_transformers_training_memory(name):
    out = CliRunner().invoke(main, ["summarize", str(SPECS / name), "--memory"]).stdout
    assert "training: saved for backward" in out and "not modelled" not in out


def test_gpt2s_training_memory_in_t_is_the_concrete_one():
    """With T a symbol the layouts' comparisons take T as large; the formula equals the
    figure at T given, T = 1 (where torch views what it copies at larger T) included."""
    formula = memory(analyze(load_spec(SPECS / "gpt2_small.yaml"))).saved_for_backward
    (t,) = formula.free_symbols
    for value in (1, 2, 7):
        concrete = memory(analyze(load_spec(SPECS / "gpt2_small.yaml"), {"T": str(value)})).saved_for_backward
        assert formula.subs(t, value) == concrete


@pytest.mark.parametrize("size,batch", [(64, 2), (32, 1)])
def test_swin_ts_saved_tensors_equal_autograds(size, batch):
    """Swin-T (stage 3 two blocks deep) on 64×64 and 32×32 images: shifted windows over padded
    maps, and from stage 3 one window (at batch 1, kᵀ and v then views of qkv's output)."""
    spec = load_spec(SPECS / "swin_t.yaml")
    spec.input[1:] = [Value(size, spec.input[1].loc), Value(size, spec.input[2].loc)]
    analysis = analyze(spec, {"d3": "2"}, batch=batch)
    m = memory(analysis)
    assert m.unmodelled == [] and m.saved_for_backward == autograd_saved_bytes(analysis)


@pytest.mark.parametrize("hw,window,heads,shift,attention_dropout,dropout,batch", [
    (7, 7, 2, 0, 0, 0, 2), (7, 7, 2, 3, 0, 0, 1), (9, 4, 2, 2, 0.2, 0.1, 2), (8, 4, 1, 2, 0, 0, 2), (4, 4, 2, 0, 0, 0, 1),
    (5, 3, 4, 1, 1.0, 0, 3), (4, 4, 1, 0, 0, 0, 1)])
def test_window_attention_saves_what_autograd_keeps(hw, window, heads, shift, attention_dropout, dropout, batch):
    """Padding, shift, one head or one window for the whole batch (kᵀ and v views of qkv's
    output, kept once), dropout on the weights (p = 1: a zero scalar) and on the output."""
    analysis = analyze_text(f"archcalc: 1\ninput: [{hw}, {hw + 1}, 8]\nlayers:\n  - linear: 8\n"
                            f"  - shifted_window_attention: {{window_size: {window}, num_heads: {heads}, shift_size: "
                            f"{shift}, attention_dropout: {attention_dropout}, dropout: {dropout}}}\n", batch=batch)
    assert memory(analysis).saved_for_backward == autograd_saved_bytes(analysis)


SDPA_LAYOUTS = """
archcalc: 1
input: [6, 24]
blocks:
  heads:   # [T, 24] to heads [4, T, 6], as a transposed view
    params: {n: 4}
    layers: [{linear: {out_features: "6*n", bias: false}}, {unflatten: {dim: 1, unflattened_size: [n, 6]}},
             {transpose: {dim0: 0, dim1: 1}}]
  own:     # the same laid out heads first (layer_norm makes a contiguous tensor)
    params: {n: 4}
    layers: [{heads: {n: n}}, {layer_norm: 6}]
layers:
  - linear: 72
  - scaled_dot_product_attention:
      split: equal
      split_dim: -1
      {args}
      branches: {branches}
"""


@pytest.mark.parametrize("branches,args", [
    ("{q: [heads], k: [heads], v: [heads]}", "dropout_p: 0.3"),  # v a transposed view: copied
    ("{q: [heads], k: [heads], v: [{unflatten: {dim: 1, unflattened_size: [4, 6]}}, {transpose: {dim0: 0, dim1: 1}}]}",
     "scale: 0.2"),  # v a transposed view of a slice of the linear layer's output: copied
    ("{q: [heads], k: [heads], v: [{unsqueeze: {dim: 0}}]}", "scale: 0.2"),  # v a slice broadcast over the heads
    ("{q: [heads], k: [{heads: {n: 2}}], v: [{own: {n: 2}}]}", "enable_gqa: true"),  # k and v repeated
    ("{q: [heads], k: [heads], v: [own]}", "is_causal: true"),  # v laid out heads first: kept itself
    ("{q: [{own: {n: 1}}], k: [own], v: [own]}", "dropout_p: 0.1"),  # q broadcast over k's heads
    ("{q: [], k: [], v: []}", "is_causal: true"),  # slices: v kept as the whole linear layer's output
])
@pytest.mark.parametrize("batch", [1, 3])
def test_attention_keeps_v_or_its_copy_by_its_layout(branches, args, batch):
    """The factors torch's matmul reshapes: v kept itself where the spec's rows leave it heads
    first (its whole storage where it is a slice), copied where they leave it a transposed
    view; a factor broadcast over heads copied at its broadcast size, unless the batch is 1;
    with dropout the noise and the dropped weights too."""
    text = SDPA_LAYOUTS.replace("{args}", args).replace("{branches}", branches)
    analysis = analyze_text(text, batch=batch)
    m = memory(analysis)
    assert m.unmodelled == [] and m.saved_for_backward == autograd_saved_bytes(analysis)


@pytest.mark.parametrize("a,b", [("[heads]", "[heads, {transpose: {dim0: 1, dim1: 2}}]"),
                                 ("[]", "[{transpose: {dim0: 0, dim1: 1}}]"),
                                 ("[own]", "[{own: {n: 1}}, {transpose: {dim0: 1, dim1: 2}}]"),
                                 ("[{own: {n: 1}}]", "[heads, {transpose: {dim0: 1, dim1: 2}}]")])
@pytest.mark.parametrize("batch", [1, 2])
def test_matmul_keeps_each_factor_or_its_copy_by_its_layout(a, b, batch):
    """a @ b keeps each factor as torch.matmul's batched product does: itself, or its copy
    where its strides (a transposed view) or a broadcast over heads call for one."""
    text = SDPA_LAYOUTS.replace("scaled_dot_product_attention", "matmul").replace("      {args}\n", "").replace(
        "{branches}", f"{{a: {a}, b: {b}}}").replace("- linear: 72", "- linear: 48")
    analysis = analyze_text(text, batch=batch)
    m = memory(analysis)
    assert m.unmodelled == [] and m.saved_for_backward == autograd_saved_bytes(analysis)
