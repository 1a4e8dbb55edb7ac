"""The ImageNet line of models: totals equal torchvision's documented figures, every
weighted layer equals torch's own per-leaf count (shared/reference), and the papers' tables."""
from __future__ import annotations

import pytest

from conftest import REFERENCE, analyze_file

# spec file, variant, torchvision model name, documented params, documented GFLOPS (= GMACs)
TORCHVISION = [
    ("alexnet_torchvision.yaml", None, "alexnet", 61_100_840, 0.71),
    ("vgg16.yaml", "vgg11", "vgg11", 132_863_336, 7.61),
    ("vgg16.yaml", None, "vgg16", 138_357_544, 15.47),
    ("vgg16.yaml", "vgg19", "vgg19", 143_667_240, 19.63),
    ("vgg16.yaml", "vgg16_bn", "vgg16_bn", 138_365_992, 15.47),
    ("resnet18.yaml", None, "resnet18", 11_689_512, 1.81),
    ("resnet18.yaml", "resnet34", "resnet34", 21_797_672, 3.66),
    ("resnet50.yaml", None, "resnet50", 25_557_032, 4.09),
    ("resnet50.yaml", "resnet101", "resnet101", 44_549_160, 7.80),
    ("resnet50.yaml", "resnet152", "resnet152", 60_192_808, 11.51),
    ("googlenet.yaml", None, "googlenet", 6_624_904, 1.50),
]
WEIGHTED = {"Conv2d": "conv2d", "Linear": "linear", "BatchNorm2d": "batch_norm2d"}


@pytest.mark.parametrize("spec,variant,model,params,gmacs", TORCHVISION, ids=[t[2] for t in TORCHVISION])
def test_totals_equal_torchvision(spec, variant, model, params, gmacs):
    a = analyze_file(spec, variant=variant)
    ref = REFERENCE["models"][model]
    assert a.totals["params"] == params == ref["params"]
    assert a.totals["buffers"] == ref["buffers"]
    assert a.totals["flops"] == ref["flops"]  # FlopCounterMode's own total
    assert round(a.totals["macs"] / 1e9, 2) == gmacs  # torchvision's "GFLOPS" are MACs
    assert list(a.output) == ref["output_shape"][1:]


@pytest.mark.parametrize("spec,variant,model,params,gmacs", TORCHVISION, ids=[t[2] for t in TORCHVISION])
def test_every_weighted_layer_equals_torch(spec, variant, model, params, gmacs):
    """In call order, each conv/linear/batch-norm row has torch's shapes, params and FLOPs."""
    a = analyze_file(spec, variant=variant)
    ours = [r for r in a.rows if r.leaf and r.kind in WEIGHTED.values()]
    theirs = [leaf for leaf in REFERENCE["models"][model]["leaves"] if leaf["type"] in WEIGHTED]
    assert len(ours) == len(theirs)
    for row, leaf in zip(ours, theirs):
        assert row.kind == WEIGHTED[leaf["type"]], (row.path, leaf["name"])
        assert list(row.input) == leaf["input_shape"][1:], (row.path, leaf["name"])
        assert list(row.output) == leaf["output_shape"][1:], (row.path, leaf["name"])
        assert row.params == leaf["params"], (row.path, leaf["name"])
        assert row.flops == leaf["flopcounter_flops"], (row.path, leaf["name"])


def test_resnet50_buffers_and_alexnet_torchvision_macs():
    assert analyze_file("resnet50.yaml").totals["buffers"] == 53_173
    # the figure every peer tool disagrees about (issue 10): 714,188,480 multiply-accumulates
    assert analyze_file("alexnet_torchvision.yaml").totals["macs"] == 714_188_480


def test_resnet50_v1_moves_the_stride_only():
    v15, v1 = analyze_file("resnet50.yaml"), analyze_file("resnet50.yaml", variant="resnet50_v1")
    assert v1.totals["params"] == v15.totals["params"]
    assert v1.row("layer2.first.add_1.main.conv1").output == (128, 28, 28)
    assert v15.row("layer2.first.add_1.main.conv1").output == (128, 56, 56)
    assert v1.totals["macs"] < v15.totals["macs"]


