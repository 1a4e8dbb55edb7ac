"""The registry of layer kinds, keyed by spec name.

Every module in this folder is imported the first time the registry is asked for (a family
file registers its kinds as it loads), so a new family file needs no list to be added to.
"""
from __future__ import annotations

import functools
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


def forward_class(cls: type) -> type:
    """The class whose forward a module of class `cls` runs: a subclass that only changes the
    constructor (torchvision's Conv3DSimple is an nn.Conv3d) computes as its base does."""
    return next((c for c in cls.__mro__ if "forward" in vars(c)), cls)


def _same_forward(cls: type) -> list[type]:
    """`cls` and its bases up to the one whose forward it runs."""
    runs = forward_class(cls)
    return list(cls.__mro__[:cls.__mro__.index(runs) + 1])


def kind_of_module(module) -> type[LayerKind] | None:
    """The kind that reads this torch module's class (`torch_classes`), or None: torch.nn's
    classes and archcalc's own (or a subclass of one that keeps its forward), and another
    library's class a kind names with its module (torchvision's ShiftedWindowAttention), not
    a user's class that happens to share a name."""
    return kind_of_class(type(module))


@functools.lru_cache(maxsize=None)
def kind_of_class(module_class: type) -> type[LayerKind] | None:
    """kind_of_module, for a module's class (remembered: check --against asks for every call)."""
    for cls in _same_forward(module_class):
        qualified = f"{cls.__module__}.{cls.__qualname__}"  # a library's class a kind names in full (torchvision's)
        kind = next((k for k in kinds().values() if qualified in k.torch_classes), None)
        if kind is None and cls.__module__.startswith(("torch.nn", "archcalc.")):
            kind = next((k for k in kinds().values() if cls.__name__ in k.torch_classes), None)
        if kind is not None:
            return kind
    return None


@functools.lru_cache(maxsize=None)
def kind_of_function(name: str) -> type[LayerKind] | None:
    """The kind that lists this torch function or Tensor method in `torch_functions`
    (remembered, as kind_of_class: import asks for every call between modules)."""
    return next((k for k in kinds().values() if name in k.torch_functions), None)
