"""diagnose(): the common mistake that exactly explains a wrong number, at the layer where it
is made and carried to later layers and totals.

Every case's student number is recomputed independently: the same spec written the
mistaken way (bias: false, padding 0, groups 1, a locally_connected2d for a convolution, an
rnn for an lstm, a one-channel input, a 224 input), analysed as written, or the course's
formula by hand; the diagnosis must name that mistake (and, for a carried one, the layer it
follows from). The negative table gives numbers a mistake must not be named for."""
from __future__ import annotations

import re
import time
from types import SimpleNamespace

import pytest

from archcalc.engine.analyze import analyze
from archcalc.grading import diagnose as D
from archcalc.grading.diagnose import MAX_REANALYSES, Diagnosis, diagnose, quantity_of
from archcalc.grading.grade import _Reanalysis
from archcalc.spec import load_spec_text
from conftest import SPECS, analyze_text, one_layer

ALEXNET = (SPECS / "alexnet.yaml").read_text()


def net(input_shape, *layers: str) -> str:
    return f"archcalc: 1\ninput: {list(input_shape)}\nlayers:\n" + "".join(f"  - {layer}\n" for layer in layers)


def grader(text: str):
    spec = load_spec_text(text, "test.yaml")
    return analyze(spec), _Reanalysis(spec, SimpleNamespace(bindings={}, variant=None))


def diagnosed(text: str, path: str, quantity: str, value, at=None) -> list[Diagnosis]:
    analysis, reanalysis = grader(text) if at is None else at
    row = None if path == "total" else analysis.row(path)
    return diagnose(value, quantity, row, analysis, reanalysis)


def value_of(text: str, path: str, quantity: str):
    a = analyze_text(text)
    return quantity_of(a.row(path), quantity) if path != "total" else quantity_of(a.totals, quantity, a.output)


CONV = "conv2d: {{name: {name}, out_channels: {k}, kernel_size: {f}, stride: {s}, padding: {p}{extra}}}"


def conv(name="c1", k=8, f=3, s=1, p=0, extra="") -> str:
    return CONV.format(name=name, k=k, f=f, s=s, p=p, extra=extra)


TWO = (conv("c1", p=1), "relu", conv("c2", k=16, p=1), "flatten", "linear: {name: fc, out_features: 10}")
SEQ = [6, 10]

