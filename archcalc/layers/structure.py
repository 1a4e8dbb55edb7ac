"""Structural layers that move, reshape or pass data through: flatten, reshape, permute,
transpose, unflatten, squeeze, unsqueeze, select, narrow, channel_shuffle, the dropouts,
identity, and a learned `parameter`. None has MACs; the views among them make no new tensor.

Axes are per sample, the batch axis left out: torch's dim=1 is dim 0 here (the errors say so).
"""
from __future__ import annotations

from typing import ClassVar

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Choice, Float, Int, Ints, Nullable
from archcalc.layers.base import (COMPUTED, Context, LayerKind, Result, Step, Untranslatable, batched_axis,
                                  list_text, sample_axis)
from archcalc.layers import strides as S
from archcalc.layers.registry import register


@register
class Flatten(LayerKind):
    """Joins per-sample axes start_dim..end_dim into one; by default the whole sample
    becomes a vector (torch.nn.Flatten's start_dim=1 counts the batch axis; this doesn't)."""

    kind = "flatten"
    torch_classes = ("Flatten",)
    torch_functions = ("flatten",)
    family = "structure"
    view = True
    doc = "joins axes into one: [256, 6, 6] → [9216] (torch.nn.Flatten)"
    args = (Arg("start_dim", Int(None), 0, "per-sample axis"), Arg("end_dim", Int(None), -1))

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        start, end = sample_axis(a.start_dim, x, ctx, "start_dim"), sample_axis(a.end_dim, x, ctx, "end_dim")
        if start > end:
            raise ctx.error("start_dim comes after end_dim", arg="start_dim",
                            found=f"start_dim={a.start_dim}, end_dim={a.end_dim}", code="invalid-layer")
        joined = N.product(x[start:end + 1])
        out = (*x[:start], joined, *x[end + 1:])
        step = Step("size", "·".join(f"d{i}" for i in range(start, end + 1)),
                    "·".join(N.fmt(d) for d in x[start:end + 1]), joined)
        return Result(out, steps=[step])

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return []  # a view

    @classmethod
    def output_strides(cls, a, x, out, strides, batch):
        """torch.flatten reshapes: a view where the strides allow it, else a contiguous copy."""
        return None if strides is None else S.reshape((batch, *x), strides, (batch, *out))

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # after flattening, every unit sees the whole input

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.Flatten(batched_axis(a.start_dim), batched_axis(a.end_dim))

    @classmethod
    def from_torch(cls, module) -> dict:
        return cls._per_sample(module.start_dim, module.end_dim)

    @classmethod
    def from_torch_call(cls, args, kwargs) -> dict:
        """torch.flatten(x, start_dim=0, end_dim=-1) and x.flatten(...)."""
        return cls._per_sample(kwargs.get("start_dim", args[0] if args else 0),
                               kwargs.get("end_dim", args[1] if len(args) > 1 else -1))

    @classmethod
    def _per_sample(cls, start: int, end: int) -> dict:
        if start == 0:
            raise Untranslatable("flatten from axis 0 joins the batch axis into the sample (use start_dim=1)")
        return cls.written({"start_dim": start - 1 if start > 0 else start, "end_dim": end - 1 if end > 0 else end})


class _Dropout(LayerKind):
    """A regulariser: while training it multiplies its input by random noise (zeroes, and the
    rest scaled), in eval it passes its input through. The shape is kept and nothing is
    counted: torch's FlopCounterMode counts no element-wise multiply."""

    family = "structure"
    elementwise = True
    args = (Arg("p", Float(minimum=0.0, maximum=1.0), 0.5), Arg("inplace", Bool(), False))

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        return Result(tuple(x))

    honours_inplace: ClassVar[bool] = True  # torch's alpha dropouts ignore their inplace argument

    @classmethod
    def output_is_input(cls, a) -> bool:
        """At p = 0 torch returns its input; in place it writes into it (measured)."""
        return a.p == 0 or (a.inplace and cls.honours_inplace)

    @classmethod
    def noise(cls, x) -> object:
        """Elements per sample of the noise torch draws for an input of per-sample shape x: by
        default one per element."""
        return N.product(x)

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """What torch's dropout (ATen's _dropout_impl) keeps while training: nothing at p = 0
        (it returns its input), the zero scalar it multiplies by at p = 1, otherwise the scaled
        noise (a mask of the input's dtype)."""
        if a.p == 0:
            return []
        if a.p == 1:
            return [("stat", 1, elem)]
        return [("new", cls.noise(x), elem)]

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return getattr(nn, cls.torch_classes[0])(a.p, a.inplace)

    @classmethod
    def from_torch_call(cls, args, kwargs) -> dict:
        """F.dropout(x, p, training, inplace) and its siblings: `training` sits between p and inplace."""
        return cls.written({"p": kwargs.get("p", args[0] if args else 0.5),
                            "inplace": kwargs.get("inplace", args[2] if len(args) > 2 else False)})


