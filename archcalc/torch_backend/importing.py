"""`archcalc import MODULE:CALLABLE`: a spec written from PyTorch model code.

The model is traced with torch.fx (its leaf modules, the functions between them, and where
each value comes from); when fx cannot trace it (Python control flow on tensor values), forward
hooks record the leaf modules actually called, which works for chains. Each leaf module
becomes the layer kind that lists its class in `torch_classes` (arguments from
`LayerKind.from_torch`, in the kind's own file); the few torch functions models call between
modules (torch.flatten, F.relu, `+`, torch.cat, ...) are mapped below. The data flow is then
rebuilt as the spec language writes it: chains, and `add`/`concat` merges whose branches
start from one value (its dominator) and meet again at the merge. Anything else — a module
or function with no kind, a value used across branches — is reported by name and source
line, all of them, rather than dropped.

This imports and runs the user's code: only the `import` command and `check --against` do.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from archcalc.layers.base import Untranslatable
from archcalc.layers.registry import kind_of_module, kinds
from archcalc.spec.errors import Location, SpecError, SpecErrors
from archcalc.spec.write import Entry, spec_text

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---- the torch functions models call between modules ----------------------------------------

def _arg(node_args, kwargs, i, name, default=None):
    if name in kwargs:
        return kwargs[name]
    return node_args[i] if len(node_args) > i else default


def _has_node(value) -> bool:
    if isinstance(value, fx.Node):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_node(v) for v in value)
    if isinstance(value, dict):
        return any(_has_node(v) for v in value.values())
    return False


def _kind_of_function(name: str):
    """The layer kind listing this torch function or Tensor method in `torch_functions`."""
    for kind in kinds().values():
        if name in kind.torch_functions:
            return kind
    return None


def _function_name(node: fx.Node) -> str | None:
    if node.op == "call_method":
        return node.target
    if node.op == "call_function":
        return getattr(node.target, "__name__", None)
    return None


# ---- what one traced value is ---------------------------------------------------------------

@dataclass
class Value:
    """One tensor in the data flow: the model's input, a layer's output or a merge's."""

    id: str
    op: str  # "input" | "layer" | "merge"
    inputs: list[str] = field(default_factory=list)
    kind: str = ""
    args: dict = field(default_factory=dict)
    module: str | None = None  # the module's qualified name (layers from modules)
    dim: int | None = None  # concat's per-sample axis
    shape: tuple | None = None  # per sample
    where: Any = None  # its source line: an fx stack trace or a Location
    has_params: bool = False  # its module holds parameters (called again, it shares them)


@dataclass
class Imported:
    text: str  # the spec
    method: str  # "torch.fx" or "forward hooks"
    notes: list[str]
    model: Any = None
    example: Any = None
    sizes: dict = field(default_factory=dict)  # the symbolic dimensions' sizes it was traced at


class _Problems:
    def __init__(self):
        self.errors: list[SpecError] = []

    def add(self, message: str, where, hint: str | None = None, code: str = "import-unsupported"):
        """`where`: an fx node's stack trace, or a Location."""
        loc = where if isinstance(where, Location) else _location(where)
        self.errors.append(SpecError(message, loc, hint=hint, code=code))

    def raise_if_any(self):
        if self.errors:
            raise SpecErrors(self.errors) if len(self.errors) > 1 else self.errors[0]


def _location(stack_trace: str | None) -> Location:
    """The user's source line from an fx stack trace (the last frame outside torch and archcalc)."""
    import os

    archcalc_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ours = (os.path.dirname(os.path.abspath(torch.__file__)) + os.sep, archcalc_dir + os.sep)
    if stack_trace:
        frames = re.findall(r'File "([^"]+)", line (\d+)', stack_trace)
        for file, line in reversed(frames):
            if not os.path.abspath(file).startswith(ours):
                return Location(file, int(line))
    return Location("<model>")


def _forward_location(model: nn.Module) -> Location:
    """Where the model's forward is written (forward hooks see calls, not source lines)."""
    import inspect

    try:
        lines, first = inspect.getsourcelines(type(model).forward)
        return Location(inspect.getsourcefile(type(model).forward), first)
    except (OSError, TypeError):
        return Location("<model>")


