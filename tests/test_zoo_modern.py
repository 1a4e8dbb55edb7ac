"""The CNNs of 2016–2024 and the Vision Transformers written by hand (specs/), each checked against torchvision's own
model: every parameterised layer in call order (kind, output shape, parameters), the totals
of parameters and buffers (`check --against`), FLOPs as torch's FlopCounterMode counts them on
the model itself, and the figures torchvision documents for its weights (parameters; its
"GFLOPS", which are multiply-accumulates)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import analyze_file

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from archcalc.torch_backend.against import compare_with_model  # noqa: E402

MODELS = Path(__file__).parent / "models"
ZOO = MODELS / "torchvision_zoo.py"
sys.path.insert(0, str(MODELS))

# spec file, variant, torchvision model (its name in torchvision.models)
MODERN: list[tuple[str, str | None, str]] = [
    ("mobilenet_v3_large.yaml", None, "mobilenet_v3_large"),
    ("mobilenet_v3_large.yaml", "mobilenet_v3_small", "mobilenet_v3_small"),
    ("mnasnet1_0.yaml", None, "mnasnet1_0"),
    ("mnasnet1_0.yaml", "mnasnet0_5", "mnasnet0_5"),
    ("mnasnet1_0.yaml", "mnasnet0_75", "mnasnet0_75"),
    ("mnasnet1_0.yaml", "mnasnet1_3", "mnasnet1_3"),
    ("efficientnet_b0.yaml", None, "efficientnet_b0"),
    ("efficientnet_b0.yaml", "efficientnet_b1", "efficientnet_b1"),
    ("efficientnet_b0.yaml", "efficientnet_b2", "efficientnet_b2"),
    ("efficientnet_b0.yaml", "efficientnet_b3", "efficientnet_b3"),
    ("efficientnet_b0.yaml", "efficientnet_b4", "efficientnet_b4"),
    ("efficientnet_b0.yaml", "efficientnet_b5", "efficientnet_b5"),
    ("efficientnet_b0.yaml", "efficientnet_b6", "efficientnet_b6"),
    ("efficientnet_b0.yaml", "efficientnet_b7", "efficientnet_b7"),
    ("efficientnet_v2_s.yaml", None, "efficientnet_v2_s"),
    ("efficientnet_v2_s.yaml", "efficientnet_v2_m", "efficientnet_v2_m"),
    ("efficientnet_v2_s.yaml", "efficientnet_v2_l", "efficientnet_v2_l"),
    ("shufflenet_v2_x1_0.yaml", None, "shufflenet_v2_x1_0"),
    ("shufflenet_v2_x1_0.yaml", "shufflenet_v2_x0_5", "shufflenet_v2_x0_5"),
    ("shufflenet_v2_x1_0.yaml", "shufflenet_v2_x1_5", "shufflenet_v2_x1_5"),
    ("shufflenet_v2_x1_0.yaml", "shufflenet_v2_x2_0", "shufflenet_v2_x2_0"),
    ("densenet121.yaml", None, "densenet121"),
    ("densenet121.yaml", "densenet161", "densenet161"),
    ("densenet121.yaml", "densenet169", "densenet169"),
    ("densenet121.yaml", "densenet201", "densenet201"),
    ("inception_v3.yaml", None, "inception_v3"),
    ("convnext_tiny.yaml", None, "convnext_tiny"),
    ("convnext_tiny.yaml", "convnext_small", "convnext_small"),
    ("convnext_tiny.yaml", "convnext_base", "convnext_base"),
    ("convnext_tiny.yaml", "convnext_large", "convnext_large"),
    ("regnet_y_400mf.yaml", None, "regnet_y_400mf"),
    ("vit_b_16.yaml", None, "vit_b_16"),
    ("vit_b_16.yaml", "vit_b_32", "vit_b_32"),
    ("vit_b_16.yaml", "vit_l_16", "vit_l_16"),
    ("vit_b_16.yaml", "vit_l_32", "vit_l_32"),
    ("swin_t.yaml", None, "swin_t"),
    ("swin_t.yaml", "swin_s", "swin_s"),
    ("swin_t.yaml", "swin_b", "swin_b"),
]

# A module the model builds but its eval forward never calls, which a spec of that forward has
# not got: (its name, its parameters, its buffers), counted by hand. inception_v3's AuxLogits:
# torchvision's aux_logits defaults to True (weights=None too), and Inception3 calls the head
# only while training. conv0 768·128 + BN 2·128, conv1 128·768·5·5 + BN 2·768, fc 768·1000 + 1000;
# the two BNs' running mean and var and num_batches_tracked: 2·128 + 1 + 2·768 + 1.
UNUSED_IN_EVAL: dict[str, tuple[str, int, int]] = {
    "inception_v3": ("AuxLogits", 768 * 128 + 2 * 128 + 128 * 768 * 5 * 5 + 2 * 768 + 768 * 1000 + 1000,
                     2 * 128 + 1 + 2 * 768 + 1),
}


def _unused(model_name: str) -> tuple[int, int]:
    """The parameters and buffers of the model's unused module ((0, 0) where it has none),
    checked against the module torchvision builds."""
    if model_name not in UNUSED_IN_EVAL:
        return 0, 0
    import torchvision_zoo

    name, params, buffers = UNUSED_IN_EVAL[model_name]
    with torch.device("meta"):
        module = torchvision_zoo.build(model_name).get_submodule(name)
    assert (sum(p.numel() for p in module.parameters()), sum(b.numel() for b in module.buffers())) == (params, buffers)
    return params, buffers


def _model_totals(model_name: str) -> tuple[int, int]:
    model = _build_on_meta(model_name)
    return sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers())


def _build_on_meta(model_name: str):
    from archcalc.torch_backend.against import build_on_meta

    import torchvision_zoo

    return build_on_meta(lambda: torchvision_zoo.build(model_name))


def _torch_flops(model_name: str, input_shape) -> int:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    model = _build_on_meta(model_name).eval()
    x = torch.zeros((1, *input_shape), device="meta")
    # attention on torch's math kernel, MultiheadAttention's native fast path off: FlopCounterMode counts those
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
    return counter.get_total_flops()


@pytest.mark.torch
@pytest.mark.parametrize("spec,variant,model", MODERN, ids=[m[2] for m in MODERN])
def test_equals_torchvision_layer_by_layer(spec, variant, model):
    analysis = analyze_file(spec, variant=variant)
    outcomes = compare_with_model(analysis, f"{ZOO}:{model}")
    unused = _unused(model)
    failed = [o for o in outcomes if not o.ok]
    assert failed == [], [o.message() for o in failed]
    # the totals compared are of what the forward uses; a module it never calls is named with its count
    assert _model_totals(model) == (analysis.totals["params"] + unused[0], analysis.totals["buffers"] + unused[1])
    params = next(o for o in outcomes if o.name == "against.params")
    if model in UNUSED_IN_EVAL:
        name, count, _ = UNUSED_IN_EVAL[model]
        assert f"{name} (" in params.derivation and f"{count:,} params" in params.derivation
    else:
        assert "never calls" not in params.derivation
    assert analysis.totals["flops"] == _torch_flops(model, analysis.input)


@pytest.mark.torch
@pytest.mark.parametrize("spec,variant,model", MODERN, ids=[m[2] for m in MODERN])
def test_totals_equal_torchvisions_documented_figures(spec, variant, model):
    meta = torchvision.models.get_model_weights(model).DEFAULT.meta
    analysis = analyze_file(spec, variant=variant)
    # torchvision's figure counts every parameter of its model, an unused module's too
    assert analysis.totals["params"] + _unused(model)[0] == meta["num_params"]
    assert round(analysis.totals["macs"] / 1e9, 3) == meta["_ops"]


STOCHASTIC_DEPTH = [m for m in MODERN if m[2].startswith(("efficientnet", "convnext", "swin"))]


def _applied_stochastic_depth(model) -> list:
    """The p of each StochasticDepth module the model's forward calls, in call order: every
    CNBlock's; an MBConv's or FusedMBConv's only where it adds its input back (use_res_connect;
    the others build one that forward never calls); a SwinTransformerBlock's twice (after its
    attention and after its MLP)."""
    blocks = [m for m in model.modules()
              if type(m).__name__ in ("CNBlock", "MBConv", "FusedMBConv", "SwinTransformerBlock")]
    return [p for b in blocks if getattr(b, "use_res_connect", True)
            for p in [b.stochastic_depth.p] * (2 if type(b).__name__ == "SwinTransformerBlock" else 1)]


@pytest.mark.torch
@pytest.mark.parametrize("spec,variant,model", STOCHASTIC_DEPTH, ids=[m[2] for m in STOCHASTIC_DEPTH])
def test_stochastic_depth_is_torchvisions_block_by_block(spec, variant, model):
    """Each block's p, from the repeat's index, is torchvision's float to the last bit: the
    spec's sd is a float var, so sd*k/total is computed in torchvision's order (sd·k, then
    / total; / (total − 1) for ConvNeXt), with its roundings."""
    theirs = _applied_stochastic_depth(_build_on_meta(model))
    rows = [r for r in analyze_file(spec, variant=variant).rows if r.leaf and r.kind == "stochastic_depth"]
    ours = [r.args.p for r in rows]
    blocks = theirs[::2] if model.startswith("swin") else theirs  # a Swin block's p twice
    assert len(set(blocks)) == len(blocks) > 1  # rising block by block
    assert ours == theirs, [(r.path, p, q) for r, p, q in zip(rows, ours, theirs) if p != q][:5]