@register
class Dropout(_Dropout):
    kind = "dropout"
    torch_classes = ("Dropout",)
    torch_functions = ("dropout",)
    doc = "zeroes elements with probability p while training (torch.nn.Dropout)"


class _ChannelDropout(_Dropout):
    """Drops whole channels: torch draws one noise value per sample and channel (a tensor
    [N, C, 1, …], ATen's make_feature_noise), so that is what autograd keeps."""

    @classmethod
    def noise(cls, x) -> object:
        return x[0]


def _whole_samples(ctx: Context, x, torch_class: str, what: str) -> None:
    """The warning for a rank that torch's channel dropout takes for an unbatched input: it
    adds a batch axis of 1 in front, so the real batch becomes the channels."""
    ctx.warn("batch-read-as-channels",
             f"torch reads the batch [N, {list_text(x)[1:]} as one input without a batch axis, whose channels are "
             f"the N samples: nn.{torch_class} drops whole samples, not channels (it expects {what} per sample)")


@register
class Dropout1d(_ChannelDropout):
    kind = "dropout1d"
    torch_classes = ("Dropout1d",)
    torch_functions = ("dropout1d",)
    doc = "zeroes whole channels of [C, L] with probability p while training (torch.nn.Dropout1d)"

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        """torch takes [N, C, L], or [C, L] without a batch axis: per sample [C, L], or a vector,
        which torch then reads as an unbatched [C, L] whose channels are the batch."""
        cls.require_rank(x, (1, 2), ctx, "channels and a length, [C, L]",
                         hint="use dropout2d for [C, H, W], dropout3d for [C, D, H, W]")
        if len(x) == 1:
            _whole_samples(ctx, x, "Dropout1d", "[C, L]")
        return Result(tuple(x))

    @classmethod
    def noise(cls, x) -> object:
        return x[0] if len(x) == 2 else 1


@register
class Dropout2d(_ChannelDropout):
    kind = "dropout2d"
    torch_classes = ("Dropout2d",)
    torch_functions = ("dropout2d",)
    doc = "zeroes whole channels of [C, H, W] with probability p while training (torch.nn.Dropout2d)"

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        """torch always reads the first axis as the batch here: every rank drops channels, but it
        warns for ranks other than [C, H, W] (a [C, L] sample as dropout1d does)."""
        if len(x) == 2:
            ctx.warn("deprecated-rank", "torch warns that it reads [N, C, L] as 1-D channel dropout, which a later "
                                        "release will change (use dropout1d)")
        elif len(x) != 3:
            ctx.warn("deprecated-rank", f"torch warns that a rank-{len(x)} sample is deprecated for nn.Dropout2d "
                                        "and a later release will refuse it (use dropout)")
        return Result(tuple(x))


@register
class Dropout3d(_ChannelDropout):
    kind = "dropout3d"
    torch_classes = ("Dropout3d",)
    torch_functions = ("dropout3d",)
    doc = "zeroes whole channels of [C, D, H, W] with probability p while training (torch.nn.Dropout3d)"

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        """torch takes [N, C, D, H, W]; any other rank it reads as an input without a batch axis,
        whose channels are then the batch (and it warns unless that input has rank 4)."""
        if len(x) != 4:
            _whole_samples(ctx, x, "Dropout3d", "[C, D, H, W]")
        return Result(tuple(x))

    @classmethod
    def noise(cls, x) -> object:
        return x[0] if len(x) == 4 else 1


@register
class AlphaDropout(_Dropout):
    kind = "alpha_dropout"
    honours_inplace = False
    torch_classes = ("AlphaDropout",)
    torch_functions = ("alpha_dropout",)
    doc = ("sets elements to SELU's negative saturation with probability p while training, then rescales to keep "
           "the mean and variance (torch.nn.AlphaDropout; torch's module ignores inplace)")


@register
class FeatureAlphaDropout(_ChannelDropout):
    kind = "feature_alpha_dropout"
    honours_inplace = False
    torch_classes = ("FeatureAlphaDropout",)
    torch_functions = ("feature_alpha_dropout",)
    doc = ("alpha dropout of whole channels: per sample and channel, with probability p while training "
           "(torch.nn.FeatureAlphaDropout; torch's module ignores inplace)")