class _Tracer(fx.Tracer):
    """Standard leaves, plus every module a kind reads (archcalc's own modules included)."""

    def __init__(self):
        super().__init__()
        self.record_stack_traces = True

    def is_leaf_module(self, m, qualname):
        from archcalc.torch_backend.modules import RecurrentLayer

        return isinstance(m, RecurrentLayer) or kind_of_module(m) is not None or super().is_leaf_module(m, qualname)


def _per_sample(meta) -> tuple | None:
    shape = getattr(meta, "shape", None)
    return tuple(int(d) for d in shape[1:]) if shape is not None else None


def trace_fx(model: nn.Module, example) -> tuple[list[Value], str, list[str]]:
    """The model's data flow as Values (topological order), the id of its output, and notes."""
    from torch.fx.passes.shape_prop import ShapeProp

    graph = _Tracer().trace(model)
    gm = fx.GraphModule(model, graph)
    gm.graph.eliminate_dead_code()
    with torch.no_grad():
        ShapeProp(gm).propagate(example)
    return _translate(gm)


_SCALAR_OPS = {"add", "iadd", "add_", "sub", "rsub", "mul", "mul_", "truediv", "div", "div_"}


def _scalar_arithmetic(node, name, src) -> str | None:
    """`x / 255.0`, `x * 0.5 + 1`: a tensor and a Python number. Element-wise, it changes no shape
    and counts 0 in every quantity archcalc reports, so it becomes no layer (and a note)."""
    if name not in _SCALAR_OPS or len(node.args) != 2:
        return None
    a, b = node.args
    numbers = (int, float)
    if isinstance(a, fx.Node) and isinstance(b, numbers):
        return src(a)
    if isinstance(b, fx.Node) and isinstance(a, numbers):
        return src(b)
    return None


def _translate(gm: fx.GraphModule):
    notes: list[str] = []
    problems = _Problems()
    values: dict[str, Value] = {}
    alias: dict[str, str] = {}  # fx node → the Value it is (views, getitem of a recurrent output)
    recurrent_state: dict[str, str] = {}  # fx node holding (part of) a recurrent layer's final state → the layer
    output = None
    failed: set[str] = set()  # nodes already reported, and everything computed from them

    def src(arg) -> str | None:
        if isinstance(arg, fx.Node):
            return alias.get(arg.name, arg.name) if alias.get(arg.name, arg.name) in values else None
        return None

    def after_failure(node) -> bool:
        """A node that reads a reported one is not reported again (one cause, one message)."""
        if any(isinstance(a, fx.Node) and a.name in failed for a in node.all_input_nodes):
            failed.add(node.name)
            return True
        return False

    for node in gm.graph.nodes:
        meta = node.meta.get("tensor_meta")
        where = node.stack_trace
        count = len(problems.errors)
        if after_failure(node) and not _unknown_module(gm, node):  # a module with no kind is always named
            continue
        scalar = _scalar_arithmetic(node, _function_name(node), src)
        if scalar is not None:
            alias[node.name] = scalar
            notes.append(f"'{node.name}' ({_function_name(node)} by a number) is element-wise arithmetic: no layer, "
                         "0 in every count")
            continue
        _translate_node(node, meta, where, gm, values, alias, recurrent_state, problems, src)
        if node.name in values:
            values[node.name].where = where
        if node.op == "output":
            output = src(node.args[0]) if isinstance(node.args[0], fx.Node) else None
        if len(problems.errors) > count:
            failed.add(node.name)
    problems.raise_if_any()
    return list(values.values()), output, notes


def _unknown_module(gm, node) -> bool:
    from archcalc.torch_backend.modules import RecurrentLayer

    if node.op != "call_module":
        return False
    module = gm.get_submodule(node.target)
    return not isinstance(module, RecurrentLayer) and kind_of_module(module) is None


