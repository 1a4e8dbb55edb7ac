"""Structural layers that reshape or pass data through: flatten, the dropouts, identity.

(add, concat, blocks and repeat belong to composition; they will live beside these.)
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Choice, Float, Int
from archcalc.layers.base import Context, LayerKind, Result, Step, Untranslatable, batched_axis, list_text
from archcalc.layers.registry import register


@register
class Flatten(LayerKind):
    """Joins per-sample axes start_dim..end_dim into one; by default the whole sample
    becomes a vector (torch.nn.Flatten's start_dim=1 counts the batch axis; this doesn't)."""

    kind = "flatten"
    torch_classes = ("Flatten",)
    torch_functions = ("flatten", "view", "reshape")
    family = "structure"
    view = True
    doc = "joins axes into one: [256, 6, 6] → [9216] (torch.nn.Flatten)"
    args = (Arg("start_dim", Int(None), 0, "per-sample axis"), Arg("end_dim", Int(None), -1))

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        rank = len(x)
        start, end = a.start_dim % rank if rank else 0, a.end_dim % rank if rank else 0
        for name, v in (("start_dim", a.start_dim), ("end_dim", a.end_dim)):
            if not -rank <= v < rank:
                raise ctx.error(f"{name}={v} is out of range for a rank-{rank} input", arg=name,
                                expected=f"{name} from {-rank} to {rank - 1} (axes are per sample)",
                                found=str([N.fmt(d) for d in x]), code="invalid-layer")
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
    def imported_call(cls, name, args, kwargs, x, out):
        """x.view(...) and x.reshape(...) by their shapes: the same one is no layer, a vector a
        flatten; torch.flatten and x.flatten by their arguments."""
        if name == "flatten":
            return super().imported_call(name, args, kwargs, x, out)
        if tuple(out) == tuple(x):
            return []
        if len(out) == 1:
            return [(cls.kind, {})]
        raise Untranslatable(f"reshapes {list_text(x)} to {list_text(out)}: only flattening a sample to a vector "
                             "has a layer kind")

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
    torch_classes = ("AlphaDropout",)
    torch_functions = ("alpha_dropout",)
    doc = ("sets elements to SELU's negative saturation with probability p while training, then rescales to keep "
           "the mean and variance (torch.nn.AlphaDropout; torch's module ignores inplace)")


@register
class FeatureAlphaDropout(_ChannelDropout):
    kind = "feature_alpha_dropout"
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
