"""`archcalc import MODULE:CALLABLE`: a spec written from PyTorch model code, verified against it.

The model is traced with torch.fx (fx.py: its leaf modules, the functions between them, and
where each value comes from); when fx cannot trace it (Python control flow on tensor values),
forward hooks record the leaf modules actually called (hooks.py), which works for chains.
What each module and function stands for is said by the layer kinds (torch_classes,
torch_functions, from_torch and the import hooks, in the kinds' own files). The data flow
is then rebuilt as the spec language writes it (structure.py) and written by spec/write.py.
Anything a spec cannot say — a module or function with no kind, a value used across
branches — is reported by name and source line, all of them, rather than dropped.

This imports and runs the user's code: only the `import` command and `check --against` do.
"""
from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from archcalc.engine.analyze import MAX_SIZE
from archcalc.layers.registry import kind_of_module
from archcalc.spec.errors import Location, SpecError
from archcalc.spec.write import NAME, Entry, spec_text
from archcalc.torch_backend.importing.fx import trace_fx
from archcalc.torch_backend.importing.hooks import trace_hooks
from archcalc.torch_backend.importing.structure import structure
from archcalc.torch_backend.importing.traced import followed_output

TRACED_SIZE = 224  # a symbolic dimension's size while tracing, unless --set says otherwise


@dataclass
class Imported:
    text: str  # the spec
    method: str  # "torch.fx" or "forward hooks"
    notes: list[str]
    model: Any = None
    examples: tuple = ()  # one sample of each input, as traced
    sizes: dict = field(default_factory=dict)  # the symbolic dimensions' sizes it was traced at


def parse_inputs(text: str) -> list[list]:
    """'S,512;T,512' → [['S', 512], ['T', 512]]: one sample of each of the model's inputs
    (`--input` given once per input, joined by ';')."""
    return [parse_input(part) for part in text.split(";")]


def parse_input(text: str) -> list:
    """'3,224,224' → [3, 224, 224]; '3,H,W' → [3, 'H', 'W'] (symbolic dimensions)."""
    dims = []
    for part in (p.strip() for p in text.split(",")):
        if part.isascii() and part.isdigit() and len(part) <= 19 and 1 <= int(part) <= MAX_SIZE:
            dims.append(int(part))
        elif NAME.match(part):
            dims.append(part)
        else:
            shown = part if len(part) <= 40 else part[:37] + "…"
            raise SpecError(f"--input: '{shown}' is neither a positive size (at most 2^63 - 1) nor a dimension name",
                            Location("--input"), expected="sizes per sample, e.g. 3,224,224 or 3,H,W (no batch)",
                            code="usage")
    if not dims:
        raise SpecError("--input is empty", Location("--input"), expected="e.g. 3,224,224", code="usage")
    return dims


def build_model(target: str) -> nn.Module:
    from archcalc.torch_backend.against import load_factory

    factory = load_factory(target, "import")
    try:
        model = factory() if not isinstance(factory, nn.Module) else factory
    except Exception as exc:  # the user's code
        raise SpecError(f"calling {target} failed: {type(exc).__name__}: {exc}", Location("import"),
                        hint="the factory is called with no arguments; wrap it in one that passes them",
                        code="import-run") from None
    if not isinstance(model, nn.Module):
        raise SpecError(f"{target} returned {type(model).__name__}, not a torch.nn.Module", Location("import"),
                        code="import-run")
    return model.eval()


def _evaluating(model: nn.Module) -> nn.Module:
    """The model in eval mode; eval() only where a module is training (it sets the flag of every
    module through nn.Module.__setattr__: 1 ms on a small model already in eval mode)."""
    return model.eval() if any(m.training for m in model.modules()) else model


