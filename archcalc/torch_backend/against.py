"""`--against MODULE:CALLABLE`: compare a spec with the model code it describes.

This imports and runs the user's code (their factory and its forward pass, on the meta
device, so no memory is allocated for weights). The leaves with parameters are recorded in
call order (kind, output shape, own parameters) and compared with the spec's rows; the
first divergence is reported with both sides, then the totals.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass

from archcalc.outcome import Outcome
from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis
from archcalc.layers.registry import kind_of_class
from archcalc.spec.errors import Location, SpecError


MATCH_WINDOW = 16


@dataclass
class Watched:
    """One forward pass of the model, watched: its leaves with parameters as called, in order
    ((qualified name, class, output shape per sample, own params)), and the modules holding
    parameters or buffers that it never called (an eval forward skips Inception's auxiliary
    heads): (qualified name, class name, params, buffers), outermost first."""

    calls: list
    unused: list

    @property
    def unused_params(self) -> int:
        return sum(u[2] for u in self.unused)

    @property
    def unused_buffers(self) -> int:
        return sum(u[3] for u in self.unused)

    def unused_text(self) -> str:
        return ", ".join(f"{name} ({kind}, {params:,} params)" for name, kind, params, _ in self.unused)


def _same(row, call, own_params) -> bool:
    """`own_params`: the parameters the row's module holds (a tied layer's are its owner's).
    The module's class is the kind's; or one it derives from is, and its own forward wraps the
    kind's computation in views (ConvNeXt's LayerNorm2d: permute, F.layer_norm with its own γ
    and β, permute back), so its output has the row's sizes in another order; or no kind reads
    it, and its forward calls the kind's function with its own tensors (F.prelu(x, self.weight)).
    The parameters are equal in every case."""
    _, cls, shape, params = call
    output = tuple(row.layer.torch_output_shape(row.args, row.input, row.output))
    if own_params != params:
        return False
    if _normal(row.kind) == _normal(cls.__name__) or row.layer is kind_of_class(cls):
        return output == shape
    if any(base.__name__ in row.layer.torch_classes for base in cls.__mro__[1:]):
        return sorted(output) == sorted(shape)
    # the user's own module, its forward a layer's function on its own tensors
    return kind_of_class(cls) is None and output == shape


def _normal(kind: str) -> str:
    """Conv2d / conv2d / BatchNorm2d / batch_norm2d → one spelling."""
    return kind.replace("_", "").lower()


def load_factory(target: str, option: str = "--against"):
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise SpecError(f"{option} {target}: expected MODULE:CALLABLE", Location(option),
                        expected="e.g. mypkg.models:resnet50 or path/to/models.py:resnet50", code="usage")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if module_name.endswith(".py"):  # a FIFO or device would hang the import: refused first
        from archcalc.textio import refuse_special

        refuse_special(module_name, "Python")
    try:
        if module_name.endswith(".py"):  # a file path: tests/models/tiny_resnet.py:tiny_resnet
            if not os.path.isfile(module_name):
                raise FileNotFoundError(f"no such file: {module_name}")
            loader_spec = importlib.util.spec_from_file_location(
                "archcalc_against_" + os.path.basename(module_name)[:-3], module_name)
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except Exception as exc:  # the user's code: any failure is reported, not raised
        raise SpecError(f"importing {module_name} failed: {type(exc).__name__}: {exc}",
                        Location(option), hint="check the module path and that it imports on its own",
                        code="against-import") from None
    factory = module
    for part in attr.split("."):
        if not hasattr(factory, part):
            raise SpecError(f"{module_name} has no attribute {attr}", Location(option),
                            code="against-import")
        factory = getattr(factory, part)
    return factory


def model_leaves(model, input_shape: tuple, dtype: str = "float", device: str = "meta", forward=None) -> Watched:
    """The model's forward pass at one sample of `input_shape`, watched (Watched); `forward`,
    when given, is a function that runs the model itself (once)."""
    import torch

    from archcalc.layers.registry import kind_of_module

    from archcalc.torch_backend.recording import first_tensor, recording

    units: list[str] = []  # modules a kind reads whole (maxout around its nn.Linear): their insides are not layers
    leaves = {}
    for name, module in model.named_modules():
        if any(_inside(name, u) for u in units):
            continue
        if kind_of_module(module) is not None and any(True for _ in module.children()):
            units.append(name)
        elif any(True for _ in module.children()):
            continue
        if any(True for _ in module.parameters()) and not getattr(kind_of_module(module), "weights_view", False):
            leaves[name] = module  # (archcalc's `parameter` module is a tensor read, as the spec's row: totals only)
    calls, called = [], set()

    def record(name, mod, _inputs, output):
        called.add(name)
        if name in leaves:
            calls.append((name, type(mod), tuple(first_tensor(output).shape[1:]),
                          sum(p.numel() for p in mod.parameters())))

    if forward is None:
        shape = (1, *(int(d) for d in input_shape))
        x = torch.zeros(shape, dtype=torch.long, device=device) if dtype == "index" else \
            torch.zeros(shape, device=device)
        forward = lambda: model(x)  # noqa: E731
    with recording(dict(model.named_modules()), record), torch.no_grad():
        forward()
    # a module a kind reads whole uses its submodules' tensors without calling them (MultiheadAttention's out_proj)
    inside = {n for n, _ in model.named_modules() if any(_inside(n, u) for u in units if u in called)}
    return Watched(calls, _never_called(model, called | inside))


def _inside(name: str, unit: str) -> bool:
    """Whether module `name` is a submodule of `unit` (the model itself is "", and holds every other)."""
    return name.startswith(unit + ".") if unit else bool(name)


def _never_called(model, called: set) -> list:
    """The outermost modules the forward never called that hold parameters or buffers (their
    own or their submodules'). A tensor counts as used when its module was called."""
    unused = []
    for name, module in model.named_modules():
        if name in called or any(name.startswith(u + ".") for u, *_ in unused):
            continue
        params = sum(p.numel() for m in _uncalled(module, name, called) for p in m.parameters(recurse=False))
        buffers = sum(b.numel() for m in _uncalled(module, name, called) for b in m.buffers(recurse=False))
        if params or buffers:
            unused.append((name, type(module).__name__, params, buffers))
    return unused


def _uncalled(module, name: str, called: set):
    for sub_name, sub in module.named_modules(prefix=name):
        if sub_name not in called:
            yield sub


def build_on_meta(factory):
    """The model built on the meta device (no memory for weights); a constructor that reads a
    tensor it made (RegNet's widths: torch.arange(...).tolist()) cannot run there, and is run
    on the CPU, its model then moved to meta."""
    import torch

    try:
        with torch.device("meta"):
            return factory()
    except NotImplementedError:  # "Cannot copy out of meta tensor"
        return factory().to("meta")


def compare_with_model(analysis: Analysis, target: str) -> list[Outcome]:
    factory = load_factory(target)
    try:
        model = build_on_meta(factory).eval()
        theirs = model_leaves(model, analysis.input, analysis.spec.input_dtype)
    except SpecError:
        raise
    except Exception as exc:
        raise SpecError(f"building or running {target} failed: {type(exc).__name__}: {exc}",
                        Location("--against"), code="against-run") from None
    return compare_leaves(analysis, model, theirs, target)


def _read_as_parameters(analysis: Analysis, theirs: list, unmatched: list[int]) -> list[int]:
    """The model's calls left unmatched, less those of a module no kind reads whose forward
    reads its own tensors as the spec's `parameter` rows (`return x * self.gamma`, a module
    holding nothing else): each such call's parameters are those of one to three such rows."""
    from itertools import combinations

    rows = [r.params for r in analysis.leaves() if r.layer.weights_view and r.params]
    left = []
    for j in unmatched:
        _, cls, _, params = theirs[j]
        found = None if kind_of_class(cls) is not None else next(
            (combo for n in (1, 2, 3) for combo in combinations(range(len(rows)), n)
             if sum(rows[k] for k in combo) == params), None)
        if found is None:
            left.append(j)
        else:
            rows = [r for k, r in enumerate(rows) if k not in found]
    return left


def compare_leaves(analysis: Analysis, model, watched: Watched, target: str) -> list[Outcome]:
    """The spec's parameterised rows against the model's, in call order; then the totals, of
    the tensors the forward uses (what it never calls is named, not counted)."""
    # every call of a module with parameters, tied ones (share:) included: the model's hooks see each call;
    # a `parameter` row is a tensor a module reads in its own forward, no call: the totals check it
    theirs = watched.calls
    ours = [r for r in analysis.leaves()
            if (r.params not in (0, None) or r.owner is not None) and not r.layer.weights_view]
    results = []
    unmatched = list(range(len(theirs)))
    for i, row in enumerate(ours):
        # the same layer among the model's next few unmatched calls: branches may run in another order; else
        # any unmatched call (LRASPP computes its whole high branch before the low one the spec writes first)
        # a call of the row's own kind before a module no kind reads (x * self.gamma's module can look like a norm)
        own = row.owner.params if row.owner is not None else row.params
        hit = next((j for window in (unmatched[:MATCH_WINDOW], unmatched[MATCH_WINDOW:]) for kindless in (False, True)
                    for j in window if _same(row, theirs[j], own) and kindless == (kind_of_class(theirs[j][1]) is None)),
                   None)
        if hit is None:
            other = theirs[unmatched[0]] if unmatched else None
            found = (f"model layer '{other[0]}': {other[1].__name__}, output {list(other[2])}, {other[3]:,} params"
                     if other else "no more layers in the model")
            results.append(Outcome(
                "against.layers", False,
                f"spec layer {i + 1} '{row.path}': {row.kind}, output {list(row.output)}, {N.fmt(row.params)} params",
                found, row.loc, f"the first of {len(ours)} parameterised spec layers (in call order) with no "
                                "counterpart among the model's calls", kind="against"))
            break
        unmatched.remove(hit)
    else:
        unmatched = _read_as_parameters(analysis, theirs, unmatched)
        if unmatched:
            extra = theirs[unmatched[0]][0]
            results.append(Outcome("against.layers", False, f"{len(ours)} parameterised layers in the spec",
                                  f"{len(theirs)} in the model (it goes on with '{extra}')",
                                  analysis.spec.input_loc, None, kind="against"))
        else:
            results.append(Outcome("against.layers", True, f"{len(ours)} parameterised layers",
                                  f"{len(theirs)} layers with the same kinds, output shapes and params",
                                  None, None, kind="against"))
    total = sum(p.numel() for p in model.parameters()) - watched.unused_params
    buffers = sum(b.numel() for b in model.buffers()) - watched.unused_buffers
    skipped = f"; not counted, as its forward never calls them: {watched.unused_text()}" if watched.unused else ""
    results.append(Outcome("against.params", total == analysis.totals["params"], N.fmt(analysis.totals["params"]),
                          f"{total:,}", None, f"{target}: sum of its parameters{skipped}", kind="against"))
    results.append(Outcome("against.buffers", buffers == analysis.totals["buffers"], N.fmt(analysis.totals["buffers"]),
                          f"{buffers:,}", None, f"{target}: sum of its buffers{skipped}", kind="against"))
    return results
