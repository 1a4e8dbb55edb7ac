"""`archcalc import`: specs written from PyTorch model code, verified against that code.

Independent sources: torch itself (every imported spec is checked against the model it came
from: output shape, parameters, buffers, FlopCounterMode FLOPs, each parameterised layer in
call order), the hand-written zoo spec for ResNet-18 (equal row by row), and torchvision's
documented ResNet-18 figures.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import SPECS, analyze_file
import archcalc
from archcalc.cli import main
from archcalc.engine.analyze import analyze
from archcalc.spec import load_spec, load_spec_text
from archcalc.spec.errors import SpecError

torch = pytest.importorskip("torch")
from archcalc.torch_backend.importing import import_model, verify_import  # noqa: E402

MODELS = Path(__file__).parent / "models"
sys.path.insert(0, str(MODELS))
import import_models as M  # noqa: E402

TARGET = str(MODELS / "import_models.py")
ROUND_TRIP = ["resnet18", "vgg_like", "inception_like", "mobilenet_like", "lstm_tagger", "lstm_classifier", "mlp",
              "data_dependent"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _import(name, dims=None, **kw):
    dims = dims or ",".join(str(d) for d in M.INPUTS[name])
    return import_model(f"{TARGET}:{name}", dims, **kw)


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_import_then_verify_round_trips(name):
    """sequential (vgg_like, mlp), residual (resnet18), inception concat, depthwise
    (mobilenet_like), recurrent (lstm_tagger, lstm_classifier), untraceable (data_dependent)."""
    imported = _import(name)
    results, analysis = verify_import(imported, name)
    assert [r.message() for r in results if not r.ok] == []
    assert {r.name for r in results} >= {"import.output", "import.flops", "against.layers", "against.params",
                                         "against.buffers"}
    model = getattr(M, name)()
    assert analysis.totals["params"] == sum(p.numel() for p in model.parameters())


def test_imported_resnet18_equals_the_zoo_spec_row_by_row():
    imported = _import("resnet18")
    ours = analyze(load_spec_text(imported.text, "imported.yaml"))
    zoo = analyze_file("resnet18.yaml")
    for key in ("params", "buffers", "neurons", "activations", "macs", "flops"):
        assert ours.totals[key] == zoo.totals[key], key
    assert ours.totals["params"] == 11_689_512 and ours.totals["buffers"] == 9_620  # torchvision's documented

    def leaves(a):
        return [(r.kind, r.output, r.params, r.buffers, r.macs) for r in a.rows if r.leaf and r.kind != "identity"]
    assert leaves(ours) == leaves(zoo)
    text = imported.text
    assert text.count("- add:") == 8 and text.count("identity: []") == 5 and text.count("downsample:") == 3


def test_inception_branches_become_a_concat():
    spec = load_spec_text(_import("inception_like").text, "x.yaml")
    analysis = analyze(spec)
    concats = [r for r in analysis.rows if r.kind == "concat"]
    assert len(concats) == 2 and [len(r.branches) for r in concats] == [4, 4]
    assert [r.output[0] for r in concats] == [16 + 24 + 12 + 12, 24 + 32 + 16 + 16]


def test_recurrent_outputs():
    tagger = analyze(load_spec_text(_import("lstm_tagger").text, "x.yaml"))
    assert tagger.output == (20, 10) and tagger.spec.input_dtype == "index"
    classifier = analyze(load_spec_text(_import("lstm_classifier").text, "x.yaml"))
    gru = next(r for r in classifier.rows if r.kind == "gru")
    assert gru.output == (64,) and classifier.output == (5,)  # out[:, -1, :]: the last step only


def test_symbolic_input_dimensions():
    imported = _import("mobilenet_like", "3,H,W", sizes={"H": 32, "W": 32})
    spec = load_spec_text(imported.text, "x.yaml")
    symbolic = analyze(spec)
    assert set(symbolic.symbols) == {"H", "W"}
    concrete = analyze(load_spec_text(_import("mobilenet_like").text, "y.yaml"))
    at_32 = analyze(spec, {"H": "32", "W": "32"})
    assert at_32.totals == concrete.totals
    assert [r.message() for r in verify_import(imported, "m")[0] if not r.ok] == []


def test_untraceable_model_falls_back_to_hooks():
    imported = _import("data_dependent")
    assert imported.method == "forward hooks"
    assert any("flatten before 'fc'" in n for n in imported.notes)


def test_unsupported_modules_are_named_with_their_line():
    with pytest.raises(SpecError) as info:
        _import("with_unsupported")
    messages = [e.message for e in info.value.errors]
    assert any("'act'" in m and "Bilinear" in m for m in messages)
    assert any("'lrn'" in m and "CrossMapLRN2d" in m for m in messages)
    assert all(e.loc.file.endswith("import_models.py") and e.loc.line for e in info.value.errors)


def test_unsupported_function_is_named():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return torch.cumsum(self.conv(x), dim=1)

    with pytest.raises(SpecError, match="cumsum"):
        import_model("Net", "3,8,8", model=Net())


@pytest.mark.parametrize("name", ["alexnet.yaml", "resnet50.yaml", "googlenet.yaml", "char_rnn.yaml",
                                  "course_200x200_locally_connected.yaml", "peephole_lstm.yaml",
                                  "one_to_many_captioning.yaml", "many_to_many_video.yaml", "lenet5.yaml"])
def test_archcalc_built_modules_import_back_to_the_same_numbers(name):
    spec = load_spec(SPECS / name)
    bindings = {d: 7 for d in spec.dims}
    original = analyze(spec, {k: str(v) for k, v in bindings.items()})
    net = archcalc.build_module(spec, **bindings)
    imported = import_model(name, ",".join(str(d) for d in original.input), model=net, dtype=spec.input_dtype)
    again = analyze(load_spec_text(imported.text, "again.yaml"))
    assert again.totals == original.totals
    assert [r.message() for r in verify_import(imported, name)[0] if not r.ok] == []


def test_bad_input_option():
    with pytest.raises(SpecError, match="neither a positive size"):
        _import("mlp", "1,-28,28")


# ---- the command and the Python API ----------------------------------------------------------

def test_cli_import_writes_a_spec_that_checks(tmp_path):
    out = tmp_path / "resnet18.yaml"
    result = CliRunner().invoke(main, ["import", f"{TARGET}:resnet18", "--input", "3,224,224", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "ok   against.params: 11,689,512" in result.output
    result = CliRunner().invoke(main, ["summarize", str(out), "--format", "json"])
    assert result.exit_code == 0 and '"params": 11689512' in result.output


def test_cli_import_to_stdout_and_errors():
    result = CliRunner().invoke(main, ["import", f"{TARGET}:mlp", "--input", "1,28,28"])
    assert result.exit_code == 0 and result.output.startswith("archcalc: 1")
    result = CliRunner().invoke(main, ["import", f"{TARGET}:with_unsupported", "--input", "3,16,16"])
    assert result.exit_code == 2 and "Bilinear" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["import", "no_such_module:f", "--input", "3"])
    assert result.exit_code == 2 and "No module named" in result.output


def test_cli_import_help_says_it_runs_code():
    result = CliRunner().invoke(main, ["import", "--help"])
    assert "executes that Python code" in result.output.replace("\n", " ").replace("  ", " ")


def test_summary_api_for_modules_and_specs():
    analysis = archcalc.summary(M.resnet18(), input=(3, 224, 224))
    assert analysis.totals["macs"] == analyze_file("resnet18.yaml").totals["macs"]
    html = analysis._repr_html_()
    assert "<table>" in html and "11,689,512" in html
    spec_analysis = archcalc.summary(SPECS / "alexnet_torchvision.yaml", convention="torchinfo")
    assert spec_analysis.totals["macs"] == 714_682_664 and "torchinfo" in spec_analysis._repr_html_()
    with pytest.raises(SpecError, match="needs input"):
        archcalc.summary(M.mlp())


class _Functional(torch.nn.Module):
    """Everything between its two convolutions is a torch function call, none a module."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 16, 3)
        self.fc = torch.nn.Linear(16, 5)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        x = torch.nn.functional.dropout(x, 0.3, self.training)
        x = torch.nn.functional.leaky_relu(self.conv2(x), 0.2).sigmoid()
        x = x.mean((2, 3))
        return torch.nn.functional.log_softmax(self.fc(x), dim=1)


