"""The layer registry: importing this package registers every kind, one file per family."""
from archcalc.layers import activation, conv, linear, norm, pool, recurrent, structure  # noqa: F401
from archcalc.layers.base import REGISTRY, LayerKind, kinds, register  # noqa: F401