def _examples(model: nn.Module, inputs: list[list[int]], dtype: str | None) -> tuple[tuple, list[str]]:
    """(one sample of each input, their dtypes): token ids below the smallest vocabulary when a
    layer reads ids (then the default dtype is index), on the model's device. `dtype`: one for
    every input, or one each, comma-separated (index,float: token ids and a memory)."""
    readers = [m for m in model.modules() if getattr(kind_of_module(m), "accepts_index", False)]
    dtypes = (dtype or ("index" if readers else "float")).split(",")
    if len(dtypes) == 1:
        dtypes = dtypes * len(inputs)
    if len(dtypes) != len(inputs) or not set(dtypes) <= {"float", "index"}:
        raise SpecError(f"--dtype {dtype}: one dtype (float or index) for every input, or one for each of the "
                        f"{len(inputs)}", Location("--dtype"), code="usage")
    device = next(iter(model.parameters()), torch.empty(0)).device
    high = min((getattr(m, "num_embeddings", 2) for m in readers), default=2)
    return tuple(torch.randint(0, high, (1, *sizes), device=device) if kind == "index" else
                 torch.randn(1, *sizes, device=device) for sizes, kind in zip(inputs, dtypes)), dtypes


def _read(model: nn.Module, examples: tuple, target: str) -> tuple[list, list[str], str, list[str]]:
    """(the spec's items, notes, method, the inputs' names). Traced first without source lines
    (fx records a stack trace per node: a third of its time); when the model says something a
    spec cannot, again with them, so that every error names its line."""
    try:
        values, output, notes, method = _trace(model, examples, target, located=False)
    except SpecError as err:
        if err.code == "usage":
            raise
        values, output, notes, method = _trace(model, examples, target, located=True)
    else:
        try:
            return structure(values, output), notes, method, _input_ids(values)
        except SpecError:
            values, output, notes, method = _trace(model, examples, target, located=True)
    return structure(values, output), notes, method, _input_ids(values)


def _input_ids(values: list) -> list[str]:
    return [v.id for v in values if v.op == "input"]


def _trace(model: nn.Module, examples: tuple, target: str, located: bool):
    """(values, output, notes, method): torch.fx, or forward hooks when fx refuses the model."""
    try:
        return (*trace_fx(model, examples, located), "torch.fx")
    except SpecError:
        raise
    except Exception as exc:  # fx refuses the model's Python: fall back to hooks
        cause = exc.__cause__ or exc  # the failure the model's own code raised, where it is wrapped
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0] + _failed_at(cause)
    try:
        return (*trace_hooks(model, examples, reason), "forward hooks")
    except SpecError:
        raise
    except Exception as run_exc:  # the user's code
        raise SpecError(f"running {target} failed: {type(run_exc).__name__}: {run_exc}", Location("import"),
                        code="import-run") from None


def _failed_at(exc: BaseException) -> str:
    """' at FILE:LINE': the last line of the model's own code (not torch's, not archcalc's) that
    the failure passed through, where fx met what it cannot trace; '' when there is none."""
    import traceback

    from archcalc.torch_backend.importing.traced import ours

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not ours(f.filename)]
    if not frames:
        return ""
    last = frames[-1]
    library = _library(last.filename)
    where = f" in {last.name}() at {last.filename}:{last.lineno}"
    return where + (f", in the installed package {library} (not the model's own code): torch.fx cannot trace "
                    "that package's forward" if library else "")


def _library(filename: str) -> str | None:
    """The installed package a file belongs to (site-packages/NAME/...), or None."""
    parts = filename.replace("\\", "/").split("/")
    for marker in ("site-packages", "dist-packages"):
        if marker in parts and parts.index(marker) + 1 < len(parts) - 1:
            return parts[parts.index(marker) + 1]
    return None


