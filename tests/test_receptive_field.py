"""Receptive fields: the published figures, and a gradient measurement with torch on random
networks with branches (the input pixels whose gradient is non-zero for one output unit)."""
from __future__ import annotations

import itertools
import json
import os

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from archcalc.engine import numbers as N
from archcalc.spec.errors import SpecError
from archcalc.torch_backend.build import build_from_analysis
from conftest import analyze_file, analyze_text


def test_published_figures():
    alexnet = analyze_file("alexnet.yaml")
    assert alexnet.row("conv5").rf[0].size == 163 and alexnet.row("pool5").rf[0].size == 195
    assert alexnet.row("conv1").rf[0].size == 11 and alexnet.row("conv1").rf[0].jump == 4
    vgg = analyze_file("vgg16.yaml")
    assert vgg.row("stage5.conv.3.conv").rf[0].size == 196  # VGG-16 conv5_3, the commonly cited figure
    assert alexnet.row("fc6").rf is None  # after flatten every unit sees the whole image


def test_symbolic_and_json():
    a = analyze_text("archcalc: 1\ninput: [3, H, W]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: k, stride: 2}\n"
                     "vars: {k: 5}\n")
    assert a.rows[0].rf[0].size == 5 and a.rows[0].rf[0].jump == 2
    from click.testing import CliRunner

    from archcalc.cli import main
    from conftest import SPECS

    doc = json.loads(CliRunner().invoke(main, ["summarize", str(SPECS / "resnet18.yaml"), "--columns", "rf",
                                               "--format", "json"]).stdout)
    first = next(r for r in doc["layers"] if r["path"] == "layer1.first.add_1")
    assert first["receptive_field"][0] == {"size": 27, "jump": 4, "start": 0}
    assert first["receptive_field_branch"] == "main"


