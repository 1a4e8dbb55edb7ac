"""The peers' counting conventions (archcalc.conventions): each reproduces its tool's
published figure and documented rule, and — where the tool is installed — the tool itself.

Independent sources: the figures the issue quotes for torchvision's AlexNet (printed by
torchinfo, ptflops, thop, fvcore and FlopCounterMode), the rules as the tools document them
(worked by hand below for the LSTM), and the tools run on the very modules archcalc builds.
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import io
import json
import logging
import warnings
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import SPECS, analyze_file
from archcalc import conventions as C
from archcalc.cli import CONVENTION_NAMES, main
from archcalc.engine.analyze import analyze
from archcalc.spec import load_spec
from archcalc.spec.errors import SpecError

MODELS = Path(__file__).parent / "models" / "conventions"
TEST_MODELS = sorted(MODELS.glob("*.yaml"))

# torchvision.models.alexnet at 224×224, as each tool prints it (714,188,480 true MACs)
PUBLISHED_ALEXNET = {"archcalc": 714_188_480, "torchinfo": 714_682_664, "fvcore": 714_197_696,
                     "ptflops": 716_441_128, "thop": 714_206_912, "torch": 1_428_376_960}


def test_cli_choices_are_the_registry():
    assert CONVENTION_NAMES == C.NAMES


@pytest.mark.parametrize("name", list(PUBLISHED_ALEXNET))
def test_each_convention_prints_the_published_alexnet_figure(name):
    analysis = analyze_file("alexnet_torchvision.yaml")
    assert C.figures(analysis, name).total == PUBLISHED_ALEXNET[name]


def test_torchinfo_difference_is_explained_as_bias_times_positions():
    torchinfo = next(c for c in C.compare(analyze_file("alexnet_torchvision.yaml"))
                     if c.convention.name == "torchinfo")
    [diff] = torchinfo.differences
    assert diff.words.startswith("bias × output positions") and diff.amount == 494_184
    assert set(diff.rules) == {"conv2d", "linear"}


def test_ptflops_difference_is_biases_plus_double_counted_relu_and_pools():
    ptflops = next(c for c in C.compare(analyze_file("alexnet_torchvision.yaml")) if c.convention.name == "ptflops")
    amounts = {d.words: d.amount for d in ptflops.differences}
    # ReLU outputs: 64·55² + 192·27² + 384·13² + 2·256·13² + 2·4096; pool inputs: 64·55² + 192·27² + 256·13² + 256·6²
    relu_outputs = 64 * 55 ** 2 + 192 * 27 ** 2 + 384 * 13 ** 2 + 2 * 256 * 13 ** 2 + 2 * 4096
    pool_inputs = 64 * 55 ** 2 + 192 * 27 ** 2 + 256 * 13 ** 2 + 256 * 6 ** 2
    assert amounts == {
        "bias × output positions (one add per output element)": 494_184,
        "output elements": relu_outputs,
        "output elements, again by the patched torch.nn.functional call (whole batch)": relu_outputs,
        "input elements": pool_inputs,
        "input elements, again by the patched torch.nn.functional call (added after the per-sample average: "
        "whole batch)": pool_inputs}


def _all_specs():
    return sorted(p.name for p in SPECS.glob("*.yaml")) + [str(p) for p in TEST_MODELS]


def _analysis(name: str, batch: int = 1):
    spec = load_spec(name if "/" in name else SPECS / name)
    try:
        return analyze(spec, None, batch)
    except SpecError:
        return None


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("name", _all_specs())
def test_differences_add_up_to_the_figure(name, batch):
    """compare-conventions' explanation is complete: its amounts sum to figure − archcalc MACs."""
    from archcalc.engine import numbers as N

    analysis = _analysis(name, batch)
    for c in C.compare(analysis):
        explained = N.total(d.amount for d in c.differences)
        assert N.compare(explained, "==", N.sub(c.figure, analysis.totals["macs"])), c.convention.name


