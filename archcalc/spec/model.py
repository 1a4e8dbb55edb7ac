"""The typed tree a spec file becomes: every value keeps the location it was written at."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archcalc.spec.errors import Location
from archcalc.spec.loader import YNode

REQUIRED = object()  # a block parameter without a default


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
class Branch:
    name: str
    loc: Location
    items: list["Item"]


@dataclass
class Item:
    """One entry of a `layers:` list: a layer kind, a block call, or a merge (add, concat).

    `name` is the path component (explicit, or `<kind>_<n>` counted per kind in its list);
    `repeat` and `when` are evaluated when the spec is expanded; `index` (from `repeat: {times: n,
    index: i}`) names the var bound to each copy's position, 0 … n−1, in that copy's expressions."""

    kind: str
    loc: Location
    name: str = ""
    explicit_name: bool = False
    layer: Any = None  # type[LayerKind] for a layer kind or a merge
    block: str | None = None  # the block's name for a block call
    args: dict[str, Value] = field(default_factory=dict)  # layer args, block params, merge args
    branches: list[Branch] = field(default_factory=list)  # a merge's
    repeat: Value | None = None
    index: tuple[str, Location] | None = None  # `repeat: {times: n, index: i}`: i is 0 … n-1 in each copy
    when: Value | None = None
    doc: str | None = None
    weights: dict[str, tuple[Location, Any]] = field(default_factory=dict)  # numeric exercises: `archcalc run`
    share: tuple[str, Location] | None = None  # `share: PATH`: this layer reuses PATH's weights (tied)
    call: str = "module"  # `call: function`: the model calls it as a function (F.relu), not as its module
    source: tuple[str, Location] | None = None  # `from: NAME`: reads that input or earlier layer, not the flow

    @property
    def is_merge(self) -> bool:
        """A merge kind (add, concat): `layer` is its kind, `branches` its inputs."""
        return self.layer is not None and self.layer.merge



@dataclass
class InputDecl:
    """One of a spec's `inputs:` after the first (the first is Spec.input)."""

    name: str
    shape: list[Value]
    loc: Location
    dtype: str = "float"


@dataclass
class BlockDef:
    name: str
    loc: Location
    params: dict[str, tuple[Any, Location]]  # name -> (Value or REQUIRED, where declared)
    items: list[Item]
    doc: str | None = None


@dataclass
class Variant:
    name: str
    loc: Location
    vars: dict[str, Value] = field(default_factory=dict)
    doc: str | None = None
    expect: YNode | None = None


@dataclass
class Spec:
    file: str
    name: str
    layers: list[Item]
    input: list[Value]
    input_loc: Location
    input_dtype: str = "float"
    doc: str | None = None
    dims: dict[str, DimDecl] = field(default_factory=dict)
    vars: dict[str, Value] = field(default_factory=dict)
    expect: YNode | None = None  # checked by `archcalc check`
    blocks: dict[str, BlockDef] = field(default_factory=dict)
    variants: dict[str, Variant] = field(default_factory=dict)
    budget: YNode | None = None  # ceilings checked by `archcalc check`
    unknowns: list[str] = field(default_factory=list)  # arguments written "?" (conv2.padding), for solve
    input_values: Any = None  # numeric exercises: the input tensor, nested lists per sample
    input_values_loc: Location | None = None
    input_name: str = "input"  # the first input's name (inputs: names each)
    more_inputs: list[InputDecl] = field(default_factory=list)  # inputs: after the first

    def input_names(self) -> list[str]:
        return [self.input_name, *(i.name for i in self.more_inputs)]

    def all_input_shapes(self) -> list[Value]:
        """Every size written in any input, for the names they use."""
        return [*self.input, *(v for i in self.more_inputs for v in i.shape)]