@st.composite
def network(draw):
    layers = []
    for _ in range(draw(st.integers(1, 5))):
        choice = draw(st.sampled_from(["conv", "pool", "add", "concat", "relu"]))
        k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
        p = draw(st.integers(0, k // 2))
        if choice == "conv":
            layers.append(f"  - conv2d: {{out_channels: 3, kernel_size: {k}, stride: {s}, padding: {p}, dilation: {d}}}")
        elif choice == "pool":
            layers.append(f"  - avg_pool2d: {{kernel_size: {k}, stride: {s}, padding: {p}}}")
        elif choice == "relu":
            layers.append("  - relu")
        elif choice == "add":
            layers.append("  - add: {branches: {main: [{conv2d: {out_channels: 3, kernel_size: 3, padding: 1}}], "
                          f"shortcut: [{{conv2d: {{out_channels: 3, kernel_size: {2 * p + 1}, padding: {p}}}}}]}}}}")
        else:
            layers.append("  - concat: {dim: 0, branches: [[{conv2d: {out_channels: 2, kernel_size: 1}}], "
                          "[{avg_pool2d: {kernel_size: 5, stride: 1, padding: 2}}, {conv2d: {out_channels: 1, kernel_size: 1}}]]}")
    return "archcalc: 1\ninput: [3, 21, 19]\nlayers:\n" + "\n".join(layers) + "\n"


def measured_extent(text: str):
    analysis = analyze_text(text)
    net = build_from_analysis(analysis, "cpu").double()
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(1.0)  # positive weights and inputs: no cancellation, every path counts
    x = (torch.rand(1, *analysis.input, dtype=torch.double) + 0.5).requires_grad_()
    y = net(x)
    oh, ow = (y.shape[2] - 1) // 2, (y.shape[3] - 1) // 2
    y[0, :, oh, ow].sum().backward()  # every channel: concat's field is the widest branch's
    nonzero = (x.grad[0].abs().sum(0) > 0).nonzero()
    if not len(nonzero):  # every tap of a dilated kernel fell on padding: nothing to measure
        return analysis, (oh, ow), None
    return analysis, (oh, ow), [(int(nonzero[:, a].min()), int(nonzero[:, a].max())) for a in (0, 1)]


@settings(max_examples=int(__import__("os").environ.get("ARCHCALC_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@example("archcalc: 1\ninput: [3, 21, 19]\nlayers:\n"  # a unit whose dilated taps all land on padding
         "  - conv2d: {out_channels: 3, kernel_size: 1, stride: 2, padding: 0, dilation: 1}\n"
         "  - conv2d: {out_channels: 3, kernel_size: 2, stride: 1, padding: 0, dilation: 2}\n"
         "  - conv2d: {out_channels: 3, kernel_size: 4, stride: 2, padding: 0, dilation: 2}\n"
         "  - conv2d: {out_channels: 3, kernel_size: 2, stride: 1, padding: 1, dilation: 2}\n")
@given(network())
def test_receptive_field_equals_the_gradient_measurement(text):
    try:
        analysis, position, extents = measured_extent(text)
    except SpecError:  # a stack too small for its input: refused by the engine, tested elsewhere
        return
    rf = [r for r in analysis.rows if r.depth == 0][-1].rf  # the network's output
    if extents is None:
        return
    for axis, (lo, hi), i, size in zip(rf, extents, position, analysis.input[1:]):
        centre = N.add(axis.start, N.mul(i, axis.jump))
        half = N.true_div(N.sub(axis.size, 1), 2)
        left, right = N.sub(centre, half), N.add(centre, half)
        # inside the image the extent is exact; where the field runs into the padding, the
        # measured pixels lie within it (a dilated kernel's outermost taps may fall on padding)
        assert left <= lo and hi <= right, (text, axis, (lo, hi))
        if left >= 0:
            assert lo == left, (text, axis, (lo, hi))
        if right <= size - 1:
            assert hi == right, (text, axis, (lo, hi))


# ---- every kind: the receptive field against which inputs change one output unit ------------

from hypothesis import assume  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from archcalc.layers.receptive import initial  # noqa: E402
from kinds import TABLE, engine  # noqa: E402

SPATIAL_KINDS = sorted(k for k, c in TABLE.items() if c.dtype == "float" and any(2 <= r <= 4 for r in c.ranks))


def _dependence(analysis) -> tuple[tuple, list] | None:
    """(the central output position, the input positions whose change changes the output
    there), perturbing each input position by a large amount, weights all 1 and inputs
    positive: a max pool's window, not only its argmax, is measured this way. The network
    runs on copies: a layer with inplace=True would otherwise change x itself."""
    net = build_from_analysis(analysis, "cpu").double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(1.0)
        # a batch of 2, sample 0 measured: at batch 1 torch's circular padding refuses some crops that
        # it builds at any other batch (its copies' overlap check sees a dense slice only then)
        x = torch.rand(2, *analysis.input, dtype=torch.double) + 0.5
        y = net(x.clone())
        centre = tuple((n - 1) // 2 for n in y.shape[2:])
        base = y[(0, slice(None), *centre)]
        changed = []
        for position in itertools.product(*(range(n) for n in x.shape[2:])):
            bumped = x.clone()
            bumped[(0, slice(None), *position)] += 1000.0
            if not torch.allclose(net(bumped)[(0, slice(None), *centre)], base, rtol=0, atol=1e-9):
                changed.append(position)
    return centre, changed


@pytest.mark.slow
@pytest.mark.parametrize("kind", SPATIAL_KINDS)
@settings(max_examples=int(os.environ.get("ARCHCALC_KIND_EXAMPLES", "8")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_each_kinds_receptive_field_is_what_its_output_depends_on(kind, data):
    case = TABLE[kind]
    shape, args = data.draw(case.example().filter(lambda e: 2 <= len(e[0]) <= 4))
    analysis = engine(shape, [(case, args)])
    assume(not isinstance(analysis, SpecError) and initial(analysis.output) is not None)
    rf = analysis.roots[-1].rf  # the network's output (a merge's last row is inside a branch)
    if rf is None:
        return  # the kind says its units see no window (flatten, a recurrent state, a whole axis)
    centre, changed = _dependence(analysis)
    for a, (axis, i, size) in enumerate(zip(rf, centre, analysis.input[1:])):
        mid = N.add(axis.start, N.mul(i, axis.jump))
        half = N.true_div(N.sub(axis.size, 1), 2)
        left, right = N.sub(mid, half), N.add(mid, half)
        seen = [p[a] for p in changed]
        assert all(left <= s <= right for s in seen), (kind, shape, args, a, (left, right), sorted(set(seen)))
        if seen and left >= 0 and right <= size - 1 and axis.jump == 1 and N.compare(axis.size, "<=", size):
            assert (min(seen), max(seen)) == (left, right), (kind, shape, args, a, (left, right))
