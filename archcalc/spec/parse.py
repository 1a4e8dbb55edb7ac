"""Located YAML nodes → a typed Spec, validated against the layer registry.

Every schema error of a file is collected and reported together: unknown keys and kinds
(with "did you mean"), wrong types (expected / found), missing arguments, bad names.
Strings in numeric places are parsed as safe expressions here and evaluated later.
"""
from __future__ import annotations

import difflib
import re
from typing import Any

from archcalc.layers.base import ArgType, ArgTypeError, LayerKind, kinds
from archcalc.spec.errors import ErrorCollector, Location, SpecError, did_you_mean
from archcalc.spec.expr import Expr, parse_expr
from archcalc.spec.loader import YMap, YNode, YScalar, YSeq, plain
from archcalc.spec.model import DimDecl, LayerCall, Spec, Value

FORMAT_VERSION = 1
TOP_KEYS = ("archcalc", "name", "doc", "input", "dims", "vars", "layers", "expect", "blocks", "variants")
COMPOSITION_KEYS = ("blocks", "variants")
RESERVED_LAYER_KEYS = ("name", "doc", "repeat", "when")
MAX_LAYERS = 100_000
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _type_name(node: YNode) -> str:
    if isinstance(node, YMap):
        return "a mapping"
    if isinstance(node, YSeq):
        return "a list"
    v = node.value
    return {bool: "true/false", int: "a number", float: "a number", str: f"'{v}' (text)",
            type(None): "nothing (null)"}.get(type(v), repr(v))


