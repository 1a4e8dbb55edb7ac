"""LLaMA-2 7B and 70B written by hand (specs/llama2_7b.yaml), with rotary position embeddings:
the published parameter counts, the counts as polynomials in the sequence length T written out
from the architecture, verification on the meta device (70B too, no memory allocated), and,
with Hugging Face's `transformers` installed, its LlamaForCausalLM built from the config on the
meta device: the same parameters, the same parameterised layers in call order, and the same
FlopCounterMode FLOPs at several T; a small model with the weights copied computes the same
logits; archcalc's RoPE module equals HF's apply_rotary_pos_emb."""
from __future__ import annotations

import math

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.engine import numbers as N
from conftest import REPO, SPECS, analyze_file

SPEC = "llama2_7b.yaml"
# (variant, published parameters: Hugging Face's meta-llama/Llama-2-7b-hf and -70b-hf)
PUBLISHED = [(None, 6_738_415_616), ("llama2_70b", 68_976_648_192)]
# LlamaConfig's settings of each (the rest: rms_norm_eps 1e-5, rope_theta 1e4, no biases, untied head)
CONFIGS = {None: dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32),
           "llama2_70b": dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64,
                              num_key_value_heads=8)}
VOCAB = 32000


def _symbol(name: str):
    return N.sympy_module().Symbol(name, integer=True, positive=True)


@pytest.mark.parametrize("variant,params", PUBLISHED, ids=["7b", "70b"])
def test_published_parameter_counts(variant, params):
    a = analyze_file(SPEC, variant=variant)
    c = CONFIGS[variant]
    e, f, layers, h, kv = (c[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                          "num_attention_heads", "num_key_value_heads"))
    d = e // h
    per_layer = 2 * e * e + 2 * e * kv * d + 3 * e * f + 2 * e  # q, o; k, v; gate, up, down; two RMSNorms
    assert a.totals["params"] == 2 * VOCAB * e + layers * per_layer + e == params
    assert a.totals["buffers"] == 0
    assert a.output == (_symbol("T"), VOCAB)


@pytest.mark.parametrize("variant", [None, "llama2_70b"], ids=["7b", "70b"])
def test_macs_are_the_architectures_polynomial_in_t(variant):
    """Per layer: the projections T·E·(2·E + 2·kv·d), Q·Kᵀ and A·V 2·T²·E (counted whole, as
    torch counts a causal kernel), the SwiGLU MLP 3·T·E·F; the LM head T·E·V."""
    a = analyze_file(SPEC, variant=variant)
    c = CONFIGS[variant]
    t = _symbol("T")
    e, f, layers, h, kv = (c[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                          "num_attention_heads", "num_key_value_heads"))
    d = e // h
    per_layer = t * e * (2 * e + 2 * kv * d) + 2 * t * t * e + 3 * t * e * f
    assert N.sympy_module().expand(a.totals["macs"] - (layers * per_layer + t * e * VOCAB)) == 0
    assert N.sympy_module().expand(a.totals["flops"] - 2 * a.totals["macs"]) == 0


def test_rotary_rows_state_their_element_wise_work():
    """RoPE counts 0 (FlopCounterMode counts no element-wise op); its derivation says what it
    does per head and position: d products with cos, d with sin, d sums, d/2 negations."""
    a = analyze_file(SPEC)
    t = _symbol("T")
    q, k = a.row("layers.1.attention.self_attn.sdpa.q.rope"), a.row("layers.1.attention.self_attn.sdpa.k.rope")
    for row in (q, k):
        assert (row.params, row.macs, row.flops) == (0, 0, 0)
        assert row.output == (32, t, 128)
        steps = {s.quantity: s.result for s in row.steps}
        assert N.sympy_module().expand(steps["element-wise ops on x (not in torch's FLOPs)"]
                                       - 32 * t * (3 * 128 + 64)) == 0
        assert N.sympy_module().expand(steps["cos/sin table (element-wise, not in torch's FLOPs)"]
                                       - (t * 64 + 2 * t * 128)) == 0
    rows = [r for r in a.leaves() if r.kind == "rotary_embedding"]
    assert len(rows) == 2 * 32  # q and k of every layer, v not