@register
class StochasticDepth(LayerKind):
    """torchvision.ops.StochasticDepth (Huang et al. 2016): while training, the whole input of a
    sample ("row") or of the batch ("batch") is zeroed with probability p and the rest divided
    by 1 − p; in eval an identity. Its arguments have no defaults in torchvision."""

    kind = "stochastic_depth"
    torch_classes = ("StochasticDepth",)
    torch_functions = ("stochastic_depth",)  # torchvision.ops.stochastic_depth, which torchvision fx-wraps
    family = "structure"
    elementwise = True
    doc = "zeroes a whole sample (row) or batch with probability p while training (torchvision.ops.StochasticDepth)"
    args = (Arg("p", Float(minimum=0.0, maximum=1.0)), Arg("mode", Choice("row", "batch")))

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        return Result(tuple(x))

    @classmethod
    def output_is_input(cls, a) -> bool:
        return a.p == 0  # torchvision returns its input

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """The noise it multiplies by while training: one value per sample ("row") or one for the
        batch; nothing at p = 0 (torchvision returns its input)."""
        if a.p == 0:
            return []
        return [("new" if a.mode == "row" else "stat", 1, elem)]

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import StochasticDepth

        return StochasticDepth(a.p, a.mode)


@register
class Identity(LayerKind):
    kind = "identity"
    torch_classes = ("Identity",)
    torch_functions = ("contiguous", "clone", "detach")
    family = "structure"
    elementwise = True
    view = True
    doc = "passes its input through (torch.nn.Identity)"

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        return Result(tuple(x))

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return []

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.Identity()

    @classmethod
    def imported_call(cls, name, args, kwargs, x, out):
        """x.contiguous(), x.clone(), x.detach(): the same values, no layer."""
        return []


@register
class Parameter(LayerKind):
    """A learned tensor, the same for every sample: ConvNeXt's layer scale [C, 1, 1] in a
    `mul`, a class token [1, D] in a `concat`, position embeddings [N, D] in an `add`. It sits
    in a merge's branch; its input only says where, its output is the tensor (expanded over
    the batch, no copy) and its parameters are its elements."""

    kind = "parameter"
    torch_classes = ("ParameterLayer",)  # archcalc's own module
    family = "structure"
    view = weights_view = True  # no new tensor: an expanded view of the parameter, saved as a weight
    doc = "a learned tensor of the given shape per sample (a layer scale, a class token, position embeddings)"
    args = (Arg("shape", Ints(), doc="its shape per sample, e.g. [C, 1, 1] or [1, D]"),)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        shape = tuple(a.shape)
        params = N.product(shape)
        return Result(shape, params=params, steps=[Step("params", "∏ shape", "·".join(N.fmt(d) for d in shape),
                                                        params)])

    @classmethod
    def output_is_input(cls, a) -> bool:
        return False  # its weight's storage, not its input's

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return []  # an expand keeps nothing

    @classmethod
    def output_strides(cls, a, x, out, strides, batch):
        return (0, *S.contiguous(out))  # the parameter expanded over the batch

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # it depends on no input

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import ParameterLayer

        return ParameterLayer(tuple(a.shape))

    @classmethod
    def from_torch(cls, module) -> dict:
        return cls.written({"shape": tuple(module.value.shape)})


class _View(LayerKind):
    """Moves or regroups a sample's elements without computing: no MACs, nothing saved for
    backward, a view of its input (no new tensor) unless said otherwise."""

    family = "structure"
    view = True

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return []

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # the axes no longer mean what they meant

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend import modules

        return getattr(modules, cls.torch_classes[0])(**cls.module_args(a, x))

    @classmethod
    def module_args(cls, a, x) -> dict:
        return dict(a.items())


def _holds(left, right, ctx: Context, arg: str, question: str, total, x) -> bool:
    """Whether left == right, for the element counts a reshape or unflatten must keep. Where
    that depends on the symbols' values (x elements into [H1, W1]: only where x = H1·W1, an
    equation almost no values meet), a located error rather than a result whose condition is
    unstated. A size -1 makes only a divisibility condition (x into [H1, -1]: H1 divides x),
    which, like a head count dividing the width or groups the channels, is assumed: the
    results are exact wherever torch accepts the sizes, and --set refuses the others."""
    same = N.decide(left, "==", right)
    if same is None and ctx.assume_undecided:
        return True
    if same is None:
        raise ctx.error(f"{question} depends on the symbols' values, so the output's shape can't be decided",
                        arg=arg, expected=f"sizes whose product is {N.fmt(total)} for every value of the symbols",
                        found=f"{list_text(x)}, the {ctx.source}",
                        hint=f"write the sizes so that their product is {N.fmt(total)}, or the input's size as the "
                             f"sizes' product, or bind {N.symbol_names(left, right)} with --set NAME=VALUE",
                        code="needs-concrete-size")
    return same