# (id, the spec, the spec written the mistaken way, path, quantity, code, follows)
POSITIVE = [
    ("bias here", net([3, 32, 32], conv()), net([3, 32, 32], conv(extra=", bias: false")),
     "c1", "params", "bias-missing", None),
    ("bias everywhere, total", net([3, 16, 16], *TWO),
     net([3, 16, 16], conv("c1", p=1, extra=", bias: false"), "relu", conv("c2", k=16, p=1, extra=", bias: false"),
         "flatten", "linear: {name: fc, out_features: 10, bias: false}"), "total", "params", "bias-missing", "*"),
    ("bias at c2, total", net([3, 16, 16], *TWO),
     net([3, 16, 16], conv("c1", p=1), "relu", conv("c2", k=16, p=1, extra=", bias: false"), "flatten",
         "linear: {name: fc, out_features: 10}"), "total", "params", "bias-missing", "c2"),
    ("groups=2 full depth", net([96, 27, 27], conv(k=256, f=5, p=2, extra=", groups: 2")),
     net([96, 27, 27], conv(k=256, f=5, p=2)), "c1", "params", "full-depth", None),
    ("depthwise full depth", net([32, 16, 16], conv(k=32, p=1, extra=", groups: 32")),
     net([32, 16, 16], conv(k=32, p=1)), "c1", "macs", "full-depth", None),
    ("padding (0, 1) here", net([3, 20, 20], conv(p="[0, 1]")), net([3, 20, 20], conv(p=0)),
     "c1", "output", "padding-forgotten", None),
    ("padding carried to c2's output", net([3, 16, 16], *TWO),
     net([3, 16, 16], conv("c1", p=0), "relu", conv("c2", k=16, p=1), "flatten",
         "linear: {name: fc, out_features: 10}"), "c2", "output", "padding-forgotten", "c1"),
    ("padding carried to fc's params", net([3, 16, 16], *TWO),
     net([3, 16, 16], conv("c1", p=0), "relu", conv("c2", k=16, p=1), "flatten",
         "linear: {name: fc, out_features: 10}"), "fc", "params", "padding-forgotten", "c1"),
    ("padding everywhere, total MACs", net([3, 16, 16], *TWO),
     net([3, 16, 16], conv("c1", p=0), "relu", conv("c2", k=16, p=0), "flatten",
         "linear: {name: fc, out_features: 10}"), "total", "macs", "padding-forgotten", "*"),
    # + 1 forgotten at a stride-1 layer: its output is what an input one smaller gives
    ("+1 here", net([3, 32, 32], conv()), net([3, 31, 31], conv()), "c1", "output", "plus-one-forgotten", None),
    ("+1 carried to c2", net([3, 16, 16], conv("c1"), conv("c2")), net([3, 15, 15], conv("c1"), conv("c2")),
     "c2", "output", "plus-one-forgotten", "c1"),
    ("+1 carried to total MACs", net([3, 16, 16], conv("c1"), conv("c2")),
     net([3, 15, 15], conv("c1"), conv("c2")), "c2", "neurons", "plus-one-forgotten", "c1"),
    ("depth forgotten", net([3, 32, 32], conv()), net([1, 32, 32], conv()), "c1", "params", "depth-forgotten", None),
    ("depth forgotten, total", net([3, 16, 16], conv("c1"), conv("c2")), net([1, 16, 16], conv("c1"), conv("c2")),
     "total", "params", "depth-forgotten", "c1"),
    ("unshared weights", net([3, 20, 20], conv(p=1)),
     net([3, 20, 20], "locally_connected2d: {name: c1, out_channels: 8, kernel_size: 3, padding: 1}"),
     "c1", "params", "unshared-weights", None),
    ("unshared weights, total", net([3, 12, 12], conv("c1"), "flatten", "linear: {name: fc, out_features: 4}"),
     net([3, 12, 12], "locally_connected2d: {name: c1, out_channels: 8, kernel_size: 3}", "flatten",
         "linear: {name: fc, out_features: 4}"), "total", "params", "unshared-weights", "c1"),
    ("stride ignored", net([3, 32, 32], conv(s=2)), net([3, 32, 32], conv(s=1)), "c1", "output_width",
     "stride-ignored", None),
    ("pool's stride ignored, carried", net([3, 16, 16], "max_pool2d: {name: pool, kernel_size: 2}", conv("c2")),
     net([3, 16, 16], "max_pool2d: {name: pool, kernel_size: 2, stride: 1}", conv("c2")), "c2", "macs",
     "stride-ignored", "pool"),
    ("kernel F - 1", net([3, 32, 32], conv(f=5)), net([3, 32, 32], conv(f=4)), "c1", "output", "kernel-minus-one",
     None),
    ("kernel F - 1, carried", net([3, 32, 32], conv("c1", f=5), conv("c2")),
     net([3, 32, 32], conv("c1", f=4), conv("c2")), "c2", "output", "kernel-minus-one", "c1"),
    ("lstm one bias set", net(SEQ, "lstm: {name: r, hidden_size: 20}"),
     net(SEQ, "lstm: {name: r, hidden_size: 20, bias_sets: 1}"), "r", "params", "one-bias-set", None),
    ("lstm two bias sets", net(SEQ, "lstm: {name: r, hidden_size: 20, bias_sets: 1}"),
     net(SEQ, "lstm: {name: r, hidden_size: 20}"), "r", "params", "two-bias-sets", None),
    ("lstm gates forgotten", net(SEQ, "lstm: {name: r, hidden_size: 20}"), net(SEQ, "rnn: {name: r, hidden_size: 20}"),
     "r", "params", "gates-forgotten", None),
    ("gru gates forgotten, MACs", net(SEQ, "gru: {name: r, hidden_size: 20, num_layers: 2}"),
     net(SEQ, "rnn: {name: r, hidden_size: 20, num_layers: 2}"), "r", "macs", "gates-forgotten", None),
    ("bidirectional once", net(SEQ, "lstm: {name: r, hidden_size: 20, bidirectional: true}"),
     net(SEQ, "lstm: {name: r, hidden_size: 20}"), "r", "params", "one-direction", None),
    ("bidirectional once, carried", net(SEQ, "gru: {name: r, hidden_size: 20, bidirectional: true}",
                                        "linear: {name: fc, out_features: 5}"),
     net(SEQ, "gru: {name: r, hidden_size: 20}", "linear: {name: fc, out_features: 5}"), "fc", "params",
     "one-direction", "r"),
    ("one GPU's half", net([96, 27, 27], conv(k=256, f=5, p=2, extra=", groups: 2")),
     net([48, 27, 27], conv(k=128, f=5, p=2)), "c1", "params", "one-gpu-half", None),
    ("AlexNet at 224, total params", ALEXNET, ALEXNET.replace("227", "224"), "total", "params", "input-224", None),
    ("AlexNet conv2's padding, fc6", ALEXNET, ALEXNET.replace("padding: 2, groups: 2", "groups: 2"), "fc6", "params",
     "padding-forgotten", "conv2"),
    ("AlexNet conv1's + 1, conv2's output", ALEXNET, ALEXNET.replace("227", "223"), "conv2", "output",
     "plus-one-forgotten", "conv1"),
    ("AlexNet without biases, total", ALEXNET,
     re.sub(r"(conv2d|linear): *\{", r"\1: {bias: false, ", ALEXNET), "total", "params", "bias-missing", "*"),
    ("AlexNet conv1 without depth, total", ALEXNET, ALEXNET.replace("[3, 227, 227]", "[1, 227, 227]"), "total",
     "macs", "depth-forgotten", "conv1"),
]