@pytest.mark.parametrize("name", C.NAMES)
def test_apply_changes_only_macs_and_flops(name):
    from archcalc.report.display import Summary
    from archcalc.report.json_report import summary_json

    analysis = analyze_file("resnet18.yaml", batch=2)
    before, after = summary_json(Summary(analysis)), summary_json(Summary(C.apply(analysis, name), C.get(name)))
    assert after.pop("convention")["name"] == name
    for doc in (before, after):
        for row in doc["layers"] + [doc["totals"]]:
            row.pop("macs"), row.pop("flops")
        doc["warnings"] = [w for w in doc["warnings"] if w["code"] != "convention-not-modelled"]
    assert before == after
    applied = C.apply(analysis, name)
    leaves = [r for r in applied.rows if r.leaf]
    assert applied.totals["macs"] == sum(r.macs for r in leaves)
    for block in (r for r in applied.rows if not r.leaf):  # blocks still sum their leaves
        inside = [r for r in leaves if r.path.startswith(block.path + ".")]
        assert block.macs == sum(r.macs for r in inside)
    shown = applied.totals["flops"] if C.get(name).unit == "FLOPs" else applied.totals["macs"]
    assert shown == C.figures(analysis, name).total or not C.get(name).per_batch


def test_lstm_rules_worked_by_hand():
    """The recurrent test model, each tool's documented rule worked out by hand:
    embedding 50×16; LSTM 16→32, 2 layers; GRU 32→8, 2 layers, bidirectional; RNN 16→12 no
    bias; linear 12→50 at each of T = 12 steps."""
    T = 12
    analysis = analyze(load_spec(MODELS / "recurrent.yaml"))
    lstm_w = 4 * 32 * (16 + 32) + 4 * 32 * (32 + 32)
    gru_w = 2 * (3 * 8 * (32 + 8)) + 2 * (3 * 8 * (16 + 8))
    rnn_w = 12 * (16 + 12)
    dec_w = 12 * 50
    macs = T * (lstm_w + gru_w + rnn_w + dec_w)
    assert analysis.totals["macs"] == macs
    lstm_b, gru_b = 2 * 2 * 4 * 32, 2 * 2 * 2 * 3 * 8  # 2 sets × layers × (dirs) × G·h
    # torchinfo: every recurrent weight and bias × T; the embedding table; the decoder's params once
    torchinfo = T * (lstm_w + lstm_b + gru_w + gru_b + rnn_w) + 50 * 16 + (dec_w + 50)
    # thop: per cell and step, G·h(x+h) + G·h (gate sums) + 2·G·h biases + element-wise (LSTM 4h, GRU 4h)
    thop_lstm = T * 2 * (4 * (32 + 64) + 3 * 32 + 32)
    thop_gru = T * 2 * 2 * (3 * (8 + 16) + 8 + 3 * 8)
    thop_rnn = T * 12
    exps = 50 + 49 + 50
    thop = macs + thop_lstm + thop_gru + thop_rnn + T * exps
    # ptflops: per layer and step, both weights + element-wise (LSTM 10h, GRU 7h, RNN h) + 2·G·h biases;
    # linear with bias per output element; the patched F.softmax: 1 per input element
    ptflops = (macs + T * 2 * (10 * 32 + 8 * 32) + T * 2 * 2 * (7 * 8 + 6 * 8) + T * 12 + T * 50 + T * 50)
    # fvcore: aten::lstm, gru, rnn_tanh and embedding have no handle: only the decoder
    fvcore = T * dec_w
    expected = {"archcalc": macs, "torchinfo": torchinfo, "thop": thop, "ptflops": ptflops, "fvcore": fvcore,
                "torch": 2 * macs}
    assert {n: C.figures(analysis, n).total for n in C.NAMES} == expected


