"""The one extension point: a layer kind is a class registered under its spec name.

A kind declares its arguments (types, defaults) and, given an input shape, returns its
output shape, params, buffers, MACs, FLOPs and the derivation steps behind each number.
Nothing in engine/, report/ or cli.py knows any particular kind.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, ClassVar, Sequence

from archcalc.engine import numbers as N
from archcalc.spec.errors import Location, SpecError

Shape = tuple  # of ints or sympy expressions, per sample (no batch axis)

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


class Optional(ArgType):
    def __init__(self, inner: ArgType):
        self.inner = inner
        self.numeric = inner.numeric
        self.keywords = inner.keywords
        self.describe = inner.describe + " (or null)"

    def check(self, value: Any) -> Any:
        return None if value is None else self.inner.check(value)

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


@dataclass(frozen=True)
class Step:
    """One number's derivation: formula → substituted values → result."""

    quantity: str
    formula: str
    substituted: str
    result: Any

    def text(self) -> str:
        parts = [self.quantity, self.formula]
        if self.substituted and self.substituted != self.formula:
            parts.append(self.substituted)
        parts.append(N.fmt(self.result))
        return " = ".join(parts)


@dataclass
class Result:
    """What a kind computes for one layer. flops defaults to 2 × macs (see CONTRACT.md)."""

    output: Shape
    params: Any = 0
    buffers: Any = 0
    macs: Any = 0
    flops: Any = None
    steps: list[Step] = field(default_factory=list)


class Args:
    """Bound argument values of one layer, with the location each was written at."""

    def __init__(self, values: dict[str, Any], locs: dict[str, Location]):
        self._values = values
        self._locs = locs

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def given(self, name: str) -> bool:
        return name in self._locs

    def loc(self, name: str) -> Location | None:
        return self._locs.get(name)

    def items(self):
        return self._values.items()


class Context:
    """What a kind may ask of the engine: errors and warnings located at the layer,
    and where its input came from (for messages like "output of 'conv1', line 9")."""

    def __init__(self, path: str, kind: str, loc: Location, args: Args,
                 source: str, warn: Callable[[str, str], None], source_path: str | None = None):
        self.path, self.kind, self.loc, self.args = path, kind, loc, args
        self.source_path = source_path  # the layer whose output this is; None for the spec's input
        self.source = source  # "output of 'conv1', line 9" or "spec's input, line 4"; say "the {source}"
        self._warn = warn

    def error(self, message: str, *, arg: str | None = None, expected: str | None = None,
              found: str | None = None, hint: str | None = None, code: str = "invalid-layer") -> SpecError:
        loc = (self.args.loc(arg) if arg else None) or self.loc
        return SpecError(f"{self.kind} '{self.path}': {message}", loc, expected=expected, found=found,
                         hint=hint, code=code)

    def warn(self, code: str, message: str) -> None:
        self._warn(code, message)