@register
class Reshape(_View):
    """A sample's elements in another shape (torch.reshape, Tensor.view): the sizes' product
    stays; one size may be -1, the rest inferred. With symbolic sizes the product must be
    provably the input's (after sympy.simplify): [x] into [H1, W1] holds only where x = H1·W1,
    so it is refused (needs-concrete-size), not assumed; a size -1 needs only divisibility,
    which is assumed (see _holds)."""

    kind = "reshape"
    torch_classes = ("Reshape",)  # archcalc's own module: torch's reshape is a function
    torch_functions = ("reshape", "view")
    doc = "the same elements in another shape per sample: [C, H, W] → [C, H·W] (torch.reshape)"
    args = (Arg("shape", Ints(Int(-1)), doc="per sample; one size may be -1"),)

    @classmethod
    def output_strides(cls, a, x, out, strides, batch):
        """torch.reshape: a view where the strides allow it, else a contiguous copy."""
        return None if strides is None else S.reshape((batch, *x), strides, (batch, *out))

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        shape, total = list(a.shape), N.product(x)
        if shape.count(-1) > 1 or any(d == 0 for d in shape):
            raise ctx.error(f"shape {list_text(shape)}: at most one size may be -1, and none 0", arg="shape",
                            code="invalid-layer")
        known = N.product(d for d in shape if d != -1)
        written = f"shape {list_text(a.shape)}"
        if -1 in shape:
            if N.decide(N.mod(total, known), "==", 0) is False:  # a symbolic divisibility is assumed (see _holds)
                raise ctx.error(f"{N.fmt(total)} elements don't divide into {list_text(shape)}", arg="shape",
                                found=f"{list_text(x)}, the {ctx.source}", code="shape-mismatch")
            shape[shape.index(-1)] = N.floordiv(total, known)
        elif not _holds(known, total, ctx, "shape", f"whether {written} holds the input's {N.fmt(total)} elements",
                        total, x):
            raise ctx.error(f"shape {list_text(shape)} holds {N.fmt(known)} elements, the input {N.fmt(total)}",
                            arg="shape", expected=f"sizes whose product is {N.fmt(total)}",
                            found=f"{list_text(x)}, the {ctx.source}", hint="the batch axis is left out here",
                            code="shape-mismatch")
        return Result(tuple(shape))

    @classmethod
    def imported_call(cls, name, args, kwargs, x, out):
        """x.view(b, -1) and x.reshape(...) by the shapes they give: the same one is no layer,
        a vector a flatten, anything else this reshape."""
        if tuple(out) == tuple(x):
            return []
        if len(out) == 1:
            return [("flatten", {})]
        return [(cls.kind, {"shape": list(out)})]


def _torch_dims(dims, what: str) -> list[int]:
    """torch's dims (the batch axis 0 first) as per-sample ones."""
    if not dims or dims[0] != 0:
        raise Untranslatable(f"{what} moves the batch axis")
    return [d - 1 for d in dims[1:]]


@register
class Permute(_View):
    """The sample's axes in another order: ConvNeXt's [C, H, W] → [H, W, C] around its
    channels-last layer norm."""

    kind = "permute"
    torch_classes = ("Permute",)  # archcalc's own module
    torch_functions = ("permute",)
    doc = "the sample's axes in another order: dims [1, 2, 0] makes [C, H, W] into [H, W, C] (torch.permute)"
    args = (Arg("dims", Ints(Int(None)), doc="a permutation of the per-sample axes"),)

    @classmethod
    def output_strides(cls, a, x, out, strides, batch):
        return S.permuted(strides, [0, *(d % len(x) + 1 for d in a.dims)])

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        dims = [sample_axis(d, x, ctx, "dims") for d in a.dims] if len(a.dims) == len(x) else None
        if dims is None or sorted(dims) != list(range(len(x))):
            hint = (f"torch's dims count the batch axis: [{', '.join(str(d) for d in a.dims)}] is "
                    f"[{', '.join(str(d - 1) for d in a.dims[1:])}] here" if len(a.dims) == len(x) + 1 and
                    a.dims[0] == 0 else None)
            raise ctx.error(f"dims {list_text(a.dims)} is not a permutation of the {len(x)} axes of a sample",
                            arg="dims", expected=f"each of 0 to {len(x) - 1} once (the batch axis left out)",
                            found=f"{list_text(x)}, the {ctx.source}", hint=hint, code="invalid-layer")
        return Result(tuple(x[d] for d in dims))

    @classmethod
    def receptive_field(cls, a, x, rf):
        return rf if [d % len(x) for d in a.dims] == list(range(len(x))) else None

    @classmethod
    def imported_call(cls, name, args, kwargs, x, out):
        dims = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else kwargs.get("dims", args)
        return [(cls.kind, {"dims": _torch_dims(list(dims), "the permute")})]

    @classmethod
    def from_torch(cls, module) -> dict:
        return {"dims": list(module.dims)}


