"""Import's fast path: the graph torch.fx would trace, recorded from one run of the model.

torch.fx's symbolic trace, then its shape propagation (a second, interpreted run), cost three
to five times a small model's forward pass (mobilenet_v3_small: 40 ms against 9 ms). Here
the model runs once, on the example inputs, while every call is watched: the calls of its
modules (each instance's `_compiled_call_impl`, which nn.Module.__call__ consults; a leaf,
one fx would not trace into, is one node), every torch function and Tensor method between
them through a TorchFunctionMode, and the functions fx is told to keep whole
(`torch.fx.wrap`); a forward pre-hook refuses a module the model does not hold, and any
module call the recording did not see. Each call
whose arguments hold a value of the run becomes the node fx would make (`a + b` is
operator.add, `x.view(...)` a call_method, `x.shape` a getattr), named as fx names it, with
its arguments as fx normalises them — a RecordedNode, which is what fx.py reads of an fx.Node
and no more — already carrying what
fx.py's propagation records: shapes and dtypes (meta['tensor_meta']), sizes computed in
forward (meta['sizes']), the modules running (meta['nn_module_stack']). Sizes read from a
tensor (`x.size(0)`, `x.shape[-2:]`) stay nodes, as under fx, through the arithmetic on them.
Values are known by their ids; a tensor is not kept for it, but watched by a weak reference
that forgets its id when the run frees it (kept, the run would take fresh memory for every
tensor, as the model's own forward does not).

The graph is fx's only where the run is plain data flow. Whatever would make it differ — a
tensor or a size in an `if` (fx refuses the model, and import falls back to forward hooks),
an in-place write, a module the model does not hold, work whose result the output never
reads, a value fx would keep symbolic that here would be a number — stops the recording
(Unrecordable), and import traces with torch.fx instead. So the recorder never decides what
a model means: fx.py's Translator reads its graph exactly as it reads fx's, and the tests
read every model of the import fuzzing and every torchvision CNN both ways and compare.
"""
from __future__ import annotations

import dis
import inspect
import operator
import sys
import weakref
from collections import OrderedDict

import torch
from torch import fx, nn
from torch.fx import _symbolic_trace
from torch.fx.immutable_collections import immutable_dict, immutable_list
from torch.overrides import TorchFunctionMode, is_tensor_method_or_property

from archcalc.torch_backend.importing.traced import Meta


class Unrecordable(Exception):
    """The run did something whose graph would not be fx's: import traces with torch.fx."""


_NO_KWARGS = immutable_dict()


class RecordedNode:
    """One node of a recorded graph: what fx.py reads of an fx.Node (its name, op, target,
    arguments as fx normalises them, meta, the nodes it reads), without what an fx.Node keeps
    so that a graph can be edited (its users, a linked list, a lookup table, a hook on every
    attribute set), which cost a tenth of a small model's import (2–3 ms of shufflenet_v2_x0_5's
    26). fx.py reads either alike (its Node)."""

    __slots__ = ("name", "op", "target", "args", "kwargs", "meta", "_inputs")
    stack_trace = None  # recorded unlocated: fx traces the model where an error must name its line

    def __init__(self, op: str, target, args: tuple = (), kwargs: dict = _NO_KWARGS):
        self.name: str | None = None  # fx's, given when the run is over (RecordedGraph.name_nodes)
        self.op, self.target, self.args, self.kwargs, self.meta, self._inputs = op, target, args, kwargs, {}, None

    @property
    def all_input_nodes(self) -> list["RecordedNode"]:
        """The nodes its arguments hold, each once, in the order they appear (fx's); its arguments
        never change."""
        if self._inputs is None:
            found: dict = {}
            _collect_nodes(self.args, found)
            if self.kwargs:
                _collect_nodes(self.kwargs, found)
            self._inputs = list(found)
        return self._inputs

    def __repr__(self) -> str:
        return str(self.name)


