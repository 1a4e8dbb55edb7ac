"""The course's worked examples and other published figures."""
from conftest import REFERENCE, SPECS, analyze_file, analyze_text, one_layer


def test_fully_connected_200x200x3_is_14_4_billion():
    a = analyze_file("course_200x200_fully_connected.yaml")
    assert a.row("hidden").params == 14_400_000_000  # 120K x 120K
    assert a.row("hidden").neurons == 120_000
    # with biases, torch's nn.Linear(120000, 120000) would hold in*out + out
    with_bias = analyze_text(one_layer([120000], "linear: 120000"))
    assert with_bias.totals["params"] == REFERENCE["course"]["linear_120000x120000_arithmetic"]["params"]


def test_locally_connected_200x200x3_is_3_2_million():
    a = analyze_file("course_200x200_locally_connected.yaml")
    assert a.row("hidden").params == 3_240_000  # 120K x 27
    assert a.row("hidden").neurons == 120_000
    assert a.row("hidden").output == (3, 200, 200)


def test_convolutional_200x200x3_is_27_k():
    a = analyze_file("course_200x200_convolutional.yaml")
    import sympy

    K = sympy.Symbol("K", integer=True, positive=True)
    assert sympy.simplify(a.row("hidden").params - 27 * K) == 0
    three = analyze_file("course_200x200_convolutional.yaml", {"K": "3"})
    assert three.row("hidden").params == 81
    assert three.row("hidden").neurons == 120_000  # the slide's #hidden units


def test_course_conv1_derivation_text():
    """The slide: W2 = (227 - 11)/4 + 1 = 55 and 11x11x3 + 1 = 364 weights per filter."""
    steps = {s.quantity: s for s in analyze_file("alexnet.yaml").row("conv1").steps}
    assert steps["W2"].text() == "W2 = (W1 − F + 2P)/S + 1 = (227 − 11 + 2·0)/4 + 1 = 55"
    assert steps["params"].text() == "params = (F·F·D/groups + 1)·K = (11·11·3 + 1)·96 = 34,944"
    assert steps["neurons"].text() == "neurons = W2·H2·K = 55·55·96 = 290,400"


def test_alexnet_at_224_warns_inexact_division():
    text = (SPECS / "alexnet.yaml").read_text()
    a = analyze_text(text.replace("[3, 227, 227]", "[3, 224, 224]"))
    conv1 = [w for w in a.warnings if w.path == "conv1"]
    assert conv1 and conv1[0].code == "inexact-division"
    assert "(224 − 11 + 2·0)/4 + 1 = 54.25, torch floors to 54" in conv1[0].message
    ref = REFERENCE["course"]["extra_conv1_alexnet_224_nopad"]
    assert list(a.row("conv1").output) == ref["output_shape"][1:]
    assert a.row("conv1").flops == ref["flopcounter_flops"]


def test_lenet5_matches_the_paper_where_the_forms_agree():
    """LeCun et al. 1998: C1 has 156 trainable parameters, C5 48,120 connections, F6 10,164."""
    a = analyze_file("lenet5.yaml")
    assert a.row("c1").params == 156 and a.row("c1").output == (6, 28, 28)
    assert a.row("s2").output == (6, 14, 14)
    assert a.row("c3").output == (16, 10, 10)
    assert a.row("c5").params == 48_120 and a.row("c5").output == (120, 1, 1)
    assert a.row("f6").params == 10_164
    assert a.output == (10,)
    assert a.totals["params"] == 61_706


def test_perceptron_and_mlp():
    assert analyze_file("perceptron.yaml").totals["params"] == 3
    mlp = analyze_file("mlp.yaml")
    assert mlp.totals["params"] == (784 + 1) * 256 + (256 + 1) * 10
    assert mlp.totals["neurons"] == 266


def test_batchnorm_and_lrn_match_reference():
    bn = REFERENCE["course"]["batchnorm2d_64"]
    a = analyze_text(one_layer([64, 8, 8], "batch_norm2d"))
    assert a.totals["params"] == bn["trainable_params"]
    assert a.totals["buffers"] == bn["buffer_elements"]
    lrn = REFERENCE["course"]["local_response_norm_5"]
    b = analyze_text(one_layer(lrn["input_shape"][1:], "local_response_norm: {size: 5}"))
    assert list(b.output) == lrn["output_shape"][1:]
    assert b.totals["params"] == lrn["total_params"] and b.totals["flops"] == lrn["flopcounter_flops"]


def test_pooling_slide_shapes():
    """The pooling slide: 4x4 → 2x2 with a 2x2 window, stride 2 (max and average)."""
    for key in ("maxpool2x2_s2_matrix1", "avgpool2x2_s2_matrix1"):
        ref = REFERENCE["course"][key]
        kind = "max_pool2d" if key.startswith("max") else "avg_pool2d"
        a = analyze_text(one_layer([1, 4, 4], f"{kind}: {{kernel_size: 2, stride: 2}}"))
        assert list(a.output) == ref["output_shape"][1:]