def test_torch_functions_between_modules():
    imported = import_model("_Functional", "3,16,16", model=_Functional())
    text = imported.text
    for line in ("- relu: {call: function}", "- max_pool2d: {call: function, kernel_size: 2}",
                 "- avg_pool2d: {call: function, kernel_size: 3, stride: 1, padding: 1, count_include_pad: false}",
                 "- dropout: {call: function, p: 0.3}", "- leaky_relu: {call: function, negative_slope: 0.2}",
                 "- sigmoid: {call: function}", "- mean: {call: function, dim: [1, 2]}",
                 "- log_softmax: {call: function"):
        assert line in text, line
    assert [r.message() for r in verify_import(imported, "f")[0] if not r.ok] == []


# ---- every kind, and random stacks: built by archcalc, imported back --------------------------

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kinds import TABLE, all_inputs, spec_doc, stacks  # noqa: E402


def _round_trip(doc):
    import json

    try:
        spec = load_spec_text(json.dumps(doc), "random.yaml")
        original = analyze(spec)
    except SpecError:
        assume(False)
    net = archcalc.build_module(spec)
    try:
        net(*all_inputs(original, _example(original)))
    except (RuntimeError, ValueError):
        assume(False)  # torch refuses a batch of one here (batch statistics of one value per channel)
    shapes = [original.input, *original.more_inputs.values()]  # a tensor argument's tensor: an input of its own
    dtypes = [spec.input_dtype, *(i.dtype for i in spec.more_inputs)]
    imported = import_model("random", ";".join(",".join(str(d) for d in shape) for shape in shapes), model=net,
                            dtype=",".join(dtypes))
    again = analyze(load_spec_text(imported.text, "again.yaml"))
    assert again.totals == original.totals, imported.text
    assert [r.message() for r in verify_import(imported, "random")[0] if not r.ok] == []