def _collect_nodes(value, found: dict) -> None:
    if isinstance(value, RecordedNode):
        found[value] = None
    elif isinstance(value, (tuple, list)):
        for v in value:
            if isinstance(v, RecordedNode):
                found[v] = None
            elif isinstance(v, (tuple, list, dict, slice)):
                _collect_nodes(v, found)
    elif isinstance(value, dict):
        _collect_nodes(tuple(value.values()), found)
    elif isinstance(value, slice):
        _collect_nodes((value.start, value.stop, value.step), found)


class RecordedGraph:
    """The nodes of one recorded run in the order the run made them (fx's order), named as
    fx's trace names them (add, add_1, features_0_weight) by an fx.Graph's own namespace, in
    that order, once the run is over (1 ms of shufflenet_v2_x0_5's import: the run itself does
    only what it must while it runs)."""

    def __init__(self):
        self.nodes: list[RecordedNode] = []
        self.modules: dict[str, nn.Module] = {}  # the model's modules by path (dict(named_modules())): the Translator's
        naming = fx.Graph()
        try:  # fx's own (private) naming: should torch change it, fx traces the model
            self._base_of, self._namespace = naming._target_to_str, naming._graph_namespace
        except AttributeError:
            raise Unrecordable("torch.fx names its nodes otherwise") from None

    def create_node(self, op: str, target, args: tuple = (), kwargs: dict = _NO_KWARGS) -> RecordedNode:
        node = RecordedNode(op, target, args, kwargs)
        self.nodes.append(node)
        return node

    def name_nodes(self) -> None:
        bases: dict = {}  # a target → the name fx bases its nodes' names on (its regex, once)
        for node in self.nodes:
            base = bases.get(node.target)
            if base is None:
                base = bases[node.target] = self._base_of(node.target)
            node.name = self._namespace.create_name(base, None)

    def eliminate_unread(self) -> None:
        """fx's dead-code elimination for a recorded graph, where what no node reads is only parts
        of outputs, sizes and tensor reads (fx.py's _recorded refuses the rest), none impure."""
        read: set = set()
        kept = []
        for node in reversed(self.nodes):
            if node.op in ("call_function", "call_method", "get_attr") and node not in read:
                continue
            read.update(node.all_input_nodes)
            kept.append(node)
        self.nodes = kept[::-1]


# Tensor's Python operators as fx records them: reflected ones with their operands swapped,
# in-place ones as the plain operator (an fx Proxy has no __iadd__: Python falls back to +).
_BINARY = ("add", "sub", "mul", "floordiv", "truediv", "mod", "pow", "lshift", "rshift", "and_", "or_", "xor",
           "matmul")
_OPERATORS: dict[str, tuple] = {}
for _name in _BINARY:
    _dunder = _name.strip("_")
    _OPERATORS[f"__{_dunder}__"] = (getattr(operator, _name), False)
    _OPERATORS[f"__r{_dunder}__"] = (getattr(operator, _name), True)
    _OPERATORS[f"__i{_dunder}__"] = (getattr(operator, _name), False)
for _name in ("eq", "ne", "lt", "gt", "le", "ge", "getitem", "neg", "pos", "invert"):
    _OPERATORS[f"__{_name}__"] = (getattr(operator, _name), False)
_OPERATORS["__rdiv__"] = (operator.truediv, True)  # torch's name for Tensor.__rtruediv__

# a property read on a tensor that gives a tensor or sizes, recorded as fx's getattr
_PROPERTIES = {"shape", "ndim", "T", "mT", "H", "mH"}


def _plain(value):
    """A size as the int it is (SizeInt refuses int())."""
    return int.__int__(value) if isinstance(value, int) else value


class _Sized:
    """A value computed in forward from sizes (x.size(0), x.shape[-2:], c // groups): the node
    that computes it, as fx keeps it."""

    node: RecordedNode


class SizeInt(int, _Sized):
    """An int read from a tensor's sizes, or computed from them: arithmetic on it is recorded
    (as fx records it on a Proxy); comparing it or branching on it stops the recording.
    Inside a recorded call (torch's own code, given it) it is the int it is."""

    def __new__(cls, value: int, node: RecordedNode, recorder: "Recorder"):
        self = super().__new__(cls, value)
        self.node, self.recorder = node, recorder
        node.meta["sizes"] = int.__int__(value)
        return self

    def __hash__(self):
        return int.__hash__(self)


