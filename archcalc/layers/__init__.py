"""Layer kinds, one family per file; `kinds()` is the registry (every family file found)."""
from archcalc.layers.registry import REGISTRY, kind_of_module, kinds, register  # noqa: F401
