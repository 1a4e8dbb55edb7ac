"""Property tests: each peer's convention against the peer itself, kind by kind and over
random stacks.

Every kind's row in tests/kinds.py (its arguments drawn at random: groups, bias, padding,
ceil_mode, count_include_pad, affine, directions, the course's LSTM forms, merges' branches,
...; called as a function or as a module) and random stacks of them are built by archcalc's
backend; torchinfo, fvcore, ptflops and thop each count the module, and must print exactly
what archcalc.conventions says they print. A kind a tool counts but whose table lacks the
rule fails here. Skipped for a tool that is not installed (pip install -e ".[peers]").
"""
from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kinds import REFUSALS, TABLE, all_inputs, spec_doc, stacks
from test_conventions import _peer, _run_peer
from archcalc import conventions as C
from archcalc.engine.analyze import analyze
from archcalc.spec import load_spec_text
from archcalc.spec.errors import SpecError

torch = pytest.importorskip("torch")
import archcalc  # noqa: E402

EXAMPLES = int(os.environ.get("ARCHCALC_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
PEERS = ["torchinfo", "fvcore", "ptflops", "thop"]


def _function_form(kind: str) -> bool:
    from archcalc.layers.registry import kinds

    k = kinds().get(kind)
    return k is not None and bool(k.torch_functions) and not k.merge


def _called(data, layers):
    """Each layer whose kind has a function form called, at random, as a function (`call:
    function`: F.relu, F.max_pool2d, ...) or as its module: ptflops and thop count the two
    apart. A draw that gives such a layer parameters is refused by the engine, and skipped."""
    return [(case, dict(args, call="function") if _function_form(case.kind) and data.draw(st.booleans(),
                                                                                          label=f"{case.kind} call")
             else args) for case, args in layers]


def _agree(name, doc, batch):
    try:
        spec = load_spec_text(json.dumps(doc), "random.yaml")
        analysis = analyze(spec, None, batch)
    except SpecError:
        assume(False)
    torch.manual_seed(0)
    net = archcalc.build_module(spec).eval()
    shape = (batch, *analysis.input)
    if spec.input_dtype == "index":
        x = torch.randint(0, min(r.args.num_embeddings for r in analysis.leaves() if r.layer.accepts_index), shape)
    else:
        x = torch.randn(shape)
    xs = all_inputs(analysis, x)
    with torch.no_grad():
        try:
            net(*xs)
        except REFUSALS:
            assume(False)  # torch itself refuses this batch (batch statistics of one value per channel)
        measured = _run_peer(name, net, xs if len(xs) > 1 else x)
        figures = C.figures(analysis, name)
        if name == "fvcore":
            _fvcore_warns_as_the_rules_say(net, xs, figures)
    assert measured == figures.total, json.dumps(doc)


def _fvcore_warns_as_the_rules_say(net, x, figures):
    """The rules' words about fvcore's 'unsupported operator' warning are true: a rule that
    says the op is skipped with a warning sees one, and an op fvcore warns about is one a
    rule says has no handle."""
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(net, x if isinstance(x, tuple) else (x,))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.total()
    warned = bool(analysis.unsupported_ops())
    words = [f.rule.words for f in figures.rows if f.rule is not None]
    if any("skipped (fvcore warns" in w for w in words):
        assert warned, words
    if warned:
        assert any("warn" in w or "no handle" in w for w in words), (dict(analysis.unsupported_ops()), words)


KIND_EXAMPLES = int(os.environ.get("ARCHCALC_KIND_EXAMPLES", "8"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(TABLE))
@pytest.mark.parametrize("name", PEERS)
@settings(max_examples=KIND_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data(), batch=st.integers(1, 3))
def test_each_kind_as_each_tool_counts_it(name, kind, data, batch):
    _peer(name)
    case = TABLE[kind]
    shape, args = data.draw(case.example())
    _agree(name, spec_doc(shape, _called(data, [(case, args)]), case.dtype), batch)


@pytest.mark.parametrize("name", PEERS)
@SETTINGS
@given(stack=stacks(), batch=st.integers(1, 3), data=st.data())
def test_random_stacks(name, stack, batch, data):
    _peer(name)
    shape, layers, dtype = stack
    _agree(name, spec_doc(shape, _called(data, layers), dtype), batch)


def test_a_rule_a_tool_needs_is_missed_here():
    """The property above is what notices a missing rule: thop counts batch norm (2 per
    element, 4 with affine), and a table that forgot it would say 0 instead."""
    _peer("thop")
    import dataclasses

    thop = C.CONVENTIONS["thop"]
    forgetful = dataclasses.replace(thop, rules={k: r for k, r in thop.rules.items() if k != "batch_norm2d"})
    doc = spec_doc((3, 5, 5), [(TABLE["batch_norm2d"], {"affine": True})])
    _agree("thop", doc, 1)  # the table as it is agrees with thop
    C.CONVENTIONS["thop"] = forgetful
    try:
        with pytest.raises(AssertionError):
            _agree("thop", doc, 1)
    finally:
        C.CONVENTIONS["thop"] = thop


def test_ptflops_counts_mvit_s_table_interpolation_once_for_a_model_of_several_inputs():
    """Found by test_random_stacks: with several inputs ptflops takes them by keyword and does
    not average over the batch, yet F.interpolate of MViT's relative position tables still runs
    once per pass, not once per sample (281 measured at batch 2, not 284)."""
    pytest.importorskip("ptflops")
    decoder = {"nhead": 1, "dim_feedforward": 1, "activation": "relu", "norm_first": False, "bias": False,
               "dropout": 0.0, "num_layers": 1, "norm": False, "memory": "memory1"}
    block = {"thw": [1, 1, 1], "num_heads": 1, "kernel_q": [1, 1, 1], "kernel_kv": [1, 1, 2], "stride_q": [1, 1, 1],
             "stride_kv": [1, 1, 1], "residual_pool": False, "residual_with_cls_embed": False, "rel_pos_embed": True,
             "proj_after_attn": False, "eps": 1e-06, "dropout": 0.0, "stochastic_depth_prob": 0.0}
    doc = {"archcalc": 1, "inputs": {"input": [2, 1], "memory1": [1, 1]},
           "layers": [{"transformer_decoder": decoder}, {"multiscale_block": block}]}
    for batch in (1, 2, 3):
        _agree("ptflops", doc, batch)
