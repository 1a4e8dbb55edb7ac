"""Random layer stacks: the engine and torch agree on every shape and count, or both refuse.

The torch side is built here, directly from the layer settings (not by archcalc's backend);
then the backend's own `verify` must agree on the same stack too.
"""
from __future__ import annotations

import json
import os

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from archcalc.spec import load_spec_text
from archcalc.spec.errors import SpecError
from archcalc.engine.analyze import analyze
from archcalc.torch_backend import verify_spec
from archcalc.torch_backend.modules import LocallyConnected2d

EXAMPLES = int(os.environ.get("ARCHCALC_EXAMPLES", "40"))


@st.composite
def image_layer(draw):
    kind = draw(st.sampled_from(["conv2d", "conv2d", "max_pool2d", "avg_pool2d", "batch_norm2d", "relu",
                                 "tanh", "locally_connected2d", "local_response_norm"]))
    if kind == "conv2d":
        return kind, dict(out_channels=draw(st.integers(1, 3)) * 2, kernel_size=draw(st.integers(1, 5)),
                          stride=draw(st.integers(1, 3)), padding=draw(st.integers(0, 2)),
                          groups=draw(st.sampled_from([1, 1, 2])), bias=draw(st.booleans()))
    if kind in ("max_pool2d", "avg_pool2d"):
        return kind, dict(kernel_size=draw(st.integers(1, 3)), stride=draw(st.integers(1, 3)),
                          padding=draw(st.integers(0, 1)), ceil_mode=draw(st.booleans()))
    if kind == "locally_connected2d":
        return kind, dict(out_channels=draw(st.integers(1, 3)), kernel_size=draw(st.integers(1, 3)),
                          stride=draw(st.integers(1, 2)), padding=draw(st.integers(0, 1)), bias=draw(st.booleans()))
    if kind == "local_response_norm":
        return kind, dict(size=draw(st.integers(1, 5)))
    return kind, {}


@st.composite
def stack(draw):
    shape = [draw(st.integers(1, 4)), draw(st.integers(3, 20)), draw(st.integers(3, 20))]
    layers = draw(st.lists(image_layer(), min_size=1, max_size=6))
    if draw(st.booleans()):
        layers.append(("flatten", {}))
        layers.append(("linear", dict(out_features=draw(st.integers(1, 10)))))
        if draw(st.booleans()):
            layers.append(("maxout", dict(out_features=draw(st.integers(1, 5)), pieces=draw(st.integers(1, 3)))))
    return shape, layers


def torch_layer(kind, a, x):
    """The torch module for one layer, from its settings and the input shape torch produced."""
    if kind == "conv2d":
        return nn.Conv2d(x[0], a["out_channels"], a["kernel_size"], a["stride"], a["padding"], 1, a["groups"],
                         a["bias"])
    if kind == "max_pool2d":
        return nn.MaxPool2d(a["kernel_size"], a["stride"], a["padding"], ceil_mode=a["ceil_mode"])
    if kind == "avg_pool2d":
        return nn.AvgPool2d(a["kernel_size"], a["stride"], a["padding"], ceil_mode=a["ceil_mode"])
    if kind == "locally_connected2d":
        return LocallyConnected2d(x[0], a["out_channels"], tuple(x[1:]), a["kernel_size"], a["stride"],
                                  a["padding"], a["bias"])
    if kind == "linear":
        return nn.Linear(x[-1], a["out_features"])
    if kind == "maxout":
        lin = nn.Linear(x[-1], a["out_features"] * a["pieces"])
        return nn.Sequential(lin, nn.Unflatten(-1, (a["out_features"], a["pieces"])), _Max())
    return {"batch_norm2d": lambda: nn.BatchNorm2d(x[0]), "relu": nn.ReLU, "tanh": nn.Tanh,
            "flatten": nn.Flatten, "local_response_norm": lambda: nn.LocalResponseNorm(a["size"])}[kind]()


class _Max(nn.Module):
    def forward(self, x):
        return x.amax(-1)


def torch_run(shape, layers):
    """Per-layer (output shape, params, buffers, flops), or None when torch refuses."""
    x = torch.randn(2, *shape)
    rows = []
    try:
        for kind, a in layers:
            if kind in ("max_pool2d", "avg_pool2d") and 2 * a["padding"] > a["kernel_size"]:
                raise ValueError("torch: pad should be at most half of kernel size")
            module = torch_layer(kind, a, tuple(x.shape[1:])).eval()
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                x = module(x)
            rows.append((tuple(x.shape[1:]), sum(p.numel() for p in module.parameters()),
                         sum(b.numel() for b in module.buffers()), counter.get_total_flops() // 2))
    except (RuntimeError, ValueError):
        return None
    return rows


def spec_text(shape, layers):
    items = "\n".join(f"  - {kind}: {json.dumps(a)}" if a else f"  - {kind}" for kind, a in layers)
    return f"archcalc: 1\ninput: {shape}\nlayers:\n{items}\n"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack())
def test_random_stacks_agree_with_torch(case):
    shape, layers = case
    spec = load_spec_text(spec_text(shape, layers), "stack.yaml")
    try:
        analysis = analyze(spec)
    except SpecError:
        analysis = None
    measured = torch_run(shape, layers)
    assert (analysis is None) == (measured is None), spec_text(shape, layers)
    if analysis is None:
        return
    for row, (out, params, buffers, flops) in zip(analysis.rows, measured):
        assert (row.output, row.params, row.buffers, row.flops) == (out, params, buffers, flops), row.path
    [v] = verify_spec(spec, device="meta")
    assert v.agree, v.disagreements()
