"""Property tests: each peer's convention against the peer itself, over random layer stacks.

Random image stacks (convolutions with groups and bias, every pooling the rules tell apart,
with padding, ceil_mode and count_include_pad, batch norm with and without affine, the
activations, archcalc's locally connected, local contrast norm and maxout modules, a
classifier with softmax) and random recurrent stacks (rnn/lstm/gru with layers,
directions and bias drawn, and the course's peephole / one-bias LSTM) are built by archcalc's backend; torchinfo, fvcore, ptflops and
thop each count the module, and must print exactly what archcalc.conventions says they print.
Skipped for a tool that is not installed (pip install -e ".[peers]").
"""
from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

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


@st.composite
def image_layer(draw):
    kind = draw(st.sampled_from(["conv2d", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
                                 "batch_norm2d", "relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "sigmoid",
                                 "tanh", "lp_pool2d", "local_response_norm", "dropout", "locally_connected2d",
                                 "local_contrast_norm"]))
    if kind == "conv2d":
        return kind, dict(out_channels=draw(st.integers(1, 3)) * 2, kernel_size=draw(st.integers(1, 4)),
                          stride=draw(st.integers(1, 2)), padding=draw(st.integers(0, 2)),
                          groups=draw(st.sampled_from([1, 1, 2])), bias=draw(st.booleans()))
    if kind == "max_pool2d":
        return kind, dict(kernel_size=draw(st.integers(1, 3)), stride=draw(st.integers(1, 3)),
                          padding=draw(st.integers(0, 1)), ceil_mode=draw(st.booleans()))
    if kind == "avg_pool2d":
        return kind, dict(kernel_size=draw(st.integers(1, 3)), stride=draw(st.integers(1, 3)),
                          padding=draw(st.integers(0, 1)), ceil_mode=draw(st.booleans()),
                          count_include_pad=draw(st.booleans()))
    if kind == "adaptive_avg_pool2d":
        return kind, dict(output_size=[draw(st.integers(1, 5)), draw(st.integers(1, 5))])
    if kind == "batch_norm2d":
        return kind, dict(affine=draw(st.booleans()))
    if kind == "lp_pool2d":
        return kind, dict(norm_type=2, kernel_size=draw(st.integers(1, 3)), stride=draw(st.integers(1, 2)))
    if kind == "local_response_norm":
        return kind, dict(size=draw(st.integers(1, 5)))
    if kind == "locally_connected2d":
        return kind, dict(out_channels=draw(st.integers(1, 3)), kernel_size=draw(st.integers(1, 3)),
                          stride=draw(st.integers(1, 2)), padding=draw(st.integers(0, 1)), bias=draw(st.booleans()))
    if kind == "local_contrast_norm":
        return kind, dict(size=draw(st.sampled_from([1, 3, 5])))
    return kind, {}


def _item(kind, args):
    return {kind: args} if args else kind


@st.composite
def image_stack(draw):
    layers = draw(st.lists(image_layer(), min_size=1, max_size=5))
    layers.append(("flatten", {}))
    layers.append(("linear", dict(out_features=draw(st.integers(2, 12)), bias=draw(st.booleans()))))
    if draw(st.booleans()):
        layers.append(("maxout", dict(out_features=draw(st.integers(1, 6)), pieces=draw(st.integers(1, 3)),
                                      bias=draw(st.booleans()))))
    if draw(st.booleans()):
        layers.append(("batch_norm1d", dict(affine=draw(st.booleans()))))
    layers.append((draw(st.sampled_from(["softmax", "log_softmax", "relu"])), {}))
    shape = [draw(st.integers(1, 4)) * 2, draw(st.integers(4, 16)), draw(st.integers(4, 16))]
    return {"archcalc": 1, "input": shape, "layers": [_item(k, a) for k, a in layers]}


@st.composite
def recurrent_stack(draw):
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["rnn", "lstm", "gru"]))
        args = dict(hidden_size=draw(st.integers(1, 8)), num_layers=draw(st.integers(1, 2)),
                    bidirectional=draw(st.booleans()), bias=draw(st.booleans()))
        if kind == "lstm" and draw(st.booleans()):  # the course's forms: archcalc's step-by-step module
            args.update(peephole=draw(st.booleans()), bias_sets=draw(st.sampled_from([1, 2])))
        layers.append(_item(kind, args))
    layers.append(_item("linear", dict(out_features=draw(st.integers(2, 9)), bias=draw(st.booleans()))))
    layers.append(draw(st.sampled_from(["softmax", "log_softmax", "tanh"])))
    if draw(st.booleans()):
        return {"archcalc": 1, "input": {"shape": [draw(st.integers(1, 6))], "dtype": "index"},
                "layers": [{"embedding": {"num_embeddings": 9, "embedding_dim": draw(st.integers(1, 6))}}] + layers}
    return {"archcalc": 1, "input": [draw(st.integers(1, 6)), draw(st.integers(1, 6))], "layers": layers}


def _agree(name, doc, batch):
    try:
        spec = load_spec_text(json.dumps(doc), "random.yaml")
        analysis = analyze(spec, None, batch)
    except SpecError:
        assume(False)
    torch.manual_seed(0)
    net = archcalc.build_module(spec).eval()
    shape = (batch, *analysis.input)
    x = torch.randint(0, 9, shape) if spec.input_dtype == "index" else torch.randn(shape)
    with torch.no_grad():
        measured = _run_peer(name, net, x)
    assert measured == C.figures(analysis, name).total, json.dumps(doc)


@pytest.mark.parametrize("name", PEERS)
@SETTINGS
@given(doc=image_stack(), batch=st.integers(1, 3))
def test_random_image_stacks(name, doc, batch):
    _peer(name)
    _agree(name, doc, batch)


@pytest.mark.parametrize("name", PEERS)
@SETTINGS
@given(doc=recurrent_stack(), batch=st.integers(1, 3))
def test_random_recurrent_stacks(name, doc, batch):
    _peer(name)
    _agree(name, doc, batch)