class SpecParser:
    def __init__(self, root: YNode, filename: str):
        self.root = root
        self.file = filename
        self.errors = ErrorCollector()

    def fail(self, message: str, loc: Location, **kw) -> None:
        self.errors.add(SpecError(message, loc, **kw))

    # -- top level ---------------------------------------------------------------
    def parse(self) -> Spec:
        root = self.root
        if not isinstance(root, YMap):
            raise SpecError("a spec must be a mapping", root.loc, expected="keys such as archcalc, name, input, layers",
                            found=_type_name(root))
        for key, (kloc, _) in root.entries.items():
            if key not in TOP_KEYS:
                self.fail(f"unknown top-level key '{key}'", kloc, expected="one of " + ", ".join(TOP_KEYS),
                          hint=did_you_mean(key, TOP_KEYS), code="unknown-key")
            elif key in COMPOSITION_KEYS:
                self.fail(f"'{key}' (composition) is not supported by this version of archcalc", kloc,
                          hint="write the layers out in 'layers:' for now", code="unsupported")
        version = root.get("archcalc")
        if version is None:
            self.fail("missing 'archcalc: 1' (the format version)", root.loc, hint="add 'archcalc: 1' as the first line",
                      code="missing-key")
        elif not (isinstance(version, YScalar) and version.value == FORMAT_VERSION and not version.quoted):
            self.fail("unsupported format version", version.loc, expected=f"archcalc: {FORMAT_VERSION}",
                      found=str(plain(version)), code="invalid-spec")
        name = self._string(root.get("name"), "name") or _default_name(self.file)
        doc = self._string(root.get("doc"), "doc")
        dims = self._dims(root.get("dims"))
        vars_ = self._vars(root.get("vars"))
        inputs, input_loc, dtype = self._input(root)
        layers = self._layers(root)
        self.errors.raise_if_any()
        return Spec(self.file, name, layers, inputs, input_loc, dtype, doc, dims, vars_, root.get("expect"))

    def _string(self, node: YNode | None, what: str) -> str | None:
        if node is None:
            return None
        if not isinstance(node, YScalar) or not isinstance(node.value, str):
            self.fail(f"'{what}' must be text", node.loc, found=_type_name(node), code="wrong-type")
            return None
        return node.value

    def _dims(self, node: YNode | None) -> dict[str, DimDecl]:
        dims: dict[str, DimDecl] = {}
        if node is None:
            return dims
        if not isinstance(node, YMap):
            self.fail("'dims' must map names to bounds", node.loc, expected="dims: {H: {min: 11, default: 227}}",
                      found=_type_name(node), code="wrong-type")
            return dims
        for name, (kloc, value) in node.entries.items():
            self._check_name(name, kloc, "dimension")
            decl = DimDecl(name, kloc)
            if isinstance(value, YMap):
                for key, (bloc, bound) in value.entries.items():
                    if key not in ("min", "max", "default"):
                        self.fail(f"unknown key '{key}' for dimension {name}", bloc, expected="min, max or default",
                                  hint=did_you_mean(key, ("min", "max", "default")), code="unknown-key")
                    elif not (isinstance(bound, YScalar) and type(bound.value) is int and bound.value >= 1):
                        self.fail(f"{name}.{key} must be a positive integer", bound.loc, found=_type_name(bound),
                                  code="wrong-type")
                    else:
                        setattr(decl, key, bound.value)
                if decl.min and decl.max and decl.min > decl.max:
                    self.fail(f"dimension {name}: min {decl.min} is above max {decl.max}", kloc, code="invalid-spec")
            elif not (isinstance(value, YScalar) and value.value is None):
                self.fail(f"dimension {name} takes bounds", value.loc, expected="{min: N, max: N, default: N} or null",
                          found=_type_name(value), code="wrong-type")
            dims[name] = decl
        return dims

    def _vars(self, node: YNode | None) -> dict[str, Value]:
        out: dict[str, Value] = {}
        if node is None:
            return out
        if not isinstance(node, YMap):
            self.fail("'vars' must map names to numbers", node.loc, expected="vars: {classes: 1000}",
                      found=_type_name(node), code="wrong-type")
            return out
        for name, (kloc, value) in node.entries.items():
            self._check_name(name, kloc, "var")
            raw = self._numeric(value, f"var {name}")
            if raw is not None:
                out[name] = Value(raw, value.loc)
        return out

    def _numeric(self, node: YNode, what: str) -> Any:
        """A number, or an expression string parsed now (syntax errors reported here)."""
        if isinstance(node, YScalar):
            v = node.value
            if isinstance(v, str):
                try:
                    return parse_expr(v, node.loc)
                except SpecError as err:
                    self.errors.add(err)
                    return None
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return v
        self.fail(f"{what} must be a number or an expression", node.loc, found=_type_name(node), code="wrong-type")
        return None

    def _check_name(self, name: str, loc: Location, what: str) -> None:
        if not NAME.match(name):
            self.fail(f"'{name}' is not a valid {what} name", loc,
                      expected="letters, digits and underscores, not starting with a digit", code="invalid-name")

    def _input(self, root: YMap):
        node = root.get("input")
        if node is None:
            self.fail("missing 'input' (the shape of one sample)", root.loc,
                      hint="e.g. input: [3, 227, 227] for an RGB image, [T, 65] for a sequence", code="missing-key")
            return [], root.loc, "float"
        dtype = "float"
        if isinstance(node, YMap):
            for key, (kloc, _) in node.entries.items():
                if key not in ("shape", "dtype"):
                    self.fail(f"unknown key '{key}' in input", kloc, expected="shape, dtype",
                              hint=did_you_mean(key, ("shape", "dtype")), code="unknown-key")
            dnode = node.get("dtype")
            if dnode is not None:
                if isinstance(dnode, YScalar) and dnode.value in ("float", "index"):
                    dtype = dnode.value
                else:
                    self.fail("input dtype must be float or index", dnode.loc, found=_type_name(dnode), code="wrong-type")
            shape_node = node.get("shape")
            if shape_node is None:
                self.fail("input needs a shape", node.loc, expected="input: {shape: [T], dtype: index}", code="missing-key")
                return [], node.loc, dtype
            node = shape_node
        if not isinstance(node, YSeq) or not node.items:
            self.fail("'input' must be a list of sizes", node.loc, expected="e.g. [3, 227, 227] or [3, H, W]",
                      found=_type_name(node), code="wrong-type")
            return [], node.loc, dtype
        values = []
        for item in node.items:
            raw = self._numeric(item, "an input size")
            if raw is not None:
                values.append(Value(raw, item.loc))
        return values, node.loc, dtype

    # -- layers ------------------------------------------------------------------
    def _layers(self, root: YMap) -> list[LayerCall]:
        node = root.get("layers")
        if node is None:
            self.fail("missing 'layers'", root.loc, hint="list the network's layers under 'layers:'", code="missing-key")
            return []
        if not isinstance(node, YSeq) or not node.items:
            self.fail("'layers' must be a non-empty list", node.loc, expected="- conv2d: {...} items",
                      found=_type_name(node), code="wrong-type")
            return []
        if len(node.items) > MAX_LAYERS:
            raise SpecError(f"more than {MAX_LAYERS:,} layers", node.loc, code="limit")
        calls = [c for c in (self._layer(item) for item in node.items) if c is not None]
        self._assign_paths(calls)
        return calls

    def _layer(self, item: YNode) -> LayerCall | None:
        registry = kinds()
        if isinstance(item, YScalar) and isinstance(item.value, str):
            kind_name, kind_loc, body = item.value, item.loc, None
        elif isinstance(item, YMap) and len(item.entries) == 1:
            kind_name, (kind_loc, body) = next(iter(item.entries.items()))
        else:
            self.fail("a layer is '- kind' or '- kind: {arguments}'", item.loc,
                      expected="e.g. '- relu' or '- conv2d: {out_channels: 96, kernel_size: 11}'",
                      found=_type_name(item) + (f" with keys {', '.join(item.entries)}" if isinstance(item, YMap) else ""),
                      hint="indent the arguments under the kind" if isinstance(item, YMap) else None,
                      code="invalid-layer")
            return None
        kind = registry.get(kind_name)
        if kind is None:
            self.fail(f"unknown layer kind '{kind_name}'", kind_loc,
                      hint=did_you_mean(kind_name, registry) or "run 'archcalc kinds' to list them",
                      code="unknown-kind")
            return None
        call = LayerCall(kind, "", kind_loc)
        self._attempted: set[str] = set()  # args written but invalid, or misspelt: not "missing" too
        if body is None or (isinstance(body, YScalar) and body.value is None):
            pass
        elif isinstance(body, YMap):
            self._layer_args(call, body)
        else:  # a scalar or list sets the first argument
            first = kind.first_arg()
            if first is None:
                self.fail(f"{kind_name} takes no arguments", body.loc, found=_type_name(body), code="unknown-arg")
            else:
                self._set_arg(call, first.name, body)
        for arg in kind.args:
            if arg.required and arg.name not in call.args and arg.name not in self._attempted:
                self.fail(f"{kind_name}: missing required argument '{arg.name}'", kind_loc,
                          hint=f"add {arg.name}: … ({arg.type.describe})", code="missing-arg")
        return call

    def _layer_args(self, call: LayerCall, body: YMap) -> None:
        kind = call.kind
        names = [a.name for a in kind.args]
        for key, (kloc, value) in body.entries.items():
            if key == "name":
                name = self._string(value, "name")
                if name is not None:
                    self._check_name(name, value.loc, "layer")
                    call.name = name
            elif key == "doc":
                call.doc = self._string(value, "doc")
            elif key in RESERVED_LAYER_KEYS:
                self.fail(f"'{key}' (composition) is not supported by this version of archcalc", kloc,
                          hint="write the layers out for now", code="unsupported")
            elif key not in names:
                self._attempted.update(difflib.get_close_matches(key, names, n=1, cutoff=0.6))
                self.fail(f"{kind.kind}: unknown argument '{key}'", kloc,
                          expected="one of " + ", ".join(names + ["name", "doc"]),
                          hint=did_you_mean(key, names + list(RESERVED_LAYER_KEYS)), code="unknown-arg")
            else:
                self._set_arg(call, key, value)

    def _set_arg(self, call: LayerCall, name: str, node: YNode) -> None:
        arg = next(a for a in call.kind.args if a.name == name)
        self._attempted.add(name)
        raw = self._arg_value(node, arg.type)
        if raw is _INVALID:
            return
        if not _has_expr(raw):
            try:
                arg.type.check(raw)
            except ArgTypeError as exc:
                self.fail(f"{call.kind.kind}: {name} must be {exc.expected}", node.loc, expected=exc.expected,
                          found=exc.found, code="wrong-type")
                return
        call.args[name] = Value(raw, node.loc)

    def _arg_value(self, node: YNode, type_: ArgType) -> Any:
        if isinstance(node, YSeq):
            items = [self._arg_value(i, type_) for i in node.items]
            return _INVALID if any(i is _INVALID for i in items) else items
        if isinstance(node, YMap):
            self.fail("an argument can't be a mapping", node.loc, expected=type_.describe, code="wrong-type")
            return _INVALID
        v = node.value
        if isinstance(v, str) and type_.numeric and v not in type_.keywords:
            try:
                return parse_expr(v, node.loc)
            except SpecError as err:
                self.errors.add(err)
                return _INVALID
        return v

    def _assign_paths(self, calls: list[LayerCall]) -> None:
        taken: dict[str, Location] = {}
        counters: dict[str, int] = {}
        for call in calls:
            if call.name is not None:
                continue
            counters[call.kind.kind] = counters.get(call.kind.kind, 0) + 1
            call.path = f"{call.kind.kind}_{counters[call.kind.kind]}"
        for call in calls:
            if call.name is not None:
                call.path = call.name
            if call.path in taken:
                self.fail(f"two layers have the path '{call.path}'", call.loc,
                          found=f"'{call.path}' first used at line {taken[call.path].line}",
                          hint="give each layer a unique name", code="duplicate-name")
            taken.setdefault(call.path, call.loc)


_INVALID = object()


def _has_expr(raw: Any) -> bool:
    if isinstance(raw, Expr):
        return True
    return isinstance(raw, list) and any(_has_expr(r) for r in raw)


def _default_name(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def parse_spec(root: YNode, filename: str) -> Spec:
    return SpecParser(root, filename).parse()


__all__ = ["parse_spec", "LayerKind"]
