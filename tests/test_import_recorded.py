"""Import's fast path (archcalc/torch_backend/importing/recorded.py): the graph torch.fx would
trace, recorded from one run of the model. The property it must keep: wherever it records,
fx.py reads the recorded graph exactly as it reads fx's own (the same values, kinds, arguments,
shapes, output and notes, or the same refusal); wherever the run does something fx would not
record alike, it records nothing and fx traces the model. Checked here on small models made
for each construct, and on every model of the import fuzzing and every torchvision CNN
(tests/test_fuzz_import.py, tests/test_import_torchvision.py: `recorded_as_traced`)."""
from __future__ import annotations

import weakref

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from archcalc.spec.errors import SpecError  # noqa: E402
from archcalc.torch_backend.importing import import_model  # noqa: E402
from archcalc.torch_backend.importing.fx import _recorded, trace_fx  # noqa: E402

pytestmark = pytest.mark.torch


def recorded_as_traced(model: nn.Module, examples: tuple) -> tuple[bool, object, object]:
    """(whether the recorded graph reads as fx's does, the recorded reading, fx's reading):
    each reading the values, output and notes, or the refusal's text."""
    def reading(record: bool):
        try:
            return trace_fx(model, examples, located=False, record=record)
        except SpecError as err:
            return err.render()
        except Exception as exc:  # fx refuses the model's Python (import then falls back to forward hooks)
            return f"{type(exc).__name__}: {exc}"

    fast, traced = reading(True), reading(False)
    return fast == traced, fast, traced


class _Shuffle(nn.Module):
    """ShuffleNet's channel shuffle: sizes read, divided, unpacked and passed to view."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        b, c, h, w = x.size()
        x = self.conv(x).view(b, 2, c // 2, h, w).transpose(1, 2).contiguous()
        return x.view(b, -1, h, w)


class _Resize(nn.Module):
    """A segmentation head: the input's own size read back (x.shape[-2:]) for interpolate."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, stride=2, padding=1)

    def forward(self, x):
        size = x.shape[-2:]
        return {"out": F.interpolate(self.conv(x), size=size, mode="bilinear", align_corners=False)}


class _Residual(nn.Module):
    """`+=` (fx: operator.add), scalar arithmetic on either side, a flatten by view."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.fc = nn.Linear(3 * 4 * 4, 5)

    def forward(self, x):
        out = self.conv(x)
        out += x
        out = 2.0 - (1.0 + out * 0.5) / 2
        return self.fc(out.view(out.size(0), -1))


class _Split(nn.Module):
    """A chunk unpacked into two branches, concatenated back; a layer scale read in forward."""

    def __init__(self):
        super().__init__()
        self.branch = nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU())
        self.gamma = nn.Parameter(torch.ones(4, 1, 1))

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        return torch.cat((a, self.branch(b)), dim=1) * self.gamma


class _Recurrent(nn.Module):
    """A module's tuple output unpacked (an LSTM's sequence and state), an optional argument."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x, state=None):
        out, (h, c) = self.lstm(x)
        return self.head(out)


def _kept_whole(x, scale: float):
    """A function torch.fx.wrap names: fx records its call, not what it does."""
    return x * scale


torch.fx.wrap("_kept_whole")  # noqa: E402 (torch.fx: imported with torch)


