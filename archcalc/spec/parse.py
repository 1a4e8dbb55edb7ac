"""Located YAML nodes → a typed Spec, validated against the layer registry and the blocks.

Every schema error of a file is collected and reported together: unknown keys, kinds,
blocks and arguments (with "did you mean"), wrong types (expected / found), missing
arguments, unknown names in expressions, bad names, recursive blocks. Strings in numeric
places are parsed as safe expressions here and evaluated when the spec is expanded.
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Iterable

from archcalc.layers.args import ArgType, ArgTypeError, Bool
from archcalc.layers.registry import kinds
from archcalc.spec.errors import ErrorCollector, Location, SpecError, did_you_mean
from archcalc.spec.expr import FUNCTIONS, Expr, Unknown, parse_expr
from archcalc.spec.loader import YMap, YNode, YScalar, YSeq, plain
from archcalc.spec.lookalike import lookalike
from archcalc.spec.model import REQUIRED, BlockDef, Branch, DimDecl, InputDecl, Item, Spec, Value, Variant

FORMAT_VERSION = 1
TOP_KEYS = ("archcalc", "name", "doc", "input", "inputs", "dims", "vars", "blocks", "layers", "variants", "expect", "budget")
RESERVED_LAYER_KEYS = ("name", "doc", "repeat", "when", "weights", "share", "call", "from")
REPEAT_KEYS = ("times", "index")  # `repeat: {times: n, index: i}`
CALLS = ("module", "function")  # `call:` how the model calls a layer: its torch.nn module, or a function
MAX_ITEMS = 100_000
MAX_INPUTS = 8  # the built network's forward takes them as named parameters (torch.fx traces those)
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INVALID = object()


def _type_name(node: YNode) -> str:
    if isinstance(node, YMap):
        return "a mapping"
    if isinstance(node, YSeq):
        return "a list"
    v = node.value
    return {bool: "true/false", int: "a number", float: "a number", str: f"'{v}' (text)",
            type(None): "nothing (null)"}.get(type(v), repr(v))


def _exprs(raw: Any) -> Iterable[Expr]:
    if isinstance(raw, (Expr, Unknown)):
        yield raw
    elif isinstance(raw, list):
        for r in raw:
            yield from _exprs(r)


def _unknowns(raw: Any, suffix: str = "") -> Iterable[tuple[str, Unknown]]:
    """The "?" of a written value, each with its index suffix in the value's lists ("", "[1]")."""
    if isinstance(raw, Unknown):
        yield suffix, raw
    elif isinstance(raw, list):
        for i, r in enumerate(raw):
            yield from _unknowns(r, f"{suffix}[{i}]")