def test_depthwise_rules_worked_by_hand():
    """The depthwise-separable model's depthwise layer dw1 (16 channels, 3×3, 16×16 output, no
    bias) and its affine-free batch norm bn2 (32×16×16), by each tool's documented rule."""
    analysis = analyze(load_spec(MODELS / "depthwise_separable.yaml"))
    rows = {n: {f.path: f.value for f in C.figures(analysis, n).rows} for n in C.NAMES}
    dw1 = 16 * 16 * 16 * 9  # depthwise: one 3×3 filter per channel, no channel sum
    assert {n: rows[n]["dw1"] for n in C.NAMES} == {n: dw1 for n in C.NAMES}
    bn = 32 * 16 * 16
    assert {n: rows[n]["bn2"] for n in C.NAMES} == {"archcalc": 0, "torchinfo": 0, "fvcore": bn, "ptflops": bn,
                                                     "thop": 2 * bn, "torch": 0}
    pw1 = 32 * 16 * 16 * 16  # 1×1 conv, 16 → 32 channels, with bias
    assert rows["torchinfo"]["pw1"] == rows["ptflops"]["pw1"] == pw1 + 32 * 16 * 16
    assert rows["fvcore"]["pw1"] == rows["thop"]["pw1"] == pw1


def test_symbolic_sizes_give_formulas_or_a_clear_error():
    analysis = analyze_file("char_rnn.yaml")
    assert "T" in str(C.figures(analysis, "torchinfo").total)
    text = "archcalc: 1\ninput: [3, H, W]\nlayers:\n  - avg_pool2d: {kernel_size: 2}\n"
    from conftest import analyze_text

    with pytest.raises(SpecError, match="needs concrete sizes"):
        C.figures(analyze_text(text), "thop")


def test_a_weighted_kind_a_table_forgets_is_named_not_counted_zero(monkeypatch):
    """Every kind with MACs has a rule in every table; one that did not would be named in a
    warning, not silently counted as the tool's "nothing counted"."""
    from archcalc.layers.registry import kinds

    weighted = {name for name, k in kinds().items() if k.weighted}
    for conv in C.CONVENTIONS.values():
        if not conv.every_kind:
            assert weighted <= set(conv.rules), conv.name
    import dataclasses

    thop = C.CONVENTIONS["thop"]  # a copy without linear's rule (the table itself is left as it is)
    monkeypatch.setitem(C.CONVENTIONS, "thop", dataclasses.replace(
        thop, rules={k: r for k, r in thop.rules.items() if k != "linear"}))
    analysis = analyze_file("mlp.yaml")
    figs = C.figures(analysis, "thop")
    assert {f.kind for f in figs.not_modelled} == {"linear"}
    applied = C.apply(analysis, "thop")
    assert any(w.code == "convention-not-modelled" and "not modelled" in w.message for w in applied.warnings)


# ---- the CLI -------------------------------------------------------------------------------

def test_summarize_convention_says_which_rules(tmp_path):
    result = CliRunner().invoke(main, ["summarize", str(SPECS / "alexnet_torchvision.yaml"),
                                       "--convention", "torchinfo"])
    assert result.exit_code == 0, result.output
    assert "MACs/FLOPs by torchinfo 1.8.0's rules" in result.output
    assert "714,682,664" in result.output
    result = CliRunner().invoke(main, ["summarize", str(SPECS / "alexnet_torchvision.yaml"),
                                       "--convention", "fvcore", "--format", "json"])
    doc = json.loads(result.output)
    assert doc["convention"]["tool"] == "fvcore 0.1.5" and doc["totals"]["macs"] == 714_197_696


def test_summarize_rejects_an_unknown_convention_and_training_columns():
    result = CliRunner().invoke(main, ["summarize", "--convention", "flopsy"])
    assert result.exit_code == 2 and "flopsy" in result.output
    result = CliRunner().invoke(main, ["summarize", "--convention", "thop", "--columns", "train"])
    assert result.exit_code == 2 and "backward pass" in result.output


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_compare_conventions_command(fmt):
    result = CliRunner().invoke(main, ["compare-conventions", str(SPECS / "alexnet_torchvision.yaml"),
                                       "--format", fmt])
    assert result.exit_code == 0, result.output
    if fmt == "json":
        doc = json.loads(result.output)
        figures = {c["name"]: c["figure"] for c in doc["conventions"]}
        assert figures == PUBLISHED_ALEXNET
    else:
        assert "+494,184" in result.output and "716,441,128" in result.output