class _Wrapped(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return x + _kept_whole(self.conv(x), 0.5)


class _Hooked(nn.Module):
    """A leaf whose own forward hook changes its output, as the model's call runs it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.conv.register_forward_hook(lambda module, inputs, out: out[:, :2])
        self.fc = nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


RECORDED = {  # model, one sample of its input
    "channel shuffle": (_Shuffle, (4, 6, 6)),
    "sizes read back": (_Resize, (3, 8, 8)),
    "+= and scalars": (_Residual, (3, 4, 4)),
    "chunk and layer scale": (_Split, (4, 5, 5)),
    "tuple output, optional argument": (_Recurrent, (7, 6)),
    "a module's own hook": (_Hooked, (3, 4, 4)),
}


@pytest.mark.parametrize("case", list(RECORDED))
def test_a_recorded_graph_reads_as_fx_graph(case):
    make, shape = RECORDED[case]
    torch.manual_seed(0)
    model, examples = make().eval(), (torch.randn(1, *shape),)
    assert _recorded(model, examples) is not None, "the run was not recorded"
    alike, fast, traced = recorded_as_traced(model, examples)
    assert alike, (fast, traced)
    assert not isinstance(fast, str), fast  # each of these imports


def _written(graph) -> list[tuple]:
    """Each node of a graph as fx.py reads it: name, op, target, its arguments (a node by its
    name, each container by its type: fx normalises a torch.Size to a tuple, a list to its
    immutable_list), the names of the nodes it reads. `1.0 + x` is written x + 1.0: torch hands
    a TorchFunctionMode Tensor.add(x, 1.0) for both (the C __radd__), where fx's Proxy knows
    which side it was on; + and × are commutative, and fx.py reads the two alike."""
    import operator

    from archcalc.torch_backend.importing.fx import Node

    def args(node):
        commuted = node.target in (operator.add, operator.mul) and len(node.args) == 2 \
            and not isinstance(node.args[0], Node)
        return node.args[::-1] if commuted else node.args

    def plain(value):
        if isinstance(value, Node):
            return "%" + value.name
        if isinstance(value, (tuple, list)):
            return type(value).__name__, [plain(v) for v in value]
        if isinstance(value, dict):
            return type(value).__name__, {k: plain(v) for k, v in value.items()}
        if isinstance(value, slice):
            return "slice", plain(value.start), plain(value.stop), plain(value.step)
        return value

    return [(n.name, n.op, n.target, plain(args(n)), plain(n.kwargs), [m.name for m in n.all_input_nodes])
            for n in graph.nodes]


class _Arguments(nn.Module):
    """Sizes in a list, a torch.Size, a slice and keywords: what fx normalises as it stores them."""

    def forward(self, x):
        n = x.size(0)
        y = x.reshape([n, -1]).view(torch.Size([1, -1]))
        return torch.cat([y[:, : x.shape[1]], y], dim=1).flatten(start_dim=1)


@pytest.mark.parametrize("case", [*RECORDED, "arguments"])
def test_a_recorded_graph_is_fx_graph_node_for_node(case):
    """Names, ops, targets, arguments and the nodes each reads, as fx's trace gives them once its
    dead code is gone (the Translator reads nothing else of a node but its metadata)."""
    from archcalc.torch_backend.importing.fx import _Tracer

    make, shape = RECORDED.get(case, (_Arguments, (3, 4)))
    torch.manual_seed(0)
    model, examples = make().eval(), (torch.randn(1, *shape),)
    recorded, _ = _recorded(model, examples)
    recorded.eliminate_unread()
    traced = _Tracer(False).trace(model)
    traced.owning_module = model
    traced.eliminate_dead_code()
    assert _written(recorded) == _written(traced)


def test_an_fx_wrapped_function_is_recorded_whole():
    model, examples = _Wrapped().eval(), (torch.randn(1, 3, 4, 4),)
    graph, _ = _recorded(model, examples)
    assert [n.target.__name__ for n in graph.nodes if n.op == "call_function"] == ["_kept_whole", "add"]
    alike, fast, traced = recorded_as_traced(model, examples)
    assert alike, (fast, traced)
    assert "calls _kept_whole" in fast  # no kind stands for it: refused alike


class _Branching(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        x = self.fc(x)
        if x.sum() > 1e9:
            x = x * 0
        return x


class _InPlace(nn.Module):
    def forward(self, x):
        y = x.relu()
        y.add_(1)
        return y


class _Constant(nn.Module):
    def forward(self, x):
        return x + torch.ones(4)


class _MatmulMethod(nn.Module):
    def forward(self, x):
        return x.matmul(x.transpose(1, 2))


class _Compared(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.size(-1) == 4:
            x = self.fc(x)
        return x


class _Unheld(nn.Module):
    def forward(self, x):
        return nn.ReLU()(x)


NOT_RECORDED = {  # what fx would not record alike: fx traces it (and may refuse, or fall back to hooks)
    "control flow on a tensor": _Branching,
    "an in-place method": _InPlace,
    "a tensor made in forward": _Constant,
    "x.matmul(y), which fx records apart from @": _MatmulMethod,
    "a size compared": _Compared,
    "a module the model does not hold": _Unheld,
}


def test_a_hook_set_for_every_module_runs_in_the_recording():
    """A global hook (torch.nn.modules.module.register_module_forward_hook), which every module's
    call runs: the recording calls the modules as the model's own calls would."""
    def halved(module, inputs, out):
        return out[:, :2] if isinstance(module, nn.Conv2d) else None

    model, examples = _Hooked().eval(), (torch.randn(1, 3, 4, 4),)
    model.conv._forward_hooks.clear()
    handle = nn.modules.module.register_module_forward_hook(halved)
    try:
        assert _recorded(model, examples) is not None, "the run was not recorded"
        alike, fast, traced = recorded_as_traced(model, examples)
    finally:
        handle.remove()
    assert alike, (fast, traced)


@pytest.mark.parametrize("case", list(NOT_RECORDED))
def test_what_fx_would_not_record_alike_is_left_to_fx(case):
    model, examples = NOT_RECORDED[case]().eval(), (torch.randn(1, 3, 4),)
    assert _recorded(model, examples) is None
    alike, fast, traced = recorded_as_traced(model, examples)
    assert alike, (fast, traced)


def test_control_flow_still_falls_back_to_forward_hooks():
    imported = import_model("branching", "3,4", model=_Branching())
    assert imported.method == "forward hooks"


def test_a_recording_leaves_torch_as_it_was():
    """The modules' calls, the fx-wrapped functions, the global module hooks and the
    torch-function modes are as they were, after a recorded run and after one that stops."""
    from torch.fx import _symbolic_trace
    from torch.nn.modules import module as torch_module
    from torch.overrides import _get_current_function_mode_stack

    def state(*models):
        return (nn.Module.__call__, {k: d[k[1]] for k, d in _symbolic_trace._wrapped_fns_to_patch.items() if k[1] in d},
                len(_get_current_function_mode_stack()), len(torch_module._global_forward_pre_hooks),
                [m.__dict__.get("_compiled_call_impl") for model in models for m in model.modules()])

    shuffle, branching = _Shuffle().eval(), _Branching().eval()
    before = state(shuffle, branching)
    assert _recorded(shuffle, (torch.randn(1, 4, 6, 6),)) is not None
    assert _recorded(branching, (torch.randn(1, 3, 4),)) is None
    assert state(shuffle, branching) == before
    assert shuffle(torch.randn(1, 4, 6, 6)).shape == (1, 4, 6, 6)  # and the model runs as before


def test_a_module_call_the_recording_does_not_see_leaves_the_model_to_fx(monkeypatch):
    """Were torch to stop consulting the instance attribute the recording watches module calls
    by, the modules' insides would be recorded as the model's own code: the global pre-hook
    notices a module call that did not come through the recording."""
    from archcalc.torch_backend.importing import recorded

    model, examples = _Shuffle().eval(), (torch.randn(1, 4, 6, 6),)
    monkeypatch.setattr(recorded, "_CALL", "_an_attribute_torch_does_not_consult")
    assert _recorded(model, examples) is None
    monkeypatch.undo()
    assert _recorded(model, examples) is not None


class _Temporaries(nn.Module):
    """Intermediate tensors freed in forward, then tensors made from nothing: whether each
    intermediate was freed while forward ran, and whether a new tensor took a freed one's id
    (CPython reuses an object's memory)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.freed: list[bool] = []
        self.reused: list[bool] = []

    def forward(self, x):
        hidden = [self.fc(x) for _ in range(32)]
        alive, ids = [weakref.ref(h) for h in hidden], {id(h) for h in hidden}
        for h in hidden:  # each read: no work is dropped
            x = x + h
        del hidden, h
        self.freed.append(all(ref() is None for ref in alive))
        made = [torch.ones(1, 4) for _ in range(32)]  # fx keeps one as a constant: a recording cannot say
        reused = [m for m in made if id(m) in ids]  # where it comes from
        self.reused.append(bool(reused))
        return x + (reused or made)[0]


def test_a_recording_frees_the_runs_tensors_and_forgets_their_ids():
    """The recording keeps no tensor of the run alive (kept, each new tensor took fresh memory:
    +5 ms on mobilenet_v3_small's 9 ms forward); a freed tensor's id, taken by a tensor made
    from nothing, is not mistaken for the freed one's node: the model is left to fx."""
    model, examples = _Temporaries().eval(), (torch.randn(1, 3, 4),)
    assert _recorded(model, examples) is None
    assert model.freed == [True]
    assert model.reused == [True], "no id was taken again: the check would prove nothing"
    alike, fast, traced = recorded_as_traced(model, examples)
    assert alike, (fast, traced)


def test_a_reading_leaves_its_graph_to_be_freed_not_collected():
    """The recorded graph, the recorder and the spec's entries are freed as import lets go of
    them, not left in a reference cycle to Python's garbage collector (whose pass then
    traverses the whole reading: 3% of a small model's import)."""
    import gc

    model = _Split().eval()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        imported = import_model("split", "4,5,5", model=model)  # kept: its example input is a tensor of the run
        gc.collect()
        left = {type(o).__name__ for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert "Graph" in left, "nothing was left to the collector: the check would prove nothing"  # fx's own
    assert not left & {"Recorder", "RecordedGraph", "RecordedNode", "TracedEntry"}, left
    assert imported.examples
