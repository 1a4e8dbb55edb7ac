"""Reading a model through forward hooks, for the models torch.fx cannot trace (Python control
flow on tensor values): the leaf modules called, in order, when that is a chain, each reading
the previous one's output. A flatten between two modules is recognised by its shapes; any
other code between them is invisible here, and is reported rather than guessed."""
from __future__ import annotations

import torch
from torch import nn

from archcalc.layers.base import Untranslatable
from archcalc.spec.errors import SpecError
from archcalc.layers.registry import kind_of_function
from archcalc.torch_backend.importing.traced import (Problems, Traced, followed_output, forward_location,
                                                     is_layer_module, module_layer, module_name)
from archcalc.torch_backend.recording import recording


def _leaves(model: nn.Module) -> dict[str, nn.Module]:
    """The modules read as one layer, and the childless ones, outermost first."""
    leaves: dict[str, nn.Module] = {}
    for qual, module in model.named_modules():
        if (is_layer_module(module) or not any(module.children())) and \
                not any(qual.startswith(k + ".") for k in leaves):
            leaves[qual] = module
    return leaves


def _calls(model: nn.Module, example) -> tuple[list, object, list]:
    """[(qualified name, module, its input, its output)] in call order, the model's output, and
    [(the input's version counter as the module is called, its output's as it returns)] for
    each call: code between two modules that changes a tensor in place (`y[:, 0] = 0`,
    `y.relu_()`) keeps the tensor, and shows only in its version."""
    calls, versions, entered = [], [], {}
    leaves = _leaves(model)

    def enter(mod, inputs):
        entered[id(mod)] = _version(inputs[0] if inputs else None)

    def record(qual, mod, inputs, output):
        calls.append((qual, mod, inputs[0] if inputs else None, output))
        versions.append((entered.pop(id(mod), None), _version(output[0] if isinstance(output, tuple) else output)))

    handles = [m.register_forward_pre_hook(enter) for m in leaves.values()]
    try:
        with recording(leaves, record), torch.no_grad():
            result = model(example)
    finally:
        for handle in handles:
            handle.remove()
    return calls, result, versions


def _version(value) -> int | None:
    return value._version if isinstance(value, torch.Tensor) else None


def _flattened(inp, previous) -> bool:
    """The module reads the previous output flattened to one vector per sample."""
    return inp is not None and previous is not None and inp.dim() == 2 and previous.dim() > 2 \
        and inp.shape[1] == previous[0].numel()


def trace_hooks(model: nn.Module, examples: tuple, reason: str) -> tuple[list[Traced], str, list[str]]:
    """The model's data flow as a chain of its leaf modules, the id of its output, and notes."""
    if len(examples) != 1:
        raise SpecError(f"torch.fx could not trace the model ({reason}), and the forward hooks archcalc falls back "
                        "on follow one input only", forward_location(model), code="import-unsupported",
                        hint="make forward traceable by torch.fx, or write the spec by hand")
    example = examples[0]
    calls, result, versions = _calls(model, example)
    problems = Problems()
    where = forward_location(model)
    values = [Traced("input", "input", shape=tuple(example.shape[1:]))]
    notes: list[str] = []
    previous, version = example, _version(example)
    for (qual, module, inp, out), (entry, exit_) in zip(calls, versions):
        if inp is previous and entry != version:
            problems.report(f"torch.fx could not trace the model: {reason}; and forward hooks, archcalc's fallback, "
                            f"cannot follow it: the input of module '{qual}' is changed in place before it is called "
                            "(the code between modules is invisible to hooks)", where,
                            hint="make forward traceable by torch.fx, or write the spec by hand")
            break
        if inp is not previous:
            if not _flattened(inp, previous):
                problems.report(f"torch.fx could not trace the model: {reason}; and forward hooks, archcalc's "
                                f"fallback, cannot follow it: module '{qual}' does not read the previous module's "
                                "output (the code between them is invisible to hooks)", where,
                                hint="make forward traceable by torch.fx, or write the spec by hand")
                break
            flatten = kind_of_function("flatten")
            values.append(Traced(f"{qual}_flatten", "layer", [values[-1].id], flatten, {}, shape=(inp.shape[1],)))
            notes.append(f"a flatten before '{qual}' is inferred from the shapes {list(previous.shape[1:])} → "
                         f"{list(inp.shape[1:])}")
        previous, version = (out[0] if isinstance(out, tuple) else out), exit_
        try:
            layer = module_layer(module)
        except Untranslatable as exc:
            problems.report(f"module '{qual}': {exc}", where)
            continue
        if layer is None:
            problems.report(f"module '{qual}' ({module_name(module)}) has no archcalc layer kind", where,
                            hint="`archcalc kinds` lists the kinds")
            continue
        kind, args, has_params = layer
        values.append(Traced(f"v{len(values)}", "layer", [values[-1].id], kind, args, qual, has_params=has_params,
                             shape=tuple(previous.shape[1:])))
    if not problems.errors and (followed_output(result) is not previous or _version(previous) != version):
        # of a dict or tuple, its first; changed in place after the last module, it is not that module's output
        problems.report("the model's output is not the last module's output: code after it is not visible to "
                        f"forward hooks (torch.fx could not trace the model: {reason})", where)
    problems.raise_if_any()
    notes.insert(0, f"torch.fx could not trace the model ({reason}); forward hooks recorded its leaf modules")
    return values, values[-1].id, notes