# ---- the tools themselves, where installed -------------------------------------------------

PEER_PACKAGES = {"torchinfo": ("torchinfo", "1.8.0"), "fvcore": ("fvcore", "0.1.5"),
                 "ptflops": ("ptflops", "0.7.5"), "thop": ("ultralytics-thop", "2.2.3")}


def _peer(name):
    dist, version = PEER_PACKAGES[name]
    try:
        installed = metadata.version(dist)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{dist} is not installed (pip install -e '.[peers]')")
    if not installed.startswith(version):
        pytest.skip(f"the {name} rules are {dist} {version}'s; {installed} is installed")


def _run_peer(name, net, x):
    """The tool's own total for one forward pass of `net` on `x` (a tensor, or a tuple of
    them for a network of several inputs)."""
    import torch

    xs = x if isinstance(x, tuple) else (x,)

    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    quiet = contextlib.redirect_stdout(io.StringIO())
    # archcalc's conventions are the tools' counts on torch's ordinary path: nn.MultiheadAttention's native fast
    # path (eval, no gradients) is one op that fvcore and FlopCounterMode count 0, whatever the model
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        if name == "torchinfo":
            import torchinfo

            return torchinfo.summary(net, input_data=list(xs), verbose=0).total_mult_adds
        if name == "fvcore":
            from fvcore.nn import FlopCountAnalysis

            analysis = FlopCountAnalysis(net, xs)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            return analysis.total()
        if name == "ptflops":
            from ptflops import get_model_complexity_info

            with quiet:
                names = list(inspect.signature(net.forward).parameters)  # ptflops passes several by name
                macs, _ = get_model_complexity_info(net, tuple(xs[0].shape[1:]), as_strings=False,
                                                    print_per_layer_stat=False,
                                                    input_constructor=lambda _: dict(zip(names, xs)) if len(xs) > 1
                                                    else xs[0])
            return macs
        if name == "thop":
            from thop import profile

            with quiet:
                macs, _ = profile(copy.deepcopy(net), inputs=xs, verbose=False)
            return int(macs)
        from torch.nn.attention import SDPBackend, sdpa_kernel
        from torch.utils.flop_counter import FlopCounterMode

        with torch.backends.mkldnn.flags(enabled=False), sdpa_kernel(SDPBackend.MATH), \
                FlopCounterMode(display=False) as counter:
            net(*xs)
        return counter.get_total_flops()
    finally:
        logging.disable(logging.NOTSET)
        torch.backends.mha.set_fastpath_enabled(True)


DIRECT = [str(p) for p in TEST_MODELS] + ["alexnet_torchvision.yaml", "alexnet.yaml", "resnet18.yaml",
                                          "googlenet.yaml", "char_rnn.yaml", "many_to_one_sentiment.yaml"]


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("spec_name", DIRECT)
@pytest.mark.parametrize("name", ["torchinfo", "fvcore", "ptflops", "thop", "torch"])
@pytest.mark.torch
def test_the_tool_itself_agrees(name, spec_name, batch):
    torch = pytest.importorskip("torch")
    if name != "torch":
        _peer(name)
    import archcalc

    spec = load_spec(spec_name if "/" in spec_name else SPECS / spec_name)
    bindings = {s: 20 for s in ("T",) if spec.dims and s in spec.dims}
    analysis = analyze(spec, bindings, batch)
    torch.manual_seed(0)
    net = archcalc.build_module(spec, **bindings).eval()
    shape = (batch, *analysis.input)
    x = torch.randint(0, 10, shape) if spec.input_dtype == "index" else torch.randn(shape)
    with torch.no_grad():
        measured = _run_peer(name, net, x)
    assert measured == C.figures(analysis, name).total