@contextmanager
def _collector_paused():
    """Python's cyclic garbage collector paused while the model is read. The graph's nodes and
    their metadata are thousands of containers, whose allocation sets the collector off; its
    full pass, every tenth or so, scans every object torch and torchvision hold (350,000 and
    190 ms here: more than a small model's whole import). What the reading allocates lives
    until the spec is written, so pausing frees nothing later than it would have been."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def import_model(target: str, input_text: str, *, dtype: str | None = None, sizes: dict | None = None,
                 name: str | None = None, model: nn.Module | None = None) -> Imported:
    shapes = parse_inputs(input_text)
    sizes = {k: int(v) for k, v in (sizes or {}).items()}
    at = {d: sizes.get(d, TRACED_SIZE) for dims in shapes for d in dims if isinstance(d, str)}
    model = build_model(target) if model is None else _evaluating(model)
    examples, dtype = _examples(model, [[at.get(d, d) for d in dims] for dims in shapes], dtype)
    with _collector_paused():
        items, notes, method, names = _read(model, examples, target)
    if not items:  # its output is its input, or scalar arithmetic on it (a note each): no layer to write
        items = [Entry("identity")]
        notes.append("the model's output is its input up to scalar arithmetic: the spec is one identity layer")
    if at:
        notes.insert(0, "traced and verified at " + ", ".join(f"{k}={v}" for k, v in at.items())
                     + " (choose with --set NAME=VALUE)")
    spec_name = name or re.sub(r"[^A-Za-z0-9_]", "_", target.rsplit(":", 1)[-1].rsplit(".", 1)[-1])
    given = " ".join(f"--input {part}" for part in input_text.split(";"))
    doc = f"Imported by `archcalc import {target} {given}` from {type(model).__name__} ({method})."
    return Imported(spec_text(spec_name, doc, shapes[0], dtype, at, items, dict(zip(names, zip(shapes, dtype)))),
                    method, notes,
                    model, examples, at)


def verify_import(imported: Imported, target: str) -> tuple[list, Any]:
    """The written spec against the model it came from: output shape, parameters, buffers,
    FLOPs (torch's FlopCounterMode) and every parameterised layer in call order."""
    from archcalc.engine import numbers as N
    from archcalc.engine.analyze import analyze
    from archcalc.outcome import Outcome
    from archcalc.spec import load_spec_text
    from archcalc.torch_backend.against import compare_leaves

    spec = load_spec_text(imported.text, "<imported spec>")
    analysis = analyze(spec, {k: str(v) for k, v in imported.sizes.items()})
    model, xs = imported.model, imported.examples
    watched, y, flops = _watched(model, xs)
    results = [Outcome("import.output", list(analysis.output) == list(y.shape[1:]), str(list(analysis.output)),
                       str(list(y.shape[1:])), None, "the model's output per sample", kind="against"),
               Outcome("import.flops", analysis.totals["flops"] == flops, N.fmt(analysis.totals["flops"]),
                       f"{flops:,}", None, "FlopCounterMode on the model", kind="against")]
    if watched.unused:
        imported.notes.append(f"the forward never calls {watched.unused_text()}: not in the spec, and not a "
                              "difference")
    results += compare_leaves(analysis, model, watched, target)
    return results, analysis


def _watched(model: nn.Module, xs: tuple) -> tuple[Any, Any, int]:
    """One forward pass of the model at x, watched (its leaves, what it never calls), its
    output and FlopCounterMode's count, on x's device. mkldnn is turned off only where a kind
    says FlopCounterMode cannot count it on that path (mkldnn_uncounted: nn.LSTM on the CPU
    runs as one mkldnn op it has no formula for); for the rest it changes no count and keeps the pass fast (mobilenet_v3_small's
    depthwise convolutions run 10 times slower without it)."""
    from archcalc.torch_backend.against import model_leaves
    from archcalc.torch_backend.counting import flop_counter

    recurrent = any(getattr(kind_of_module(m), "mkldnn_uncounted", False) for m in model.modules())

    out, counters = [], []

    def forward():
        with flop_counter(mkldnn=not recurrent) as counter:
            out.append(followed_output(model(*xs)))
        counters.append(counter)

    watched = model_leaves(model, tuple(xs[0].shape[1:]), forward=forward)
    return watched, out[0], counters[0].get_total_flops()


def import_and_verify(target: str, input_text: str, *, dtype: str | None = None, sizes: dict | None = None,
                      name: str | None = None, verify: bool = True) -> tuple[Imported, list]:
    """`archcalc import`: the spec written from the model, and its checks against the model
    (none without verify). Each --set size must be a positive integer (the trace runs at it)."""
    import warnings

    sizes = dict(sizes or {})
    for key, value in sizes.items():
        if not str(value).isdigit() or int(value) < 1:
            raise SpecError(f"--set {key}={value}: a traced size must be a positive integer", Location("--set"),
                            code="usage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imported = import_model(target, input_text, dtype=dtype, sizes=sizes, name=name)
        return imported, (verify_import(imported, target)[0] if verify else [])
