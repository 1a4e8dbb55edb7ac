"""Property tests: every layer kind against the real torch module, over random settings.

Each case builds the torch module directly (not through archcalc), runs it on a random
input and compares: both refuse the settings, or both accept them and agree on output
shape, parameters, buffers and FlopCounterMode FLOPs.
"""
from __future__ import annotations

import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from conftest import analyze_text, one_layer
from archcalc.spec.errors import SpecError

SETTINGS = settings(max_examples=int(__import__("os").environ.get("ARCHCALC_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def engine(shape, kind, args):
    text = one_layer(shape, f"{kind}: {json.dumps(args)}" if args else kind)
    try:
        return analyze_text(text)
    except SpecError as err:
        return err


def measure(build, shape):
    """(output shape without batch, params, buffers, flops per sample) or the exception torch
    raised. A batch of 2, so that batch norm without running stats has statistics to use."""
    try:
        module = build()
        x = torch.randn(2, *shape)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            y = module(x)
    except (RuntimeError, ValueError) as err:
        return err
    return (tuple(y.shape[1:]), sum(p.numel() for p in module.parameters()),
            sum(b.numel() for b in module.buffers()), counter.get_total_flops() // 2)


def agree(shape, kind, args, build):
    ours, theirs = engine(shape, kind, args), measure(build, shape)
    if isinstance(theirs, Exception) or isinstance(ours, Exception):
        assert isinstance(ours, Exception) and isinstance(theirs, Exception), (
            f"archcalc: {getattr(ours, 'render', lambda: ours)()}\ntorch: {theirs}")
        return None
    out, params, buffers, flops = theirs
    assert ours.output == out, (ours.output, out)
    assert ours.totals["params"] == params
    assert ours.totals["buffers"] == buffers
    assert ours.totals["flops"] == flops
    return ours


size = st.integers(1, 14)
small = st.integers(1, 4)


@st.composite
def conv_case(draw, nd):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c = draw(st.integers(1, 3)) * groups + draw(st.sampled_from([0, 0, 0, 0, 1]))  # sometimes indivisible
    k_out = draw(st.integers(1, 3)) * groups
    spatial = [draw(st.integers(1, 9 if nd == 3 else 14)) for _ in range(nd)]
    kernel = [draw(small) for _ in range(nd)]
    stride = [draw(st.integers(1, 3)) for _ in range(nd)]
    dilation = [draw(st.integers(1, 2)) for _ in range(nd)]
    padding = draw(st.one_of(st.lists(st.integers(0, 3), min_size=nd, max_size=nd),
                             st.sampled_from(["same", "valid"])))
    if padding == "same" and draw(st.booleans()):
        stride = [1] * nd
    bias = draw(st.booleans())
    return [c, *spatial], dict(out_channels=k_out, kernel_size=kernel, stride=stride, padding=padding,
                               dilation=dilation, groups=groups, bias=bias)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_matches_torch(nd):
    cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[nd]

    @SETTINGS
    @given(conv_case(nd))
    def check(case):
        shape, a = case
        agree(shape, f"conv{nd}d", a, lambda: cls(shape[0], a["out_channels"], a["kernel_size"], a["stride"],
                                                  a["padding"], a["dilation"], a["groups"], a["bias"]))

    check()


@SETTINGS
@given(st.integers(1, 40), st.integers(1, 40), st.booleans(), st.one_of(st.none(), st.integers(1, 6)))
def test_linear_matches_torch(fan_in, out, bias, steps):
    shape = [fan_in] if steps is None else [steps, fan_in]
    agree(shape, "linear", dict(out_features=out, bias=bias), lambda: nn.Linear(fan_in, out, bias))


def test_linear_after_conv_is_refused_with_flatten_hint():
    err = engine([256, 6, 6], "linear", dict(out_features=10))
    assert isinstance(err, SpecError) and "insert '- flatten'" in err.hint


@SETTINGS
@given(st.integers(1, 30), st.integers(1, 20), st.integers(1, 5), st.booleans())
def test_maxout_matches_linear_then_max(fan_in, out, pieces, bias):
    class Maxout(nn.Module):  # the textbook definition, written here independently
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(fan_in, out * pieces, bias)

        def forward(self, x):
            return self.lin(x).view(*x.shape[:-1], out, pieces).amax(-1)

    agree([fan_in], "maxout", dict(out_features=out, pieces=pieces, bias=bias), Maxout)


@st.composite
def pool_case(draw, nd, dilation):
    spatial = [draw(size) for _ in range(nd)]
    kernel = [draw(small) for _ in range(nd)]
    stride = draw(st.one_of(st.none(), st.lists(st.integers(1, 3), min_size=nd, max_size=nd)))
    padding = [draw(st.integers(0, 2)) for _ in range(nd)]
    a = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=draw(st.booleans()))
    if dilation:
        a["dilation"] = [draw(st.integers(1, 2)) for _ in range(nd)]
    return [draw(st.integers(1, 3)), *spatial], a


@pytest.mark.parametrize("kind", ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"])
def test_pooling_matches_torch(kind):
    nd = int(kind[-2])
    is_max = kind.startswith("max")
    cls = getattr(nn, ("MaxPool" if is_max else "AvgPool") + f"{nd}d")

    @SETTINGS
    @given(pool_case(nd, is_max))
    def check(case):
        shape, a = case
        if is_max:
            build = lambda: cls(a["kernel_size"], a["stride"], a["padding"], a["dilation"], ceil_mode=a["ceil_mode"])  # noqa: E731
        else:
            build = lambda: cls(a["kernel_size"], a["stride"], a["padding"], ceil_mode=a["ceil_mode"])  # noqa: E731
        agree(shape, kind, a, build)

    check()


@SETTINGS
@given(pool_case(2, False), st.sampled_from([1.0, 2.0, 3.0]))
def test_lp_pool2d_matches_torch(case, norm):
    shape, a = case
    a.pop("padding")
    a["norm_type"] = norm
    agree(shape, "lp_pool2d", a, lambda: nn.LPPool2d(norm, a["kernel_size"], a["stride"], a["ceil_mode"]))


@SETTINGS
@given(st.integers(1, 4), size, size, st.one_of(st.integers(1, 7), st.tuples(
    st.one_of(st.none(), st.integers(1, 7)), st.one_of(st.none(), st.integers(1, 7)))))
def test_adaptive_avg_pool2d_matches_torch(c, h, w, out):
    arg = list(out) if isinstance(out, tuple) else out
    agree([c, h, w], "adaptive_avg_pool2d", dict(output_size=arg), lambda: nn.AdaptiveAvgPool2d(out))


@SETTINGS
@given(st.integers(1, 16), st.one_of(st.just([]), st.lists(size, min_size=1, max_size=1),
                                     st.lists(size, min_size=2, max_size=2)),
       st.booleans(), st.booleans())
def test_batch_norm_matches_torch(c, rest, affine, track):
    shape = [c, *rest]
    kind = "batch_norm2d" if len(rest) == 2 else "batch_norm1d"
    cls = nn.BatchNorm2d if len(rest) == 2 else nn.BatchNorm1d
    a = dict(affine=affine, track_running_stats=track)
    agree(shape, kind, a, lambda: cls(c, affine=affine, track_running_stats=track).eval())


@pytest.mark.parametrize("kind,module", [
    ("relu", nn.ReLU()), ("relu6", nn.ReLU6()), ("leaky_relu", nn.LeakyReLU()), ("elu", nn.ELU()),
    ("gelu", nn.GELU()), ("silu", nn.SiLU()), ("sigmoid", nn.Sigmoid()), ("tanh", nn.Tanh()),
    ("softmax", nn.Softmax(dim=-1)), ("log_softmax", nn.LogSoftmax(dim=-1)), ("identity", nn.Identity()),
    ("dropout", nn.Dropout(0.5)), ("local_response_norm", nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0)),
])
@pytest.mark.parametrize("shape", [[7], [4, 9], [5, 6, 7]])
def test_shape_preserving_kinds(kind, module, shape):
    if kind == "local_response_norm":
        ours = engine(shape, kind, {"size": 5, "k": 2})
        if len(shape) < 2:
            assert isinstance(ours, SpecError)
            return
        agree(shape, kind, {"size": 5, "k": 2}, lambda: module)
    else:
        agree(shape, kind, {}, lambda: module)


@SETTINGS
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.integers(-5, 4), st.integers(-5, 4))
def test_flatten_matches_torch(shape, start, end):
    # archcalc's axes are per sample; torch's count the batch axis
    to_torch = lambda d: d + 1 if d >= 0 else d  # noqa: E731
    ours = engine(shape, "flatten", dict(start_dim=start, end_dim=end))
    rank = len(shape)
    valid = -rank <= start < rank and -rank <= end < rank and start % rank <= end % rank
    if not valid:
        assert isinstance(ours, SpecError)
        return
    agree(shape, "flatten", dict(start_dim=start, end_dim=end), lambda: nn.Flatten(to_torch(start), to_torch(end)))


@SETTINGS
@given(st.integers(1, 3), size, size, st.integers(1, 3), st.lists(small, min_size=2, max_size=2),
       st.lists(st.integers(1, 3), min_size=2, max_size=2), st.lists(st.integers(0, 2), min_size=2, max_size=2),
       st.booleans())
def test_locally_connected_matches_unfold(c, h, w, k_out, kernel, stride, padding, bias):
    """torch has no locally connected module: its positions are what F.unfold extracts, and
    each position has its own (c·kh·kw)×k_out weights (+ k_out biases)."""
    a = dict(out_channels=k_out, kernel_size=kernel, stride=stride, padding=padding, bias=bias)
    ours = engine([c, h, w], "locally_connected2d", a)
    try:
        cols = torch.nn.functional.unfold(torch.randn(1, c, h, w), kernel, padding=padding, stride=stride)
        assert cols.shape[-1] > 0
    except (RuntimeError, AssertionError):
        assert isinstance(ours, SpecError)
        return
    assert not isinstance(ours, SpecError), ours.render()
    positions = cols.shape[-1]
    assert ours.output[1] * ours.output[2] == positions
    assert ours.totals["params"] == positions * k_out * (c * kernel[0] * kernel[1] + bias)
    assert ours.totals["macs"] == positions * k_out * cols.shape[1]
