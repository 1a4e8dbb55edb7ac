"""The language models written by hand (specs/gpt2_small.yaml, specs/bert_base.yaml), each
checked against independent sources: the published parameter counts, the MACs written out
here from the models' definitions, archcalc's own torch build, and Hugging Face's models
themselves, built from their default configurations (nothing downloaded, on the meta device):
their parameters part by part, and FLOPs as torch's FlopCounterMode counts them on HF's forward
at three sequence lengths, block by block."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.engine import numbers as N
from conftest import REPO, SPECS, analyze_file

PUBLISHED = {"gpt2_small.yaml": 124_439_808,  # HF's GPT2Model; the tied LM head adds none
             "bert_base.yaml": 109_482_240}  # HF's BertModel, the pooler included
LENGTHS = (1, 7, 64)


def _definition_macs(spec: str, t):
    """Multiply-accumulates from the models' definitions, not from archcalc: per layer the
    four E×E projections (GPT-2's c_attn is three of them), the MLP's two E×F products at
    every position, and Q·Kᵀ and A·V (T·T·E each, over all heads); then GPT-2's LM head
    (E×V at every position) or BERT's pooler (E×E once)."""
    e, f, layers = 768, 3072, 12
    per_layer = 4 * t * e * e + 2 * t * e * f + 2 * t * t * e
    return layers * per_layer + (t * e * 50257 if spec == "gpt2_small.yaml" else e * e)


@pytest.mark.parametrize("spec", sorted(PUBLISHED))
def test_params_are_the_published_counts_and_macs_the_definitions(spec):
    a = analyze_file(spec)
    assert a.totals["params"] == PUBLISHED[spec]
    assert a.symbols == ["T"]
    t = N.sympy_module().Symbol("T", integer=True, positive=True)
    assert N.sympy_module().expand(a.totals["macs"] - _definition_macs(spec, t)) == 0
    for length in LENGTHS:
        assert analyze_file(spec, {"T": str(length)}).totals["flops"] == 2 * _definition_macs(spec, length)


def test_gpt2s_head_is_tied_and_its_position_table_counted_whole():
    """The LM head reuses wte's table (no parameters of its own, its products every time);
    wpe holds all 1,024 positions, of which the first T flow on."""
    a = analyze_file("gpt2_small.yaml", {"T": "7"})
    head = a.row("lm_head")
    assert head.shares == "wte" and head.params == 0 and head.macs == 7 * 768 * 50257
    assert a.row("wte").params == 50257 * 768
    assert a.row("embeddings.positions.wpe").params == 1024 * 768
    assert a.row("embeddings.positions.position_ids").output == (7, 768)
    assert a.output == (7, 50257)
    assert analyze_file("bert_base.yaml", {"T": "7"}).output == (768,)  # the pooler's


def test_the_specs_check(monkeypatch):
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["check", "specs/gpt2_small.yaml", "specs/bert_base.yaml"])
    assert result.exit_code == 0, result.stdout
    assert "2 pass, 0 fail" in result.stdout


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("spec", sorted(PUBLISHED))
def test_the_built_module_has_the_published_parameters(spec):
    import archcalc

    net = archcalc.build_module(str(SPECS / spec), device="meta", T=8)
    assert sum(p.numel() for p in net.parameters()) == PUBLISHED[spec]  # a tied tensor once, as torch counts
    if spec == "gpt2_small.yaml":
        assert net.lm_head.weight is net.wte.weight


@pytest.mark.parametrize("spec", sorted(PUBLISHED))
def test_verify_agrees_layer_by_layer(spec, monkeypatch):
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["verify", f"specs/{spec}", "--set", "T=8"])
    assert result.exit_code == 0, result.stdout
    assert "agree with torch" in result.stdout


# ---- Hugging Face's own models ----------------------------------------------------------------

def _hf(spec: str):
    """HF's model from its default configuration, on the meta device (no weights, no download)."""
    transformers = pytest.importorskip("transformers")
    with torch.device("meta"):
        if spec == "gpt2_small.yaml":
            return transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
        return transformers.BertModel(transformers.BertConfig()).eval()


# spec row → HF module, for the parameters of each part
PARTS = {"gpt2_small.yaml": {"wte": "transformer.wte", "embeddings.positions.wpe": "transformer.wpe",
                             "h": "transformer.h", "ln_f": "transformer.ln_f"},
         "bert_base.yaml": {"embeddings": "embeddings", "layer": "encoder.layer", "pooler": "pooler.dense"}}
# spec row of block i (from 1) → HF's module, and the HF module of the last part, for FLOPs
BLOCKS = {"gpt2_small.yaml": ("h.{}", "transformer.h.{}", ("lm_head", "lm_head")),
          "bert_base.yaml": ("layer.{}", "encoder.layer.{}", ("pooler", "pooler"))}