@pytest.mark.parametrize("case", POSITIVE, ids=[c[0] for c in POSITIVE])
def test_the_mistake_that_gives_the_number_is_named(case):
    _, right, mistaken, path, quantity, code, follows = case
    student, correct = value_of(mistaken, path, quantity), value_of(right, path, quantity)
    assert student != correct
    found = diagnosed(right, path, quantity, student)
    assert (code, follows) in [(d.code, d.follows) for d in found], found
    named = next(d for d in found if (d.code, d.follows) == (code, follows))
    if follows not in (None, "*"):
        assert named.text.startswith(f"follows from {follows} computed ")
    if follows == "*":
        assert named.text.startswith("follows from every layer computed ")


def test_arithmetic_swaps_against_the_rows_own_figures():
    text = net([3, 32, 32], conv(k=8, p=1))
    a = analyze_text(text)
    row = a.row("c1")
    assert row.neurons == 8 * 32 * 32 and row.params == (3 * 3 * 3 + 1) * 8
    assert [d.code for d in diagnosed(text, "c1", "params", 8 * 32 * 32)] == ["neurons-for-params"]
    assert [d.code for d in diagnosed(text, "c1", "neurons", 28 * 8)] == ["params-for-neurons"]
    assert [d.code for d in diagnosed(text, "c1", "flops", row.macs)] == ["macs-for-flops"]
    assert [d.code for d in diagnosed(text, "c1", "macs", 2 * row.macs)] == ["flops-for-macs"]
    assert [d.code for d in diagnosed(text, "total", "params", a.totals["neurons"])] == ["neurons-for-params"]


def test_padding_message_states_each_axis():
    text = net([3, 20, 20], conv(p="[0, 1]"))
    student = value_of(net([3, 20, 20], conv(p=0)), "c1", "output_width")
    texts = [d.text for d in diagnosed(text, "c1", "output_width", student)]
    assert "forgot the zero padding P = (0, 1)" in texts
    assert not any("P = 0" in t for t in texts)
    same = net([3, 20, 20], conv(p=2))
    assert "forgot the zero padding P = 2" in [d.text for d in diagnosed(same, "c1", "output_width", 18)]


def test_groups_messages_say_one_gpu_only_for_a_two_way_split():
    depthwise = net([32, 16, 16], conv(k=32, p=1, extra=", groups: 32"))
    full = value_of(net([32, 16, 16], conv(k=32, p=1)), "c1", "params")
    texts = [d.text for d in diagnosed(depthwise, "c1", "params", full)]
    assert any("depthwise convolution" in t and "each filter sees one channel" in t for t in texts), texts
    assert not any("GPU" in t for t in texts)
    half = value_of(depthwise, "c1", "params") // 2  # (9 + 1)·32 / 2: no GPU split explains it
    assert not any("GPU" in d.text for d in diagnosed(depthwise, "c1", "params", half))
    four = net([32, 16, 16], conv(k=32, p=1, extra=", groups: 4"))
    texts = [d.text for d in diagnosed(four, "c1", "params", value_of(net([32, 16, 16], conv(k=32, p=1)), "c1",
                                                                         "params"))]
    assert texts and "D/groups = 8" in texts[0] and not any("GPU" in t for t in texts)
    alexnet_conv2 = [d.text for d in diagnosed(ALEXNET, "conv2", "params", 614_656)]
    assert any(t.endswith("(one GPU's half)") for t in alexnet_conv2)