def _size_method(name: str):
    """SizeInt's `name`: recorded where fx records it on a Proxy, refused where fx's trace
    would fail or keep a float, the int's own inside a recorded call."""
    plain_method = getattr(int, name)
    target = _SIZE_OPERATORS.get(name)

    def method(self, *others):
        if self.recorder.quiet:
            return plain_method(int.__int__(self), *(_plain(o) for o in others))
        if target is None:
            raise Unrecordable(f"a size's {name}")
        operands = (*others, self) if name.startswith("__r") else (self, *others)
        return self.recorder.computed(target, operands, target(*(_plain(o) for o in operands)))

    return method


_SIZE_OPERATORS = {f"__{r}{n}__": getattr(operator, n) for n in ("add", "sub", "mul", "floordiv", "mod", "pow")
                   for r in ("", "r")} | {"__neg__": operator.neg}
for _name in (*_SIZE_OPERATORS, "__eq__", "__ne__", "__lt__", "__gt__", "__le__", "__ge__", "__truediv__",
              "__rtruediv__", "__and__", "__or__", "__xor__", "__lshift__", "__rshift__", "__divmod__", "__rdivmod__",
              "__int__", "__index__", "__abs__", "__round__", "__trunc__", "__floor__", "__ceil__", "__invert__",
              "__pos__", "__bool__", "__float__"):
    setattr(SizeInt, _name, _size_method(_name))


class SizeTuple(tuple, _Sized):
    """Sizes read from a tensor (x.size(), x.shape) or sliced from them: indexing, slicing,
    unpacking and `+` are recorded as fx records them; inside a recorded call, a tuple."""

    def __new__(cls, value, node: RecordedNode, recorder: "Recorder"):
        self = super().__new__(cls, value)
        self.node, self.recorder = node, recorder
        self.sizes = type(value)(_plain(v) for v in value)  # a torch.Size, or a tuple: as fx's propagation keeps it
        node.meta["sizes"] = self.sizes
        return self

    def __getitem__(self, index):
        value = self.sizes[index]
        if self.recorder.quiet:
            return value
        node = self.recorder.node("call_function", operator.getitem, (self.node, index), {})
        return SizeTuple(value, node, self.recorder) if isinstance(index, slice) else \
            SizeInt(value, node, self.recorder)

    def __iter__(self):
        if self.recorder.quiet:
            return tuple.__iter__(self)
        return iter([self[i] for i in range(tuple.__len__(self))])

    def __add__(self, other):
        if self.recorder.quiet:
            return _plain_tuple(self) + _plain_tuple(other)
        return self.recorder.computed(operator.add, (self, other), _plain_tuple(self) + _plain_tuple(other))

    def __radd__(self, other):
        if self.recorder.quiet:
            return _plain_tuple(other) + _plain_tuple(self)
        return self.recorder.computed(operator.add, (other, self), _plain_tuple(other) + _plain_tuple(self))

    def __len__(self):
        if self.recorder.quiet:
            return tuple.__len__(self)
        raise Unrecordable("len() of sizes")

    def __eq__(self, other):
        if self.recorder.quiet:
            return _plain_tuple(self) == _plain_tuple(other) if isinstance(other, (tuple, list)) else False
        raise Unrecordable("sizes compared")

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = tuple.__hash__


def _plain_tuple(values) -> tuple:
    return tuple(_plain(v) for v in tuple.__iter__(tuple(values) if not isinstance(values, tuple) else values))


class _Unpacked(tuple):
    """A tuple of tensors a recorded call returned (x.chunk(2), a module's (output, state)):
    each element read from it is fx's getitem of the call's node."""

    def __new__(cls, value, node: RecordedNode, recorder: "Recorder"):
        self = super().__new__(cls, value)
        self.node, self.recorder = node, recorder
        return self

    def __getitem__(self, index):
        if self.recorder.quiet:
            return tuple.__getitem__(self, index)
        if not isinstance(index, int):
            raise Unrecordable("a slice of a call's outputs")
        value = tuple.__getitem__(self, index)
        node = self.recorder.node("call_function", operator.getitem, (self.node, index), {})
        return self.recorder.produced(node, value)

    def __iter__(self):
        if self.recorder.quiet:
            return tuple.__iter__(self)
        return iter([self[i] for i in range(tuple.__len__(self))])


