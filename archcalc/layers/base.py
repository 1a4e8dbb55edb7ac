"""The one extension point: a layer kind is a class registered under its spec name.

A kind declares its arguments (layers/args.py) and, given an input shape, returns its
output shape, params, buffers, MACs and the derivation steps behind each number; beside
that it states its receptive field, what autograd saves for it, its torch module and how
`archcalc import` reads torch code as it. A merge (add, concat) is a kind too, whose input
is several branches' outputs. Nothing in engine/, report/ or cli.py knows any particular
kind: they ask these hooks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, NamedTuple, Sequence

from archcalc.engine import numbers as N
from archcalc.layers.args import REQUIRED, Arg, Int, Ints, Nullable, Tensor
from archcalc.spec.errors import Location, SpecError

Shape = tuple  # of ints or sympy expressions, per sample (no batch axis)


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
    """What a kind computes for one layer. flops defaults to 2 × macs (see docs/conventions.md).
    macs and flops are per sample; per_pass_macs are done once per forward pass whatever the
    batch (work on the layer's own weights and buffers alone, which no sample flows into:
    Swin V2's position-bias MLP on its fixed table of offsets), 2 FLOPs each."""

    output: Shape
    params: Any = 0
    buffers: Any = 0
    macs: Any = 0
    flops: Any = None
    steps: list[Step] = field(default_factory=list)
    per_pass_macs: Any = 0


class Args:
    """Bound argument values of one layer, with the location each was written at."""

    def __init__(self, values: dict[str, Any], locs: dict[str, Location]):
        self._values = values
        self._locs = locs

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # copy and pickle look for hooks before _values exists
            raise AttributeError(name)
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
    """What a kind may ask of the engine: errors and warnings located at the layer, where
    its input came from (for messages like "output of 'conv1', line 9") and, for a merge,
    its branches' names and lines.

    `assume_undecided`: a condition over symbolic sizes that can't be decided (C = D, D1 ≠ 1)
    is refused (needs-concrete-size) unless this is set; `archcalc solve` sets it for its
    symbolic walk, because it confirms every solution with the sizes bound."""

    assume_undecided = False

    def __init__(self, path: str, kind: str, loc: Location, args: Args, source: str,
                 warn: Callable[..., None], source_path: str | None = None,
                 branches: Sequence[tuple[str, Location]] = (), input_loc: Location | None = None):
        self.path, self.kind, self.loc, self.args = path, kind, loc, args
        self.source_path = source_path  # the layer whose output this is; None for the spec's input
        self.source = source  # "output of 'conv1', line 9" or "spec's input, line 4"; say "the {source}"
        self.input_loc = input_loc  # where the spec declares the input, when the layer takes it as declared
        self.branches = list(branches)
        self._warn = warn

    def error(self, message: str, *, arg: str | None = None, expected: str | None = None,
              found: str | None = None, hint: str | None = None, code: str = "invalid-layer") -> SpecError:
        loc = (self.args.loc(arg) if arg else None) or self.loc
        return SpecError(f"{self.kind} '{self.path}': {message}", loc, expected=expected, found=found,
                         hint=hint, code=code)

    def warn(self, code: str, message: str, loc: Location | None = None) -> None:
        """A warning located at the layer, or at `loc` (the input's line, for what is wrong there)."""
        if loc is None:
            self._warn(code, message)
        else:
            self._warn(code, message, loc)

    def branch_shapes(self, shapes: Sequence[Shape]) -> str:
        """'main: [64, 56, 56] (line 12); shortcut: [64, 56, 56] (line 19)', for a merge's messages."""
        return "; ".join(f"{name}: {list_text(s)} (line {loc.line})" for (name, loc), s in zip(self.branches, shapes))


class Attention(NamedTuple):
    """One attention a layer computes, in the sizes the peer tools' rules are written in."""

    heads: Any  # h
    queries: Any  # T
    keys: Any  # S': the keys each query sees, any appended key (add_bias_kv, add_zero_attn) included
    head_size: Any  # d = E/h
    sources: Any  # S: the positions keys and values are projected from (the memory's length in cross-attention)
    source_width: Any  # E_kv: their features (E in self-attention)


FLOW = "<input>"  # imported_module_call's key for the call's tensor that is the layer's input


class LayerKind:
    """Base of every kind. Subclasses set `kind`, `args` and implement `infer`."""

    kind: ClassVar[str]
    family: ClassVar[str] = ""
    args: ClassVar[Sequence[Arg]] = ()
    merge: ClassVar[bool] = False  # combines branches (MergeKind)
    weighted: ClassVar[bool] = False  # has weights: its output elements count as neurons
    in_arg: ClassVar[str | None] = None  # in_channels / in_features / num_features: inferred, checked
    accepts_index: ClassVar[bool] = False  # reads token ids (input dtype index) and makes floats
    elementwise: ClassVar[bool] = False  # maps each element alone (can run in place; drawn inside the box before)
    view: ClassVar[bool] = False  # its output is its input's storage (flatten, identity): no new tensor
    weights_view: ClassVar[bool] = False  # its output is its own weights' storage (parameter): no activation
    contiguous_output: ClassVar[bool] = False  # its output is a new contiguous tensor, whatever its input's layout
    doc: ClassVar[str] = ""
    torch_classes: ClassVar[tuple[str, ...]] = ()  # module classes `archcalc import` reads as this kind
    torch_functions: ClassVar[tuple[str, ...]] = ()  # torch functions / Tensor methods it reads as this kind
    mkldnn_uncounted: ClassVar[bool] = False  # on torch's CPU mkldnn path FlopCounterMode counts its module 0
    imported_weights: ClassVar[bool] = False  # its function may be passed the model's own tensors (Weight)
    verify_note: ClassVar[str | None] = None  # how `verify` runs its torch module, when that needs saying
    torch_variants: ClassVar[tuple[str, ...]] = ()  # what torch_variant may return (peer tables key rules by them)

    @classmethod
    def infer(cls, x: Shape, a: Args, ctx: Context) -> Result:
        raise NotImplementedError

    @classmethod
    def is_tensor_arg(cls, arg) -> bool:
        """An argument naming another tensor the layer reads (cross-attention's memory):
        bound by the engine to a TensorRef, passed by the backend to the module's forward
        after the input, in the kind's argument order."""
        return isinstance(arg.type, Tensor) or isinstance(getattr(arg.type, "inner", None), Tensor)

    @classmethod
    def tensor_refs(cls, a: Args) -> list:
        """The TensorRefs this layer reads besides its input, in argument order (None left out)."""
        return [getattr(a, arg.name) for arg in cls.args if cls.is_tensor_arg(arg) and getattr(a, arg.name) is not None]

    @classmethod
    def from_torch(cls, module) -> dict:
        """This kind's spec arguments for a torch module of one of `torch_classes` (`archcalc
        import`): each argument read from the module's attribute of the same name (torch's
        constructor names, which the kinds share), `bias` from whether it has one; the
        inferred in_* argument and values equal to the default left out. Raises Untranslatable
        for settings a spec cannot say."""
        values = {}
        for arg in cls.args:
            if arg.name == cls.in_arg:
                continue
            value = getattr(module, arg.name, _ABSENT)  # one lookup (a parameter's goes through Module.__getattr__)
            if value is _ABSENT:
                continue
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
    def imported_call(cls, name: str, args: tuple, kwargs: dict, x: Shape, out: Shape) -> list[tuple[str, dict]]:
        """The layers (kind name, spec arguments) that a call `name(x, *args, **kwargs)` of one
        of `torch_functions` stands for, given its per-sample input and output shapes (`archcalc
        import`): by default one layer of this kind, from from_torch_call. [] when the call is
        no layer (a view of the same shape). An argument computed in forward arrives as
        COMPUTED; raises Untranslatable for what a spec cannot say."""
        values = (*args, *kwargs.values())
        if any(v is COMPUTED for v in values):
            raise Untranslatable("takes arguments computed in forward; archcalc needs them written as numbers")
        weights = [v for v in values if isinstance(v, Weight)]
        if weights and not cls.imported_weights:
            raise Untranslatable(f"is passed {weights[0]!r}; archcalc reads a {cls.kind}'s tensors from its module")
        return [(cls.kind, cls.from_torch_call(args, kwargs))]

    @classmethod
    def imported_module_call(cls, tensors: list, others: tuple, kwargs: dict) -> dict:
        """The spec arguments a call of this kind's torch module adds (`archcalc import`):
        `tensors` its tensor arguments (the same object where the same value is passed), `others`
        its other positional arguments, `kwargs` its keywords (a tensor among them COMPUTED).
        Raises Untranslatable where the spec's layer is not that call; by default, anything but
        the input alone (an explicit None, `lstm(x, None)`, is the default state). A value of
        the dict that is one of `tensors` is a tensor argument (the memory of cross-attention),
        which import names; under the key FLOW, the tensor that is the layer's input where it
        is not the first (nn.Transformer's tgt, after src)."""
        if len(tensors) != 1 or any(o is not None for o in others) or kwargs:
            raise Untranslatable("is called with more than its input (an initial state?)")
        return {}

    @classmethod
    def imported_index(cls, args: dict, part: str | None, index) -> tuple[str, dict]:
        """What `out[index]` is, where `out` is part `part` of this layer's module output (None:
        the module's output as returned; "output": the tensor the spec's layer gives): the part
        it is ("output" when it is the layer's output, with the spec arguments to change).
        Raises Untranslatable when a spec cannot follow it: by default, any index."""
        raise Untranslatable(f"indexes a tensor ({index!r}); archcalc follows whole tensors")

    @classmethod
    def written(cls, values: dict) -> dict:
        """Argument values as a spec writes them: tuples made plain, defaults left out."""
        out = {}
        for arg in cls.args:
            name = arg.name
            if name in values:
                value = arg.type.written(values[name])
                if arg.default is REQUIRED or value != _written_default(arg):
                    out[name] = value
        return out

    @classmethod
    def affine(cls, a: Args) -> bool:
        """Whether it scales (and shifts) its output by learned parameters, as a norm's affine
        (peer tools count one more operation per element for it)."""
        return bool(getattr(a, "affine", False))

    @classmethod
    def weight_shapes(cls, a: Args, x: Shape) -> dict[str, Shape] | None:
        """Its parameters' shapes by their names in its torch module ({"weight": (out, in),
        "bias": (out,)} for a linear layer): what `share:` ties, name by name, so that a layer
        may share the weights of another kind whose tensors are the same (an embedding's table
        [V, E] is a bias-free linear E → V's weight: GPT-2's tied LM head). None where the kind
        does not say; then only a layer of the same kind with as many parameters may share."""
        return None

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
    def torch_output_shape(cls, a: Args, x: Shape, out: Shape) -> Shape:
        """The per-sample shape the torch class of `torch_classes` returns (its first output),
        where the spec's row keeps less of it (a recurrent layer's last step only)."""
        return out

    @classmethod
    def backward_macs(cls, a: Args, x: Shape, result: Result, input_grad: bool):
        """Multiply-accumulates of this layer's backward pass: the weight gradient, plus the
        input gradient when something before it has weights (`input_grad`). 0 for layers
        whose backward torch's FlopCounterMode doesn't count (element-wise, pooling, norms)."""
        return 0

    @classmethod
    def per_pass_backward_macs(cls, a: Args, x: Shape, result: Result):
        """Multiply-accumulates of the backward pass of the work done once per pass
        (Result.per_pass_macs), whatever the batch: 0 for a layer that has none."""
        return 0

    @classmethod
    def weight_bytes(cls, a: Args, params, buffers, elem: int):
        """Bytes of this layer's parameters and buffers stored in a dtype of `elem` bytes."""
        return N.mul(N.add(params, buffers), elem)

    @classmethod
    def saved_for_backward(cls, a: Args, x: Shape, out: Shape, elem: int):
        """What autograd keeps for this layer's backward pass: [(tensor, elements per sample,
        bytes each)], or None when archcalc does not model it. The memory engine counts each
        tensor once, however many entries (of this layer or others) name it; the tensor is
        - "input" or "output": the layer's (a merge's x is the list of its branches' outputs,
          and "input:<i>" names branch i's);
        - "arg:<name>": the tensor its tensor argument <name> names (cross-attention's memory:
          a spec input or an earlier layer's output);
        - "new": a tensor the layer makes, each entry its own; "new:<label>": one the layer
          makes that several entries name (counted once: nn.Transformer's encoder output,
          read by every decoder layer);
        - "stat": a per-batch statistic that does not grow with the batch (its elements are
          for the whole batch);
        - "copy:<one of the above>": the copy torch makes of that tensor to read it in another
          layout (nn.MultiheadAttention, batch first, transposes its inputs to sequence first
          and its projections flatten them): a new tensor of the entry's elements when the
          batch holds more than one sample, the tensor itself at batch 1, where the
          transposed view is read as it is."""
        return None

    @classmethod
    def laid_out_saved_for_backward(cls, a: Args, x: Shape, out: Shape, elem: int, strides, batch: int):
        """saved_for_backward for a kind whose kept tensors hang on its input's layout (strides,
        the batch axis first; None where unknown) or on the batch (a product that reshapes a
        view keeps the view or a copy, torch's view rules deciding; axes of size 1, a batch of
        one among them, do not count): by default saved_for_backward."""
        return cls.saved_for_backward(a, x, out, elem)

    @classmethod
    def output_strides(cls, a: Args, x: Shape, out: Shape, strides, batch: int):
        """The strides (in elements, the batch axis first) of its output while training, given
        its input's (None: unknown), as the module the backend builds lays it out; None where
        the kind does not say. By default: a layer that returns its input (output_is_input)
        with its shape keeps its strides, another view does not say, a kind with
        contiguous_output makes a contiguous tensor, an element-wise layer lays its output out
        as torch's TensorIterator does, and any other does not say (a convolution of a transposed
        view lays its output out channels last, a recurrent layer's is a transposed view). A product that reshapes its operands (scaled_dot_product_attention, matmul)
        reads these to know whether it keeps an operand or a copy of it (strides.py)."""
        from archcalc.layers import strides as S

        if cls.output_is_input(a):
            return strides if len(x) == len(out) and all(N.compare(i, "==", o) for i, o in zip(x, out)) else None
        if cls.view or cls.weights_view:
            return None
        if cls.contiguous_output:
            return S.contiguous((batch, *out))
        if cls.elementwise:
            return S.elementwise((batch, *out), [((batch, *x), strides)])
        return None

    @classmethod
    def attention_layers(cls, a: Args) -> int:
        """How many attentions of attention_shape it computes (a stack of layers: more)."""
        return 1

    @classmethod
    def attention_shape(cls, a: Args, x: Shape) -> tuple | None:
        """(heads, queries T, keys S, head size d) of its attention; None without attention."""
        return None

    @classmethod
    def attentions(cls, a: Args, x: Shape) -> list[Attention]:
        """Every attention it computes, in order: by default attention_layers of attention_shape,
        each attending over its own input (a self-attention). A kind with cross-attention (a
        decoder layer) lists its self- and cross-attentions apart, since their keys differ."""
        shape = cls.attention_shape(a, x)
        if shape is None:
            return []
        h, t, s, d = shape
        return [Attention(h, t, s, d, t, x[-1])] * cls.attention_layers(a)

    @classmethod
    def score_matrices(cls, a: Args, x: Shape) -> list:
        """Elements per sample of each attention score matrix it makes, as torch's math kernel
        materialises them (softmax in place): by default h·T·S per attention. A kind that
        attends within windows (all windows' scores in one tensor) says so itself."""
        return [N.product((at.heads, at.queries, at.keys)) for at in cls.attentions(a, x)]

    @classmethod
    def kv_cache(cls, a: Args, x: Shape):
        """Elements per token per sample that autoregressive inference keeps for this layer's
        attention (its keys and values): 0 for a layer without attention."""
        return 0

    @classmethod
    def output_is_input(cls, a: Args) -> bool:
        """Whether, while training, its output is its input's storage (a view, an in-place
        activation, a dropout at p = 0): autograd's saved tensors then hold it once."""
        return cls.view

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
    def torch_call(cls, a: Args, module, x):
        """This layer called as a function (`call: function`) on x: by default what its module's
        forward calls (F.relu, F.max_pool2d), without the module's own __call__, so that no
        module hook sees it (the peer tools that count module hooks tell the two apart)."""
        return module.forward(x)

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
            if written is not None and not same_sizes([written], [size], ctx, f"{name}={N.fmt(written)}",
                                                      f"{N.fmt(size)} (the {ctx.source})", arg=name):
                raise ctx.error(f"{name}={N.fmt(written)} does not match its input", arg=name,
                                expected=f"{name} = {N.fmt(size)}", found=f"{N.fmt(size)} (the {ctx.source})",
                                hint=f"remove {name} (it is inferred) or fix the "
                                     + ("previous layer" if ctx.source_path else "spec's input"),
                                code="shape-mismatch")


class WeightedProduct(LayerKind):
    """A layer whose work is its input times its weights (convolution, linear): its outputs are
    neurons, its backward multiplies as much as its forward for the weight gradient, and as
    much again for the input gradient when one is needed, and autograd keeps its input for the
    weight gradient."""

    weighted = True

    @classmethod
    def backward_macs(cls, a, x, result, input_grad):
        return matmul_backward_macs(result.macs, input_grad)

    @classmethod
    def receptive_field(cls, a, x, rf):
        """A product over the whole last axis (a linear layer): no window. A convolution says otherwise."""
        return None

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return [("input", N.product(x), elem)]


class MergeKind(LayerKind):
    """A kind whose input is several branches' outputs: the spec writes its `branches:` (each
    a list of layers given the merge's input), and `combine` replaces `infer`. The combining
    itself has no weights; the branches' layers are counted as usual."""

    family = "merge"
    merge = True
    symbol: ClassVar[str] = "?"  # drawn where the branches meet: "+", "‖"
    dot_label: ClassVar[str] = "?"  # the same in Graphviz DOT, in ASCII
    args = (Arg("split", Nullable(Ints(keywords=("equal",))), None,
                "each branch gets a slice of the input, not all of it: the slices' sizes along split_dim, one per "
                "branch, or 'equal' (torch.split, torch.chunk)"),
            Arg("split_dim", Int(None), 0, "per-sample axis the input is split along; 0 is channels"))

    @classmethod
    def branch_inputs(cls, x: Shape, a: Args, branches: int, ctx: Context) -> list[Shape]:
        """What each branch is given: the merge's input, or with `split` its slices."""
        if a.split is None:
            return [tuple(x)] * branches
        d = sample_axis(a.split_dim, x, ctx, "split_dim")
        sizes, fits = split_sizes(a.split, x[d], branches)
        given = "'equal'" if a.split == "equal" else list_text(a.split)
        if fits is None and not ctx.assume_undecided:  # right only for some values: refused, not assumed
            fix = f"write the sizes so that they add up to {N.fmt(x[d])}"
            raise ctx.error(f"whether split {given} divides axis {d} ({N.fmt(x[d])}) among {branches} branches "
                            "depends on the symbols' values", arg="split",
                            expected=f"{branches} sizes adding up to {N.fmt(x[d])} for every value of the symbols",
                            found=f"{list_text(x)}, the {ctx.source}",
                            hint=f"{fix}, or bind {N.symbol_names(x[d], *sizes)} with --set NAME=VALUE",
                            code="needs-concrete-size")
        if fits is False:
            raise ctx.error(f"split {given} does not divide axis {d} of the input among {branches} branches",
                            arg="split", expected=f"{branches} sizes adding up to {N.fmt(x[d])}, or 'equal'",
                            found=f"{list_text(x)}, the {ctx.source}", code="shape-mismatch")
        return [(*x[:d], s, *x[d + 1:]) for s in sizes]

    @classmethod
    def branch_receptive_field(cls, a: Args, x: Shape, rf):
        """A branch's field at its start: the merge's, unless the input is split along a spatial axis."""
        return rf if a.split is None or a.split_dim % len(x) == 0 else None

    @classmethod
    def torch_branch_inputs(cls, a: Args, x, branches: int) -> list:
        """The branches' input tensors (batch first), as branch_inputs says."""
        if a.split is None:
            return [x] * branches
        dim = batched_axis(a.split_dim)
        pieces = x.chunk(branches, dim) if a.split == "equal" else x.split(list(a.split), dim)
        return [pieces[i] for i in range(branches)]  # indexed, not iterated: torch.fx traces it

    @classmethod
    def combine(cls, shapes: list[Shape], a: Args, ctx: Context) -> Result:
        raise NotImplementedError

    @classmethod
    def infer(cls, x: Shape, a: Args, ctx: Context) -> Result:
        raise NotImplementedError(f"{cls.kind} combines branches: see combine")

    @classmethod
    def merge_backward_macs(cls, a: Args, shapes: list[Shape], result: Result, grads: list[bool]):
        """Multiply-accumulates of the combining step's backward pass, knowing which branches
        need a gradient: 0 for a sum, a join or an element-wise product (FlopCounterMode counts
        none), the products' gradients for attention."""
        return 0

    @classmethod
    def merge_attention_shape(cls, a: Args, shapes: list[Shape]) -> tuple | None:
        """attention_shape for a merge, from its branches' outputs: None but for attention."""
        return None

    @classmethod
    def merge_kv_cache(cls, a: Args, shapes: list[Shape]):
        """kv_cache for a merge, from its branches' outputs: 0 but for attention."""
        return 0

    @classmethod
    def merge_receptive_field(cls, a: Args, fields: list) -> tuple[Any, int | None]:
        """The field after the merge, and the index of the branch with the widest one (the
        union of the branches' fields, receptive.py)."""
        from archcalc.layers.receptive import union

        return union(fields)

    @classmethod
    def torch_combine(cls, a: Args, outputs: list):
        """The branches' output tensors (batch first) combined as torch computes this merge."""
        raise NotImplementedError(f"merge kind {cls.kind} has no torch form")

    @classmethod
    def merge_saved_for_backward(cls, a: Args, shapes: list[Shape], out: Shape, elem: int, grads: list[bool],
                                 layouts: list | None = None):
        """What autograd keeps for the combining step, knowing which branches need a gradient
        (a product keeps each factor the others' gradients need) and how each branch's output
        is laid out (`layouts`: (sizes, strides) per branch, the batch axis first, strides None
        where unknown; output_strides): entries as in saved_for_backward, "input:<i>" for
        branch i's output."""
        return cls.saved_for_backward(a, shapes, out, elem)

    @classmethod
    def merge_output_strides(cls, a: Args, shapes: list[Shape], out: Shape, layouts: list, batch: int):
        """output_strides for a merge, from its branches' layouts ((sizes, strides), the batch
        axis first): by default a new contiguous tensor."""
        from archcalc.layers import strides as S

        return S.contiguous((batch, *out))

    @classmethod
    def imported_merge(cls, args: tuple, kwargs: dict, name: str | None = None) -> tuple[list, dict]:
        """For a call `name(*args, **kwargs)` of one of `torch_functions` (`archcalc import`):
        the arguments that are the branches' tensors, and this merge's spec arguments."""
        raise NotImplementedError(f"merge kind {cls.kind} is not imported")

    unfollowed: ClassVar[str] = "combines values archcalc cannot follow"  # a branch that is no traced tensor

    split_functions: ClassVar[tuple[str, ...]] = ("split", "chunk", "split_with_sizes")

    @staticmethod
    def imported_tensor(shape: tuple, rank: int) -> tuple[str, dict] | None:
        """The layer (kind name, spec arguments) that stands for one of a merge's operands that
        is a learned tensor of the model, of torch shape `shape`, where the merge's output has
        `rank` axes per sample (ConvNeXt's layer scale [C, 1, 1], a class token [1, 1, D]): a
        `parameter` of its shape per sample, a leading batch axis of 1 dropped and missing
        leading axes 1 (broadcasting's reading); None where it cannot broadcast per sample."""
        if len(shape) == rank + 1 and shape[0] == 1:
            shape = shape[1:]
        if len(shape) > rank:
            return None
        return "parameter", {"shape": [1] * (rank - len(shape)) + list(shape)}

    @staticmethod
    def imported_split(name: str, args: tuple, kwargs: dict, pieces: list[Shape]) -> dict:
        """A merge's `split` arguments for a call `x.split(size_or_sizes, dim)` or `x.chunk(n,
        dim)` whose pieces have these per-sample shapes: 'equal' when they are, else the sizes."""
        dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
        if not isinstance(dim, int):
            raise Untranslatable("splits along an axis computed in forward")
        if dim == 0:
            raise Untranslatable("splits the batch axis (dim=0); a spec describes one sample")
        d = dim - 1 if dim > 0 else dim
        sizes = [p[d] for p in pieces]
        return {"split": "equal" if len(set(sizes)) == 1 else sizes, "split_dim": d}


class Untranslatable(Exception):
    """A torch module's setting that no spec argument can express (archcalc import)."""


class _Computed:
    def __repr__(self) -> str:
        return "<a value computed in forward>"


_ABSENT = object()  # an attribute a module does not have
_WRITTEN_DEFAULTS: dict[int, tuple] = {}  # id of an Arg → (the Arg, kept so that its id is not reused; its default)


def _written_default(arg) -> Any:
    """An optional argument's default as a spec writes it (import compares each value read
    from a module with it: checked and written once, not once per layer)."""
    known = _WRITTEN_DEFAULTS.get(id(arg))
    if known is None or known[0] is not arg:
        known = _WRITTEN_DEFAULTS[id(arg)] = (arg, None if arg.default is None else
                                              arg.type.written(arg.type.check(arg.default)))
    return known[1]


COMPUTED = _Computed()  # an argument of a traced call that the model computed (x.size(0)), not a literal


@dataclass(frozen=True)
class Weight:
    """An argument of a traced call that is a tensor the model holds and passes itself
    (ConvNeXt's LayerNorm2d: F.layer_norm(x, shape, self.weight, self.bias)): its path in
    the model and its shape. Only kinds with `imported_weights` read it."""

    target: str
    shape: tuple

    def __repr__(self) -> str:
        return f"the model's tensor '{self.target}'"


def matmul_backward_macs(forward_macs, input_grad: bool):
    """A convolution's or matmul's backward: the weight gradient costs as many MACs as the
    forward pass, and so does the input gradient when one is needed."""
    return N.mul(forward_macs, 2) if input_grad else forward_macs


def batched_axis(dim: int) -> int:
    """A per-sample axis as torch numbers it with the batch axis in front."""
    return dim + 1 if dim >= 0 else dim


def sample_axis(dim: int, x: Shape, ctx: Context, arg: str = "dim", *, insert: bool = False) -> int:
    """A per-sample axis of an input of shape x, from -rank to rank - 1 (one more each way
    where an axis is inserted), as an index from 0. Out of range, the message says how torch's
    axes translate: they count the batch axis, so torch's dim=1 is dim 0 here."""
    size = len(x) + (1 if insert else 0)
    if -size <= dim < size:
        return dim % size
    hint = f"torch's dim={dim} is dim {dim - 1} here" if 0 < dim <= size else None
    raise ctx.error(f"{arg}={dim} is out of range for a rank-{len(x)} input", arg=arg,
                    expected=f"{arg} from {-size} to {size - 1}: axes are per sample here, the batch axis left out "
                             "(torch's dim=1 is dim 0)", found=f"{list_text(x)}, the {ctx.source}", hint=hint,
                    code="invalid-layer")


def same_sizes(a: Sequence, b: Sequence, ctx: Context, what: str, found: str, arg: str | None = None) -> bool:
    """Whether two lists of sizes are equal, size by size: False where a pair provably
    differs, True where every pair is provably equal (after sympy.simplify). Where it depends
    on the symbols' values (C and D: only where C = D, an equation almost no values meet), a
    located error (needs-concrete-size): assuming it would count in one where the spec says
    the other."""
    if len(a) != len(b):
        return False
    verdicts = [N.decide(x, "==", y) for x, y in zip(a, b)]
    if any(v is False for v in verdicts):
        return False
    open_pairs = [(x, y) for x, y, v in zip(a, b, verdicts) if v is None]
    if open_pairs and not ctx.assume_undecided:
        x, y = open_pairs[0]
        raise ctx.error(f"{what}: whether {N.fmt(x)} = {N.fmt(y)} depends on the symbols' values", arg=arg,
                        expected="sizes equal for every value of the symbols", found=found,
                        hint=f"write both as the same expression, or bind {N.symbol_names(x, y)} with --set NAME=VALUE",
                        code="needs-concrete-size")
    return True


def split_sizes(split, size, branches: int) -> tuple[list, bool | None]:
    """The slices' sizes of a merge's `split` (as given, or 'equal' parts) and whether they
    fill the axis exactly: True, False, or None when that depends on symbolic sizes' values
    (sizes [A, B] of an axis C: only where A + B = C). 'equal' parts of a symbolic size only
    need it to divide, which is assumed, as a head count dividing the width is."""
    if split == "equal":
        return [N.floordiv(size, branches)] * branches, N.decide(N.mod(size, branches), "==", 0) is not False
    sizes = list(split)
    return sizes, (len(sizes) == branches) and N.decide(N.total(sizes), "==", size)


def list_text(shape: Shape) -> str:
    return "[" + ", ".join(N.fmt(d) for d in shape) + "]"