def test_readme_table_is_the_commands_output():
    import re

    from conftest import REPO

    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- example-start: archcalc compare-conventions specs/alexnet_torchvision.yaml -->\n```\n(.*?)\n```",
                      readme, re.S).group(1)
    result = CliRunner().invoke(main, ["compare-conventions", str(SPECS / "alexnet_torchvision.yaml")])
    assert block in result.output


def test_compare_on_symbolic_sizes_names_the_tool_it_cannot_give():
    from conftest import analyze_text

    analysis = analyze_text("archcalc: 1\ninput: [3, H, W]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 3}\n"
                            "  - avg_pool2d: {kernel_size: 2}\n")
    by_name = {c.convention.name: c for c in C.compare(analysis)}
    assert "needs concrete sizes" in by_name["thop"].unavailable and by_name["thop"].figure is None
    assert str(by_name["torchinfo"].figure) == "108*(H - 2)*(W - 2) + (4*H - 8)*(W - 2)"
    at = analyze_text("archcalc: 1\ninput: [3, 10, 12]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 3}\n"
                      "  - avg_pool2d: {kernel_size: 2}\n")
    assert C.figures(at, "torchinfo").total == 108 * 8 * 10 + 4 * 8 * 10


# ---- layers the model calls as functions (call: function), on torchvision's models ---------

ZOO = Path(__file__).parent / "models" / "torchvision_zoo.py"


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("model, size", [("mobilenet_v2", "3,224,224"), ("googlenet", "3,224,224"),
                                         ("inception_v3", "3,299,299"), ("shufflenet_v2_x1_0", "3,224,224"),
                                         ("s3d", "3,16,224,224")])
