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

from archcalc.outcome import Outcome
from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis
from archcalc.spec.errors import Location, SpecError


MATCH_WINDOW = 16


def _same(row, call, own_params) -> bool:
    """`own_params`: the parameters the row's module holds (a tied layer's are its owner's)."""
    _, kind, shape, params = call
    output = tuple(row.layer.torch_output_shape(row.args, row.input, row.output))
    same_kind = _normal(row.kind) == _normal(kind) or kind in row.layer.torch_classes
    return same_kind and output == shape and own_params == params


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


def model_leaves(model, input_shape: tuple, dtype: str = "float", device: str = "meta"):
    """[(qualified name, kind, output shape per sample, own params)] for leaves with params."""
    import torch

    from archcalc.layers.registry import kind_of_module

    from archcalc.torch_backend.recording import first_tensor, recording

    units: list[str] = []  # modules a kind reads whole (maxout around its nn.Linear): their insides are not layers
    leaves = {}
    for name, module in model.named_modules():
        if any(name.startswith(u + ".") for u in units):
            continue
        if kind_of_module(module) is not None and any(True for _ in module.children()):
            units.append(name)
        elif any(True for _ in module.children()):
            continue
        if any(True for _ in module.parameters()):
            leaves[name] = module
    calls = []

    def record(name, mod, _inputs, output):
        calls.append((name, type(mod).__name__, tuple(first_tensor(output).shape[1:]),
                      sum(p.numel() for p in mod.parameters())))

    shape = (1, *(int(d) for d in input_shape))
    x = torch.zeros(shape, dtype=torch.long, device=device) if dtype == "index" else torch.zeros(shape, device=device)
    with recording(leaves, record), torch.no_grad():
        model(x)
    return calls


def compare_with_model(analysis: Analysis, target: str) -> list[Outcome]:
    import torch

    factory = load_factory(target)
    try:
        with torch.device("meta"):
            model = factory()
        model.eval()
        theirs = model_leaves(model, analysis.input, analysis.spec.input_dtype)
    except SpecError:
        raise
    except Exception as exc:
        raise SpecError(f"building or running {target} failed: {type(exc).__name__}: {exc}",
                        Location("--against"), code="against-run") from None
    return compare_leaves(analysis, model, theirs, target)


def compare_leaves(analysis: Analysis, model, theirs: list, target: str) -> list[Outcome]:
    """The spec's parameterised rows against the model's, in call order; then the totals."""
    # every call of a module with parameters, tied ones (share:) included: the model's hooks see each call
    ours = [r for r in analysis.leaves() if r.params not in (0, None) or r.owner is not None]
    results = []
    unmatched = list(range(len(theirs)))
    for i, row in enumerate(ours):
        # the same layer among the model's next few unmatched calls: branches may run in another order
        own = row.owner.params if row.owner is not None else row.params
        hit = next((j for j in unmatched[:MATCH_WINDOW] if _same(row, theirs[j], own)), None)
        if hit is None:
            other = theirs[unmatched[0]] if unmatched else None
            found = (f"model layer '{other[0]}': {other[1]}, output {list(other[2])}, {other[3]:,} params"
                     if other else "no more layers in the model")
            results.append(Outcome(
                "against.layers", False,
                f"spec layer {i + 1} '{row.path}': {row.kind}, output {list(row.output)}, {N.fmt(row.params)} params",
                found, row.loc, f"the first of {len(ours)} parameterised spec layers (in call order) with no "
                                f"counterpart among the model's next {MATCH_WINDOW} calls", kind="against"))
            break
        unmatched.remove(hit)
    else:
        if unmatched:
            extra = theirs[unmatched[0]][0]
            results.append(Outcome("against.layers", False, f"{len(ours)} parameterised layers in the spec",
                                  f"{len(theirs)} in the model (it goes on with '{extra}')",
                                  analysis.spec.input_loc, None, kind="against"))
        else:
            results.append(Outcome("against.layers", True, f"{len(ours)} parameterised layers",
                                  f"{len(theirs)} layers with the same kinds, output shapes and params",
                                  None, None, kind="against"))
    total = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    results.append(Outcome("against.params", total == analysis.totals["params"], N.fmt(analysis.totals["params"]),
                          f"{total:,}", None, f"{target}: sum of its parameters", kind="against"))
    results.append(Outcome("against.buffers", buffers == analysis.totals["buffers"], N.fmt(analysis.totals["buffers"]),
                          f"{buffers:,}", None, f"{target}: sum of its buffers", kind="against"))
    return results