def test_check_holds_for_the_spec_and_its_variant(monkeypatch):
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["check", f"specs/{SPEC}"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output


torch = pytest.importorskip("torch")


@pytest.mark.torch
@pytest.mark.parametrize("variant", [None, "llama2_70b"], ids=["7b", "70b"])
def test_verifies_on_the_meta_device(variant):
    """Every layer's output, parameters, buffers and FLOPs against torch running archcalc's
    module on the meta device: 68.98 billion parameters, no memory allocated for them."""
    from archcalc.spec import load_spec
    from archcalc.torch_backend import verify_spec

    (result,) = verify_spec(load_spec(SPECS / SPEC), {"T": "33"}, "meta", variant=variant)
    assert result.ran_on == "meta"
    assert result.agree, result.disagreements()[:3]
    assert len(result.layers) == (643 if variant is None else 1603)


@pytest.mark.torch
def test_cli_verify_takes_a_variant_on_meta(monkeypatch):
    monkeypatch.chdir(REPO)
    args = ["verify", f"specs/{SPEC}", "--variant", "llama2_70b", "--device", "meta", "--set", "T=5"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "all 1603 layers agree with torch" in result.output and "(meta" in result.output


# ---- Hugging Face's LlamaForCausalLM -------------------------------------------------------------

def _hf_model(variant, attention: str = "sdpa", device: str = "meta", **changes):
    transformers = pytest.importorskip("transformers")
    settings = dict(vocab_size=VOCAB, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                    attention_bias=False, mlp_bias=False, max_position_embeddings=4096)
    settings |= (CONFIGS[variant] if variant in CONFIGS else {}) | changes
    config = transformers.LlamaConfig(**settings)
    config._attn_implementation = attention
    with torch.device(device):
        return transformers.LlamaForCausalLM(config).eval()


def _hf_run(model, t: int, device: str = "meta"):
    """One forward pass on T token ids. use_cache=True: without a cache, HF's mask code looks for
    packed sequences in the position ids with .item(), which the meta device cannot answer; the
    cache only concatenates the keys and values (no product)."""
    x = torch.zeros(1, t, dtype=torch.long, device=device)
    return model(input_ids=x, use_cache=True).logits


def _hf_flops(model, t: int) -> int:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        _hf_run(model, t)
    return counter.get_total_flops()


@pytest.mark.torch
@pytest.mark.parametrize("variant,params", PUBLISHED, ids=["7b", "70b"])
def test_hugging_face_model_has_the_same_parameters_and_flops(variant, params):
    """HF's model on the meta device: its parameters, and FlopCounterMode's FLOPs (attention on
    torch's math kernel, which it counts; HF's "sdpa" attention) at T = 1, 5 and 33, equal
    archcalc's exactly. HF's only buffers are its rotary module's inv_freq and its copy
    original_inv_freq (d/2 each, persistent=False): archcalc's RoPE makes its table in forward."""
    model = _hf_model(variant)
    assert sum(p.numel() for p in model.parameters()) == params
    d = CONFIGS[variant]["hidden_size"] // CONFIGS[variant]["num_attention_heads"]
    assert {n: b.numel() for n, b in model.named_buffers()} == {"model.rotary_emb.inv_freq": d // 2,
                                                               "model.rotary_emb.original_inv_freq": d // 2}
    for t in (1, 5, 33):
        a = analyze_file(SPEC, {"T": str(t)}, variant=variant)
        assert a.totals["params"] == params
        assert _hf_flops(model, t) == a.totals["flops"], t


@pytest.mark.torch
def test_eager_attention_counts_as_sdpa():
    """HF's "eager" attention (explicit matmuls over keys and values repeated to every query
    head) counts the same products as its "sdpa" (F.scaled_dot_product_attention, enable_gqa):
    FlopCounterMode sees the same FLOPs; grouped-query attention changes neither."""
    for variant in (None, "llama2_70b"):
        a = analyze_file(SPEC, {"T": "5", "depth": "2"}, variant=variant)
        flops = {_hf_flops(_hf_model(variant, attention, num_hidden_layers=2), 5) for attention in ("sdpa", "eager")}
        assert flops == {a.totals["flops"]}


@pytest.mark.torch
def test_hugging_face_layers_in_call_order_equal_the_specs():
    """Every parameterised layer HF's forward calls (embedding, RMSNorms, projections, head):
    kind, output shape and parameters, in order, as `check --against` compares them."""
    from archcalc.torch_backend.against import compare_leaves, model_leaves

    a = analyze_file(SPEC, {"T": "7"}, variant="llama2_70b")
    model = _hf_model("llama2_70b")
    watched = model_leaves(model, a.input, "index", forward=lambda: _hf_run(model, 7))
    outcomes = {o.name: o for o in compare_leaves(a, model, watched, "transformers.LlamaForCausalLM")}
    assert outcomes["against.layers"].ok, outcomes["against.layers"].message()
    assert outcomes["against.params"].ok
    assert len(watched.calls) == 1 + 80 * 9 + 2  # embedding; 2 norms and 7 projections a layer; norm, head
    assert not outcomes["against.buffers"].ok  # HF's inv_freq and original_inv_freq, 64 each (above)


def _copied(net, model):
    """HF's weights into archcalc's module, by name: layers.<k> is HF's layers.<k − 1>."""
    theirs = dict(model.named_parameters())
    for name, p in net.named_parameters():
        parts = name.split(".")
        if parts[0] != "layers":
            source = name if name.startswith("lm_head") else "model." + name
        else:
            leaf = parts[-2]
            group = "mlp" if leaf.endswith(("gate_proj", "up_proj", "down_proj")) else \
                "" if leaf.endswith("layernorm") else "self_attn"
            source = ".".join(filter(None, ("model.layers", str(int(parts[1]) - 1), group, leaf, "weight")))
        with torch.no_grad():
            p.copy_(theirs.pop(source))
    assert theirs == {}


@pytest.mark.torch
@pytest.mark.parametrize("kv_heads", [4, 2], ids=["mha", "gqa"])
def test_a_small_llama_computes_hf_logits(kv_heads):
    """The spec at small widths (vars bound: vocabulary 100, E 64, 4 heads of 16, F 96, 2
    layers), HF's random weights copied in: the same logits at every position, so RoPE's
    pairing, the causal mask and the grouping of query heads are HF's."""
    from archcalc.torch_backend.build import build_module

    torch.manual_seed(0)
    small = dict(vocab=100, hidden=64, intermediate=96, depth=2, heads=4, kv_heads=kv_heads)
    model = _hf_model("small", device="cpu", vocab_size=100, hidden_size=64, intermediate_size=96,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=kv_heads)
    net = build_module(SPECS / SPEC, T=9, **small).eval()
    _copied(net, model)
    ids = torch.randint(0, 100, (2, 9))
    with torch.no_grad():
        theirs = model(input_ids=ids, use_cache=False).logits
        ours = net(ids)
    assert ours.shape == theirs.shape == (2, 9, 100)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(3, 5, 8), (2, 4, 7, 16), (6, 2)])
def test_rotary_module_is_hf_apply_rotary_pos_emb(shape):
    transformers = pytest.importorskip("transformers")
    from transformers.models.llama import modeling_llama as hf

    from archcalc.torch_backend.modules import RotaryEmbedding

    torch.manual_seed(0)
    x = torch.randn(*shape)
    d, t = shape[-1], shape[-2]
    config = transformers.LlamaConfig(hidden_size=d * 2, num_attention_heads=2, rope_theta=500000.0)
    cos, sin = hf.LlamaRotaryEmbedding(config)(x, torch.arange(t)[None])  # [1, T, d]
    theirs, _ = hf.apply_rotary_pos_emb(x, x, cos[0], sin[0], unsqueeze_dim=0)
    torch.testing.assert_close(RotaryEmbedding(500000.0)(x), theirs.reshape(shape), rtol=0, atol=0)  # bit for bit


@pytest.mark.torch
def test_sinusoidal_table_is_vaswanis():
    """PE[t, 2i] = sin(t / 10000^(2i/E)), PE[t, 2i + 1] = cos(...), added to the sequence."""
    from archcalc.torch_backend.modules import SinusoidalPositionEncoding

    e, t = 6, 11
    module = SinusoidalPositionEncoding(e, max_len=20)
    assert dict(module.state_dict()).keys() == {"pe"} and module.pe.shape == (20, e)
    table = [[(math.sin if j % 2 == 0 else math.cos)(p / 10000 ** ((j - j % 2) / e)) for j in range(e)]
             for p in range(t)]
    torch.testing.assert_close(module(torch.zeros(1, t, e))[0], torch.tensor(table), rtol=0, atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("variant", [None, "llama2_70b"], ids=["7b", "70b"])
def test_the_kv_cache_is_what_hugging_faces_cache_holds(variant):
    """The keys and values Hugging Face's LLaMA keeps after a forward pass (on meta), per token:
    the 70B's grouped-query attention keeps its 8 key/value heads, not its 64 query heads
    (327,680 bytes a token in float16: 80 layers · 2 · 8 · 128 · 2)."""
    from archcalc.engine.memory import memory

    model = _hf_model(variant)
    t = 3
    cache = model(input_ids=torch.zeros(1, t, dtype=torch.long, device="meta"), use_cache=True).past_key_values
    held = sum(layer.keys.numel() + layer.values.numel() for layer in cache.layers) * 2
    ours = memory(analyze_file(SPEC, {"T": str(t)}, variant=variant), "float16", context=t)
    assert ours.kv_cache(1) == held
    if variant:
        assert ours.kv_cache_per_token == 327_680