def _translate_node(node, meta, where, gm, values, alias, recurrent_state, problems, src):
    """One fx node: a Value, an alias of one, or a problem reported."""
    from archcalc.torch_backend.modules import RecurrentLayer

    if node.op == "placeholder":
        if values:
            problems.add(f"the model's forward takes more than one input ({node.name})", where)
        values[node.name] = Value(node.name, "input", shape=_per_sample(meta))
        return
    if node.op == "output":
        out = node.args[0]
        if (src(out) if isinstance(out, fx.Node) else None) is None:
            problems.add("the model returns something other than one tensor (a tuple, a dict?)", where,
                         hint="wrap it so that forward returns the tensor archcalc should follow")
        return
    if node.op == "get_attr":
        problems.add(f"the forward reads the attribute '{node.target}' directly (a parameter or buffer used "
                     "outside a module)", where)
        return
    first = node.args[0] if node.args else None
    if node.op == "call_module":
        module = gm.get_submodule(node.target)
        extra = {}
        if isinstance(module, RecurrentLayer):  # archcalc's own wrapper, as `build` makes it
            extra = {} if module.return_sequences else {"return_sequences": False}
            module = module.cell
        kind = kind_of_module(module)
        if kind is None:
            problems.add(f"module '{node.target}' ({type(module).__module__}.{type(module).__name__}) has no "
                         "archcalc layer kind", where,
                         hint="`archcalc kinds` lists the kinds; write this part of the spec by hand")
            return
        if len([a for a in node.args if isinstance(a, fx.Node)]) != 1 or node.kwargs:
            problems.add(f"module '{node.target}' is called with more than its input (an initial state?)", where)
            return
        try:
            args = kind.from_torch(module) | extra
        except Untranslatable as exc:
            problems.add(f"module '{node.target}': {exc}", where)
            return
        if src(first) is None:
            if not any(a.name in alias or a.name in values for a in node.all_input_nodes) and \
                    all(a.op != "placeholder" for a in node.all_input_nodes):
                return  # its input was already reported
            problems.add(f"module '{node.target}' reads a value archcalc could not follow", where)
            return
        values[node.name] = Value(node.name, "layer", [src(first)], kind.kind, args, node.target,
                                  has_params=any(True for _ in module.parameters()),
                                  shape=_per_sample(meta) if not isinstance(meta, (tuple, list)) else
                                  _per_sample(meta[0]))
        return
    name = _function_name(node)
    if meta is None and name != "getitem":
        return  # plumbing on sizes (x.size(0), x.shape): it feeds a view's arguments
    if name == "getitem":
        _getitem(node, values, alias, recurrent_state, problems, src)
        return
    if name in ("add", "iadd", "add_", "__add__", "__iadd__"):
        inputs = [src(a) for a in node.args[:2]]
        if None in inputs or node.kwargs.get("alpha", 1) != 1:
            problems.add(f"'{node.name}' adds something that is not another branch's tensor (a constant, a "
                         "parameter?)", where)
            return
        values[node.name] = Value(node.name, "merge", inputs, "add", shape=_per_sample(meta))
        return
    if name in ("cat", "concat", "concatenate"):
        tensors, dim = node.args[0], _arg(node.args, node.kwargs, 1, "dim", 0)
        inputs = [src(a) for a in tensors]
        if None in inputs or dim == 0:
            problems.add(f"'{node.name}' concatenates {'along the batch' if dim == 0 else 'values'} archcalc "
                         "cannot follow", where)
            return
        per_sample = dim - 1 if dim > 0 else dim
        values[node.name] = Value(node.name, "merge", inputs, "concat", dim=per_sample, shape=_per_sample(meta))
        return
    data = src(first)
    if data is None:
        problems.add(f"'{node.name}' ({name}) creates a tensor from nothing the model's input flows into",
                     where)
        return
    in_shape, out_shape = values[data].shape, _per_sample(meta)
    if name in ("view", "reshape"):
        if out_shape == in_shape:
            alias[node.name] = data
        elif out_shape is not None and len(out_shape) == 1:
            values[node.name] = Value(node.name, "layer", [data], "flatten", shape=out_shape)
        else:
            problems.add(f"'{node.name}' reshapes {list(in_shape or [])} to {list(out_shape or [])}: only "
                         "flattening a sample to a vector has a layer kind", where)
        return
    if name in ("contiguous", "clone", "detach"):
        alias[node.name] = data
        return
    if name == "mean":
        dims = _arg(node.args, node.kwargs, 1, "dim")
        dims = tuple(dims) if isinstance(dims, (list, tuple)) else (dims,)
        if in_shape is not None and len(in_shape) == 3 and sorted(d % 4 for d in dims) == [2, 3]:
            keep = _arg(node.args, node.kwargs, 2, "keepdim", False)
            pooled = Value(node.name + "_pool", "layer", [data], "adaptive_avg_pool2d", {"output_size": 1},
                           shape=(in_shape[0], 1, 1))
            values[pooled.id] = pooled
            if keep:
                alias[node.name] = pooled.id
            else:
                values[node.name] = Value(node.name, "layer", [pooled.id], "flatten", shape=out_shape)
            return
    kind = _kind_of_function(name)
    if kind is not None:
        if _has_node(list(node.args[1:]) + list(node.kwargs.values())):
            problems.add(f"'{node.name}' ({name}) takes arguments computed in forward; archcalc needs them "
                         "written as numbers", where)
            return
        try:
            args = kind.from_torch_call(tuple(node.args[1:]), dict(node.kwargs))
        except Untranslatable as exc:
            problems.add(f"'{node.name}': {exc}", where)
            return
        values[node.name] = Value(node.name, "layer", [data], kind.kind, args, shape=out_shape)
        return
    problems.add(f"'{node.name}' calls {name} ({node.op}), which no archcalc layer kind stands for", where,
                 hint="`archcalc kinds` lists the kinds; write this part of the spec by hand")