class _Watched(weakref.ref):
    """A weak reference to a tensor of the run that remembers the tensor's id."""

    __slots__ = ("key",)

    def __init__(self, tensor, callback):
        super().__init__(tensor, callback)
        self.key = id(tensor)


class Recorder(TorchFunctionMode):
    """One watched run of a model: the graph its calls make."""

    def __init__(self, model: nn.Module, tracer: fx.Tracer):
        super().__init__()
        self.model, self.tracer = model, tracer
        self.graph = RecordedGraph()
        self.nodes: dict[int, RecordedNode] = {}  # id of a value of the run → its node
        self.alive: list = []  # values kept so that no id is reused: lists of sizes (a tensor is watched instead)
        self.watched: dict[int, weakref.ref] = {}  # id of a tensor of the run → its weak reference, which
        # forgets the id when the tensor is freed: the run frees its tensors as the model's forward does
        # (kept alive, each new one takes fresh pages: +5 ms on mobilenet_v3_small's 9 ms forward)
        self.paths: dict[int, str] = {}  # id of each module → its path (the first, as fx's path_of_module)
        self.held: dict[int, str] = {}  # id of each tensor the model holds → the name of fx's get_attr for it
        self.modules: dict[int, nn.Module] = {}
        self._read_model(model)
        self.leaves: dict[int, bool] = {}  # id of a module → whether fx would not trace into it
        self.attr_nodes: dict[str, RecordedNode] = {}
        self.stack: OrderedDict = OrderedDict()  # modules running: fx's nn_module_stack
        self._stack_copy: OrderedDict | None = None  # its copy since it last changed, which the nodes made meanwhile share
        self.calls: dict[str, int] = {}
        self.quiet = 0  # >0: inside a leaf module or archcalc's own bookkeeping, nothing is recorded

    def _read_model(self, model: nn.Module) -> None:
        """One walk of the model: its modules' paths, and the tensors fx proxies where forward
        reads them, by the names fx gives them (parameters, then buffers; the first path of each)."""
        buffers = {}
        for prefix, module in model.named_modules():
            self.paths[id(module)] = prefix
            self.modules[id(module)] = module
            self.graph.modules[prefix] = module
            dot = prefix + "." if prefix else ""
            for key, tensor in module._parameters.items():
                if tensor is not None:
                    self.held.setdefault(id(tensor), dot + key)
            for key, tensor in module._buffers.items():
                if tensor is not None:
                    buffers.setdefault(id(tensor), dot + key)
        for key, name in buffers.items():
            self.held.setdefault(key, name)

    def _attribute_name(self, tensor: torch.Tensor) -> str | None:
        """The path of a tensor a module holds as a plain attribute (fx's get_attr for it, where
        an operation reads it), or None; looked for only when one turns up (seldom)."""
        for module_id, prefix in self.paths.items():
            for key, value in self.modules[module_id].__dict__.items():
                if value is tensor:
                    return f"{prefix}.{key}" if prefix else key
        return None

    # ---- the graph -------------------------------------------------------------------------

    def node(self, op: str, target, args: tuple, kwargs: dict) -> RecordedNode:
        node = self.graph.create_node(op, target, tuple([self.arg(a) for a in args]) if args else (),
                                      self.arg(kwargs) if kwargs else _NO_KWARGS)
        node.meta["nn_module_stack"] = self._module_stack()
        return node

    def _module_stack(self) -> OrderedDict:
        """fx's nn_module_stack for a node made now: one copy for the nodes a module's code makes
        between module calls (fx.py only reads it)."""
        if self._stack_copy is None:
            self._stack_copy = OrderedDict(self.stack)
        return self._stack_copy

    def arg(self, value):
        """A call's argument as fx writes it: each value of the run its node; a tuple a tuple
        (torch.Size too), a list or dict fx's immutable one."""
        if isinstance(value, torch.Tensor):
            return self._tensor_node(value)
        if isinstance(value, _Sized) or isinstance(value, _Unpacked):
            return value.node
        if isinstance(value, (list, tuple)):
            if hasattr(value, "_fields"):
                raise Unrecordable("a named tuple as an argument")
            known = self.nodes.get(id(value))
            if known is not None:
                return known
            return (tuple if isinstance(value, tuple) else immutable_list)(self.arg(v) for v in value)
        if isinstance(value, dict):
            return immutable_dict({k: self.arg(v) for k, v in value.items()})
        if isinstance(value, slice):
            return slice(self.arg(value.start), self.arg(value.stop), self.arg(value.step))
        if isinstance(value, nn.Module):
            raise Unrecordable("a module as an argument")
        return value

    def _tensor_node(self, tensor: torch.Tensor) -> RecordedNode:
        node = self.nodes.get(id(tensor))
        if node is not None:
            return node
        name = self.held.get(id(tensor))
        if name is not None:  # a parameter or buffer: fx proxies it once, where forward reads it
            if name not in self.attr_nodes:
                self.attr_nodes[name] = self._get_attr(name, tensor)
            return self.attr_nodes[name]
        name = self._attribute_name(tensor)
        if name is None:
            raise Unrecordable("a tensor made in forward from no input (fx keeps it as a constant)")
        return self._get_attr(name, tensor)  # another tensor attribute: one get_attr for each use

    def _get_attr(self, name: str, tensor: torch.Tensor) -> RecordedNode:
        node = self.graph.create_node("get_attr", name)
        node.meta["nn_module_stack"] = self._module_stack()
        node.meta["tensor_meta"] = _meta(tensor)
        return node

    def produced(self, node: RecordedNode, value):
        """Records what a call returned as the node's value, and gives the run the value to go
        on with: sizes as SizeInt/SizeTuple, a tuple of outputs as _Unpacked."""
        if isinstance(value, torch.Tensor):
            if id(value) in self.nodes:  # a call that gives back a tensor it was given (nn.Identity, an in-place
                value = value.view_as(value)  # ReLU): the caller gets a new tensor, as fx gives a new Proxy
            node.meta["tensor_meta"] = _meta(value)
            self.nodes[id(value)] = node
            self._watch(value)
            return value
        if value is None and node.target is operator.getitem:
            return None  # of a module's outputs, one it does not give (MultiheadAttention's weights)
        if isinstance(value, bool) or not isinstance(value, (int, tuple, list)):
            raise Unrecordable(f"a call gives {type(value).__name__}, not a tensor or sizes")
        if isinstance(value, int):
            return SizeInt(value, node, self)
        if hasattr(value, "_fields") and not isinstance(value, torch.Size):
            raise Unrecordable("a call gives a named tuple")
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            if isinstance(value, (torch.Size, tuple)):
                return SizeTuple(value, node, self)
            self.nodes[id(value)] = node  # a list of sizes (MViT's grid): passed on as the node
            self.alive.append(value)
            node.meta["sizes"] = value
            return value
        node.meta["tensor_meta"] = _metas(value)
        return _Unpacked(value, node, self)

    def _watch(self, tensor: torch.Tensor) -> None:
        try:
            self.watched[id(tensor)] = _Watched(tensor, self._freed)
        except TypeError:  # a tensor that takes no weak reference: kept
            self.alive.append(tensor)

    def _freed(self, ref: "_Watched") -> None:
        """A tensor of the run was freed (CPython calls this before its id can be reused)."""
        self.nodes.pop(ref.key, None)
        self.watched.pop(ref.key, None)

    def computed(self, target, operands: tuple, value):
        """Arithmetic on sizes: fx's node for it, and its result as sizes."""
        node = self.node("call_function", target, operands, {})
        return self.produced(node, value)

    # ---- what the run calls ----------------------------------------------------------------

    def _follows(self, values) -> bool:
        """Whether a call's arguments hold a value of the run (the call is recorded)."""
        for value in values:
            if isinstance(value, torch.Tensor):
                if id(value) in self.nodes or id(value) in self.held:
                    return True
            elif isinstance(value, (_Sized, _Unpacked)):
                return True
            elif isinstance(value, (list, tuple)):
                if id(value) in self.nodes or self._follows(value):
                    return True
            elif isinstance(value, dict):
                if self._follows(value.values()):
                    return True
            elif isinstance(value, slice):
                if self._follows((value.start, value.stop, value.step)):
                    return True
        return False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.quiet or not self._follows(args) and not self._follows(kwargs.values()):
            return func(*args, **kwargs)
        op, target, fx_args = _as_fx(func, args)
        if "out" in kwargs:
            raise Unrecordable(f"{getattr(func, '__name__', func)} writes into out=")
        self.quiet += 1
        try:
            value = func(*args, **kwargs)
            node = self.node(op, target, fx_args, kwargs)
            return self.produced(node, value)
        finally:
            self.quiet -= 1

    def refuse_unwatched(self, module: nn.Module, inputs) -> None:
        """A forward pre-hook on every module call: outside a leaf, each must be one of the
        model's modules (fx's trace refuses one made in forward: path_of_module), and must have
        come through call_module (were torch to stop consulting _compiled_call_impl, module
        calls would go unseen, and their insides be recorded as the model's own code)."""
        if self.quiet:
            return
        path = self.paths.get(id(module))
        if path is None:
            raise Unrecordable("a module the model does not hold")
        if not self.stack or next(reversed(self.stack.values()))[0] != path:
            raise Unrecordable(f"a call of module '{path}' the recording did not see")

    def call_module(self, module: nn.Module, call, args: tuple, kwargs: dict):
        """A call of one of the model's modules while recording: a leaf module is one
        call_module node, fx's module stack kept for every module."""
        if self.quiet:
            return call(module, *args, **kwargs)
        path = self.paths[id(module)]
        count = self.calls.get(path, 0)
        self.calls[path] = count + 1
        key = f"{path}@{count}" if count else path
        self.stack[key] = (path, type(module))
        self._stack_copy = None
        try:
            leaf = self.leaves.get(id(module))
            if leaf is None:
                leaf = self.leaves[id(module)] = self.tracer.is_leaf_module(module, path)
            if not leaf:
                return call(module, *args, **kwargs)
            self.quiet += 1
            try:
                with torch._C.DisableTorchFunction():  # no mode inside, nor for the bookkeeping: the leaf runs
                    value = call(module, *args, **kwargs)  # at its own speed
                    node = self.node("call_module", path, args, kwargs)
                    return self.produced(node, value)
            finally:
                self.quiet -= 1
        finally:
            self.stack.pop(key)
            self._stack_copy = None

    def call_wrapped(self, function, args: tuple, kwargs: dict):
        """A function fx keeps whole (torch.fx.wrap: torchvision's stochastic_depth)."""
        if self.quiet or not self._follows(args) and not self._follows(kwargs.values()):
            return function(*args, **kwargs)
        self.quiet += 1
        try:
            with torch._C.DisableTorchFunction():
                value = function(*args, **kwargs)
                node = self.node("call_function", function, args, kwargs)
                node.meta["is_wrapped"] = True
                return self.produced(node, value)
        finally:
            self.quiet -= 1


