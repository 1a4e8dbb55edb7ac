"""Recurrent layers: params and FLOPs equal torch's (counted on the matmul path), symbolic
in T; the course's textbook forms equal their equations."""
from __future__ import annotations

import json

import pytest
import sympy
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from archcalc.engine import numbers as N
from archcalc.spec.errors import SpecError
from archcalc.torch_backend.modules import PeepholeLSTM
from conftest import REFERENCE, analyze_file, analyze_text

T = sympy.Symbol("T", integer=True, positive=True)


def seq_spec(kind: str, args: dict, features: int = 65, steps="T") -> str:
    return f"archcalc: 1\ninput: [{steps}, {features}]\nlayers:\n  - {kind}: {json.dumps(args)}\n"


def torch_flops(module, x) -> int:
    with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter, torch.no_grad():
        module(x)
    return counter.get_total_flops()


@pytest.mark.parametrize("key,kind,args", [
    ("RNN(65,128)", "rnn", {"hidden_size": 128}),
    ("LSTM(65,128)", "lstm", {"hidden_size": 128}),
    ("LSTM(65,128,num_layers=2)", "lstm", {"hidden_size": 128, "num_layers": 2}),
    ("LSTM(65,128,bidirectional=True)", "lstm", {"hidden_size": 128, "bidirectional": True}),
    ("GRU(65,128)", "gru", {"hidden_size": 128}),
])
def test_reference_params_and_flops(key, kind, args):
    ref = REFERENCE["recurrent"][key]
    a = analyze_text(seq_spec(kind, args))
    assert a.totals["params"] == ref["params"]
    flops = a.totals["flops"]
    assert N.substitute(flops, {"T": 50}) == ref["flops_matmul_path"]  # T = 50 steps, batch 1
    assert list(a.output) == [T, ref["output_shape"][-1]]


def test_issue_figures():
    params = {"rnn": 24_960, "lstm": 99_840, "gru": 74_880}
    flops = {"rnn": 2_470_400, "lstm": 9_881_600, "gru": 7_411_200}
    for kind in params:
        a = analyze_text(seq_spec(kind, {"hidden_size": 128}))
        assert a.totals["params"] == params[kind]
        assert N.substitute(a.totals["flops"], {"T": 50}) == flops[kind]
    lstm = analyze_text(seq_spec("lstm", {"hidden_size": 128}))
    assert sympy.simplify(lstm.totals["macs"] - T * 4 * 128 * (65 + 128)) == 0  # T·4H(F + H)