def _getitem(node, values, alias, recurrent_state, problems, src):
    """A recurrent layer's outputs: `out, state = lstm(x)` → out is the layer's sequence;
    `out[:, -1]` and the final state's top layer `h_n[-1]` (one direction) are its last
    step (return_sequences: false)."""
    base, index = node.args
    where = node.stack_trace
    if node.meta.get("tensor_meta") is None and base.name not in recurrent_state and \
            alias.get(base.name, base.name) not in values:
        return  # x.shape[0] and the like: sizes, not data
    if base.name in recurrent_state:
        layer_id, what = recurrent_state[base.name]
        layer = values[layer_id]
        if what == "state" and layer.kind == "lstm" and index == 0:
            recurrent_state[node.name] = (layer_id, "h_n")  # (h_n, c_n)[0]
        elif (what == "h_n" or (what == "state" and layer.kind != "lstm")) and index == -1 \
                and not layer.args.get("bidirectional"):
            layer.args["return_sequences"] = False
            alias[node.name] = layer_id
        elif what == "state" and layer.kind != "lstm" or what == "h_n":
            recurrent_state[node.name] = (layer_id, "other")
            problems.add(f"'{node.name}' reads the final state [{index!r}]: archcalc follows the top layer's last "
                         "step of a one-direction layer (h_n[-1])", where)
        else:
            problems.add(f"'{node.name}' reads part {index!r} of {layer.module}'s final state (c_n?): archcalc "
                         "follows h_n[-1] or the output sequence", where)
        return
    owner = values.get(alias.get(base.name, base.name))
    recurrent = owner is not None and kinds()[owner.kind].family == "recurrent"
    if recurrent and owner.module and base.name == owner.id:
        if index == 0:
            alias[node.name] = owner.id
        elif index == 1:
            recurrent_state[node.name] = (owner.id, "state")
        return
    if recurrent and _is_last_step(index) \
            and not owner.args.get("bidirectional"):
        owner.args["return_sequences"] = False
        alias[node.name] = owner.id
        return
    problems.add(f"'{node.name}' indexes a tensor ({index!r}); archcalc follows whole tensors", where)


def _is_last_step(index) -> bool:
    """out[:, -1] or out[:, -1, :] on a batch-first sequence."""
    if not isinstance(index, tuple) or len(index) not in (2, 3):
        return False
    full = slice(None, None, None)
    return index[0] == full and index[1] == -1 and all(i == full for i in index[2:])


# ---- forward hooks, for models fx cannot trace -------------------------------------------------