def _as_fx(func, args: tuple) -> tuple[str, object, tuple]:
    """(fx's op, its target, the arguments in fx's order) for a call the mode sees. A Python
    operator on a tensor reaches the mode as the method behind it (`x + y` as Tensor.add,
    `x += y` as Tensor.add_): the caller's instruction tells the operator from the method
    call, as fx tells them apart (operator.add; call_method 'add')."""
    name = getattr(func, "__name__", "")
    if name == "__get__":  # a property of a tensor: fx's getattr(x, 'shape')
        prop = getattr(getattr(func, "__self__", None), "__name__", None)
        if prop not in _PROPERTIES:
            raise Unrecordable(f"a tensor's .{prop}")
        return "call_function", getattr, (args[0], prop)
    if not _is_tensor_method(func):
        return "call_function", func, args
    if name in _OPERATORS:  # the Python-level reflected operators (__rsub__), __getitem__
        target, reflected = _OPERATORS[name]
        return "call_function", target, (args[1], args[0], *args[2:]) if reflected else args
    operator_target = _written_operator(sys._getframe(2))
    if operator_target is not None:
        return "call_function", operator_target, args
    if name.startswith("__") or name in _REFUSED_METHODS:
        raise Unrecordable(f"a tensor's {name}")
    if name.endswith("_") or name == "matmul":  # in place; x.matmul(y), which fx records apart from @
        raise Unrecordable(f"a tensor's {name}()")
    return "call_method", name, args