def test_an_imported_model_counts_as_the_tools_do(model, size, tmp_path):
    """torchvision calls F.relu, F.max_pool2d, F.adaptive_avg_pool2d and torch.flatten in its
    forwards: `archcalc import` writes those layers `call: function`, and `summarize --convention
    ptflops|thop|fvcore` then prints what each tool prints on the model itself (when every layer
    counted as a module: mobilenet_v2 +62,720 by ptflops' rules and +64,000 by thop's, googlenet
    +3,226,160 by ptflops', inception_v3 +11,544,640). ShuffleNetV2's x.mean([2, 3]) and S3D's
    torch.mean(x, dim=(2, 3, 4)) are `mean` layers, which ptflops, fvcore and thop count 0 (read as
    a global average pool, ptflops and fvcore counted shufflenet's 50,176 more, s3d's 400 by
    ptflops'). Each import is verified against its model (googlenet's and inception_v3's
    auxiliary heads, never called in eval, are named, not counted)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    for name in ("ptflops", "thop", "fvcore"):
        _peer(name)
    spec = tmp_path / f"{model}.yaml"
    result = CliRunner().invoke(main, ["import", f"{ZOO}:{model}", "--input", size, "-o", str(spec)])
    assert result.exit_code == 0, result.output
    assert "call: function" in spec.read_text()
    import importlib.util

    loader = importlib.util.spec_from_file_location("torchvision_zoo_for_conventions", ZOO)
    zoo = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(zoo)
    net, x = zoo.build(model).eval(), torch.randn(1, *(int(d) for d in size.split(",")))
    for name in ("ptflops", "thop", "fvcore"):
        result = CliRunner().invoke(main, ["summarize", str(spec), "--convention", name, "--format", "json"])
        assert result.exit_code == 0, result.output
        with torch.no_grad():
            measured = _run_peer(name, net, x)
        assert json.loads(result.output)["totals"]["macs"] == measured, name


_CALLED = "archcalc: 1\ninput: [4, 6, 6]\nlayers:\n  - relu: {call: function}\n  - relu\n" \
          "  - avg_pool2d: {kernel_size: 2, call: function}\n  - avg_pool2d: {kernel_size: 3, call: module}\n"


def test_a_layer_called_as_a_function_is_counted_as_the_tools_count_it():
    """ptflops: a module twice (its hook and the patched F.relu inside it), a function once;
    thop: a module by its rule, a function not at all; the others alike."""
    from conftest import analyze_text

    analysis = analyze_text(_CALLED)
    assert [r.call for r in analysis.leaves()] == ["function", "module", "function", "module"]
    rows = {n: [f.value for f in C.figures(analysis, n).rows] for n in C.NAMES}
    assert rows["ptflops"] == [144, 288, 144, 72]
    assert rows["thop"] == [0, 0, 0, 4 * 9 + 4]  # one add per pooled input, one division per output
    assert rows["fvcore"] == rows["torchinfo"] == [0, 0, 0, 0]


@pytest.mark.parametrize("layer, message", [
    ("relu: {call: fn}", "call must be one of module, function"),
    ("conv2d: {out_channels: 4, kernel_size: 1, call: function}", "conv2d has no function form"),
    ("group_norm: {num_groups: 2, call: function}", "called as a function but holds parameters"),
    ("add: {call: function, branches: [[relu], []]}", "only a layer kind is called"),
])
def test_call_function_errors(layer, message):
    from conftest import analyze_text

    with pytest.raises(SpecError, match=message):
        analyze_text(f"archcalc: 1\ninput: [4, 6, 6]\nlayers:\n  - {layer}\n")


def test_call_is_in_the_schema_and_written_by_the_writer():
    import jsonschema

    from archcalc.spec.schema import spec_schema
    from archcalc.spec.write import Entry, spec_text

    text = spec_text("m", "doc", [4, 6, 6], "float", {}, [Entry("relu", call="function"), Entry("relu")])
    assert "- relu: {call: function}\n  - relu\n" in text
    from conftest import analyze_text

    assert [r.call for r in analyze_text(text).leaves()] == ["function", "module"]
    doc = {"archcalc": 1, "input": [4, 6, 6], "layers": [{"relu": {"call": "function"}}]}
    jsonschema.validate(doc, spec_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "layers": [{"relu": {"call": "lambda"}}]}, spec_schema())


_RECURRENT = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}


@pytest.mark.parametrize("kind", sorted(_RECURRENT))
@pytest.mark.parametrize("batch,steps,bidirectional,layers", [(1, 5, False, 1), (2, 5, True, 1), (3, 7, False, 2),
                                                               (4, 1, True, 2)])
def test_ptflops_recurrent_layout_is_batch_first_and_the_other_is_stated(tmp_path, kind, batch, steps, bidirectional,
                                                                         layers):
    """ptflops' rnn hook counts T·B steps whatever the layout and divides by len(input): archcalc's
    figure is a batch-first module's (the layout it builds); a sequence-first one's is B/T of it,
    as compare-conventions says. Both measured with ptflops itself."""
    _peer("ptflops")
    import torch

    path = tmp_path / f"{kind}.yaml"
    path.write_text(f"archcalc: 1\ninput: [{steps}, 6]\nlayers:\n  - {kind}: {{hidden_size: 8, num_layers: {layers}, "
                    f"bidirectional: {str(bidirectional).lower()}}}\n")
    spec = load_spec(str(path))
    analysis = analyze(spec, batch=batch)
    archcalc = C.figures(analysis, "ptflops").total

    class Outputs(torch.nn.Module):
        def __init__(self, batch_first):
            super().__init__()
            self.rnn = getattr(torch.nn, _RECURRENT[kind])(6, 8, num_layers=layers, bidirectional=bidirectional,
                                                            batch_first=batch_first)

        def forward(self, x):
            return self.rnn(x)[0]

    batch_first = _run_peer("ptflops", Outputs(True), torch.zeros(batch, steps, 6))
    sequence_first = _run_peer("ptflops", Outputs(False), torch.zeros(steps, batch, 6))
    assert archcalc == batch_first
    assert sequence_first * steps == batch_first * batch  # B steps per sample instead of T
    shown = CliRunner().invoke(main, ["compare-conventions", str(path)])
    assert shown.exit_code == 0 and "a sequence-first module (batch_first=False) given [T, B, F] is counted for B " \
        "steps per sample instead of T" in " ".join(shown.output.split())