def test_half_of_a_plain_layer_is_not_one_gpus_half():
    one_by_one = net([64, 8, 8], conv(k=32, f=1))
    params = value_of(one_by_one, "c1", "params")
    assert params % 2 == 0
    for quantity in ("params", "macs"):
        value = value_of(one_by_one, "c1", quantity)
        assert not any(d.code == "one-gpu-half" or "GPU" in d.text
                       for d in diagnosed(one_by_one, "c1", quantity, value // 2))
    assert [d.code for d in diagnosed(one_by_one, "c1", "flops", value_of(one_by_one, "c1", "flops") // 2)] == \
        ["macs-for-flops"]


# (id, spec, path, quantity, the number, a code that must not be named)
NEGATIVE = [
    ("no bias to forget", net([3, 32, 32], conv(extra=", bias: false")), "c1", "params", (27 - 1) * 8 + 0,
     "bias-missing"),
    ("no padding to forget", net([3, 20, 20], conv()), "c1", "output_width", 16, "padding-forgotten"),
    ("+1 is one, not two", net([3, 32, 32], conv()), "c1", "output_width", 28, "plus-one-forgotten"),
    ("no size formula in a linear layer", net([3, 4, 4], "flatten", "linear: {name: fc, out_features: 10}"), "fc",
     "output_width", 9, "plus-one-forgotten"),
    ("groups 1", net([3, 32, 32], conv()), "c1", "params", (27 + 1) * 8 * 2, "full-depth"),
    ("depth 1", net([1, 32, 32], conv()), "c1", "params", (9 + 1) * 8 - 1, "depth-forgotten"),
    ("unshared on a 1×1 output", net([3, 3, 3], conv()), "c1", "params", (27 + 1) * 8 * 9, "unshared-weights"),
    ("a locally connected layer is unshared already",
     net([3, 6, 6], "locally_connected2d: {name: c1, out_channels: 8, kernel_size: 3}"), "c1", "params",
     (27 + 1) * 8 * 16 * 16, "unshared-weights"),
    ("stride 1", net([3, 32, 32], conv()), "c1", "output_width", 31, "stride-ignored"),
    ("kernel 1", net([3, 8, 8], conv(f=1)), "c1", "output_width", 9, "kernel-minus-one"),
    ("rnn has one gate", net(SEQ, "rnn: {name: r, hidden_size: 20}"), "r", "params", 20 * 30 + 20,
     "gates-forgotten"),
    ("one bias set already", net(SEQ, "lstm: {name: r, hidden_size: 20, bias_sets: 1}"), "r", "params",
     4 * 20 * 30, "one-bias-set"),
    ("not bidirectional", net(SEQ, "gru: {name: r, hidden_size: 20}"), "r", "params", 3 * 20 * 30 // 2,
     "one-direction"),
    ("224 net at 224", ALEXNET.replace("227", "224"), "conv1", "output_width", 53, "input-224"),
    ("MACs asked, half given", net([3, 8, 8], conv()), "c1", "macs", 6 * 6 * 8 * 27 // 2, "macs-for-flops"),
    # a mistake after the answer's layer cannot explain it
    ("c2's padding, c1's output", net([3, 16, 16], conv("c1"), conv("c2", p=1)), "c1", "output_width", 12,
     "padding-forgotten"),
    # a mistake that keeps its layer's shape cannot reach a later layer
    ("c1's bias, c2's params", net([3, 16, 16], *TWO), "c2", "params", (9 * 8 + 1) * 16 - 8, "bias-missing"),
]


@pytest.mark.parametrize("case", NEGATIVE, ids=[c[0] for c in NEGATIVE])
def test_a_mistake_is_not_named_where_it_does_not_give_the_number(case):
    _, text, path, quantity, value, code = case
    assert value != value_of(text, path, quantity)
    assert code not in [d.code for d in diagnosed(text, path, quantity, value)]


def test_negative_numbers_are_what_the_mistake_would_not_give():
    """The negative table's near misses: the mistake's own number is named (so the negative
    case tests the number, not a mistake that is never looked for)."""
    text = net([3, 16, 16], *TWO)
    carried = value_of(net([3, 16, 16], conv("c1", p=0), "relu", conv("c2", k=16, p=1), "flatten",
                           "linear: {name: fc, out_features: 10}"), "c2", "output_width")
    assert "padding-forgotten" in [d.code for d in diagnosed(text, "c2", "output_width", carried)]
    assert "plus-one-forgotten" in [d.code for d in diagnosed(net([3, 32, 32], conv()), "c1", "output_width", 29)]
    assert "kernel-minus-one" in [d.code for d in diagnosed(net([3, 8, 8], conv(f=2)), "c1", "output_width", 8)]


def test_json_keeps_texts_and_adds_codes(tmp_path):
    import json

    from click.testing import CliRunner

    from archcalc.cli import main

    answers = tmp_path / "a.yaml"
    answers.write_text(f"spec: {SPECS / 'alexnet.yaml'}\nanswers:\n  conv1.params: 34848\n  fc6.params: 26218496\n")
    doc = json.loads(CliRunner().invoke(main, ["grade", str(answers), "--format", "json"]).stdout)
    first, fc6 = doc["results"]
    assert first["diagnosis_codes"] == ["bias-missing"] and len(first["diagnoses"]) == 1
    assert "input-224" in fc6["diagnosis_codes"] and "padding-forgotten" in fc6["diagnosis_codes"]
    assert len(fc6["diagnoses"]) == len(fc6["diagnosis_codes"])
    assert "follows from conv2 computed without its padding (P = 2)" in fc6["diagnoses"]


def test_codes_are_documented():
    from archcalc.grading.mistakes import MISTAKES

    codes = {m.code for m in MISTAKES} | {"input-224", "flops-for-macs", "macs-for-flops", "one-gpu-half",
                                         "neurons-for-params", "params-for-neurons"}
    for code in codes:
        assert f"\n    {code} " in D.__doc__, code


def test_reanalyses_are_bounded_and_cached():
    """A deep network: at most MAX_REANALYSES new re-analyses per answer, none again for the next."""
    layers = [conv(f"c{i}", k=4, p=1) for i in range(1, 41)]
    text = net([4, 12, 12], *layers)
    analysis, at = grader(text)
    start = time.perf_counter()
    diagnosed(text, "total", "macs", 12345, (analysis, at))
    first = len(at.mistaken)
    assert 0 < first <= MAX_REANALYSES
    diagnosed(text, "total", "macs", 12346, (analysis, at))
    assert len(at.mistaken) <= 2 * MAX_REANALYSES
    assert time.perf_counter() - start < 30


def test_alter_computes_one_copy_of_a_repeat_another_way():
    from archcalc.grading.mistakes import BiasMissing, alter

    text = ("archcalc: 1\ninput: [8]\nblocks:\n  unit:\n    layers:\n      - linear: {name: fc, out_features: 8}\n"
            "layers:\n  - unit: {name: body, repeat: 4}\n")
    spec = load_spec_text(text, "t.yaml")
    right = analyze(spec)
    other = analyze(spec, alter=alter(BiasMissing(), frozenset(["body.3.fc"])))
    assert [r.params for r in other.leaves()] == [72, 72, 64, 72]
    assert right.totals["params"] - other.totals["params"] == 8
    assert analyze(spec).totals == right.totals  # the spec itself is untouched


def test_the_lead_call_signature():
    """diagnose(value, quantity, row, analysis, reanalyze_at) with a plain callable (no cache of its own)."""
    a = analyze_text(ALEXNET)
    found = diagnose(26218496, "params", a.row("fc6"), a, lambda h, w: None)
    assert ("padding-forgotten", "conv2") in [(d.code, d.follows) for d in found]
    assert all(isinstance(d, Diagnosis) for d in found)
    assert diagnose(1.5, "params", a.row("fc6"), a, lambda h, w: None) == []
    assert one_layer([1], "relu")  # the conftest helper this file's specs follow