_TENSOR_METHODS: dict = {}


def _is_tensor_method(func) -> bool:
    """torch's is_tensor_method_or_property, remembered: torch enters a warnings filter on each
    call (a third of a recorded call's time)."""
    try:
        known = _TENSOR_METHODS.get(func)
        if known is None:
            known = _TENSOR_METHODS[func] = is_tensor_method_or_property(func)
        return known
    except TypeError:  # unhashable
        return is_tensor_method_or_property(func)


_REFUSED_METHODS = {"tolist", "item", "numpy", "cpu", "cuda", "to", "type", "data_ptr"}
_BINARY_OP = dis.opmap.get("BINARY_OP")
_UNARY = {dis.opmap.get("UNARY_NEGATIVE"): operator.neg, dis.opmap.get("UNARY_INVERT"): operator.invert}
_COMPARE_OP = dis.opmap.get("COMPARE_OP")
_NB = {"ADD": operator.add, "SUBTRACT": operator.sub, "MULTIPLY": operator.mul, "TRUE_DIVIDE": operator.truediv,
       "FLOOR_DIVIDE": operator.floordiv, "REMAINDER": operator.mod, "POWER": operator.pow,
       "MATRIX_MULTIPLY": operator.matmul, "AND": operator.and_, "OR": operator.or_, "XOR": operator.xor,
       "LSHIFT": operator.lshift, "RSHIFT": operator.rshift}