def test_zfnet_matches_figure_3():
    a = analyze_file("zfnet.yaml")
    sizes = {p: a.row(p).output for p in ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5")}
    assert sizes == {"conv1": (96, 110, 110), "pool1": (96, 55, 55), "conv2": (256, 26, 26),
                     "pool2": (256, 13, 13), "conv3": (384, 13, 13), "conv4": (384, 13, 13),
                     "conv5": (256, 13, 13), "pool5": (256, 6, 6)}
    assert a.row("fc6").input == (9216,)
    assert a.row("conv1").params == 96 * (7 * 7 * 3 + 1)


def test_overfeat_tables():
    fast = analyze_file("overfeat_fast.yaml")
    # Table 1's spatial input sizes: 231, (24: see the spec's doc), 12, 12, 12, 6 ...
    assert fast.row("conv3").input[1:] == (12, 12) and fast.row("conv5").input[1:] == (12, 12)
    assert fast.row("fc6").input == (1024 * 6 * 6,)
    assert fast.row("conv2").output[1:] == (24, 24)
    assert [fast.row(p).output[0] for p in ("conv1", "conv2", "conv3", "conv4", "conv5")] == [96, 256, 512, 1024, 1024]
    assert fast.totals["params"] == 145_920_872
    accurate = analyze_file("overfeat_accurate.yaml")
    # Table 3's input sizes: 221, 36, 15, 15, 15, 15, then 5x5 into the classifier
    assert [accurate.row(p).input[1] for p in ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6")] == \
        [221, 36, 15, 15, 15, 15]
    assert accurate.row("fc7").input == (1024 * 5 * 5,)
    assert accurate.totals["params"] == 144_656_488


def test_googlenet_paper_variant_matches_table_1_ops():
    """Table 1's ops column (millions of multiply-accumulates, rounded or truncated: the
    table mixes both), where it is self-consistent: each listed figure is within 1M."""
    a = analyze_file("googlenet.yaml", variant="googlenet_paper")
    ops = {"inception3a": 128, "inception3b": 304, "inception4a": 73, "inception4b": 88, "inception4c": 100,
           "inception4d": 119, "inception4e": 170, "inception5b": 71, "fc": 1}
    for path, millions in ops.items():
        assert abs(a.row(path).macs / 1e6 - millions) < 1, path
    assert abs((a.row("conv2").macs + a.row("conv3").macs) / 1e6 - 360) < 1
    assert abs(a.row("inception5a").macs / 1e6 - 54) > 2  # the inconsistent row the doc names
    assert a.row("inception3a.concat_1.branch3.b5x5.conv").args.kernel_size == (5, 5)
    assert a.row("inception3a").output == (256, 28, 28) and a.row("inception5b").output == (1024, 7, 7)
    torchvision = analyze_file("googlenet.yaml")
    assert torchvision.row("inception3a.concat_1.branch3.b5x5.conv").args.kernel_size == (3, 3)


UNET_WIDTHS = (64, 128, 256, 512, 1024)


def unet_params(in_channels: int = 1, classes: int = 2, widths=UNET_WIDTHS) -> int:
    """The paper's UNet by formula: two 3x3 convolutions (with bias) per level down and up,
    a 2x2 up-convolution halving the channels before each level up, a 1x1 convolution last."""
    def conv3(i, o):
        return 9 * i * o + o

    down = sum(conv3(i, o) + conv3(o, o) for i, o in zip((in_channels,) + widths[:-1], widths))
    up = sum(4 * i * o + o + conv3(2 * o, o) + conv3(o, o) for i, o in zip(widths[:0:-1], widths[-2::-1]))
    return down + up + widths[0] * classes + classes


def test_unet_matches_figure_1():
    """Every feature map of Fig. 1, in order: each 3x3 convolution, 2x2 max pool and 2x2
    up-convolution (channels, side), from the 572x572 tile to the 388x388 output."""
    a = analyze_file("unet.yaml")
    maps = [(r.output[0], r.output[1]) for r in a.rows
            if r.leaf and r.kind in ("conv2d", "max_pool2d", "conv_transpose2d")]
    assert all(r.output[1] == r.output[2] for r in a.rows if r.leaf)
    assert maps == [(64, 570), (64, 568), (64, 284), (128, 282), (128, 280), (128, 140), (256, 138), (256, 136),
                    (256, 68), (512, 66), (512, 64), (512, 32), (1024, 30), (1024, 28),
                    (512, 56), (512, 54), (512, 52), (256, 104), (256, 102), (256, 100),
                    (128, 200), (128, 198), (128, 196), (64, 392), (64, 390), (64, 388), (2, 388)]
    # the copies are cropped to the up-convolution's size and joined: copy + upsampled channels
    crops = [r.output for r in a.rows if r.kind == "center_crop"]
    assert crops == [(64, 392, 392), (128, 200, 200), (256, 104, 104), (512, 56, 56)]
    joined = [r.output for r in a.rows if r.kind == "concat"]
    assert joined == [(128, 392, 392), (256, 200, 200), (512, 104, 104), (1024, 56, 56)]
    assert a.input == (1, 572, 572) and a.output == (2, 388, 388)
    assert a.totals["params"] == unet_params() == 31_030_658


def test_unet_padded_variant_keeps_the_size_and_the_weights():
    a = analyze_file("unet.yaml", variant="padded")
    assert a.input == (1, 512, 512) and a.output == (2, 512, 512)
    assert not [r for r in a.rows if r.kind == "center_crop"]
    assert [r.output[1] for r in a.rows if r.kind == "concat"] == [512, 256, 128, 64]
    assert a.totals["params"] == unet_params() == analyze_file("unet.yaml").totals["params"]
    assert analyze_file("unet.yaml", {"classes": "5"}).totals["params"] == unet_params(classes=5)