def trace_hooks(model: nn.Module, example, reason: str) -> tuple[list[Value], str, list[str]]:
    """The leaf modules called, in order, when that is a chain (each reads the previous one's
    output; a flatten in between is recognised by its shapes)."""
    from archcalc.torch_backend.modules import RecurrentLayer

    calls, hooks, notes = [], [], []
    leaves = {}
    for qual, module in model.named_modules():
        if isinstance(module, RecurrentLayer) or kind_of_module(module) is not None or not any(module.children()):
            if not any(qual.startswith(k + ".") for k in leaves):
                leaves[qual] = module
    for qual, module in leaves.items():
        def record(mod, inputs, output, _qual=qual):
            calls.append((_qual, mod, inputs[0] if inputs else None, output))
        hooks.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            result = model(example)
    finally:
        for h in hooks:
            h.remove()
    problems = _Problems()
    where = _forward_location(model)
    values = [Value("input", "input", shape=tuple(example.shape[1:]))]
    previous = example
    for qual, module, inp, out in calls:
        tensor_out = out[0] if isinstance(out, tuple) else out
        if inp is not previous:
            if inp is not None and previous is not None and inp.dim() == 2 and previous.dim() > 2 \
                    and inp.shape[1] == previous[0].numel():
                values.append(Value(f"{qual}_flatten", "layer", [values[-1].id], "flatten", shape=(inp.shape[1],)))
                notes.append(f"a flatten before '{qual}' is inferred from the shapes "
                             f"{list(previous.shape[1:])} → {list(inp.shape[1:])}")
            else:
                problems.add(f"module '{qual}' does not read the previous module's output: between them the data "
                             f"passes through code archcalc cannot see (torch.fx could not trace the model: {reason})",
                             where, hint="make forward traceable by torch.fx, or write the spec by hand")
                break
        extra = {}
        if isinstance(module, RecurrentLayer):
            extra = {} if module.return_sequences else {"return_sequences": False}
            module = module.cell
        kind = kind_of_module(module)
        if kind is None:
            problems.add(f"module '{qual}' ({type(module).__module__}.{type(module).__name__}) has no archcalc "
                         "layer kind", where, hint="`archcalc kinds` lists the kinds")
            previous = tensor_out
            continue
        try:
            args = kind.from_torch(module) | extra
        except Untranslatable as exc:
            problems.add(f"module '{qual}': {exc}", where)
            previous = tensor_out
            continue
        values.append(Value(f"v{len(values)}", "layer", [values[-1].id], kind.kind, args, qual,
                            has_params=any(True for _ in module.parameters()),
                            shape=tuple(tensor_out.shape[1:])))
        previous = tensor_out
    if not problems.errors and result is not previous:
        problems.add("the model's output is not the last module's output: code after it is not visible to "
                     f"forward hooks (torch.fx could not trace the model: {reason})", where)
    problems.raise_if_any()
    notes.insert(0, f"torch.fx could not trace the model ({reason}); forward hooks recorded its leaf modules")
    return values, values[-1].id, notes


# ---- the data flow as the spec language writes it ---------------------------------------------

@dataclass
class Item(Entry):
    """An entry of the spec being written, with where it came from (for names and share:)."""

    source: str | None = None  # the module path (layers from modules) or the fx value (merges)
    has_params: bool = False


def structure(values: list[Value], output: str) -> list[Item]:
    """Chains and merges: each merge's branches start at its immediate dominator (the last
    value every path from the input to it passes) and run back from its inputs to it."""
    by_id = {v.id: v for v in values}
    order = {v.id: i for i, v in enumerate(values)}
    dom: dict[str, set] = {}
    for v in values:
        if v.op == "input":
            dom[v.id] = {v.id}
        else:
            common = set.intersection(*(dom[i] for i in v.inputs))
            dom[v.id] = common | {v.id}
    emitted: set[str] = set()
    problems = _Problems()

    def idom(v: Value) -> str:
        return max(dom[v.id] - {v.id}, key=order.__getitem__)

    def chain(start: str, end: str) -> list[Item]:
        items: list[Item] = []
        current = end
        while current != start:
            v = by_id[current]
            if v.id in emitted:
                problems.add(f"the value of '{v.module or v.id}' is used in two places that do not meet at one add "
                             "or concat: the spec language cannot say that", v.where)
                return items
            emitted.add(v.id)
            if v.op == "layer":
                items.append(Item(v.kind, dict(v.args), source=v.module, has_params=v.has_params))
                current = v.inputs[0]
            elif v.op == "merge":
                fork = idom(v)
                branches = [chain(fork, i) for i in v.inputs]
                items.append(Item(v.kind, {} if v.dim is None else {"dim": v.dim}, source=v.id,
                                  branches=[("", b) for b in branches]))
                current = fork
            else:
                problems.add(f"a branch of '{v.id}' does not start from the value its other branches start from",
                             v.where)
                return items
        return items[::-1]

    start = next(v.id for v in values if v.op == "input")
    items = chain(start, output)
    problems.raise_if_any()
    _Names().assign(items)
    return items


