"""The registry of layer kinds, keyed by spec name.

Every module in this folder is imported the first time the registry is asked for (a family
file registers its kinds as it loads), so a new family file needs no list to be added to.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archcalc.layers.base import LayerKind

REGISTRY: dict[str, type[LayerKind]] = {}
_loaded = False


def register(cls: type[LayerKind]) -> type[LayerKind]:
    if cls.kind in REGISTRY:
        raise RuntimeError(f"layer kind {cls.kind} registered twice")
    REGISTRY[cls.kind] = cls
    return cls


def kinds() -> dict[str, type[LayerKind]]:
    """The registry, with every module of archcalc/layers/ imported."""
    global _loaded
    if not _loaded:
        for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
            importlib.import_module(f"archcalc.layers.{module.name}")
        _loaded = True
    return REGISTRY


def families() -> dict[str, list[type[LayerKind]]]:
    """The kinds of each family, in registration order."""
    out: dict[str, list[type[LayerKind]]] = {}
    for kind in kinds().values():
        out.setdefault(kind.family, []).append(kind)
    return out


def kind_of_module(module) -> type[LayerKind] | None:
    """The kind that reads this torch module's class (`torch_classes`), or None: torch.nn's
    classes and archcalc's own, not a user's class that happens to share a name."""
    origin = type(module).__module__
    if not (origin.startswith("torch.nn") or origin.startswith("archcalc.")):
        return None
    name = type(module).__name__
    return next((k for k in kinds().values() if name in k.torch_classes), None)


def kind_of_function(name: str) -> type[LayerKind] | None:
    """The kind that lists this torch function or Tensor method in `torch_functions`."""
    return next((k for k in kinds().values() if name in k.torch_functions), None)