@register
class Transpose(_View):
    """Two of the sample's axes swapped."""

    kind = "transpose"
    torch_classes = ("Transpose",)  # archcalc's own module
    torch_functions = ("transpose", "swapaxes", "swapdims")  # torch's aliases (MaxViT's SwapAxes)
    doc = "two of the sample's axes swapped (torch.transpose)"
    args = (Arg("dim0", Int(None)), Arg("dim1", Int(None)))

    @classmethod
    def output_strides(cls, a, x, out, strides, batch):
        order = list(range(len(x) + 1))
        i, j = a.dim0 % len(x) + 1, a.dim1 % len(x) + 1
        order[i], order[j] = order[j], order[i]
        return S.permuted(strides, order)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        i, j = sample_axis(a.dim0, x, ctx, "dim0"), sample_axis(a.dim1, x, ctx, "dim1")
        out = list(x)
        out[i], out[j] = out[j], out[i]
        return Result(tuple(out))

    @classmethod
    def receptive_field(cls, a, x, rf):
        return rf if a.dim0 % len(x) == a.dim1 % len(x) else None

    @classmethod
    def imported_call(cls, name, args, kwargs, x, out):
        keys = ("axis0", "axis1") if name == "swapaxes" else ("dim0", "dim1")
        dims = [kwargs.get(keys[0], args[0] if args else None), kwargs.get(keys[1], args[1] if len(args) > 1 else None)]
        if 0 in dims or None in dims:
            raise Untranslatable("the transpose moves the batch axis")
        return [(cls.kind, {"dim0": dims[0] - 1 if dims[0] > 0 else dims[0],
                            "dim1": dims[1] - 1 if dims[1] > 0 else dims[1]})]


@register
class Unflatten(_View):
    """One axis of the sample split into several: [C·G] → [C, G]. As for reshape, symbolic
    sizes must provably hold the axis (x into [H1, W1] is refused: only x = H1·W1 fits)."""

    kind = "unflatten"
    torch_classes = ("Unflatten",)
    torch_functions = ("unflatten",)
    doc = "one axis split into several: dim 0 of [512] into [32, 16] (torch.nn.Unflatten)"
    args = (Arg("dim", Int(None), doc="per-sample axis"), Arg("unflattened_size", Ints(Int(-1))))

    @classmethod
    def output_strides(cls, a, x, out, strides, batch):
        """The axis split in place: its stride for the last of the new axes, times the sizes after."""
        if strides is None:
            return None
        d = a.dim % len(x) + 1
        sizes = out[d - 1:d - 1 + len(out) - len(x) + 1]
        return (*strides[:d], *(N.mul(strides[d], s) for s in S.contiguous(sizes)), *strides[d + 1:])

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        dim = sample_axis(a.dim, x, ctx)
        sizes = list(a.unflattened_size)
        whole = x[dim]
        written = f"unflattened_size {list_text(a.unflattened_size)}"  # for the messages
        filled = False
        if -1 in sizes and sizes.count(-1) == 1 and 0 not in sizes:  # 0: refused below (not a modulo by zero)
            known = N.product(d for d in sizes if d != -1)
            if N.decide(N.mod(whole, known), "==", 0) is not False:  # a symbolic divisibility is assumed (_holds)
                sizes[sizes.index(-1)], filled = N.floordiv(whole, known), True
        if any(d in (-1, 0) for d in sizes) or not filled and \
                not _holds(N.product(sizes), whole, ctx, "unflattened_size",
                           f"whether {written} holds axis {dim}'s {N.fmt(whole)} elements", whole, x):
            raise ctx.error(f"unflattened_size {list_text(a.unflattened_size)} does not hold axis {dim}'s "
                            f"{N.fmt(whole)} elements", arg="unflattened_size",
                            expected=f"sizes whose product is {N.fmt(whole)} (one may be -1)",
                            found=f"{list_text(x)}, the {ctx.source}", code="shape-mismatch")
        return Result((*x[:dim], *sizes, *x[dim + 1:]))

    @classmethod
    def module_args(cls, a, x) -> dict:
        return {"dim": batched_axis(a.dim), "unflattened_size": tuple(a.unflattened_size)}

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.Unflatten(**cls.module_args(a, x))

    @classmethod
    def from_torch(cls, module) -> dict:
        if module.dim == 0:
            raise Untranslatable("Unflatten(dim=0) splits the batch axis")
        return {"dim": module.dim - 1 if module.dim > 0 else module.dim,
                "unflattened_size": list(module.unflattened_size)}

    @classmethod
    def from_torch_call(cls, args, kwargs) -> dict:
        dim = kwargs.get("dim", args[0] if args else None)
        sizes = kwargs.get("sizes", args[1] if len(args) > 1 else None)
        if dim in (0, None):
            raise Untranslatable("the unflatten splits the batch axis")
        return {"dim": dim - 1 if dim > 0 else dim, "unflattened_size": list(sizes)}