@st.composite
def recurrent_case(draw):
    kind = draw(st.sampled_from(["rnn", "lstm", "gru"]))
    args = dict(hidden_size=draw(st.integers(1, 24)), num_layers=draw(st.integers(1, 3)),
                bias=draw(st.booleans()), bidirectional=draw(st.booleans()),
                return_sequences=draw(st.booleans()))
    if kind == "rnn":
        args["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    return kind, args, draw(st.integers(1, 20)), draw(st.integers(1, 12))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recurrent_case())
def test_random_recurrent_layers_match_torch(case):
    kind, args, features, steps = case
    a = analyze_text(seq_spec(kind, args, features))
    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
    extra = {"nonlinearity": args["nonlinearity"]} if kind == "rnn" else {}
    module = cls(features, args["hidden_size"], num_layers=args["num_layers"], bias=args["bias"],
                 bidirectional=args["bidirectional"], batch_first=True, **extra)
    assert a.totals["params"] == sum(p.numel() for p in module.parameters())
    x = torch.randn(1, steps, features)
    assert N.substitute(a.totals["flops"], {"T": steps}) == torch_flops(module, x)
    out, _ = module(x)
    dirs = 2 if args["bidirectional"] else 1
    expected = tuple(out.shape[1:]) if args["return_sequences"] else (dirs * args["hidden_size"],)
    assert tuple(N.substitute(d, {"T": steps}) for d in a.output) == expected


def test_mkldnn_hides_lstm_flops_and_archcalc_does_not():
    """The bug the issue names: FlopCounterMode reports 0 for nn.LSTM on the CPU's mkldnn path."""
    lstm = nn.LSTM(65, 128, batch_first=True)
    x = torch.randn(1, 50, 65)
    with torch.backends.mkldnn.flags(enabled=True), FlopCounterMode(display=False) as counter, torch.no_grad():
        lstm(x)
    assert counter.get_total_flops() == REFERENCE["recurrent"]["LSTM(65,128)"]["flops_default_cpu_path"] == 0
    assert torch_flops(lstm, x) == 9_881_600


def test_peephole_params():
    one = analyze_text(seq_spec("lstm", {"hidden_size": 20, "peephole": True, "bias_sets": 1}, features=10))
    two = analyze_text(seq_spec("lstm", {"hidden_size": 20, "peephole": True}, features=10))
    assert one.totals["params"] == 2_540 == 4 * (20 * 10 + 20 * 20 + 20) + 3 * 20
    assert two.totals["params"] == 2_620
    assert analyze_file("peephole_lstm.yaml").totals["params"] == 2_540
    m = PeepholeLSTM(10, 20, peephole=True, bias_sets=1)
    assert sum(p.numel() for p in m.parameters()) == 2_540


def test_peephole_lstm_follows_the_course_equations():
    torch.manual_seed(0)
    m = PeepholeLSTM(3, 4, peephole=True, bias_sets=1).double()
    x = torch.randn(2, 5, 3, dtype=torch.double)
    out, _ = m(x)
    W_ih, W_hh, b = m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0
    Wx = dict(zip("ifco", W_ih.chunk(4)))
    Wh = dict(zip("ifco", W_hh.chunk(4)))
    bb = dict(zip("ifco", b.chunk(4)))
    h = torch.zeros(2, 4, dtype=torch.double)
    c = torch.zeros(2, 4, dtype=torch.double)
    sig = torch.sigmoid
    for t in range(5):
        xt = x[:, t]
        i = sig(xt @ Wx["i"].T + h @ Wh["i"].T + m.w_ci_l0 * c + bb["i"])
        f = sig(xt @ Wx["f"].T + h @ Wh["f"].T + m.w_cf_l0 * c + bb["f"])
        c = f * c + i * torch.tanh(xt @ Wx["c"].T + h @ Wh["c"].T + bb["c"])
        o = sig(xt @ Wx["o"].T + h @ Wh["o"].T + m.w_co_l0 * c + bb["o"])
        h = o * torch.tanh(c)
        assert torch.allclose(out[:, t], h)


def test_peephole_module_without_peepholes_is_torchs_lstm():
    torch.manual_seed(0)
    ours = PeepholeLSTM(3, 4, num_layers=2, bidirectional=True, peephole=False, bias_sets=2).double()
    theirs = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    theirs.load_state_dict(ours.state_dict())  # same names, same gate order
    x = torch.randn(2, 6, 3, dtype=torch.double)
    assert torch.allclose(ours(x)[0], theirs(x)[0])


def test_vanilla_rnn_is_the_course_equation():
    """h_t = tanh(W_hh h_{t-1} + W_xh x_t), y_t = W_hy h_t: torch's RNN without bias."""
    torch.manual_seed(0)
    rnn, out_layer = nn.RNN(65, 100, bias=False, batch_first=True), nn.Linear(100, 65, bias=False)
    x = torch.randn(1, 7, 65)
    hs, _ = rnn(x)
    h = torch.zeros(1, 100)
    for t in range(7):
        h = torch.tanh(h @ rnn.weight_hh_l0.T + x[:, t] @ rnn.weight_ih_l0.T)
        assert torch.allclose(hs[:, t], h, atol=1e-6)
        assert torch.allclose(out_layer(hs[:, t]), h @ out_layer.weight.T, atol=1e-6)
    a = analyze_file("vanilla_rnn.yaml")
    assert a.totals["params"] == 100 * 65 + 100 * 100 + 65 * 100 == 23_000


def test_char_rnn_is_symbolic_in_t():
    a = analyze_file("char_rnn.yaml")
    assert a.symbols == ["T"]
    lstm = a.row("lstm")
    assert lstm.params == 4 * 512 * (64 + 512) + 8 * 512 + 4 * 512 * (512 + 512) + 8 * 512
    assert sympy.simplify(lstm.macs - T * (4 * 512 * (64 + 512) + 4 * 512 * 1024)) == 0
    assert a.row("decoder").output == (T, 65)
    assert sympy.simplify(a.row("decoder").macs - T * 512 * 65) == 0  # y_t at every step


def test_many_to_one_and_one_to_many_shapes():
    sentiment = analyze_file("many_to_one_sentiment.yaml")
    assert sentiment.row("encoder").output == (128,) and sentiment.output == (2,)
    caption = analyze_file("one_to_many_captioning.yaml")
    assert caption.row("steps").output == (T, 512) and caption.output == (T, 10000)
    video = analyze_file("many_to_many_video.yaml", {"T": "32"})
    assert video.row("frames").output == (32, 512)


def test_sequence_errors():
    with pytest.raises(SpecError, match="expects a sequence") as err:
        analyze_text("archcalc: 1\ninput: [65]\nlayers:\n  - lstm: {hidden_size: 8}\n")
    assert "repeat_vector" in err.value.hint
    with pytest.raises(SpecError, match="reads token ids"):
        analyze_text("archcalc: 1\ninput: [T]\nlayers:\n  - embedding: {num_embeddings: 10, embedding_dim: 4}\n")
    with pytest.raises(SpecError, match="its input holds token ids") as err:
        analyze_text("archcalc: 1\ninput: {shape: [T], dtype: index}\nlayers:\n  - linear: 4\n")
    assert err.value.hint == "put an embedding first"
    with pytest.raises(SpecError, match="bias_sets must be 1"):
        analyze_text(seq_spec("lstm", {"hidden_size": 8, "bias_sets": 3}))


def test_recurrent_steps_are_explain_ready():
    a = analyze_text(seq_spec("lstm", {"hidden_size": 128}))
    texts = [s.text() for s in a.row("lstm_1").steps]
    assert "params of layer 1 = G·h·(x + h) + 2·G·h = 4·128·(65 + 128) + 2·4·128 = 99,840" in texts
    assert any(t.startswith("MACs = T·(MACs per step) = T·98,816") for t in texts)