class LayerKind:
    """Base of every kind. Subclasses set `kind`, `args` and implement `infer`."""

    kind: ClassVar[str]
    family: ClassVar[str] = ""
    args: ClassVar[Sequence[Arg]] = ()
    weighted: ClassVar[bool] = False  # has weights: its output elements count as neurons
    in_arg: ClassVar[str | None] = None  # in_channels / in_features / num_features: inferred, checked
    accepts_index: ClassVar[bool] = False  # reads token ids (input dtype index) and makes floats
    elementwise: ClassVar[bool] = False  # maps each element alone (can run in place; drawn inside the box before)
    view: ClassVar[bool] = False  # its output is its input's storage (flatten, identity): no new tensor
    doc: ClassVar[str] = ""
    torch_classes: ClassVar[tuple[str, ...]] = ()  # module classes `archcalc import` reads as this kind
    torch_functions: ClassVar[tuple[str, ...]] = ()  # torch functions / Tensor methods it reads as this kind

    @classmethod
    def infer(cls, x: Shape, a: Args, ctx: Context) -> Result:
        raise NotImplementedError

    @classmethod
    def from_torch(cls, module) -> dict:
        """This kind's spec arguments for a torch module of one of `torch_classes` (`archcalc
        import`): each argument read from the module's attribute of the same name (torch's
        constructor names, which the kinds share), `bias` from whether it has one; the
        inferred in_* argument and values equal to the default left out. Raises Untranslatable
        for settings a spec cannot say."""
        values = {}
        for arg in cls.args:
            if arg.name == cls.in_arg or not hasattr(module, arg.name):
                continue
            value = getattr(module, arg.name)
            if arg.name == "bias" and not isinstance(value, bool):
                value = value is not None
            values[arg.name] = value
        return cls.written(values)

    @classmethod
    def from_torch_call(cls, args: tuple, kwargs: dict) -> dict:
        """This kind's spec arguments for a call `f(x, *args, **kwargs)` of one of
        `torch_functions` (`archcalc import`): positional arguments after the input in the
        kind's argument order, which torch's functional signatures share (F.max_pool2d(x,
        kernel_size, stride, padding, ...)), keywords by name; others ignored."""
        names = [a.name for a in cls.args if a.name != cls.in_arg]
        return cls.written(dict(zip(names, args)) | {k: v for k, v in kwargs.items() if k in names})

    @classmethod
    def written(cls, values: dict) -> dict:
        """Argument values as a spec writes them: tuples made plain, defaults left out."""
        out = {}
        for arg in cls.args:
            if arg.name not in values:
                continue
            value = plain_value(values[arg.name])
            if arg.required or value != plain_value(arg.type.check(arg.default) if arg.default is not None
                                                   else None):
                out[arg.name] = value
        return out

    @classmethod
    def bias_adds(cls, a: Args, out: Shape):
        """Elements per sample that a bias is added to (peer tools count one add each): the
        output's, when the layer has a bias."""
        return N.product(out) if getattr(a, "bias", False) else 0

    @classmethod
    def pooled_inputs(cls, a: Args, x: Shape, out: Shape) -> int:
        """Input elements an averaging layer sums, window by window (concrete sizes only)."""
        raise NotImplementedError(f"{cls.kind} does not pool")

    @classmethod
    def torch_variant(cls, a: Args) -> str | None:
        """A name for settings that build a module other than the kind's usual one (the
        course's LSTM runs archcalc's step-by-step module, not nn.LSTM); None otherwise."""
        return None

    @classmethod
    def backward_macs(cls, a: Args, x: Shape, result: Result, input_grad: bool):
        """Multiply-accumulates of this layer's backward pass: the weight gradient, plus the
        input gradient when something before it has weights (`input_grad`). 0 for layers
        whose backward torch's FlopCounterMode doesn't count (element-wise, pooling, norms)."""
        return 0

    @classmethod
    def weight_bytes(cls, a: Args, params, buffers, elem: int):
        """Bytes of this layer's parameters and buffers stored in a dtype of `elem` bytes."""
        return N.mul(N.add(params, buffers), elem)

    @classmethod
    def saved_for_backward(cls, a: Args, x: Shape, out: Shape, elem: int):
        """What autograd keeps for this layer's backward pass: [("input" | "output" | "new",
        elements per sample, bytes each)], ("stat", elements, bytes) for per-batch statistics
        that don't grow with the batch; or None when archcalc does not model it."""
        return None

    @classmethod
    def receptive_field(cls, a: Args, x: Shape, rf):
        """The receptive field after this layer (see receptive.py). By default a layer maps
        each position to itself (element-wise, per-channel and channel-mixing layers)."""
        return rf

    @classmethod
    def torch_module(cls, a: Args, x: Shape):
        """The torch.nn.Module that computes this layer on a batch whose samples have shape x.

        Imports torch lazily (inside the method), so the registry stays torch-free."""
        raise NotImplementedError(f"layer kind {cls.kind} has no torch module")

    @classmethod
    def first_arg(cls) -> Arg | None:
        """The argument a scalar item sets (`- dropout: 0.5`)."""
        return cls.args[0] if cls.args else None

    # Shared checks, written once for every kind.
    @classmethod
    def require_rank(cls, x: Shape, ranks: Sequence[int], ctx: Context, what: str, hint: str | None = None):
        if len(x) not in ranks:
            want = " or ".join(str(r) for r in ranks)
            raise ctx.error(f"expects {what}", expected=f"an input of rank {want}",
                            found=f"{list_text(x)} (rank {len(x)}), the {ctx.source}", hint=hint,
                            code="wrong-rank")

    @classmethod
    def check_in_size(cls, size: Any, ctx: Context) -> None:
        """A written in_channels/in_features/num_features must equal the inferred one."""
        name = cls.in_arg
        if name and ctx.args.given(name):
            written = getattr(ctx.args, name)
            if written is not None and N.compare(written, "!=", size):
                raise ctx.error(f"{name}={N.fmt(written)} does not match its input", arg=name,
                                expected=f"{name} = {N.fmt(size)}", found=f"{N.fmt(size)} (the {ctx.source})",
                                hint=f"remove {name} (it is inferred) or fix the previous layer",
                                code="shape-mismatch")


class Untranslatable(Exception):
    """A torch module's setting that no spec argument can express (archcalc import)."""


def plain_value(value: Any) -> Any:
    """A torch attribute as a spec writes it: (3, 3) → 3, (3, 5) → [3, 5], torch.Size → list."""
    if isinstance(value, (tuple, list)):
        items = [plain_value(v) for v in value]
        return items[0] if items and all(v == items[0] for v in items) else items
    return value


def matmul_backward_macs(forward_macs, input_grad: bool):
    """A convolution's or matmul's backward: the weight gradient costs as many MACs as the
    forward pass, and so does the input gradient when one is needed."""
    return N.mul(forward_macs, 2) if input_grad else forward_macs


def batched_axis(dim: int) -> int:
    """A per-sample axis as torch numbers it with the batch axis in front."""
    return dim + 1 if dim >= 0 else dim


def list_text(shape: Shape) -> str:
    return "[" + ", ".join(N.fmt(d) for d in shape) + "]"


REGISTRY: dict[str, type[LayerKind]] = {}


def register(cls: type[LayerKind]) -> type[LayerKind]:
    if cls.kind in REGISTRY:
        raise RuntimeError(f"layer kind {cls.kind} registered twice")
    REGISTRY[cls.kind] = cls
    return cls


def kind_of_module(module) -> type[LayerKind] | None:
    """The kind that reads this torch module's class (`torch_classes`), or None: torch.nn's
    classes and archcalc's own, not a user's class that happens to share a name."""
    origin = type(module).__module__
    if not (origin.startswith("torch.nn") or origin.startswith("archcalc.")):
        return None
    name = type(module).__name__
    return next((k for k in kinds().values() if name in k.torch_classes), None)


def kinds() -> dict[str, type[LayerKind]]:
    """The registry, with every family module imported."""
    import archcalc.layers  # noqa: F401  (imports every family)

    return REGISTRY