@register
class Squeeze(_View):
    """Axes of size 1 removed: `dim` alone (kept when its size is not 1, as torch does), or
    every one of the sample's (never the batch axis).

    Whether an axis goes depends on its size's value, so a symbolic size that may be 1 (a
    dim is any positive integer: D1 may be 1) is refused with a located error rather than
    guessed: keeping it would be wrong at D1 = 1, dropping it wrong everywhere else. A
    size known not to be 1 (H1 + 1) is kept. Name the size-1 axis with `dim:`, or bind the
    size with --set."""

    kind = "squeeze"
    torch_classes = ("Squeeze",)  # archcalc's own module
    torch_functions = ("squeeze",)
    doc = "removes axes of size 1: [C, 1, 1] → [C] (torch.squeeze)"
    args = (Arg("dim", Nullable(Int(None)), None, "per-sample axis; null: every axis of size 1"),)

    @classmethod
    def output_strides(cls, a, x, out, strides, batch):
        if strides is None:
            return None
        gone = [i for i, d in enumerate(x) if N.decide(d, "==", 1) and (a.dim is None or i == a.dim % len(x))]
        return tuple(st for i, st in enumerate(strides) if i - 1 not in gone)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        axes = range(len(x)) if a.dim is None else [sample_axis(a.dim, x, ctx)]
        gone = []
        for i in axes:
            one = N.decide(x[i], "==", 1)
            if one is None and not ctx.assume_undecided:
                raise cls._undecided(x, i, a, ctx)
            if one:
                gone.append(i)
        return Result(tuple(d for i, d in enumerate(x) if i not in gone))

    @classmethod
    def _undecided(cls, x, i: int, a, ctx: Context):
        """The error for axis i, whose symbolic size may or may not be 1."""
        if a.dim is None:
            ones = [j for j, d in enumerate(x) if N.compare(d, "==", 1)]
            order = ", then ".join(f"dim: {j}" for j in reversed(ones))
            fix = ("remove the squeeze if the axis is never 1" if not ones else
                   f"name the axis of size 1 ({order})" if len(ones) == 1 else
                   f"squeeze the axes of size 1 one at a time ({order})")
            what = f"squeeze without dim can't tell whether axis {i} ({N.fmt(x[i])}) is 1"
        else:
            fix = "remove the squeeze if the axis is never 1"
            what = f"squeeze can't tell whether axis {i} ({N.fmt(x[i])}) is 1"
        return ctx.error(f"{what}: torch removes it only when it is, and a symbolic size may be 1", arg="dim",
                         expected="axes whose sizes are known to be 1 or known not to be",
                         found=f"{list_text(x)}, the {ctx.source}",
                         hint=f"{fix}, or bind {N.symbol_names(x[i])} with --set NAME=VALUE",
                         code="needs-concrete-size")

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None

    @classmethod
    def from_torch_call(cls, args, kwargs) -> dict:
        dim = kwargs.get("dim", args[0] if args else None)
        if dim is None:
            raise Untranslatable("squeeze() without dim would squeeze a batch of one too; give the axis")
        if dim == 0:
            raise Untranslatable("the squeeze removes the batch axis")
        return {"dim": dim - 1 if dim > 0 else dim}


