"""AlexNet (paper layout, 227x227): every figure the issue and the course name, exactly."""
from conftest import REFERENCE, analyze_file

PARAMS = {"conv1": 34_944, "conv2": 307_456, "conv3": 885_120, "conv4": 663_936, "conv5": 442_624,
          "fc6": 37_752_832, "fc7": 16_781_312, "fc8": 4_097_000}
NEURONS = {"conv1": 290_400, "conv2": 186_624, "conv3": 64_896, "conv4": 64_896, "conv5": 43_264,
           "fc6": 4096, "fc7": 4096, "fc8": 1000}
OUTPUTS = {"conv1": (96, 55, 55), "conv2": (256, 27, 27), "conv3": (384, 13, 13), "conv4": (384, 13, 13),
           "conv5": (256, 13, 13), "pool5": (256, 6, 6)}


def test_per_layer_params_neurons_and_shapes():
    a = analyze_file("alexnet.yaml")
    for path, p in PARAMS.items():
        assert a.row(path).params == p, path
    for path, n in NEURONS.items():
        assert a.row(path).neurons == n, path
    for path, shape in OUTPUTS.items():
        assert a.row(path).output == shape, path
    assert a.row("fc6").input == (9216,)
    assert a.output == (1000,)


def test_totals():
    a = analyze_file("alexnet.yaml")
    assert a.totals["params"] == 60_965_224
    assert a.totals["neurons"] == 659_272
    assert a.totals["macs"] == 724_406_816
    assert a.totals["flops"] == 2 * 724_406_816
    assert a.totals["buffers"] == 0
    assert not a.warnings  # 227 divides exactly all the way through


def test_course_shares_conv_compute_fc_params():
    """'Convolutional layers ... about 90-95% of computation; fully-connected ... about 95% of parameters'."""
    a = analyze_file("alexnet.yaml")
    conv = [r for r in a.rows if r.kind == "conv2d"]
    fc = [r for r in a.rows if r.kind == "linear"]
    conv_macs = sum(r.macs for r in conv) / a.totals["macs"]
    fc_params = sum(r.params for r in fc) / a.totals["params"]
    assert 0.915 < conv_macs < 0.925  # 91.9%
    assert 0.96 < fc_params < 0.965  # 96.2%
    # the course: "about 57 M parameters are in the fully connected layers", adding its
    # rounded-down 37 M + 16 M + 4 M; exactly it is 58,631,144
    assert sum(r.params for r in fc) == 58_631_144


def test_conv_layers_match_torch_reference():
    """conv1 and grouped conv2, as torch counted them (shared/reference)."""
    course = REFERENCE["course"]
    a = analyze_file("alexnet.yaml")
    conv1 = course["conv1_alexnet_227"]
    assert a.row("conv1").params == conv1["params"]
    assert a.row("conv1").flops == conv1["flopcounter_flops"]
    assert a.row("conv1").activations == conv1["output_elements"]
    assert list(a.row("conv1").output) == conv1["output_shape"][1:]
    conv2 = course["conv2_96to256_k5p2_groups2"]
    assert a.row("conv2").params == conv2["params"]
    assert a.row("conv2").flops == conv2["flopcounter_flops"]
    assert list(a.row("conv2").input) == conv2["input_shape"][1:]


def test_batch_scales_compute_not_params():
    one, four = analyze_file("alexnet.yaml"), analyze_file("alexnet.yaml", batch=4)
    assert four.totals["params"] == one.totals["params"]
    assert four.totals["macs"] == 4 * one.totals["macs"]
    assert four.totals["activations"] == 4 * one.totals["activations"]
    assert four.row("conv1").flops == 4 * one.row("conv1").flops


def test_classes_var_override():
    a = analyze_file("alexnet.yaml", {"classes": "10"})
    assert a.output == (10,)
    assert a.row("fc8").params == 4097 * 10
    assert a.bindings == {"classes": 10}