def _written_operator(frame):
    """The operator (fx's target) that the caller's current instruction is, or None for a
    call: `+` and `+=` alike are operator.add (an fx Proxy has no __iadd__)."""
    code, at = frame.f_code.co_code, frame.f_lasti
    if at < 0 or at + 1 >= len(code):
        return None
    op, oparg = code[at], code[at + 1]
    if op == _BINARY_OP and _BINARY_OP is not None:
        name = dis._nb_ops[oparg][0].removeprefix("NB_").removeprefix("INPLACE_")
        return _NB.get(name)
    if op in _UNARY:
        return _UNARY[op]
    if op == _COMPARE_OP:
        raise Unrecordable("a tensor compared")
    return None


def _meta(tensor: torch.Tensor) -> Meta:
    return Meta(tensor.shape, tensor.dtype)


def _metas(value: tuple | list):
    """Each tensor of a tuple or list a call returned as its Meta (pytree's tree_map_only, which
    costs 25 µs a call, for what nests)."""
    if type(value) in (tuple, list) and not any(isinstance(v, (tuple, list, dict)) for v in value):
        return type(value)([_meta(v) if isinstance(v, torch.Tensor) else v for v in value])
    return torch.utils._pytree.tree_map_only(torch.Tensor, _meta, value)


def _placeholders(recorder: Recorder, model: nn.Module, count: int) -> list[RecordedNode]:
    """forward's arguments, as fx's trace names them: the inputs, then those after them at their
    defaults (the model as called with its inputs alone)."""
    try:
        parameters = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        raise Unrecordable("forward's signature cannot be read") from None
    if any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters) or len(parameters) < count \
            or any(p.default is inspect.Parameter.empty for p in parameters[count:]):
        raise Unrecordable("forward's arguments are not its inputs and defaults")
    inputs = [recorder.graph.create_node("placeholder", p.name) for p in parameters[:count]]
    for p in parameters[count:]:
        recorder.graph.create_node("placeholder", p.name, (p.default,))
    return inputs