@register
class Unsqueeze(_View):
    """An axis of size 1 inserted at `dim`: [C] → [C, 1, 1] in two steps (SE's gates)."""

    kind = "unsqueeze"
    torch_classes = ("Unsqueeze",)  # archcalc's own module
    torch_functions = ("unsqueeze", "_unsqueeze")  # and torchvision MViT's fx-wrapped _unsqueeze
    doc = "inserts an axis of size 1 at dim (torch.unsqueeze)"
    args = (Arg("dim", Int(None), doc="per-sample position of the new axis"),)

    @classmethod
    def output_strides(cls, a, x, out, strides, batch):
        """torch's unsqueeze: the new axis's stride is the next axis's size times its stride (1 last)."""
        if strides is None:
            return None
        d = a.dim % (len(x) + 1) + 1
        sizes = (batch, *x)
        new = 1 if d >= len(sizes) else N.mul(sizes[d], strides[d])
        return (*strides[:d], new, *strides[d:])

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        dim = sample_axis(a.dim, x, ctx, insert=True)
        return Result((*x[:dim], 1, *x[dim:]))

    @classmethod
    def imported_call(cls, name, args, kwargs, x, out):
        """torchvision MViT's `_unsqueeze(x, target_dim, expand_dim)` (which returns the tensor
        and its rank): an unsqueeze at expand_dim where x has one axis fewer than target_dim,
        nothing where it has as many (it refuses any other)."""
        if name != "_unsqueeze":
            return super().imported_call(name, args, kwargs, x, out)
        target, expand = (*args, None, None)[:2]
        if not (isinstance(target, int) and isinstance(expand, int)) or kwargs:
            raise Untranslatable("takes arguments computed in forward; archcalc needs them written as numbers")
        return [] if len(x) + 1 == target else [(cls.kind, cls.from_torch_call((expand,), {}))]

    @classmethod
    def from_torch_call(cls, args, kwargs) -> dict:
        dim = kwargs.get("dim", args[0] if args else None)
        if dim == 0:
            raise Untranslatable("the unsqueeze adds an axis before the batch")
        return {"dim": dim - 1 if dim > 0 else dim}


@register
class ChannelShuffle(LayerKind):
    """ShuffleNet's channel shuffle: the channels in `groups` groups, interleaved. A copy, no
    arithmetic; each position sees only itself."""

    kind = "channel_shuffle"
    torch_classes = ("ChannelShuffle",)
    torch_functions = ("channel_shuffle", "native_channel_shuffle")
    family = "structure"
    doc = "interleaves the channels of `groups` groups (torch.nn.ChannelShuffle)"
    args = (Arg("groups", Int(1)),)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, [2, 3, 4], ctx, "a channels-first input [C, ...]")
        if N.compare(N.mod(x[0], a.groups), "!=", 0):
            raise ctx.error(f"{N.fmt(x[0])} channels don't divide into groups={a.groups}", arg="groups",
                            expected="channels a multiple of groups", found=f"{list_text(x)}, the {ctx.source}",
                            code="groups-mismatch")
        return Result(tuple(x))

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return []

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.ChannelShuffle(a.groups)



@register
class PatchMergingPad(LayerKind):
    """torchvision's _patch_merging_pad (Swin's patch merging before its norm and reduction,
    a function torchvision fx-wraps): [..., H, W, C] padded with zeros at the bottom and right
    to even H and W, then the four interleaved sub-grids x[0::2, 0::2], x[1::2, 0::2],
    x[0::2, 1::2], x[1::2, 1::2] joined along the channels: [..., ⌈H/2⌉, ⌈W/2⌉, 4·C]. Slices
    and a join: nothing counted, a new tensor."""

    kind = "patch_merging_pad"
    family = "structure"
    torch_classes = ("PatchMergingPad",)  # archcalc's own module
    torch_functions = ("_patch_merging_pad",)
    doc = "Swin's 2×2 space-to-channels on [H, W, C]: pad to even H, W; join the 4 strided sub-grids (torchvision)"

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, (3, 4), ctx, "a feature map [..., H, W, C], channels last")
        h, w, c = x[-3:]
        half = [N.floordiv(N.add(s, 1), 2) for s in (h, w)]
        return Result((*x[:-3], *half, N.mul(4, c)),
                      steps=[Step("output", "[⌈H/2⌉, ⌈W/2⌉, 4·C]", f"[⌈{N.fmt(h)}/2⌉, ⌈{N.fmt(w)}/2⌉, 4·{N.fmt(c)}]",
                                  list_text((*half, N.mul(4, c))))])

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return []  # padding, slicing and joining keep no tensor for backward

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # the channels now mix four positions: a 2×2 window of stride 2 (not modelled)

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import PatchMergingPad as Module

        return Module()


def _check_position(x, dim: int, arg: str, value, highest, ctx: Context) -> None:
    """A position along axis `dim` of x, from −size (counting from the end) to `highest`."""
    size = x[dim]
    if N.compare(value, ">", highest) or N.compare(value, "<", N.neg(size)):
        raise ctx.error(f"{arg} {N.fmt(value)} is out of range for axis {dim} of size {N.fmt(size)}", arg=arg,
                        expected=f"{arg} from {N.fmt(N.neg(size))} to {N.fmt(highest)}",
                        found=f"{list_text(x)}, the {ctx.source}", code="invalid-layer")