def _example(analysis):
    if analysis.spec.input_dtype == "index":
        high = min(r.args.num_embeddings for r in analysis.leaves() if r.layer.accepts_index)
        return torch.randint(0, high, (1, *analysis.input))
    return torch.randn(1, *analysis.input)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(TABLE))
@settings(max_examples=int(__import__("os").environ.get("ARCHCALC_KIND_EXAMPLES", "8")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_each_kind_imports_back_to_the_same_numbers(kind, data):
    case = TABLE[kind]
    shape, args = data.draw(case.example())
    _round_trip(spec_doc(shape, [(case, args)], case.dtype))


@settings(max_examples=int(__import__("os").environ.get("ARCHCALC_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(stack=stacks())
def test_random_stacks_import_back_to_the_same_numbers(stack):
    shape, layers, dtype = stack
    _round_trip(spec_doc(shape, layers, dtype))


class _Cross(torch.nn.Module):
    """Branches that share an intermediate value: no chain of adds and concats says that."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = (torch.nn.Conv2d(3, 3, 1) for _ in range(3))

    def forward(self, x):
        a = self.a(x)
        return (self.b(x) + a) + self.c(a)


def test_data_flow_the_spec_language_cannot_say_is_refused_with_its_line():
    with pytest.raises(SpecError, match="used in two places") as info:
        import_model("_Cross", "3,8,8", model=_Cross())
    assert info.value.loc.file.endswith("test_import.py") and info.value.loc.line


class _Scaled(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv((x / 255.0 - 0.5) * 2)


def test_scalar_arithmetic_is_no_layer_and_a_note():
    imported = import_model("_Scaled", "3,8,8", model=_Scaled())
    assert imported.text.count("- conv2d") == 1 and sum("element-wise arithmetic" in n for n in imported.notes) == 3
    assert [r.message() for r in verify_import(imported, "s")[0] if not r.ok] == []


def test_a_model_on_the_meta_device_imports_without_memory():
    model = M.vgg_like().to("meta")
    imported = import_model("vgg_like", "3,64,64", model=model)
    assert imported.examples[0].device.type == "meta"
    assert [r.message() for r in verify_import(imported, "vgg_like")[0] if not r.ok] == []


class _Tied(torch.nn.Module):
    """One linear layer applied twice: torch counts its parameters once."""

    def __init__(self):
        super().__init__()
        self.enc = torch.nn.Linear(16, 16)
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x):
        return self.head(torch.relu(self.enc(torch.relu(self.enc(x)))))


def test_a_module_called_twice_shares_its_weights():
    imported = import_model("_Tied", "16", model=_Tied())
    assert "- linear: {name: enc_2, share: enc, out_features: 16}" in imported.text
    results, analysis = verify_import(imported, "tied")
    assert [r.message() for r in results if not r.ok] == []
    assert analysis.totals["params"] == 16 * 16 + 16 + 16 * 4 + 4 and analysis.totals["macs"] == 2 * 256 + 64


class _ShuffleUnit(torch.nn.Module):
    """ShuffleNetV2's unit as torchvision writes it: chunk, one half convolved, cat, shuffle."""

    def __init__(self, channels=24):
        super().__init__()
        half = channels // 2
        self.branch2 = torch.nn.Sequential(torch.nn.Conv2d(half, half, 1, bias=False), torch.nn.BatchNorm2d(half),
                                           torch.nn.ReLU(), torch.nn.Conv2d(half, half, 3, padding=1, groups=half))
        self.shuffle = torch.nn.ChannelShuffle(2)

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        return self.shuffle(torch.cat((x1, self.branch2(x2)), dim=1))


class _Gated(torch.nn.Module):
    """A gated linear unit written out: value and gate from one projection, torch.split by sizes."""

    def __init__(self, order=(0, 1), dim=-1):
        super().__init__()
        self.proj, self.order, self.dim = torch.nn.Linear(8, 12), order, dim

    def forward(self, x):
        parts = torch.split(self.proj(x), [4, 8], dim=self.dim)
        value, gate = parts[self.order[0]], parts[self.order[1]]
        return torch.cat((value, torch.sigmoid(gate)), dim=-1)


def test_chunk_and_split_become_a_merge_that_splits():
    imported = import_model("shuffle", "24,8,8", model=_ShuffleUnit())
    assert "split: equal" in imported.text and "keep" not in imported.text
    assert [r.message() for r in verify_import(imported, "shuffle")[0] if not r.ok] == []
    imported = import_model("gated", "5,8", model=_Gated())
    assert "split: [4, 8]" in imported.text and "split_dim: -1" in imported.text  # the last axis, as torch says
    assert [r.message() for r in verify_import(imported, "gated")[0] if not r.ok] == []


class _Halves(torch.nn.Module):
    def forward(self, x):
        return x.split(1, dim=0)[0]  # the batch's first sample: no spec says that


def test_pieces_out_of_order_or_a_split_batch_are_refused_with_their_line():
    with pytest.raises(SpecError, match="each once and in order") as info:
        import_model("gated", "5,8", model=_Gated(order=(1, 0)))
    assert info.value.loc.file.endswith("test_import.py")
    with pytest.raises(SpecError, match="splits the batch axis"):
        import_model("gated", "5,8", model=torch.nn.Sequential(_Halves(), torch.nn.Linear(8, 8)))


class _Resampling(torch.nn.Module):
    """Upsampling as modules (nn.Upsample's subclasses) and as F.interpolate / F.upsample_* calls,
    pixel (un)shuffle as functions, a transposed convolution."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.up = torch.nn.UpsamplingBilinear2d(scale_factor=2)
        self.deconv = torch.nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
        self.near = torch.nn.UpsamplingNearest2d(size=(20, 24))

    def forward(self, x):
        F = torch.nn.functional
        x = F.interpolate(self.up(self.conv(x)), scale_factor=(0.5, 0.75), mode="bicubic", align_corners=False)
        x = F.upsample_bilinear(F.pixel_shuffle(F.pixel_unshuffle(x, 2), 2), size=(10, 12))
        return self.near(F.interpolate(self.deconv(x), size=(5, 6), mode="area"))


def test_resampling_modules_and_functions():
    imported = import_model("_Resampling", "3,8,8", model=_Resampling())
    for line in ("- upsample: {name: up, scale_factor: 2.0, mode: bilinear, align_corners: true}",
                 "- upsample: {call: function, scale_factor: [0.5, 0.75], mode: bicubic, align_corners: false}",
                 "- pixel_unshuffle: {call: function, downscale_factor: 2}",
                 "- pixel_shuffle: {call: function, upscale_factor: 2}",
                 "- upsample: {call: function, size: [10, 12], mode: bilinear, align_corners: true}",
                 "- conv_transpose2d: {name: deconv, out_channels: 4, kernel_size: 4, stride: 2, padding: 1}",
                 "- adaptive_avg_pool2d: {call: function, output_size: [5, 6]}",
                 "- upsample: {name: near, size: [20, 24]}"):
        assert line in imported.text, line
    assert [r.message() for r in verify_import(imported, "r")[0] if not r.ok] == []


class _Antialiased(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", antialias=True)


def test_an_antialiased_interpolation_is_named():
    with pytest.raises(SpecError, match="antialias"):
        import_model("_Antialiased", "3,8,8", model=_Antialiased())


class _LayerNorm2d(torch.nn.LayerNorm):
    """ConvNeXt's: a LayerNorm over the channels of [C, H, W], reading its own γ and β."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = torch.nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class _ScaledBlock(torch.nn.Module):
    """A layer scale read in forward (a parameter times a branch), as ConvNeXt's CNBlock."""

    def __init__(self, c=4):
        super().__init__()
        self.norm = _LayerNorm2d(c, eps=1e-6)
        self.conv = torch.nn.Conv2d(c, c, 3, padding=1)
        self.layer_scale = torch.nn.Parameter(torch.ones(c, 1, 1) * 1e-6)

    def forward(self, x):
        return x + self.layer_scale * self.conv(self.norm(x))


def test_tensors_read_in_forward_become_a_norms_weights_and_a_parameter():
    imported = import_model("_ScaledBlock", "4,6,6", model=_ScaledBlock())
    assert "- layer_norm: {name: norm, normalized_shape: 4, eps: 1e-06}" in imported.text, imported.text
    assert "- parameter: {name: layer_scale, shape: [4, 1, 1]}" in imported.text
    assert [r.message() for r in verify_import(imported, "b")[0] if not r.ok] == []


class _Dense(torch.nn.Module):
    """DenseNet's running concatenation: each layer reads torch.cat of all before it."""

    def __init__(self, c=4, growth=2, layers=3):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Conv2d(c + i * growth, growth, 3, padding=1) for i in range(layers))

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


def test_a_running_concatenation_is_one_concat_per_layer():
    imported = import_model("_Dense", "4,5,5", model=_Dense())
    assert imported.text.count("concat") == 3 and imported.text.count("identity: []") == 3, imported.text
    assert [r.message() for r in verify_import(imported, "d")[0] if not r.ok] == []


class _Nested(torch.nn.Module):
    """Inception-v3's E block: a value split into two convolutions joined, inside the block's join."""

    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(3, 2, 1), torch.nn.Conv2d(3, 2, 1)
        self.c, self.d = torch.nn.Conv2d(2, 2, 1), torch.nn.Conv2d(2, 2, 1)

    def forward(self, x):
        y = self.b(x)
        return torch.cat([self.a(x), torch.cat([self.c(y), self.d(y)], 1)], 1)


def test_a_concat_of_a_concat_of_one_values_branches_stays_nested():
    imported = import_model("_Nested", "3,4,4", model=_Nested())
    assert imported.text.count("concat") == 2
    assert [r.message() for r in verify_import(imported, "n")[0] if not r.ok] == []


class _Masked(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(6, 3)
        self.unused_head = torch.nn.Linear(6, 100)  # as googlenet's aux heads in eval

    def forward(self, x, mask=None, scale: float = 1.0):
        if mask is not None:
            x = x * mask
        return {"out": self.fc(x), "features": x}


def test_optional_arguments_dict_outputs_and_unused_modules():
    imported = import_model("_Masked", "6", model=_Masked())
    assert any("dict ['out', 'features']: the spec follows out; not features" in n for n in imported.notes)
    results = verify_import(imported, "m")[0]
    assert [r.message() for r in results if not r.ok] == []
    assert any("never calls unused_head (Linear, 700 params)" in n for n in imported.notes)


def test_a_bare_layer_is_a_model():
    imported = import_model("linear", "5", model=torch.nn.Linear(5, 2))
    assert "- linear: {name: linear, out_features: 2}" in imported.text
    assert [r.message() for r in verify_import(imported, "l")[0] if not r.ok] == []


class _Conv3DSimple(torch.nn.Conv3d):
    """torchvision's video ResNet: a Conv3d subclass that changes only its constructor."""

    def __init__(self, cin, cout):
        super().__init__(cin, cout, kernel_size=(3, 3, 3), padding=1, bias=False)


def test_a_subclass_that_keeps_its_bases_forward_is_its_bases_kind():
    model = torch.nn.Sequential(_Conv3DSimple(3, 4), torch.nn.BatchNorm3d(4))
    imported = import_model("v", "3,4,6,6", model=model)
    assert "conv3d" in imported.text
    assert [r.message() for r in verify_import(imported, "v")[0] if not r.ok] == []


class _Repeated(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = torch.nn.ModuleList(torch.nn.Conv2d(3, 3, 1) for _ in range(5))

    def forward(self, x):
        return torch.cat([conv(x).cummax(1).values for conv in self.convs], 1)


def test_one_cause_at_one_line_is_reported_once_with_its_count():
    with pytest.raises(SpecError) as info:
        import_model("_Repeated", "3,4,4", model=_Repeated())
    messages = [e.message for e in info.value.errors]
    assert len(messages) == 1 and "(and 4 more times at this line)" in messages[0], messages


class _Segmenter(torch.nn.Module):
    """A segmentation head as torchvision writes them: upsampled back to the input's own size
    (computed in forward), a video-style mean over every spatial axis (a `mean` layer), and a high branch computed
    long before the low one that the sum names first."""

    def __init__(self):
        super().__init__()
        self.backbone = torch.nn.Sequential(*(torch.nn.Conv2d(3, 3, 3, padding=1) for _ in range(20)))
        self.low, self.high = torch.nn.Conv2d(3, 2, 1), torch.nn.Conv2d(3, 2, 1)
        self.down = torch.nn.MaxPool2d(2)

    def forward(self, x):
        features = self.backbone(x)
        high = torch.nn.functional.interpolate(self.high(self.down(features)), size=x.shape[-2:], mode="bilinear")
        return {"out": self.low(x) + high}


def test_sizes_computed_in_forward_a_late_branch_and_a_volumes_mean():
    imported = import_model("_Segmenter", "3,8,8", model=_Segmenter())
    assert "size: [8, 8]" in imported.text, imported.text
    assert [r.message() for r in verify_import(imported, "s")[0] if not r.ok] == []
    imported = import_model("v", "3,2,4,4", model=_VideoMean())
    assert "- mean: {call: function, dim: [1, 2, 3]}" in imported.text and "flatten" not in imported.text
    assert [r.message() for r in verify_import(imported, "v")[0] if not r.ok] == []


class _VideoMean(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 4, 1)

    def forward(self, x):
        return torch.mean(self.conv(x), dim=(2, 3, 4))


class _Masked2(torch.nn.Module):
    """A fixed mask (a buffer) multiplied in: no learned parameter, refused by name."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)
        self.register_buffer("mask", torch.ones(4, 1, 1))

    def forward(self, x):
        return self.conv(x) * self.mask


def test_a_buffer_in_a_merge_is_no_parameter():
    with pytest.raises(SpecError, match="multiplies by something that is not another branch's tensor"):
        import_model("_Masked2", "3,4,4", model=_Masked2())


class _UntraceableDict(torch.nn.Module):
    """Python control flow on a value (fx refuses it; forward hooks follow the chain), returning a dict."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)

    def forward(self, x):
        if x.sum() > 1e9:
            x = x * 0
        return {"logits": self.fc2(self.fc1(x))}


def test_forward_hooks_follow_a_dict_output():
    imported = import_model("_UntraceableDict", "4", model=_UntraceableDict())
    assert imported.method == "forward hooks" and imported.text.count("- linear") == 2
    assert [r.message() for r in verify_import(imported, "u")[0] if not r.ok] == []


class _Swapping(torch.nn.Module):
    """torch's aliases of transpose, positional and by keyword (MaxViT's SwapAxes calls
    torch.swapaxes(x, -2, -3))."""

    def forward(self, x):
        x = torch.swapaxes(x, -2, -3)
        x = x.swapaxes(axis0=1, axis1=3)
        return torch.swapdims(x, dim0=2, dim1=-1)


def test_swapaxes_and_swapdims_are_transposes():
    imported = import_model("_Swapping", "2,3,4", model=_Swapping())
    for line in ("- transpose: {call: function, dim0: -2, dim1: -3}",
                 "- transpose: {call: function, dim0: 0, dim1: 2}",
                 "- transpose: {call: function, dim0: 1, dim1: -1}"):
        assert line in imported.text, line
    assert [r.message() for r in verify_import(imported, "s")[0] if not r.ok] == []
def _unsqueeze(x, target_dim: int, expand_dim: int):
    """torchvision MViT's helper, as torchvision writes and fx-wraps it: the tensor (with an axis
    added where it has one fewer than target_dim) and its rank."""
    tensor_dim = x.dim()
    if tensor_dim == target_dim - 1:
        x = x.unsqueeze(expand_dim)
    elif tensor_dim != target_dim:
        raise ValueError(f"Unsupported input dimension {x.shape}")
    return x, tensor_dim


torch.fx.wrap("_unsqueeze")


class _Clip(torch.nn.Module):
    """MViT's first step: an image [C, H, W] becomes a clip of one frame, a clip stays as it is."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(_unsqueeze(x, 5, 2)[0])


@pytest.mark.parametrize("shape,layers", [("3,8,8", ["unsqueeze", "conv3d"]), ("3,2,8,8", ["conv3d"])])
def test_a_wrapped_function_returning_a_tensor_and_its_rank_is_read_as_its_tensor(shape, layers):
    """`_unsqueeze(x, 5, 2)[0]`: an unsqueeze of the per-sample axis 1 for an image, nothing for a
    clip; indexing the tuple it returns at its one tensor is that tensor."""
    imported = import_model("_Clip", shape, model=_Clip())
    spec = load_spec_text(imported.text, "clip.yaml")
    assert [r.kind for r in analyze(spec).leaves()] == layers
    assert ("unsqueeze: {call: function, dim: 1}" in imported.text) == (len(layers) == 2)
    assert [r.message() for r in verify_import(imported, "clip")[0] if not r.ok] == []


class _TwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fa, self.fb = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)

    def forward(self, a, b):
        return self.fa(a) + self.fb(b)


def test_a_merge_of_two_inputs_branches_is_refused_with_its_line():
    """A merge's branches start from one value: an add of what two inputs compute has none (the
    dominator tree has no common value), and the error names the line of the add."""
    with pytest.raises(SpecError, match="'add' combines values that come from different inputs") as err:
        import_model("two", "4;4", model=_TwoInputs())
    assert err.value.loc.line == _TwoInputs.forward.__code__.co_firstlineno + 1


@pytest.mark.parametrize("seed", range(40))
def test_merges_fork_where_every_path_to_them_passes_last(seed):
    """structure's immediate dominators (a tree, walked up from the later value) against their
    definition, on random data flows of one or two inputs: the last value, in computing order,
    among those every path from an input to the value passes; None where two inputs meet."""
    import random

    from archcalc.torch_backend.importing.structure import _Chains, _Unsayable
    from archcalc.torch_backend.importing.traced import Traced

    rng = random.Random(seed)
    values = [Traced(f"in{i}", "input") for i in range(rng.choice([1, 2]))]
    for n in range(rng.randrange(2, 30)):
        earlier = [v.id for v in values]
        inputs = rng.sample(earlier, min(len(earlier), rng.choice([1, 1, 2, 3]))) if rng.random() > 0.05 else []
        values.append(Traced(f"v{n}", "merge" if len(inputs) > 1 else "layer", inputs))
    dominators: dict = {}  # the definition: each value's set of dominators, itself included
    for v in values:
        flows = [dominators[i] for i in v.inputs if dominators[i] is not None]
        dominators[v.id] = {v.id} if v.op == "input" else set.intersection(*flows) | {v.id} if flows else None
    chains = _Chains(values, values[-1].id)
    order = [v.id for v in values]
    for v in values:
        if dominators[v.id] is None:
            continue
        before = dominators[v.id] - {v.id}
        if before:
            assert chains.idom(v) == max(before, key=order.index), v.id
        else:
            with pytest.raises(_Unsayable):
                chains.idom(v)
