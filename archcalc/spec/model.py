"""The typed tree a spec file becomes: every value keeps the location it was written at."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archcalc.spec.errors import Location
from archcalc.spec.loader import YNode


@dataclass(frozen=True)
class Value:
    """A written value: a YAML literal, an Expr, or a list of them."""

    raw: Any
    loc: Location


@dataclass
class DimDecl:
    """A symbolic dimension: bounds and a default size (used by verify and sampling)."""

    name: str
    loc: Location
    min: int | None = None
    max: int | None = None
    default: int | None = None


@dataclass
class LayerCall:
    kind: Any  # type[LayerKind]
    path: str
    loc: Location  # where the kind is written
    args: dict[str, Value] = field(default_factory=dict)
    name: str | None = None
    doc: str | None = None


@dataclass
class Spec:
    file: str
    name: str
    layers: list[LayerCall]
    input: list[Value]
    input_loc: Location
    input_dtype: str = "float"
    doc: str | None = None
    dims: dict[str, DimDecl] = field(default_factory=dict)
    vars: dict[str, Value] = field(default_factory=dict)
    expect: YNode | None = None  # checked by `archcalc check`
