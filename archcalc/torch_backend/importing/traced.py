"""What both tracers (torch.fx, forward hooks) record: the model's data flow as values, each
a layer, a merge or the input, with the user's source line; and the one helper that reads a
torch module as a layer kind with its spec arguments."""
from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

from archcalc.layers.base import LayerKind
from archcalc.layers.registry import kind_of_module
from archcalc.spec.errors import ErrorCollector, Location, SpecError

ARCHCALC_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep


class Meta(NamedTuple):
    """What import reads of a traced tensor (torch.fx's ShapeProp records more, at more cost)."""

    shape: torch.Size
    dtype: torch.dtype


@dataclass
class Traced:
    """One tensor in the data flow: the model's input, a layer's output or a merge's."""

    id: str
    op: str  # "input" | "layer" | "merge" | "piece" (of a split, which a merge's branch starts from)
    inputs: list[str] = field(default_factory=list)
    kind: type[LayerKind] | None = None
    args: dict = field(default_factory=dict)
    module: str | None = None  # the module's qualified name (layers from modules)
    shape: tuple | None = None  # per sample
    where: Any = None  # its source line: an fx stack trace or a Location
    has_params: bool = False  # its module holds parameters (called again, it shares them)
    call: str | None = None  # "function": a layer from a function or method call (F.relu, x.flatten), not a module
    refs: dict = field(default_factory=dict)  # tensor arguments (cross-attention's memory): argument → value id
    weights_of: str | None = None  # the module whose parameters its module holds (a tied LM head: the embedding's)


def unwrapped(module) -> tuple[Any, dict]:
    """archcalc's own wrappers (the recurrent layer `build` makes) → (torch's module inside,
    the spec arguments the wrapper adds); any other module as it is."""
    if type(module).__module__.startswith("archcalc.") and hasattr(module, "unwrap"):
        return module.unwrap()
    return module, {}


def is_layer_module(module) -> bool:
    """A module `import` reads as one layer (the tracers do not look inside it)."""
    return kind_of_module(unwrapped(module)[0]) is not None


def module_layer(module) -> tuple[type[LayerKind], dict, bool] | None:
    """(the kind that reads this module, its spec arguments, whether it holds parameters), or
    None when no kind reads it. Raises Untranslatable for settings a spec cannot say."""
    inner, extra = unwrapped(module)
    kind = kind_of_module(inner)
    if kind is None:
        return None
    return kind, kind.from_torch(inner) | extra, _holds_parameters(inner)


def _holds_parameters(module) -> bool:
    """any(module.parameters()), without the generators and the set of those seen that it
    builds (import asks it of every module it reads)."""
    return any(p is not None for p in module._parameters.values()) or \
        any(_holds_parameters(child) for child in module._modules.values() if child is not None)


def tied_modules(modules: dict) -> dict[str, str]:
    """Modules whose parameters are all another module's (`out.weight = emb.weight`, a tied LM
    head): module path → the path of the first module, in the model's order, that holds them.
    `modules`: dict(model.named_modules())."""
    first: dict[int, str] = {}
    tied = {}
    for name, module in modules.items():
        if not module._parameters:
            continue  # most modules (activations, containers) hold none of their own
        params = list({id(p): p for p in module._parameters.values() if p is not None}.values())  # parameters(recurse=False)
        owners = {first.get(id(p)) for p in params}
        if params and len(owners) == 1 and None not in owners:
            tied[name] = owners.pop()
        for p in params:
            first.setdefault(id(p), name)
    return tied


def followed_output(value):
    """The one tensor of a model's output that import follows: the output itself, or the
    first entry of a tuple, list or dict it returns (a segmentation model's 'out')."""
    while isinstance(value, (tuple, list, dict)) and value:
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
    return value


def module_name(module) -> str:
    return f"{type(module).__module__}.{type(module).__name__}"


def ours(file: str) -> bool:
    """Whether a source file is torch's or archcalc's, not the model's."""
    return os.path.abspath(file).startswith((os.path.dirname(os.path.abspath(torch.__file__)) + os.sep,
                                             ARCHCALC_DIR))


def location(stack_trace: str | None) -> Location:
    """The user's source line from an fx stack trace (the last frame outside torch and archcalc)."""
    if stack_trace:
        for file, line in reversed(re.findall(r'File "([^"]+)", line (\d+)', stack_trace)):
            if not ours(file):
                return Location(file, int(line))
    return Location("<model>")


def forward_location(model) -> Location:
    """Where the model's forward is written (forward hooks see calls, not source lines)."""
    try:
        _, first = inspect.getsourcelines(type(model).forward)
        return Location(inspect.getsourcefile(type(model).forward), first)
    except (OSError, TypeError):
        return Location("<model>")


class Problems(ErrorCollector):
    """Everything a model says that a spec can't, each with the user's source line."""

    def report(self, message: str, where, hint: str | None = None, code: str = "import-unsupported") -> None:
        """`where`: an fx node's stack trace, or a Location."""
        self.add(SpecError(message, where if isinstance(where, Location) else location(where), hint=hint, code=code))

    def raise_if_any(self) -> None:
        """One error per cause: the same message at the same source line (a block's code, run
        for each of its 58 uses) is reported once, with how many times it occurred."""
        groups: dict[tuple, list[SpecError]] = {}
        for err in self.errors:
            template = re.sub(r"'[^']*'", "'…'", err.message)
            loc = err.loc or Location("<model>")
            groups.setdefault((loc.file, loc.line, err.code, template), []).append(err)
        self.errors = [_counted(same) for same in groups.values()]
        super().raise_if_any()


def _counted(same: list[SpecError]) -> SpecError:
    first = same[0]
    if len(same) == 1:
        return first
    return SpecError(f"{first.message} (and {len(same) - 1} more time{'s' if len(same) > 2 else ''} at this line)",
                     first.loc, hint=first.hint, code=first.code)