class SpecParser:
    def __init__(self, root: YNode, filename: str):
        self.root = root
        self.file = filename
        self.errors = ErrorCollector()
        self.blocks: dict[str, BlockDef] = {}
        self.block_names: set[str] = set()
        self.item_count = 0
        self.unknowns: list[Unknown] = []
        self.input_values = None
        self.input_values_loc = None

    def fail(self, message: str, loc: Location, **kw) -> None:
        self.errors.add(SpecError(message, loc, **kw))

    def unknown_keys(self, node: YMap, allowed, message: str, expected: str | None = None) -> None:
        """Every key of `node` outside `allowed` is an error: `message` with {key} filled in,
        and a "did you mean" hint."""
        for key, (kloc, _) in node.entries.items():
            if key not in allowed:
                self.fail(message.format(key=key), kloc, expected=expected or "one of " + ", ".join(allowed),
                          hint=did_you_mean(key, allowed), code="unknown-key")

    # -- top level ---------------------------------------------------------------
    def parse(self) -> Spec:
        root = self.root
        if not isinstance(root, YMap):
            raise SpecError("a spec must be a mapping", root.loc, expected="keys such as archcalc, name, input, layers",
                            found=_type_name(root))
        self.unknown_keys(root, TOP_KEYS, "unknown top-level key '{key}'")
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
        vars_ = self._named_values(root.get("vars"), "vars", "var")
        inputs, input_loc, dtype, input_name, more = self._inputs(root)
        blocks_node = root.get("blocks")
        if blocks_node is not None:
            self._declare_blocks(blocks_node)
            self._blocks(blocks_node)
        layers = self._layers(root.get("layers"), root.loc)
        variants = self._variants(root.get("variants"), vars_)
        spec = Spec(self.file, name, layers, inputs, input_loc, dtype, doc, dims, vars_, root.get("expect"),
                    self.blocks, variants, root.get("budget"))
        spec.unknowns = sorted({u.name for u in self.unknowns})
        spec.input_values, spec.input_values_loc = self.input_values, self.input_values_loc
        spec.input_name, spec.more_inputs = input_name, more
        self._check_scopes(spec)
        self._check_recursion()
        self.errors.raise_if_any()
        return spec

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

    def _named_values(self, node: YNode | None, key: str, what: str) -> dict[str, Value]:
        out: dict[str, Value] = {}
        if node is None:
            return out
        if not isinstance(node, YMap):
            self.fail(f"'{key}' must map names to values", node.loc, expected=f"{key}: {{classes: 1000}}",
                      found=_type_name(node), code="wrong-type")
            return out
        for name, (kloc, value) in node.entries.items():
            self._check_name(name, kloc, what)
            raw = self._scalar_value(value, f"{what} {name}")
            if raw is not _INVALID:
                out[name] = Value(raw, value.loc)
        return out

    def _scalar_value(self, node: YNode, what: str) -> Any:
        """A number, a boolean, or an expression string parsed now (syntax errors reported here)."""
        if isinstance(node, YScalar):
            v = node.value
            if isinstance(v, str):
                try:
                    return parse_expr(v, node.loc, condition=True)
                except SpecError as err:
                    self.errors.add(err)
                    return _INVALID
            if isinstance(v, (int, float, bool)):
                return v
        self.fail(f"{what} must be a number, true/false or an expression", node.loc, found=_type_name(node),
                  code="wrong-type")
        return _INVALID

    def _param_value(self, node: YNode, what: str) -> Any:
        """A block parameter's value: a scalar value, or a list of them (kernel: [1, 7])."""
        if isinstance(node, YSeq):
            items = [self._scalar_value(i, what) for i in node.items]
            return _INVALID if any(i is _INVALID for i in items) else items
        return self._scalar_value(node, what)

    def _numeric(self, node: YNode, what: str) -> Any:
        if isinstance(node, YScalar) and not isinstance(node.value, bool):
            raw = self._scalar_value(node, what)
            if raw is _INVALID or isinstance(raw, (int, float, Expr)):
                return raw
        self.fail(f"{what} must be a number or an expression", node.loc, found=_type_name(node), code="wrong-type")
        return _INVALID

    def _numbers(self, node: YNode, what: str):
        """A number or nested lists of numbers (input values, layer weights), as plain data."""
        if isinstance(node, YSeq):
            items = [self._numbers(i, what) for i in node.items]
            return None if any(i is None for i in items) else items
        if isinstance(node, YScalar) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        self.fail(f"{what} must hold numbers (nested lists of them)", node.loc, found=_type_name(node),
                  code="wrong-type")
        return None

    def _check_name(self, name: str, loc: Location, what: str) -> None:
        if not NAME.match(name):
            self.fail(f"'{name}' is not a valid {what} name", loc,
                      expected="letters, digits and underscores, not starting with a digit", code="invalid-name")

    def _inputs(self, root: YMap):
        """`input:` (one tensor, named input), or `inputs:` (a mapping of names to inputs, a
        transformer's source and target): the layers begin on the first, and a layer reads
        another with `from: NAME` or a tensor argument (cross-attention's memory)."""
        node, many = root.get("input"), root.get("inputs")
        if many is None:
            if node is None:
                self.fail("missing 'input' (the shape of one sample)", root.loc,
                          hint="e.g. input: [3, 227, 227] for an RGB image, [T, 65] for a sequence; inputs: {src: "
                               "[S, 512], tgt: [T, 512]} for several", code="missing-key")
                return [], root.loc, "float", "input", []
            return (*self._input(node, "input"), "input", [])
        if node is not None:
            self.fail("a spec has 'input' or 'inputs', not both", node.loc,
                      hint="name every input under inputs:", code="invalid-spec")
        if not isinstance(many, YMap) or not many.entries:
            self.fail("'inputs' must be a mapping of names to inputs", many.loc,
                      expected="inputs: {src: {shape: [S], dtype: index}, tgt: {shape: [T], dtype: index}}",
                      found=_type_name(many), code="wrong-type")
            return [], many.loc, "float", "input", []
        if len(many.entries) > MAX_INPUTS:
            self.fail(f"a spec takes at most {MAX_INPUTS} inputs", many.loc, found=f"{len(many.entries)}",
                      code="limit")
        declared = []
        for name, (kloc, value) in many.entries.items():
            self._check_name(name, kloc, "input")
            declared.append(InputDecl(name, *self._input(value, f"input '{name}'", values=False)))
        first = declared[0]
        return first.shape, first.loc, first.dtype, first.name, declared[1:]

    def _input(self, node: YNode, what: str, values: bool = True):
        dtype = "float"
        if isinstance(node, YMap):
            self.unknown_keys(node, ("shape", "dtype", "values") if values else ("shape", "dtype"),
                              f"unknown key '{{key}}' in {what}", "shape, dtype" + (", values" if values else ""))
            if node.get("values") is not None and values:
                self.input_values = self._numbers(node.get("values"), "input values")
                self.input_values_loc = node.get("values").loc
            dnode = node.get("dtype")
            if dnode is not None:
                if isinstance(dnode, YScalar) and dnode.value in ("float", "index"):
                    dtype = dnode.value
                else:
                    self.fail(f"{what}'s dtype must be float or index", dnode.loc, found=_type_name(dnode),
                              code="wrong-type")
            shape_node = node.get("shape")
            if shape_node is None:
                self.fail(f"{what} needs a shape", node.loc, expected="input: {shape: [T], dtype: index}",
                          code="missing-key")
                return [], node.loc, dtype
            node = shape_node
        if not isinstance(node, YSeq) or not node.items:
            self.fail(f"'{what}' must be a list of sizes", node.loc, expected="e.g. [3, 227, 227] or [3, H, W]",
                      found=_type_name(node), code="wrong-type")
            return [], node.loc, dtype
        values = []
        for item in node.items:
            raw = self._numeric(item, "an input size")
            if raw is not _INVALID:
                values.append(Value(raw, item.loc))
        return values, node.loc, dtype

    # -- blocks and variants -------------------------------------------------------
    def _declare_blocks(self, node: YNode) -> None:
        if not isinstance(node, YMap):
            self.fail("'blocks' must map block names to definitions", node.loc, found=_type_name(node),
                      expected="blocks: {bottleneck: {params: {...}, layers: [...]}}", code="wrong-type")
            return
        registry = kinds()
        for name, (kloc, _) in node.entries.items():
            self._check_name(name, kloc, "block")
            if name in registry:
                self.fail(f"block '{name}' has the name of a layer kind", kloc, hint="rename the block",
                          code="invalid-name")
            self.block_names.add(name)

    def _blocks(self, node: YNode) -> None:
        if not isinstance(node, YMap):
            return
        for name, (kloc, body) in node.entries.items():
            if not isinstance(body, YMap):
                self.fail(f"block '{name}' must be a mapping", body.loc, expected="{params: {...}, layers: [...]}",
                          found=_type_name(body), code="wrong-type")
                continue
            self.unknown_keys(body, ("params", "layers", "doc"), f"unknown key '{{key}}' in block '{name}'",
                              "params, layers, doc")
            params: dict[str, tuple[Any, Location]] = {}
            pnode = body.get("params")
            if isinstance(pnode, YMap):
                for pname, (ploc, pvalue) in pnode.entries.items():
                    self._check_name(pname, ploc, "block parameter")
                    if isinstance(pvalue, YScalar) and pvalue.value == "required" and not pvalue.quoted:
                        params[pname] = (REQUIRED, ploc)
                    else:
                        raw = self._param_value(pvalue, f"parameter {pname}")
                        if raw is not _INVALID:
                            params[pname] = (Value(raw, pvalue.loc), ploc)
            elif pnode is not None and not (isinstance(pnode, YScalar) and pnode.value is None):
                self.fail(f"params of block '{name}' must be a mapping", pnode.loc,
                          expected="params: {mid: required, stride: 1}", found=_type_name(pnode), code="wrong-type")
            items = self._layers(body.get("layers"), body.loc, where=f"block '{name}'")
            self.blocks[name] = BlockDef(name, kloc, params, items, self._string(body.get("doc"), "doc"))

    def _variants(self, node: YNode | None, vars_: dict[str, Value]) -> dict[str, Variant]:
        out: dict[str, Variant] = {}
        if node is None:
            return out
        if not isinstance(node, YMap):
            self.fail("'variants' must map variant names to settings", node.loc, found=_type_name(node),
                      expected="variants: {resnet101: {vars: {n4: 23}}}", code="wrong-type")
            return out
        for name, (kloc, body) in node.entries.items():
            self._check_name(name, kloc, "variant")
            if not isinstance(body, YMap):
                self.fail(f"variant '{name}' must be a mapping", body.loc, expected="{vars: {...}, doc: ...}",
                          found=_type_name(body), code="wrong-type")
                continue
            self.unknown_keys(body, ("vars", "doc", "expect"), f"unknown key '{{key}}' in variant '{name}'",
                              "vars, doc, expect")
            values = self._named_values(body.get("vars"), "vars", "var")
            for vname, value in values.items():
                if vname not in vars_:
                    self.fail(f"variant '{name}' sets '{vname}', which is not one of the spec's vars", value.loc,
                              hint=did_you_mean(vname, vars_) or "declare it under the top-level vars:",
                              code="unknown-name")
            out[name] = Variant(name, kloc, values, self._string(body.get("doc"), "doc"), body.get("expect"))
        return out

    # -- layers ------------------------------------------------------------------
    def _layers(self, node: YNode | None, parent_loc: Location, where: str = "the spec") -> list[Item]:
        if node is None:
            self.fail(f"missing 'layers' in {where}", parent_loc, hint="list the layers under 'layers:'",
                      code="missing-key")
            return []
        if not isinstance(node, YSeq) or not node.items:
            self.fail("'layers' must be a non-empty list", node.loc, expected="- conv2d: {...} items",
                      found=_type_name(node), code="wrong-type")
            return []
        return self._item_list(node.items)

    def _item_list(self, nodes: list[YNode]) -> list[Item]:
        self.item_count += len(nodes)
        if self.item_count > MAX_ITEMS:
            raise SpecError(f"more than {MAX_ITEMS:,} layer items", nodes[0].loc, code="limit")
        items = [i for i in (self._item(n) for n in nodes) if i is not None]
        self._assign_names(items)
        return items

    def _item(self, node: YNode) -> Item | None:
        registry = kinds()
        if isinstance(node, YScalar) and isinstance(node.value, str):
            kind_name, kind_loc, body = node.value, node.loc, None
        elif isinstance(node, YMap) and len(node.entries) == 1:
            kind_name, (kind_loc, body) = next(iter(node.entries.items()))
        else:
            self.fail("a layer is '- kind' or '- kind: {arguments}'", node.loc,
                      expected="e.g. '- relu' or '- conv2d: {out_channels: 96, kernel_size: 11}'",
                      found=_type_name(node) + (f" with keys {', '.join(node.entries)}" if isinstance(node, YMap) else ""),
                      hint="indent the arguments under the kind" if isinstance(node, YMap) else None,
                      code="invalid-layer")
            return None
        item = Item(kind_name, kind_loc)
        kind = registry.get(kind_name)
        if kind is not None and kind.merge:
            item.layer = kind
            self._merge(item, body)
        elif kind_name in self.block_names:
            item.block = kind_name
            self._call_body(item, body, params_of=kind_name)
        elif kind is not None:
            item.layer = kind
            self._call_body(item, body)
        else:
            self._unknown_kind(kind_name, kind_loc)
            return None
        return item

    def _unknown_kind(self, kind_name: str, loc: Location) -> None:
        """An unknown kind; one written with look-alike letters (Cyrillic 'с') is located at the letter."""
        choices = list(kinds()) + list(self.block_names)
        odd = lookalike(kind_name, choices, loc.column)
        if odd:
            known, why, first = odd
            at = Location(loc.file, loc.line, loc.column + first) if loc.column is not None else loc
            self.fail(f"unknown layer kind '{kind_name}': {why}", at, expected=f"'{known}' in ASCII letters",
                      code="unknown-kind")
            return
        self.fail(f"unknown layer kind '{kind_name}'", loc, hint=did_you_mean(kind_name, choices)
                  or "run 'archcalc kinds' to list them", code="unknown-kind")

    def _reserved(self, item: Item, key: str, value: YNode) -> None:
        """name, doc, share, weights, repeat, when, call: the keys any item may carry."""
        getattr(self, f"_item_{key}")(item, value)

    def _item_name(self, item: Item, value: YNode) -> None:
        name = self._string(value, "name")
        if name is not None:
            self._check_name(name, value.loc, "layer")
            item.name, item.explicit_name = name, True

    def _item_doc(self, item: Item, value: YNode) -> None:
        item.doc = self._string(value, "doc")

    def _item_share(self, item: Item, value: YNode) -> None:
        target = self._string(value, "share")
        if target is None:
            return
        if item.layer is None:
            self.fail("only a layer kind can share weights", value.loc, code="invalid-layer")
        else:
            item.share = (target, value.loc)

    def _item_from(self, item: Item, value: YNode) -> None:
        """`from: NAME`: the item reads the spec input or earlier layer NAME (its full path)
        instead of the output of the item before it."""
        source = self._string(value, "from")
        if source is not None:
            item.source = (source, value.loc)

    def _item_call(self, item: Item, value: YNode) -> None:
        """`call: function`: the model calls the layer as a function (F.relu, F.max_pool2d,
        torch.flatten), not as its torch.nn module; the peer tools' hooks tell the two apart."""
        how = self._string(value, "call")
        if how is None:
            return
        if how not in CALLS:
            self.fail(f"call must be one of {', '.join(CALLS)}", value.loc, found=how, hint=did_you_mean(how, CALLS),
                      code="wrong-type")
        elif item.layer is None or item.layer.merge:
            self.fail("only a layer kind is called as a module or a function", value.loc,
                      hint="a block or a merge is what its layers are", code="invalid-layer")
        elif how == "function" and not item.layer.torch_functions:
            self.fail(f"{item.kind} has no function form: torch calls it only as its module", value.loc,
                      hint="`archcalc kinds` lists each kind's functions", code="invalid-layer")
        else:
            item.call = how

    def _item_weights(self, item: Item, value: YNode) -> None:
        if not isinstance(value, YMap):
            self.fail("weights maps parameter names to values", value.loc,
                      expected="weights: {weight: [[...]], bias: [...]}", found=_type_name(value), code="wrong-type")
            return
        for pname, (ploc, pvalue) in value.entries.items():
            numbers = self._numbers(pvalue, f"weights.{pname}")
            if numbers is not None:
                item.weights[pname] = (ploc, numbers)

    def _item_repeat(self, item: Item, value: YNode) -> None:
        """`repeat: n`, or `repeat: {times: n, index: i}`: i is bound to 0 … n-1 in each copy."""
        if isinstance(value, YMap):
            self.unknown_keys(value, REPEAT_KEYS, "unknown key '{key}' in repeat",
                              expected="repeat: {times: n, index: i}")
            index = value.get("index")
            if index is not None:
                if not (isinstance(index, YScalar) and isinstance(index.value, str) and not index.quoted
                        and NAME.match(index.value)):
                    self.fail("repeat's index must be a name", index.loc, expected="a name such as i or k",
                              found=_type_name(index), code="invalid-name")
                else:
                    item.index = (index.value, index.loc)
            times = value.get("times")
            if times is None:
                self.fail("repeat: missing 'times'", value.loc, expected="repeat: {times: n, index: i}",
                          hint="times is the number of copies", code="missing-key")
                return
            value = times
        raw = self._numeric(value, "repeat")
        if raw is _INVALID:
            return
        if isinstance(raw, int) and raw < 0 or isinstance(raw, float):
            self.fail("repeat must be a whole number >= 0", value.loc, found=_type_name(value), code="wrong-type")
        else:
            item.repeat = Value(raw, value.loc)

    def _item_when(self, item: Item, value: YNode) -> None:
        if isinstance(value, YScalar) and isinstance(value.value, bool):
            item.when = Value(value.value, value.loc)
        elif isinstance(value, YScalar) and isinstance(value.value, str):
            try:
                item.when = Value(parse_expr(value.value, value.loc, condition=True), value.loc)
            except SpecError as err:
                self.errors.add(err)
        else:
            self.fail("when must be a condition", value.loc, expected="true/false or e.g. \"stride == 1\"",
                      found=_type_name(value), code="wrong-type")

    def _call_body(self, item: Item, body: YNode | None, params_of: str | None = None) -> None:
        """Arguments of a layer kind, or parameters of a block call."""
        attempted: set[str] = set()  # written but invalid, or misspelt: not reported "missing" too
        names = list(self._block_params(params_of)) if params_of else [a.name for a in item.layer.args]
        if body is None or (isinstance(body, YScalar) and body.value is None):
            pass
        elif isinstance(body, YMap):
            self._arguments(item, body, names, params_of, attempted)
        elif params_of:
            self.fail(f"a call of block '{params_of}' takes a mapping of parameters", body.loc,
                      found=_type_name(body), code="wrong-type")
        elif item.layer.first_arg() is None:  # a scalar or list sets the first argument
            self.fail(f"{item.kind} takes no arguments", body.loc, found=_type_name(body), code="unknown-arg")
        else:
            self._set_arg(item, item.layer.first_arg().name, body, attempted)
        self._missing(item, params_of, attempted)

    def _arguments(self, item: Item, body: YMap, names: list[str], params_of: str | None, attempted: set) -> None:
        for key, (kloc, value) in body.entries.items():
            if key in RESERVED_LAYER_KEYS:
                self._reserved(item, key, value)
            elif key not in names:
                attempted.update(difflib.get_close_matches(key, names, n=1, cutoff=0.6))
                what = f"block '{params_of}' has no parameter" if params_of else f"{item.kind}: unknown argument"
                self.fail(f"{what} '{key}'", kloc, expected="one of " + ", ".join(names + list(RESERVED_LAYER_KEYS)),
                          hint=did_you_mean(key, names + list(RESERVED_LAYER_KEYS)), code="unknown-arg")
            elif params_of:
                attempted.add(key)
                raw = self._param_value(value, f"parameter {key}")
                if raw is not _INVALID:
                    item.args[key] = Value(raw, value.loc)
            else:
                self._set_arg(item, key, value, attempted)

    def _missing(self, item: Item, params_of: str | None, attempted: set) -> None:
        """Required arguments (or block parameters) neither written nor attempted."""
        if params_of:
            missing = [(p, f"add {p}: …") for p, (v, _) in self._block_params(params_of).items()
                       if v is REQUIRED and p not in item.args and p not in attempted]
        else:
            missing = [(a.name, f"add {a.name}: … ({a.type.describe})") for a in item.layer.args
                       if a.required and a.name not in item.args and a.name not in attempted]
        for name, hint in missing:
            self.fail(f"{item.kind}: missing required {'parameter' if params_of else 'argument'} '{name}'",
                      item.loc, hint=hint, code="missing-arg")

    def _block_params(self, name: str) -> dict[str, tuple[Any, Location]]:
        if name in self.blocks:
            return self.blocks[name].params
        # a block called before its own definition was parsed (blocks calling blocks): read it now
        node = self.root.get("blocks")
        body = node.get(name) if isinstance(node, YMap) else None
        pnode = body.get("params") if isinstance(body, YMap) else None
        params: dict[str, tuple[Any, Location]] = {}
        if isinstance(pnode, YMap):
            for pname, (ploc, pvalue) in pnode.entries.items():
                required = isinstance(pvalue, YScalar) and pvalue.value == "required" and not pvalue.quoted
                params[pname] = (REQUIRED if required else Value(None, pvalue.loc), ploc)
        return params

    def _merge(self, item: Item, body: YNode | None) -> None:
        """A merge's `branches:` (a mapping of named layer lists, or a list of them) and its
        kind's arguments."""
        attempted: set[str] = set()
        names = tuple(a.name for a in item.layer.args)
        allowed = ("branches",) + names
        if not isinstance(body, YMap):
            self.fail(f"{item.kind} takes branches", body.loc if body is not None else item.loc,
                      expected=f"{item.kind}: {{branches: {{main: [...], shortcut: [...]}}}}",
                      found=_type_name(body) if body is not None else "nothing", code="wrong-type")
            return
        for key, (kloc, value) in body.entries.items():
            if key in RESERVED_LAYER_KEYS:
                self._reserved(item, key, value)
            elif key not in allowed:
                self.fail(f"{item.kind}: unknown argument '{key}'", kloc,
                          expected="one of " + ", ".join(allowed + RESERVED_LAYER_KEYS),
                          hint=did_you_mean(key, allowed + RESERVED_LAYER_KEYS), code="unknown-arg")
            elif key in names:
                self._set_arg(item, key, value, attempted)
        branches = body.get("branches")
        if branches is None:
            self.fail(f"{item.kind}: missing 'branches'", item.loc, code="missing-arg",
                      hint="branches: {main: [...], shortcut: []} (an empty list passes its input through)")
            return
        if isinstance(branches, YMap):
            pairs = [(name, kloc, value) for name, (kloc, value) in branches.entries.items()]
        elif isinstance(branches, YSeq):
            pairs = [(f"branch{i}", value.loc, value) for i, value in enumerate(branches.items, 1)]
        else:
            self.fail(f"{item.kind}: branches must be a mapping or a list of layer lists", branches.loc,
                      found=_type_name(branches), code="wrong-type")
            return
        if len(pairs) < 2:
            self.fail(f"{item.kind} needs at least two branches", branches.loc, found=f"{len(pairs)}",
                      code="invalid-layer")
        for name, loc, value in pairs:
            self._check_name(name, loc, "branch")
            if isinstance(value, YScalar) and value.value is None:
                items: list[Item] = []
            elif isinstance(value, YSeq):
                items = self._item_list(value.items) if value.items else []
            else:
                self.fail(f"branch '{name}' must be a list of layers", value.loc, found=_type_name(value),
                          code="wrong-type")
                continue
            item.branches.append(Branch(name, loc, items))

    def _set_arg(self, item: Item, name: str, node: YNode, attempted: set[str]) -> None:
        arg = next(a for a in item.layer.args if a.name == name)
        attempted.add(name)
        raw = self._arg_value(node, arg.type)
        if raw is _INVALID:
            return
        if not any(True for _ in _exprs(raw)):
            try:
                arg.type.check(raw)
            except ArgTypeError as exc:
                self.fail(f"{item.kind}: {name} must be {exc.expected}", node.loc, expected=exc.expected,
                          found=exc.found, code="wrong-type")
                return
        item.args[name] = Value(raw, node.loc)

    def _arg_value(self, node: YNode, type_: ArgType) -> Any:
        if isinstance(node, YSeq):
            items = [self._arg_value(i, type_) for i in node.items]
            return _INVALID if any(i is _INVALID for i in items) else items
        if isinstance(node, YMap):
            self.fail("an argument can't be a mapping", node.loc, expected=type_.describe, code="wrong-type")
            return _INVALID
        v = node.value
        if v == "?" and type_.numeric:
            unknown = Unknown(node.loc)
            self.unknowns.append(unknown)
            return unknown
        condition = isinstance(type_, Bool) or isinstance(getattr(type_, "inner", None), Bool)
        if isinstance(v, str) and (type_.numeric or condition) and v not in type_.keywords:
            try:
                return parse_expr(v, node.loc, condition=condition)
            except SpecError as err:
                self.errors.add(err)
                return _INVALID
        return v

    def _assign_names(self, items: list[Item]) -> None:
        """Unnamed items get `<kind>_<n>`, counted per kind in this list; paths must be unique.
        Unknown arguments ("?") are named after them: conv2.padding, and each "?" of a
        per-axis list by its index, conv2.padding[0] and conv2.padding[1] (each its own unknown)."""
        counters: dict[str, int] = {}
        for item in items:
            if not item.explicit_name:
                counters[item.kind] = counters.get(item.kind, 0) + 1
                item.name = f"{item.kind}_{counters[item.kind]}"
            for arg, value in item.args.items():
                for suffix, unknown in _unknowns(value.raw):
                    unknown.name = f"{item.name}.{arg}{suffix}"
        taken: dict[str, Location] = {}
        for item in items:
            if item.name in taken:
                self.fail(f"two layers have the path '{item.name}'", item.loc,
                          found=f"'{item.name}' first used at line {taken[item.name].line}",
                          hint="give each layer a unique name", code="duplicate-name")
            taken.setdefault(item.name, item.loc)

    # -- whole-spec checks -----------------------------------------------------------
    def _check_scopes(self, spec: Spec) -> None:
        """Every name in every expression must be a dim, a var, (in a block) a parameter, or the
        index of a repeat around it; an index may not hide any of those names."""
        input_names = {n for v in spec.all_input_shapes() for e in _exprs(v.raw) for n in e.names}
        for item in spec.layers:
            if item.name in spec.input_names():
                self.fail(f"the layer '{item.name}' has the name of an input", item.loc,
                          hint="rename the layer or the input: from: and tensor arguments name either",
                          code="duplicate-name")
        owners = {**{n: f"the dimension '{n}'" for n in set(spec.dims) | input_names},
                  **{n: f"the var '{n}'" for n in spec.vars}}
        globals_ = set(owners)
        for value in spec.vars.values():
            self._check_exprs(value.raw, globals_, "vars")
        self._check_items(spec.layers, owners)
        for block in spec.blocks.values():
            inner = {**owners, **{p: f"the parameter '{p}' of block '{block.name}'" for p in block.params}}
            for default, _ in block.params.values():
                if default is not REQUIRED:
                    self._check_exprs(default.raw, set(inner), f"block '{block.name}'")
            self._check_items(block.items, inner)

    def _check_items(self, items: list[Item], owners: dict[str, str]) -> None:
        """`owners` maps each name in scope to what it is (the var 'n', a block's parameter, an index)."""
        for item in items:
            if item.repeat is not None:
                self._check_exprs(item.repeat.raw, set(owners), item.kind)
            scope = owners
            if item.index is not None:
                name, loc = item.index
                if name in owners:
                    self.fail(f"repeat's index '{name}' hides {owners[name]}", loc,
                              hint="give the index a name of its own", code="invalid-name")
                elif name in FUNCTIONS:
                    self.fail(f"repeat's index '{name}' is the name of a function of expressions", loc,
                              hint="give the index a name of its own", code="invalid-name")
                else:
                    scope = {**owners, name: f"the index of the repeat at line {loc.line}"}
            for value in item.args.values():
                self._check_exprs(value.raw, set(scope), item.kind)
            if item.when is not None:
                self._check_exprs(item.when.raw, set(scope), item.kind)
            for branch in item.branches:
                self._check_items(branch.items, scope)

    def _check_exprs(self, raw: Any, scope: set[str], where: str) -> None:
        for expr in _exprs(raw):
            for name in sorted(expr.names - scope):
                known = sorted(scope)
                self.fail(f"expression '{expr.text}': unknown name '{name}'", expr.loc,
                          hint=did_you_mean(name, known) or (f"known names here: {', '.join(known)}" if known
                                                             else "declare it under vars: or dims:"),
                          code="unknown-name")

    def _check_recursion(self) -> None:
        calls = {name: sorted(set(_block_calls(b.items))) for name, b in self.blocks.items()}
        state: dict[str, int] = {}

        def visit(name: str, trail: list[str]) -> None:
            state[name] = 1
            for callee in calls.get(name, ()):
                if state.get(callee) == 1:
                    cycle = trail[trail.index(callee):] + [callee] if callee in trail else [name, callee]
                    self.fail("blocks call themselves: " + " → ".join(cycle), self.blocks[name].loc,
                              hint="a block may call other blocks, but not itself, directly or not",
                              code="recursive-block")
                elif state.get(callee) is None:
                    visit(callee, trail + [callee])
            state[name] = 2

        for name in self.blocks:
            if state.get(name) is None:
                visit(name, [name])


def _block_calls(items: list[Item]) -> Iterable[str]:
    for item in items:
        if item.block:
            yield item.block
        for branch in item.branches:
            yield from _block_calls(branch.items)


def _default_name(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def parse_spec(root: YNode, filename: str) -> Spec:
    return SpecParser(root, filename).parse()
