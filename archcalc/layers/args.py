"""The argument types a layer kind declares: each checks and converts one value written in a
spec (a YAML literal or an evaluated expression), describes what it accepts for messages,
and gives its JSON Schema for editors."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from archcalc.engine import numbers as N

REQUIRED = object()


class ArgTypeError(Exception):
    """A value of the wrong type; the caller adds the location and argument name."""

    def __init__(self, expected: str, found: str):
        super().__init__(expected)
        self.expected = expected
        self.found = found


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}' (text)"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return N.decimal_text(value) if not isinstance(value, dict) else "a mapping"


class ArgType:
    """Checks and converts one argument value (a YAML literal or an evaluated expression)."""

    describe: str = "a value"
    numeric: bool = True  # strings are parsed as expressions
    keywords: tuple[str, ...] = ()  # strings taken literally instead (e.g. padding: same)

    def check(self, value: Any) -> Any:
        raise NotImplementedError

    def written(self, value: Any) -> Any:
        """A value as a spec writes it (archcalc import): (3, 3) → 3, (3, 5) → [3, 5]."""
        return plain_value(value)

    def json_schema(self) -> dict:
        """JSON Schema (draft-07) of what a spec may write here; expressions are strings."""
        return {"type": "string"}


_EXPR = {"type": "string", "description": "an expression over dims, vars and block parameters"}


class Int(ArgType):
    def __init__(self, minimum: int | None = 0):
        self.minimum = minimum
        self.describe = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}")

    def check(self, value: Any) -> Any:
        if isinstance(value, (bool, str, list, dict, float)) or value is None:
            raise ArgTypeError(self.describe, _show(value))
        value = N.normalize(value)
        if isinstance(value, Fraction):
            raise ArgTypeError(self.describe, f"{_show(value)}, not a whole number")
        if N.is_symbolic(value):
            if value.is_integer is False:
                raise ArgTypeError(self.describe, f"{_show(value)}, not a whole number")
            return value
        if self.minimum is not None and value < self.minimum:
            raise ArgTypeError(self.describe, _show(value))
        return value

    def json_schema(self) -> dict:
        literal = {"type": "integer"} if self.minimum is None else {"type": "integer", "minimum": self.minimum}
        return {"anyOf": [literal, _EXPR]}


class Float(ArgType):
    def __init__(self, minimum: float | None = None, maximum: float | None = None):
        self.minimum, self.maximum = minimum, maximum
        bounds = []
        if minimum is not None:
            bounds.append(f">= {minimum}")
        if maximum is not None:
            bounds.append(f"<= {maximum}")
        self.describe = "a number" + (" " + " and ".join(bounds) if bounds else "")

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
            raise ArgTypeError(self.describe, _show(value))
        value = float(value)
        if (self.minimum is not None and value < self.minimum) or (
                self.maximum is not None and value > self.maximum):
            raise ArgTypeError(self.describe, _show(value))
        return value

    def json_schema(self) -> dict:
        literal: dict = {"type": "number"}
        if self.minimum is not None:
            literal["minimum"] = self.minimum
        if self.maximum is not None:
            literal["maximum"] = self.maximum
        return {"anyOf": [literal, _EXPR]}


class Bool(ArgType):
    describe = "true or false"
    numeric = False

    def check(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ArgTypeError(self.describe, _show(value))
        return value

    def json_schema(self) -> dict:
        return {"anyOf": [{"type": "boolean"}, {"type": "string", "description": "a condition"}]}


class Choice(ArgType):
    numeric = False

    def __init__(self, *options: str):
        self.options = options
        self.describe = "one of " + ", ".join(options)

    def check(self, value: Any) -> Any:
        if value not in self.options:
            raise ArgTypeError(self.describe, _show(value))
        return value

    def json_schema(self) -> dict:
        return {"enum": list(self.options)}


class TensorRef(str):
    """A tensor a layer reads besides its input, by name (a spec input, or an earlier layer's
    full path: an encoder's memory for cross-attention). It is that name, so that it prints
    and serialises as written, and carries what the engine found there: the tensor's shape
    per sample, its dtype and whether it needs a gradient."""

    shape: tuple
    dtype: str
    grad: bool

    def __new__(cls, name: str, shape: tuple = (), dtype: str = "float", grad: bool = False):
        ref = super().__new__(cls, name)
        ref.shape, ref.dtype, ref.grad = tuple(shape), dtype, grad
        return ref


class Tensor(ArgType):
    """The name of another tensor the layer reads (a spec input or an earlier layer's full
    path, as `share:` names one); the engine binds it to a TensorRef."""

    numeric = False
    describe = "the name of a spec input or of an earlier layer (its full path)"

    def check(self, value: Any) -> Any:
        if isinstance(value, TensorRef):
            return value
        if not isinstance(value, str) or not value or not all(p.isidentifier() or p.isdigit()
                                                               for p in value.split(".")):
            raise ArgTypeError(self.describe, _show(value))
        return value

    def written(self, value: Any) -> Any:
        return str(value)

    def json_schema(self) -> dict:
        return {"type": "string", "description": self.describe}


class PerAxis(ArgType):
    """An int for every axis, or a list with one int per spatial axis (torch's `_pair`)."""

    def __init__(self, axes: int, item: Int, keywords: tuple[str, ...] = (), allow_none: bool = False):
        self.axes, self.item, self.keywords, self.allow_none = axes, item, keywords, allow_none
        one = item.describe + (" or null" if allow_none else "")
        self.describe = one if axes == 1 else f"{one}, or a list of {axes} of them"
        if keywords:
            self.describe += " or " + " or ".join(f"'{k}'" for k in keywords)

    def check(self, value: Any) -> Any:
        if isinstance(value, str) and value in self.keywords:
            return value
        if isinstance(value, list):
            if len(value) != self.axes:
                raise ArgTypeError(self.describe, f"a list of {len(value)}")
            return tuple(self._one(v) for v in value)
        return (self._one(value),) * self.axes

    def json_schema(self) -> dict:
        one = self.item.json_schema()
        if self.allow_none:
            one = {"anyOf": [one, {"type": "null"}]}
        options = [one]
        if self.axes > 1:
            options.append({"type": "array", "items": one, "minItems": self.axes, "maxItems": self.axes})
        if self.keywords:
            options.append({"enum": list(self.keywords)})
        return {"anyOf": options}

    def _one(self, v: Any) -> Any:
        if v is None and self.allow_none:
            return None
        try:
            return self.item.check(v)
        except ArgTypeError as exc:
            raise ArgTypeError(self.describe, exc.found) from None


class Ints(ArgType):
    """A shape: one positive integer, or a list of them (torch's normalized_shape); an int n
    is the list [n]."""

    def __init__(self, item: Int | None = None, keywords: tuple[str, ...] = ()):
        self.item, self.keywords = item or Int(1), keywords
        self.describe = f"{self.item.describe}, or a list of them" + "".join(f" or '{k}'" for k in keywords)

    def check(self, value: Any) -> Any:
        if isinstance(value, str) and value in self.keywords:
            return value
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ArgTypeError(self.describe, "an empty list")
        try:
            return tuple(self.item.check(v) for v in values)
        except ArgTypeError as exc:
            raise ArgTypeError(self.describe, exc.found) from None

    def written(self, value: Any) -> Any:
        items = [plain_value(v) for v in value] if isinstance(value, (tuple, list)) else [value]
        return items[0] if len(items) == 1 else items

    def json_schema(self) -> dict:
        one = self.item.json_schema()
        return {"anyOf": [one, {"type": "array", "items": one, "minItems": 1}]
                + ([{"enum": list(self.keywords)}] if self.keywords else [])}


class OneOrList(ArgType):
    """One value for every spatial axis, or a list of one per axis, where the number of axes
    is the input's (torch's size and scale_factor of nn.Upsample): the kind checks the list's
    length against its input. The form is kept as written, since a tool may count a list
    differently from one value (ptflops does for scale_factor)."""

    def __init__(self, item: ArgType):
        self.item = item
        self.numeric = item.numeric
        self.describe = f"{item.describe}, or a list of them (one per spatial axis)"

    def check(self, value: Any) -> Any:
        try:
            if isinstance(value, list):
                if not value:
                    raise ArgTypeError(self.describe, "an empty list")
                return tuple(self.item.check(v) for v in value)
            return self.item.check(value)
        except ArgTypeError as exc:
            raise ArgTypeError(self.describe, exc.found) from None

    def written(self, value: Any) -> Any:
        if isinstance(value, (tuple, list)):
            return [plain_value(v) for v in value]
        return plain_value(value)

    def json_schema(self) -> dict:
        one = self.item.json_schema()
        return {"anyOf": [one, {"type": "array", "items": one, "minItems": 1}]}


class Nullable(ArgType):
    """The inner type, or null (torch's None)."""

    def __init__(self, inner: ArgType):
        self.inner = inner
        self.numeric = inner.numeric
        self.keywords = inner.keywords
        self.describe = inner.describe + " (or null)"

    def check(self, value: Any) -> Any:
        return None if value is None else self.inner.check(value)

    def written(self, value: Any) -> Any:
        return None if value is None else self.inner.written(value)

    def json_schema(self) -> dict:
        return {"anyOf": [self.inner.json_schema(), {"type": "null"}]}


@dataclass(frozen=True)
class Arg:
    name: str
    type: ArgType
    default: Any = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def plain_value(value: Any) -> Any:
    """A torch attribute as a spec writes it: (3, 3) → 3, (3, 5) → [3, 5], torch.Size → list."""
    if isinstance(value, (tuple, list)):
        items = [plain_value(v) if isinstance(v, (tuple, list)) else v for v in value]
        return items[0] if items and all(v == items[0] for v in items) else items
    return value
