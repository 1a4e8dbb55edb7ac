"""Reading a model through torch.fx: every node of its graph becomes a traced value (a layer, a
merge, the input), an alias of one (a view, an LSTM's output sequence), or a problem reported
with the user's source line. What each module and function means is the kinds' to say
(torch_classes, torch_functions and their import hooks); this file only follows the data."""
from __future__ import annotations

import inspect
import operator

import torch
from torch import fx, nn

from archcalc.layers.base import COMPUTED, FLOW, LayerKind, MergeKind, Untranslatable, Weight
from archcalc.layers.registry import kind_of_function, kinds
from archcalc.spec.errors import Location, SpecError
from archcalc.torch_backend.importing.recorded import RecordedGraph, RecordedNode, Unrecordable, record
from archcalc.torch_backend.importing.traced import (Meta, Problems, Traced, followed_output, forward_location,
                                                     is_layer_module, module_layer, module_name, tied_modules,
                                                     unwrapped)

Node = fx.Node | RecordedNode  # a node of fx's graph or of a recorded one (recorded.py): read alike

SCALAR_OPS = {"add", "iadd", "add_", "sub", "rsub", "mul", "mul_", "truediv", "div", "div_"}


class _Tracer(fx.Tracer):
    """Standard leaves, plus every module a kind reads (archcalc's own modules included)."""

    def __init__(self, located: bool):
        super().__init__()
        self.record_stack_traces = located  # the user's source lines, for errors: a third of fx's trace time

    def is_leaf_module(self, m, qualname):
        return is_layer_module(m) or super().is_leaf_module(m, qualname)


def trace_fx(model: nn.Module, examples: tuple, located: bool = True,
             record: bool = True) -> tuple[list[Traced], str, list[str]]:
    """The model's data flow (topological order), the id of its output, and notes; `located`:
    each value with the user's source line (errors say where). `examples`: one sample of
    each of the model's inputs. Unlocated, the graph is recorded from one run where that
    gives fx's graph (recorded.py: `record`), and traced by fx where it would not."""
    if is_layer_module(model):  # a bare nn.Linear or nn.Transformer: fx would trace inside it
        try:
            module_layer(model)  # settings a spec cannot say (batch_first=False), before running it
        except Untranslatable as exc:
            raise SpecError(f"the model, {module_name(model)}: {exc}", forward_location(model),
                            code="import-unsupported") from None
        root = _called_alone(model, len(examples))
        graph, dropped = root.graph, _propagated(root, root.graph, examples)
    else:  # the graph run on the model itself: no GraphModule (its code generation is a sixth of a small model's import)
        root = model
        recorded = _recorded(model, examples) if record and not located else None
        if recorded is not None:
            translator = Translator(root, recorded[0], len(examples), recorded[0].modules)
            translator.dropped_work(recorded[1])
            recorded[0].eliminate_unread()
            return translator.run()
        graph = _Tracer(located).trace(model, concrete_args=_optional_arguments(model, len(examples)) or None)
        dropped = _propagated(root, graph, examples)
    translator = Translator(root, graph, len(examples))
    translator.dropped_work(dropped)
    graph.eliminate_dead_code()
    return translator.run()


def _propagated(root: nn.Module, graph: fx.Graph, examples: tuple) -> set[fx.Node]:
    """Runs the traced graph on the examples, recording each value's shape (_Propagation);
    returns the calls whose results the followed output never reads (_dropped)."""
    graph.owning_module = root  # the modules its nodes call (fx asks it which calls are pure)
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    _check_inputs([n.name for n in placeholders if not n.args], len(placeholders), len(examples))
    dropped = _dropped(graph)
    # on the model's device: on meta, torch's Python decompositions cost more than a small model's arithmetic
    # (mobilenet_v3_small: 386 ms against 11 ms)
    with torch.no_grad():
        _Propagation(root, graph, dropped).run(*examples)
    return dropped


def _recorded(model: nn.Module, examples: tuple) -> tuple[RecordedGraph, set[RecordedNode]] | None:
    """(fx's graph for the model, recorded from one run, and the calls the output never
    reads), or None where recording would not give fx's graph (then fx traces it): a run
    that does what fx would not record alike, or work whose result is dropped (whose FLOPs
    only fx's propagation counts)."""
    try:
        graph = record(model, examples, _Tracer(False))
    except Unrecordable:
        return None
    dropped = _dropped(graph)
    if any(n.op == "call_module" or "tensor_meta" in n.meta and n.target is not operator.getitem for n in dropped):
        return None  # what a dropped call computes only fx's propagation counts (an unread part of an output is free)
    return graph, dropped