class _Names:
    """Spec names in execution order: a layer's from its module path (layer1.0.conv1 →
    layer1_0_conv1), a merge's from what its branches share (layer1_0), a branch's from what
    its layers share beyond that (downsample), else main / identity / branch<n>; unique."""

    def __init__(self):
        self.used: set[str] = set()
        self.owners: dict[str, str] = {}  # module path → the name of its first call

    def unique(self, base: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", base)
        base = base if NAME.match(base) else "m_" + base
        name, n = base, 2
        while name in self.used:
            name, n = f"{base}_{n}", n + 1
        self.used.add(name)
        return name

    def assign(self, items: list[Item]) -> None:
        for item in items:
            if item.branches is None:
                item.name = self.unique(item.source) if item.source else None
                if item.source and item.has_params:
                    item.share = self.owners.get(item.source)
                    self.owners.setdefault(item.source, item.name)
                continue
            paths = [x.source.replace(".", "_") for _, b in item.branches for x in _leaves(b) if x.source]
            prefix = _common_prefix(paths)
            item.name = self.unique(prefix or item.source)
            named, taken = [], set()
            for i, (_, branch) in enumerate(item.branches, start=1):
                inner = [x.source.replace(".", "_") for x in _leaves(branch) if x.source]
                rest = _common_prefix(inner)[len(prefix):].strip("_") if inner else ""
                label = "identity" if not branch else rest if NAME.match(rest or "") else "main" if i == 1 else ""
                if not label or label in taken:
                    label = f"branch{i}"
                taken.add(label)
                named.append((label, branch))
            item.branches = named
            for _, branch in named:
                self.assign(branch)


def _leaves(items: list[Item]):
    for item in items:
        if item.branches is not None:
            for _, b in item.branches:
                yield from _leaves(b)
        else:
            yield item


def _common_prefix(names: list[str]) -> str:
    if not names:
        return ""
    parts = [n.split("_") for n in names]
    common = []
    for group in zip(*parts):
        if len(set(group)) != 1:
            break
        common.append(group[0])
    if len(names) == 1 and common:
        common = common[:-1]  # one layer: its parent's path
    return "_".join(common)


# ---- the command's work ------------------------------------------------------------------------

def parse_input(text: str) -> list:
    """'3,224,224' → [3, 224, 224]; '3,H,W' → [3, 'H', 'W'] (symbolic dimensions)."""
    dims = []
    for part in (p.strip() for p in text.split(",")):
        if part.isdigit() and int(part) >= 1:
            dims.append(int(part))
        elif NAME.match(part):
            dims.append(part)
        else:
            raise SpecError(f"--input {text}: '{part}' is neither a positive size nor a dimension name",
                            Location("--input"), expected="sizes per sample, e.g. 3,224,224 or 3,H,W (no batch)",
                            code="usage")
    if not dims:
        raise SpecError("--input is empty", Location("--input"), expected="e.g. 3,224,224", code="usage")
    return dims


def build_model(target: str) -> nn.Module:
    from archcalc.torch_backend.against import load_factory

    factory = load_factory(target, "import")
    try:
        model = factory() if not isinstance(factory, nn.Module) else factory
    except Exception as exc:  # the user's code
        raise SpecError(f"calling {target} failed: {type(exc).__name__}: {exc}", Location("import"),
                        hint="the factory is called with no arguments; wrap it in one that passes them",
                        code="import-run") from None
    if not isinstance(model, nn.Module):
        raise SpecError(f"{target} returned {type(model).__name__}, not a torch.nn.Module", Location("import"),
                        code="import-run")
    return model.eval()


def import_model(target: str, input_text: str, *, dtype: str | None = None, sizes: dict | None = None,
                 name: str | None = None, model: nn.Module | None = None) -> Imported:
    dims = parse_input(input_text)
    sizes = {k: int(v) for k, v in (sizes or {}).items()}
    symbols = [d for d in dims if isinstance(d, str)]
    at = {s: sizes.get(s, 224) for s in symbols}
    concrete = [at[d] if isinstance(d, str) else d for d in dims]
    model = build_model(target) if model is None else model.eval()
    embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    dtype = dtype or ("index" if embeddings else "float")
    device = next(iter(model.parameters()), torch.empty(0)).device  # the example goes where the model is
    if dtype == "index":
        high = min((m.num_embeddings for m in embeddings), default=2)
        example = torch.randint(0, high, (1, *concrete), device=device)
    else:
        example = torch.randn(1, *concrete, device=device)
    notes = []
    if symbols:
        notes.append("traced and verified at " + ", ".join(f"{k}={v}" for k, v in at.items())
                     + " (choose with --set NAME=VALUE)")
    try:
        values, output, fx_notes = trace_fx(model, example)
    except SpecError:
        raise
    except Exception as exc:  # fx refuses the model's Python: fall back to hooks
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        try:
            values, output, hook_notes = trace_hooks(model, example, reason)
        except SpecError:
            raise
        except Exception as run_exc:
            raise SpecError(f"running {target} failed: {type(run_exc).__name__}: {run_exc}", Location("import"),
                            code="import-run") from None
        method, notes = "forward hooks", notes + hook_notes
    else:
        method, notes = "torch.fx", notes + fx_notes
    items = structure(values, output)
    spec_name = name or re.sub(r"[^A-Za-z0-9_]", "_", target.rsplit(":", 1)[-1].rsplit(".", 1)[-1])
    doc = (f"Imported by `archcalc import {target} --input {input_text}` from {type(model).__name__} "
           f"({method}).")
    text = spec_text(spec_name, doc, dims, dtype, at, items)
    return Imported(text, method, notes, model, example, at)


def verify_import(imported: Imported, target: str) -> list:
    """The written spec against the model it came from: output shape, parameters, buffers,
    FLOPs (torch's FlopCounterMode, mkldnn off) and every parameterised layer in call order."""
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.outcome import Outcome
    from archcalc.torch_backend.against import compare_leaves, model_leaves
    from archcalc.engine import numbers as N
    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec_text

    spec = load_spec_text(imported.text, "<imported spec>")
    analysis = analyze(spec, {k: str(v) for k, v in imported.sizes.items()})
    model, x = imported.model, imported.example
    with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
        y = model(x)
    results = [Outcome("import.output", list(analysis.output) == list(y.shape[1:]), str(list(analysis.output)),
                      str(list(y.shape[1:])), None, "the model's output per sample", kind="against"),
               Outcome("import.flops", analysis.totals["flops"] == counter.get_total_flops(),
                      N.fmt(analysis.totals["flops"]), f"{counter.get_total_flops():,}", None,
                      "FlopCounterMode on the model (mkldnn off)", kind="against")]
    theirs = model_leaves(model, tuple(x.shape[1:]), spec.input_dtype, device=str(x.device))
    results += compare_leaves(analysis, model, theirs, target)
    return results, analysis


def import_and_verify(target: str, input_text: str, *, dtype: str | None = None, sizes: dict | None = None,
                      name: str | None = None, verify: bool = True) -> tuple[Imported, list]:
    """`archcalc import`: the spec written from the model, and its checks against the model
    (none without verify). Each --set size must be a positive integer (the trace runs at it)."""
    import warnings

    sizes = dict(sizes or {})
    for key, value in sizes.items():
        if not str(value).isdigit() or int(value) < 1:
            raise SpecError(f"--set {key}={value}: a traced size must be a positive integer", Location("--set"),
                            code="usage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imported = import_model(target, input_text, dtype=dtype, sizes=sizes, name=name)
        return imported, (verify_import(imported, target)[0] if verify else [])