def _count(model, t: int):
    """FlopCounterMode on HF's forward for one sequence of t token ids: attention on torch's
    math kernel and MultiheadAttention's fast path off (the CPU's flash kernel reads 0)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    ids = torch.zeros((1, t), dtype=torch.long, device="meta")
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            out = model(input_ids=ids)
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
    output = out.logits if hasattr(out, "logits") else out.pooler_output
    return counter, tuple(output.shape[1:])


@pytest.mark.parametrize("spec", sorted(PUBLISHED))
def test_parameters_equal_hugging_faces_part_by_part(spec):
    model = _hf(spec)
    a = analyze_file(spec)
    assert sum(p.numel() for p in model.parameters()) == a.totals["params"] == PUBLISHED[spec]
    for path, module in PARTS[spec].items():
        assert a.row(path).params == sum(p.numel() for p in model.get_submodule(module).parameters()), path
    if spec == "gpt2_small.yaml":
        assert model.lm_head.weight is model.transformer.wte.weight  # tied in HF too
    else:
        # what archcalc has no row for: HF's two index buffers of 512 int64 ids, position_ids and
        # token_type_ids, which the spec writes as narrow and select; no parameters
        assert {n: b.numel() for n, b in model.named_buffers()} == {"embeddings.position_ids": 512,
                                                                     "embeddings.token_type_ids": 512}
        assert a.totals["buffers"] == 0


@pytest.mark.parametrize("t", LENGTHS)
@pytest.mark.parametrize("spec", sorted(PUBLISHED))
def test_flops_equal_flop_counter_mode_on_hugging_faces_model(spec, t):
    model = _hf(spec)
    counter, output = _count(model, t)
    a = analyze_file(spec, {"T": str(t)})
    assert output == a.output
    assert counter.get_total_flops() == a.totals["flops"]
    counts = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}
    root = type(model).__name__
    ours, theirs, (last, last_hf) = BLOCKS[spec]
    for i in range(12):
        assert a.row(ours.format(i + 1)).flops == counts[f"{root}.{theirs.format(i)}"], i
    assert a.row(last).flops == counts[f"{root}.{last_hf}"]


def test_gpt2s_kv_cache_is_what_hugging_faces_cache_holds():
    """The keys and values Hugging Face's GPT-2 keeps after a forward pass with use_cache, per
    token and sample, against archcalc's KV cache of the spec (float32)."""
    from archcalc.engine.memory import memory

    model = _hf("gpt2_small.yaml")
    t, batch = 5, 2
    cache = model(torch.zeros(batch, t, dtype=torch.long, device="meta"), use_cache=True).past_key_values
    held = sum(layer.keys.numel() + layer.values.numel() for layer in cache.layers) * 4
    ours = memory(analyze_file("gpt2_small.yaml", {"T": str(t)}), "float32", context=t)
    assert ours.kv_cache_per_token * t * batch == held == ours.kv_cache(batch)


@pytest.mark.parametrize("t", (1, 9, 256))
def test_the_char_transformer_is_hugging_faces_gpt2_at_its_size(t):
    """specs/char_transformer.yaml against HF's GPT2LMHeadModel with its configuration (65
    characters, 256 positions, width 256, 4 heads, 4 layers): parameters and FlopCounterMode's
    FLOPs; beside the char-RNN, within 3 % of its parameters, and its MACs a fixed cost per
    character plus 2·layers·E per character in the context (Q·Kᵀ and A·V)."""
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=65, n_positions=256, n_embd=256, n_layer=4, n_head=4)
    with torch.device("meta"):
        model = transformers.GPT2LMHeadModel(config).eval()
    a = analyze_file("char_transformer.yaml", {"T": str(t)})
    assert sum(p.numel() for p in model.parameters()) == a.totals["params"]
    counter, output = _count(model, t)
    assert output == a.output and counter.get_total_flops() == a.totals["flops"]
    rnn = analyze_file("char_rnn.yaml", {"T": str(t)})
    assert abs(a.totals["params"] - rnn.totals["params"]) < 0.03 * rnn.totals["params"]
    e, layers = 256, 4  # per character: each block's 12·E² (4 projections, the MLP's 8), the head's E·65
    assert a.totals["macs"] == t * (layers * 12 * e * e + e * 65) + layers * 2 * e * t * t


def test_hugging_faces_models_are_refused_at_the_line_fx_cannot_trace():
    """Hugging Face's forward (its output and argument decorators) is not traceable by torch.fx,
    and the hooks cannot follow the data through it: the refusal says so, with fx's reason and
    the line of transformers' code where tracing stopped (not a traceback)."""
    transformers = pytest.importorskip("transformers")
    from archcalc.spec.errors import SpecError
    from archcalc.torch_backend.importing import import_model

    with pytest.raises(SpecError) as err:
        import_model("gpt2", "T", model=transformers.GPT2Model(transformers.GPT2Config(n_layer=1)), sizes={"T": 4})
    text = err.value.render()
    assert "torch.fx could not trace the model" in text
    assert f" at {transformers.__file__.rsplit('/', 1)[0]}" in text
    assert "in the installed package transformers (not the model's own code)" in text  # whose code stops fx
    assert text.index("torch.fx could not trace") < text.index("module 'wte'")  # the cause first, then the fallback