def _dropped(graph) -> set:
    """The calls whose results the output the spec follows (the first of a tuple or dict the
    model returns) never reads: dead code, and the model's other outputs."""
    output = next(n for n in graph.nodes if n.op == "output")
    followed = followed_output(output.args[0])
    live: set = set()
    todo = [followed] if isinstance(followed, Node) else []
    while todo:
        node = todo.pop()
        if node not in live:
            live.add(node)
            todo.extend(node.all_input_nodes)
    return {n for n in graph.nodes if n.op in ("call_module", "call_function", "call_method") and n not in live}


class _Propagation(fx.Interpreter):
    """The traced graph run on the example inputs, recording each value: a tensor's shape and
    dtype (meta['tensor_meta']: a Meta, or a tuple of them and other values for a tuple), and
    the sizes a node computes where they are no tensor (meta['sizes']: an int, or a tuple of
    ints: MViT's token grid, which each block returns and the next is given), for a module's
    call given them as traced."""

    def __init__(self, root: nn.Module, graph: fx.Graph, dropped: set = frozenset()):
        super().__init__(root, graph=graph)
        self.dropped = dropped  # calls the followed output does not read: their FLOPs are counted (meta['flops'])

    def run_node(self, n):
        if n in self.dropped:
            from archcalc.torch_backend.counting import flop_counter

            with flop_counter() as counter:
                result = super().run_node(n)
            n.meta["flops"] = counter.get_total_flops()
        else:
            result = super().run_node(n)
        found = []
        meta = torch.utils._pytree.tree_map_only(torch.Tensor, lambda t: found.append(t) or Meta(t.shape, t.dtype),
                                                 result)
        if found:
            n.meta["tensor_meta"] = meta
        if _sizes(result):
            n.meta["sizes"] = result
        return result


def _sizes(value) -> bool:
    if isinstance(value, (tuple, list)):
        return bool(value) and all(_sizes(v) for v in value)
    return isinstance(value, int) and not isinstance(value, bool)


def _check_inputs(required: list[str], accepted: int, given: int) -> None:
    """As many --input as forward's arguments without defaults, at least, and as it takes, at most."""
    if not len(required) <= given <= accepted:
        raise SpecError(f"the model's forward takes {len(required)} input{'s' if len(required) != 1 else ''} "
                        f"({', '.join(required)}), not {given}", Location("--input"),
                        expected="--input once for each, in forward's order (--input S,512 --input T,512)",
                        code="usage")


def _called_alone(model: nn.Module, count: int) -> fx.GraphModule:
    """A graph that calls the module once on the inputs, each named as its forward names them."""
    try:
        parameters = [p for p in inspect.signature(model.forward).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        parameters = []
    if parameters:
        _check_inputs([p.name for p in parameters if p.default is inspect.Parameter.empty], len(parameters), count)
    names = [p.name for p in parameters[:count]] if len(parameters) >= count else \
        [f"input{i + 1}" for i in range(count)]
    name = type(model).__name__.lower()
    root = nn.Module()
    root.add_module(name, model)
    graph = fx.Graph()
    inputs = [graph.placeholder(n) for n in (names if count > 1 else ["input"])]
    graph.output(graph.call_module(name, tuple(inputs)))
    return fx.GraphModule(root, graph)


def _optional_arguments(model: nn.Module, given: int = 1) -> dict:
    """forward's arguments after the `given` inputs that have defaults (`mask=None`), traced at
    those defaults: the model as called with its inputs alone."""
    try:
        parameters = list(inspect.signature(model.forward).parameters.values())[given:]
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in parameters
            if p.default is not inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD}