@register
class Select(_View):
    """One position of an axis, the axis removed: a transformer's class token `x[:, 0]` of
    [T, D] is `select: {dim: 0, index: 0}` (torch.select; the batch axis left out)."""

    kind = "select"
    torch_classes = ("Select",)  # archcalc's own module
    torch_functions = ("select", "getitem")  # getitem: x[:, 0], a tensor indexed by one number
    doc = "one position of an axis, the axis removed: x[:, 0] is dim 0, index 0 (torch.select)"
    args = (Arg("dim", Int(None), doc="per-sample axis"), Arg("index", Int(None), doc="the position; -1 the last"))

    @classmethod
    def output_strides(cls, a, x, out, strides, batch):
        d = a.dim % len(x) + 1
        return None if strides is None else (*strides[:d], *strides[d + 1:])

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        dim = sample_axis(a.dim, x, ctx)
        _check_position(x, dim, "index", a.index, N.sub(x[dim], 1), ctx)
        return Result((*x[:dim], *x[dim + 1:]))

    @classmethod
    def imported_call(cls, name, args, kwargs, x, out):
        """x.select(dim, index), or x[..., i] written with full slices and one number."""
        if name == "select":
            dim, index = (*args, *kwargs.values())[:2]
        else:
            index = args[0] if isinstance(args[0], tuple) else (args[0],)
            numbers = [i for i, part in enumerate(index) if not (isinstance(part, slice) and part == slice(None))]
            if len(numbers) != 1 or not isinstance(index[numbers[0]], int) or Ellipsis in index:
                raise Untranslatable(f"indexes a tensor ({index!r}); archcalc follows whole tensors, or one position "
                                     "of one axis (x[:, 0])")
            dim, index = numbers[0], index[numbers[0]]
        if not isinstance(dim, int) or not isinstance(index, int):
            raise Untranslatable("selects a position computed in forward")
        if dim == 0:
            raise Untranslatable("selects one sample of the batch (dim 0); a spec describes one sample")
        return [(cls.kind, {"dim": dim - 1 if dim > 0 else dim, "index": index})]


@register
class Narrow(_View):
    """`length` consecutive positions of one axis from `start` (torch.narrow; x[:, start:start
    + length] on a per-sample axis): the first T rows of a table of learned position
    embeddings, `narrow: {dim: 0, start: 0, length: T}` after a `parameter` [positions, D]
    (GPT-2's and BERT's wpe read at positions 0 … T − 1). A view: no copy, nothing counted."""

    kind = "narrow"
    torch_classes = ("Narrow",)  # archcalc's own module: torch's narrow is a function
    torch_functions = ("narrow",)
    doc = "length positions of one axis from start, the axis kept: x[:, s:s+n] is dim 0, start s, length n (torch.narrow)"
    args = (Arg("dim", Int(None), doc="per-sample axis"),
            Arg("start", Int(None), doc="the first position kept; negative counts from the end"),
            Arg("length", Int(1), doc="how many positions are kept"))

    @classmethod
    def output_strides(cls, a, x, out, strides, batch):
        return strides  # a slice: the same strides, fewer positions

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        dim = sample_axis(a.dim, x, ctx)
        size = x[dim]
        _check_position(x, dim, "start", a.start, size, ctx)
        start = N.add(a.start, size) if N.compare(a.start, "<", 0) else a.start
        if N.compare(N.add(start, a.length), ">", size):
            raise ctx.error(f"start {N.fmt(a.start)} + length {N.fmt(a.length)} runs past axis {dim} of size "
                            f"{N.fmt(size)}", arg="length",
                            expected=f"start + length at most {N.fmt(size)}",
                            found=f"{list_text(x)}, the {ctx.source}", code="shape-mismatch")
        return Result((*x[:dim], a.length, *x[dim + 1:]))

    @classmethod
    def imported_call(cls, name, args, kwargs, x, out):
        """x.narrow(dim, start, length) and torch.narrow(x, dim, start, length)."""
        values = dict(zip(("dim", "start", "length"), args)) | kwargs
        if any(v is COMPUTED or not isinstance(v, int) for v in values.values()) or len(values) != 3:
            raise Untranslatable("narrows by numbers computed in forward; archcalc needs them written as numbers")
        if values["dim"] == 0:
            raise Untranslatable("narrows the batch axis (dim 0); a spec describes one sample")
        dim = values["dim"]
        return [(cls.kind, {"dim": dim - 1 if dim > 0 else dim, "start": values["start"],
                            "length": values["length"]})]