def record(model: nn.Module, examples: tuple, tracer: fx.Tracer) -> RecordedGraph:
    """The graph fx would trace for `model` on `examples`, with fx.py's propagation metadata,
    from one run; raises Unrecordable where it would not be fx's."""
    recorder = Recorder(model, tracer)
    for node, example in zip(_placeholders(recorder, model, len(examples)), examples):
        recorder.produced(node, example)
    wrapped = _wrapped_functions(recorder)
    watched = _watched_modules(recorder, model)
    unheld = nn.modules.module.register_module_forward_pre_hook(recorder.refuse_unwatched)
    try:
        for frame_dict, name, _, wrapper in wrapped:
            frame_dict[name] = wrapper
        with recorder, torch.no_grad():
            output = model.forward(*examples)  # as fx's trace: the model's own call is no module call
    except Unrecordable:
        raise
    except Exception as exc:  # the model's own failure: fx says it, or falls back to hooks
        raise Unrecordable(f"the run failed: {type(exc).__name__}") from exc
    finally:
        recorder.watched.clear()  # the run is over; each weak reference calls back the recorder: a cycle that
        # would leave the whole graph to the garbage collector rather than freed when import is done with it
        unheld.remove()
        for module, before in watched:
            if before is _ABSENT:
                module.__dict__.pop(_CALL, None)
            else:
                module.__dict__[_CALL] = before
        for frame_dict, name, original, _ in wrapped:
            frame_dict[name] = original
    recorder.quiet += 1
    recorder.graph.create_node("output", "output", (recorder.arg(output),))
    recorder.graph.name_nodes()
    return recorder.graph


_CALL = "_compiled_call_impl"  # what nn.Module.__call__ calls instead of _call_impl where an instance sets it
_ABSENT = object()


def _watched_modules(recorder: Recorder, model: nn.Module) -> list[tuple]:
    """Every module of the model called through the recorder, by the one instance attribute
    nn.Module.__call__ consults (a module torch.compile wraps sets it): [(module, its value
    before)] to restore. Not by patching nn.Module.__call__, as fx does: changing the class
    empties Python's attribute caches for every module class (+2.8 ms on mobilenet_v3_small's
    9 ms forward)."""
    watched = []
    for module in recorder.modules.values():
        if module is model:
            continue  # called as fx calls it, by its forward
        before = module.__dict__.get(_CALL, _ABSENT)
        if before not in (None, _ABSENT):
            raise Unrecordable("a compiled module")
        watched.append((module, before))
    hooks_elsewhere = _global_hooks() or torch._C._get_tracing_state()
    for module, _ in watched:
        call = type(module)._call_impl if hooks_elsewhere or _hooked(module) else _forward
        module.__dict__[_CALL] = lambda *args, _module=module, _call=call, **kwargs: \
            recorder.call_module(_module, _call, args, kwargs)
    return watched


def _forward(module: nn.Module, *args, **kwargs):
    """A module's call as nn.Module._call_impl makes it where no hook is set: its forward. The
    recorder's global pre-hook (refuse_unwatched) is for the module calls that do not come
    through the recorder; with it set, _call_impl takes its path for hooks on every call (a
    twentieth of a small model's recording)."""
    return module.forward(*args, **kwargs)


def _hooked(module: nn.Module) -> bool:
    """Whether a module has hooks of its own, which _call_impl runs."""
    return bool(module._backward_hooks or module._backward_pre_hooks or module._forward_hooks
                or module._forward_pre_hooks)


def _global_hooks() -> bool:
    """Whether hooks are set for every module (before the recorder sets its own), or torch
    keeps them otherwise than the recording knows."""
    from torch.nn.modules import module as torch_module

    names = ("_global_backward_pre_hooks", "_global_backward_hooks", "_global_forward_hooks",
             "_global_forward_pre_hooks")
    return any(getattr(torch_module, name, True) for name in names)


def _wrapped_functions(recorder: Recorder) -> list[tuple]:
    """[(globals, name, the function, its recording wrapper)] for every function that
    torch.fx.wrap named, where it is defined."""
    out = []
    for (_, name), frame_dict in _symbolic_trace._wrapped_fns_to_patch.copy().items():
        if name not in frame_dict:
            continue  # a builtin fx would patch (len): a recorded run refuses len() of sizes itself
        original = frame_dict[name]

        def wrapper(*args, _original=original, **kwargs):
            return recorder.call_wrapped(_original, args, kwargs)

        out.append((frame_dict, name, original, wrapper))
    return out