def _module_call(node: Node, module: nn.Module, kind) -> dict:
    """The spec arguments a module's call adds (its kind's imported_module_call); archcalc's own
    wrapper (a spec's layer built) is called as the spec's layer: its input, then its tensor
    arguments in order."""
    # a value computed in forward that is sizes (MViT's grid) is given as traced, with the literals
    tensors = [a for a in node.args if isinstance(a, Node) and "sizes" not in a.meta]
    others = tuple(a.meta["sizes"] if isinstance(a, Node) else a for a in node.args
                   if not isinstance(a, Node) or "sizes" in a.meta)
    kwargs = _literal(dict(node.kwargs))
    if unwrapped(module)[0] is module:
        return kind.imported_module_call(tensors, others, kwargs)
    names = [arg.name for arg in kind.args if kind.is_tensor_arg(arg)]
    return LayerKind.imported_module_call(tensors[:1], others, kwargs) | dict(zip(names, tensors[1:]))


def _per_sample(meta) -> tuple | None:
    """The shape of one sample of a node's tensor (of its first tensor, for a tuple of them)."""
    shape = getattr(meta, "shape", None)
    if shape is None and isinstance(meta, (tuple, list)) and meta:
        shape = getattr(meta[0], "shape", None)
    return tuple(map(int, shape[1:])) if shape is not None else None


def _literal(value):
    """A call's argument as a kind reads it: the model's own tensors (get_attr) become a
    Weight, other values computed in forward COMPUTED."""
    if isinstance(value, Node):
        if value.op == "get_attr":
            return Weight(value.target, tuple(getattr(value.meta.get("tensor_meta"), "shape", ())))
        return COMPUTED
    if isinstance(value, (list, tuple)):
        return type(value)(_literal(v) for v in value)
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    return value


def _running_modules(node: Node) -> set[str]:
    """The paths of the modules whose forward the node was traced in (the model's own: none)."""
    return {path for path, *_ in (node.meta.get("nn_module_stack") or {}).values()}


def _owner(target: str) -> str:
    """The module that holds a tensor: 'features.0.1.weight' → 'features.0.1'."""
    return target.rpartition(".")[0]


def function_name(node: Node) -> str | None:
    if node.op == "call_method":
        return node.target
    if node.op == "call_function":
        return getattr(node.target, "__name__", None)
    return None


class Translator:
    """The translation of one fx graph: its state is the values so far, the nodes that alias
    one, the parts of a layer's output the model reads (an LSTM's state), the problems."""

    def __init__(self, gm: nn.Module, graph: fx.Graph | RecordedGraph, inputs: int = 1,
                 modules: dict[str, nn.Module] | None = None):
        self.gm, self.graph = gm, graph  # the model (its modules and tensors) and its traced graph
        self.inputs = inputs  # forward's first arguments that are the model's inputs (the rest: their defaults)
        self.values: dict[str, Traced] = {}
        self.alias: dict[str, str] = {}  # fx node → the value it is (views, an LSTM's output sequence)
        self.parts: dict[str, tuple[str, str]] = {}  # fx node → (a layer's value, the part of its output)
        self.splits: dict[str, tuple[str, dict, int]] = {}  # fx node → (the value split, split args, pieces)
        self.merged: dict[tuple, str] = {}  # (merge kind and args, the values merged) → the merge's value
        self.expanded: dict[str, Node] = {}  # fx node → the model's tensor it expands over the batch
        self.problems = Problems()
        self.failed: set[str] = set()  # nodes reported, and everything computed from them
        self.notes: list[str] = []
        self.output: str | None = None
        self.tied: dict[str, str] | None = None  # module → the module whose parameters it holds (tied_modules)
        self.modules = modules  # path → module (dict(named_modules()): a recorded graph's, from the recording's walk)

    def run(self) -> tuple[list[Traced], str, list[str]]:
        for node in self.graph.nodes:
            before = len(self.problems.errors)
            self.node(node)
            if node.stack_trace is not None and node.name in self.values:
                self.values[node.name].where = node.stack_trace
            if len(self.problems.errors) > before:
                self.failed.add(node.name)
        self.problems.raise_if_any()
        return list(self.values.values()), self.output, self.notes

    def dropped_work(self, dropped: set) -> None:
        """Reports each call the followed output does not read that holds tensors or that
        FlopCounterMode counts: the model has and runs it, no row of the spec can say it."""
        for node in sorted(dropped, key=list(self.graph.nodes).index):
            module = self.gm.get_submodule(node.target) if node.op == "call_module" else None
            holds = module is not None and any(True for _ in (*module.parameters(), *module.buffers()))
            flops = node.meta.get("flops", 0)
            if holds or flops:
                what = f"module '{node.target}' ({module_name(module)})" if module is not None else \
                    f"'{node.name}' ({function_name(node)})"
                cost = ", ".join(([f"{flops:,} FLOPs"] if flops else []) + (["its tensors"] if holds else []))
                self.report(node, f"{what} is computed in forward ({cost}), but the output the spec follows never "
                                  "reads it: no spec row can say work whose result is dropped",
                            hint="remove it from forward, or return it as the (first) output")

    def src(self, arg) -> str | None:
        """The value an fx argument is, or None when it is none archcalc follows."""
        if isinstance(arg, Node):
            target = self.alias.get(arg.name, arg.name)
            return target if target in self.values else None
        return None

    def report(self, node: Node, message: str, hint: str | None = None) -> None:
        self.problems.report(message, node.stack_trace, hint)

    def node(self, node: Node) -> None:
        if self._after_failure(node) and not self._unknown_module(node):  # a module with no kind is always named
            return
        if self._scalar_arithmetic(node):
            return
        HANDLERS[node.op](self, node)

    def _after_failure(self, node: Node) -> bool:
        """A node that reads a reported one is not reported again (one cause, one message)."""
        if self.failed and any(a.name in self.failed for a in node.all_input_nodes):
            self.failed.add(node.name)
            return True
        return False

    def _unknown_module(self, node: Node) -> bool:
        return node.op == "call_module" and not is_layer_module(self.module(node.target))

    def named_modules(self) -> dict[str, nn.Module]:
        """The model's modules by path, read once (get_submodule walks the path each time)."""
        if self.modules is None:
            self.modules = dict(self.gm.named_modules())
        return self.modules

    def module(self, path: str) -> nn.Module:
        module = self.named_modules().get(path)
        return module if module is not None else self.gm.get_submodule(path)

    def _scalar_arithmetic(self, node: Node) -> bool:
        """`x / 255.0`, `x * 0.5 + 1`, `att * (1.0 / math.sqrt(k.size(-1)))`: a tensor and a
        Python number, written or computed from sizes. Element-wise, it changes no shape and
        counts 0 in every quantity archcalc reports: no layer, and a note."""
        name = function_name(node)
        if name not in SCALAR_OPS or len(node.args) != 2:
            return False
        a, b = node.args
        tensor = a if isinstance(a, Node) and _number(b) else b if isinstance(b, Node) and _number(a) else None
        if tensor is None or self.src(tensor) is None:
            return False
        self.alias[node.name] = self.src(tensor)
        self.notes.append(f"'{node.name}' ({name} by a number) is element-wise arithmetic: no layer, 0 in every count")
        return True

    # ---- the kinds of fx node ------------------------------------------------------------------

    def on_placeholder(self, node: Node) -> None:
        """Each input of the model (a transformer's source and target), forward's first
        arguments; one after them is traced at its default, the model as called."""
        if sum(v.op == "input" for v in self.values.values()) >= self.inputs:
            return
        self.values[node.name] = Traced(node.name, "input", shape=_per_sample(node.meta.get("tensor_meta")))

    def on_output(self, node: Node) -> None:
        """The model's output; of a tuple or dict of them, the first (followed_output), and a
        note naming the others."""
        returned = node.args[0]
        out = followed_output(returned)
        self.output = self.src(out) if isinstance(out, Node) else None
        if self.output is None:
            self.report(node, "the model returns something other than a tensor, or a tuple or dict of them",
                        hint="wrap it so that forward returns the tensor archcalc should follow")
        elif out is not returned:
            keys = list(returned) if isinstance(returned, dict) else [f"[{i}]" for i in range(len(returned))]
            self.notes.append(f"the model returns {type(returned).__name__} {keys}: the spec follows {keys[0]!s}"
                              + (f"; not {', '.join(map(str, keys[1:]))}" if len(keys) > 1 else ""))

    def on_get_attr(self, node: Node) -> None:
        """A tensor the model holds, read in forward: a `parameter` where a merge takes it
        (ConvNeXt's layer scale), a Weight where a kind's function does (F.layer_norm's γ);
        reported where anything else reads it."""

    def _attribute_read(self, node: Node, arg) -> bool:
        """Reports a call whose data is a tensor the model holds, not one its input flows into."""
        if isinstance(arg, Node) and arg.op == "get_attr":
            self.report(node, f"the forward reads the attribute '{arg.target}' directly (a parameter or buffer used "
                              f"outside a module) and {function_name(node)} computes from it")
            return True
        return False

    def _held_tensor(self, node: Node, kind, arg, rank: int) -> str | None:
        """A merge's operand that is the model's own learned tensor: the layer the merge kind
        says stands for it (MergeKind.imported_tensor), a value no data flows into."""
        arg = self.expanded.get(arg.name, arg) if isinstance(arg, Node) else arg
        if not isinstance(arg, Node) or arg.op != "get_attr" or rank is None or not self._learned(arg.target):
            return None  # a buffer (a fixed mask, a constant) is no learned tensor
        layer = kind.imported_tensor(tuple(int(d) for d in arg.meta["tensor_meta"].shape), rank)
        if layer is None:
            return None
        value_id = f"{arg.name}_in_{node.name}"
        self.values[value_id] = Traced(value_id, "layer", [], kinds()[layer[0]], layer[1], arg.target,
                                       has_params=True)
        return value_id

    def _expanded_attribute(self, node: Node) -> bool:
        """`self.class_token.expand(n, -1, -1)`: the model's tensor over the batch, the same per
        sample (its leading 1 the batch's axis) — read where it is used as that tensor."""
        held = node.args[0] if node.args else None
        shape = _per_sample(node.meta.get("tensor_meta"))
        if not (isinstance(held, Node) and held.op == "get_attr") or shape is None:
            return False
        own = tuple(int(d) for d in held.meta["tensor_meta"].shape)
        if own != (1, *shape):
            return False
        self.expanded[node.name] = held
        return True

    def _learned(self, target: str) -> bool:
        try:
            self.gm.get_parameter(target)
        except AttributeError:
            return False
        return True

    def on_call_module(self, node: Node) -> None:
        module = self.module(node.target)
        try:
            layer = module_layer(module)
        except Untranslatable as exc:
            self.report(node, f"module '{node.target}': {exc}")
            return
        if layer is None:
            self.report(node, f"module '{node.target}' ({module_name(module)}) has no archcalc layer kind",
                        hint="`archcalc kinds` lists the kinds; write this part of the spec by hand")
            return
        kind, args, has_params = layer
        try:
            args = args | _module_call(node, module, kind)
        except Untranslatable as exc:
            self.report(node, f"module '{node.target}' {exc}")
            return
        data = self.src(args.pop(FLOW, node.args[0]))
        refs = {k: self.src(v) for k, v in args.items() if isinstance(v, Node)}  # tensor arguments: memory
        if data is None or None in refs.values():
            if any(a.name in self.alias or a.name in self.values or a.op == "placeholder"
                   for a in node.all_input_nodes):
                self.report(node, f"module '{node.target}' reads a value archcalc could not follow")
            return  # otherwise its input was already reported
        args = {k: v for k, v in args.items() if k not in refs}
        if self.tied is None:
            self.tied = tied_modules(self.named_modules())
        self.values[node.name] = Traced(node.name, "layer", [data], kind, args, node.target, has_params=has_params,
                                        shape=_per_sample(node.meta.get("tensor_meta")), refs=refs,
                                        weights_of=self.tied.get(node.target))

    def on_call_function(self, node: Node) -> None:
        name = function_name(node)
        if name == "getitem":
            self.getitem(node)
            return
        if node.meta.get("tensor_meta") is None:
            return  # plumbing on sizes (x.size(0), x.shape): it feeds a view's arguments
        if name in MergeKind.split_functions:
            self.split(node, name)
            return
        if name == "expand" and self._expanded_attribute(node):
            return
        kind = kind_of_function(name)
        if kind is None:
            self.report(node, f"'{node.name}' calls {name} ({node.op}), which no archcalc layer kind stands for",
                        hint="`archcalc kinds` lists the kinds; write this part of the spec by hand")
        elif kind.merge:
            self.merge(node, kind)
        else:
            self.layers(node, name, kind)

    on_call_method = on_call_function

    def merge(self, node: Node, kind) -> None:
        try:
            tensors, args = kind.imported_merge(tuple(node.args), dict(node.kwargs), _written_name(node))
        except Untranslatable as exc:
            self.report(node, f"'{node.name}' {exc}")
            return
        shape = _per_sample(node.meta.get("tensor_meta"))
        rank = len(shape) if shape is not None else None
        inputs = [self.src(t) or self._held_tensor(node, kind, t, rank) for t in tensors]
        if None in inputs:
            self.report(node, f"'{node.name}' {kind.unfollowed}")
            return
        if len(inputs) == 1:  # torch.cat([x]): x's values, copied
            self.alias[node.name] = inputs[0]
            return
        refs = {k: self.src(v) for k, v in args.items() if isinstance(v, Node)}  # tensor arguments: a mask
        for k, v in refs.items():
            if v is None:
                self.report(node, f"'{node.name}' is passed {k}, a tensor that is neither an input of the model nor a "
                                  "layer's output (a buffer, or a tensor made in forward): a spec cannot name it",
                            hint="pass it to forward as an input, or leave it out: a mask changes no count "
                                 "(is_causal says a causal one)")
                return
        args = {k: v for k, v in args.items() if k not in refs}
        self.values[node.name] = Traced(node.name, "merge", self._running(node.name, kind, args, inputs), kind,
                                        args, shape=shape, refs=refs)

    def _running(self, name: str, kind, args: dict, inputs: list[str]) -> list[str]:
        """DenseNet's torch.cat(features) of a list it appends to: a merge of what an earlier
        merge of the same kind merged, and more, is that earlier merge and the rest (cat, + and
        × are associative), so each layer's running features stay one value."""
        key = (kind.kind, repr(sorted(args.items())))
        self.merged[(key, tuple(inputs))] = name
        for n in range(len(inputs) - 1, 1, -1):  # the longest earlier prefix
            earlier = self.merged.get((key, tuple(inputs[:n])))
            if earlier is not None:
                return [earlier, *inputs[n:]]
        return inputs

    def layers(self, node: Node, name: str, kind) -> None:
        """A function the kind reads: its layers, in a chain ([]: the node is its input again)."""
        data = self.src(node.args[0] if node.args else None)
        if data is None:
            if not self._attribute_read(node, node.args[0] if node.args else None):
                self.report(node, f"'{node.name}' ({name}) creates a tensor from nothing the model's input flows into")
            return
        out = _per_sample(node.meta.get("tensor_meta"))
        args, kwargs = _literal(tuple(node.args[1:])), _literal(dict(node.kwargs))
        try:
            layers = kind.imported_call(name, args, kwargs, self.values[data].shape, out)
        except Untranslatable as exc:
            self.report(node, f"'{node.name}' ({name}) {exc}")
            return
        registry = kinds()
        held = next((v.target for v in (*args, *kwargs.values()) if isinstance(v, Weight)), None)
        if held is not None and self._held_elsewhere(node, name, held):
            return
        for i, (kind_name, args) in enumerate(layers):
            last = i == len(layers) - 1
            value_id = node.name if last else f"{node.name}_{kind_name}"
            self.values[value_id] = Traced(value_id, "layer", [data], registry[kind_name], args,
                                           shape=out if last else None,  # a layer inside the call: not seen
                                           module=_owner(held) if held else None, has_params=held is not None,
                                           call=None if held else "function")  # held: its own module's call
            data = value_id
        if not layers:
            self.alias[node.name] = data

    def _held_elsewhere(self, node: Node, name: str, held: str) -> bool:
        """Reports a function passed a module's tensor where that module is not the layer alone,
        or outside that module's own forward (verification follows a module's tensors by its calls)."""
        if any(True for _ in self.gm.get_submodule(_owner(held)).children()):
            self.report(node, f"'{node.name}' ({name}) is passed '{held}', a tensor of "
                              f"'{_owner(held) or 'the model itself'}', which holds other modules too",
                        hint="archcalc reads a layer's own tensors from a module that is that layer alone (ConvNeXt's "
                             "LayerNorm2d); move the tensor into such a module, or write the layer in the spec")
            return True
        if _owner(held) and _owner(held) not in _running_modules(node):
            self.report(node, f"'{node.name}' ({name}) is passed '{held}', a tensor of module '{_owner(held)}', "
                              "outside that module's own forward: the spec's layer is that module, and "
                              "verification follows a module's tensors by its calls",
                        hint=f"call the module (self.{_owner(held)}(x)), or write the layer in the spec")
            return True
        return False

    def split(self, node: Node, name: str) -> None:
        """`x.split(sizes, dim)`, `x.chunk(n, dim)`: pieces that a merge's branches may take
        (MergeKind's split); each piece becomes a value when it is indexed."""
        data = self.src(node.args[0] if node.args else None)
        if data is None:
            self.report(node, f"'{node.name}' ({name}) splits a value archcalc could not follow")
            return
        pieces = [_per_sample(m) for m in node.meta["tensor_meta"]]
        try:
            args = MergeKind.imported_split(name, _literal(tuple(node.args[1:])), _literal(dict(node.kwargs)), pieces)
        except Untranslatable as exc:
            self.report(node, f"'{node.name}' ({name}) {exc}")
            return
        self.splits[node.name] = (data, args, len(pieces))

    def getitem(self, node: Node) -> None:
        """`out[index]` of a layer's output (an LSTM's sequence, its final state): the kind says
        which part it is (LayerKind.imported_index); of a split, one of its pieces."""
        base, index = node.args
        if isinstance(base, Node) and base.name in self.splits:
            data, args, pieces = self.splits[base.name]
            self.values[node.name] = Traced(node.name, "piece", [data], args=dict(args, of=base.name, index=index,
                                                                                    pieces=pieces),
                                            shape=_per_sample(node.meta.get("tensor_meta")))
            return
        if self._sole_tensor(base, index):
            self.alias[node.name] = self.src(base)
            return
        owner, part = self._part_of(base)
        if owner is None:
            if node.meta.get("tensor_meta") is not None:
                self.report(node, f"'{node.name}' indexes a tensor ({index!r}); archcalc follows whole tensors")
            return  # x.shape[0] and the like: sizes, not data
        value = self.values[owner]
        try:
            if value.kind is None:  # the model's input
                raise Untranslatable(f"indexes a tensor ({index!r}); archcalc follows whole tensors")
            new_part, changes = value.kind.imported_index(value.args, part, index)
        except Untranslatable as exc:
            if _is_tensor(base) and kind_of_function("getitem") is not None:  # x[:, 0]: a layer that indexes
                self.layers(node, "getitem", kind_of_function("getitem"))
                return
            self.report(node, f"'{node.name}' {exc}")
            return
        value.args.update(changes)
        if new_part == "output":
            self.alias[node.name] = owner
        else:
            self.parts[node.name] = (owner, new_part)

    def _sole_tensor(self, base, index) -> bool:
        """`f(x)[0]` where the function f returns a tuple whose one tensor is at `index` (torchvision's
        fx-wrapped _unsqueeze returns the tensor and its rank): that tensor, the call's value."""
        if not (isinstance(base, Node) and base.op in ("call_function", "call_method")) or self.src(base) is None:
            return False
        meta = base.meta.get("tensor_meta")
        if hasattr(meta, "shape") or not isinstance(meta, (tuple, list)) or not isinstance(index, int):
            return False
        tensors = [i for i, m in enumerate(meta) if hasattr(m, "shape")]
        return tensors == [index % len(meta)]

    def _part_of(self, base) -> tuple[str | None, str | None]:
        """(the layer whose output `base` is a part of, which part): None for the module's own
        output as returned, "output" for the layer's tensor."""
        if not isinstance(base, Node):
            return None, None
        if base.name in self.parts:
            return self.parts[base.name]
        owner = self.src(base)
        if owner is None:
            return None, None
        return owner, None if owner == base.name and self.values[owner].module else "output"


HANDLERS = {op: getattr(Translator, f"on_{op}") for op in ("placeholder", "get_attr", "call_module", "call_function",
                                                            "call_method", "output")}  # fx's op → what reads it


def _is_tensor(node) -> bool:
    """An fx value that is one tensor (not a tuple of them, as a module may return)."""
    return isinstance(node, Node) and hasattr(node.meta.get("tensor_meta"), "shape")


def _number(value) -> bool:
    """A Python number: written, or computed in forward from sizes (an fx value with no tensor)."""
    if isinstance(value, Node):
        return value.meta.get("tensor_meta") is None and value.op != "get_attr" and "val" not in value.meta \
            or isinstance(value.meta.get("val"), (int, float))
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _written_name(node: Node) -> str | None:
    """The function as the model wrote it: fx records `a @ b` as operator.matmul, whose name
    is torch.matmul's; some peer tools count the two apart (Tensor.__matmul__ is unpatched)."""
    return "__matmul__" if node.target is operator.matmul else function_name(node)
