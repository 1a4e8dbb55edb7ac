"""Merges: add (a residual sum), concat (Inception's join) and mul (squeeze-and-excitation's
gate, a layer scale), the layers whose input is several branches' outputs.

A spec writes a merge's `branches:`; each branch is a list of layers given the merge's
input (an empty one passes it through), and the kind says how their outputs meet. None has
weights, and torch's FlopCounterMode counts none of aten.add, aten.cat and aten.mul: their
counts are 0, while every layer inside the branches is counted as usual.
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Int
from archcalc.layers.base import (Context, MergeKind, Result, Step, Untranslatable, batched_axis, same_sizes,
                                  sample_axis)
from archcalc.layers import strides as S
from archcalc.layers.registry import register


def _same(a, b, ctx: Context, shapes, what: str) -> bool:
    """Equal shapes; a located error where that depends on symbolic sizes' values (see same_sizes)."""
    return same_sizes(a, b, ctx, what, ctx.branch_shapes(shapes))


@register
class Add(MergeKind):
    """y = Σ branches: every branch has the same output shape (a residual connection)."""

    kind = "add"
    symbol, dot_label = "+", "+"
    doc = "sums its branches' outputs, which have one shape (a residual connection)"
    torch_functions = ("add", "iadd", "add_", "__add__", "__iadd__")
    unfollowed = "adds something that is not another branch's tensor (a constant, a parameter?)"

    @classmethod
    def imported_merge(cls, args, kwargs, name=None):
        if kwargs.get("alpha", 1) != 1 or len(args) < 2:
            raise Untranslatable(cls.unfollowed)
        return list(args[:2]), {}

    @classmethod
    def combine(cls, shapes, a, ctx: Context) -> Result:
        first = shapes[0]
        if not all(_same(s, first, ctx, shapes, "the branches' shapes") for s in shapes[1:]):
            raise ctx.error("the branches' shapes differ, so they can't be summed",
                            expected="every branch with the same output shape", found=ctx.branch_shapes(shapes),
                            hint="project the shortcut (e.g. a 1×1 conv2d with the same stride) to match",
                            code="shape-mismatch")
        return Result(tuple(first))

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return []  # a sum's gradient is its output's, passed to every branch

    @classmethod
    def merge_output_strides(cls, a, shapes, out, layouts, batch):
        return _chained(layouts, batch)

    @classmethod
    def torch_combine(cls, a, outputs):
        total = outputs[0]
        for out in outputs[1:]:
            total = total + out
        return total


@register
class Concat(MergeKind):
    """The branches' outputs joined along one per-sample axis (`dim`, 0 the channels): every
    other axis equal, the joined one the sum of theirs."""

    kind = "concat"
    symbol, dot_label = "‖", "cat"
    doc = "joins its branches' outputs along dim (torch.cat): Inception's channel concatenation"
    args = MergeKind.args + (Arg("dim", Int(None), 0, "per-sample axis; 0 is channels"),)
    torch_functions = ("cat", "concat", "concatenate")
    unfollowed = "concatenates values archcalc cannot follow"

    @classmethod
    def imported_merge(cls, args, kwargs, name=None):
        """torch.cat(tensors, dim=0): the batch axis is 0 there, so the spec's dim is one less."""
        dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
        if dim == 0:
            raise Untranslatable("concatenates along the batch archcalc cannot follow")
        return list(args[0]), {"dim": dim - 1 if dim > 0 else dim}

    @classmethod
    def combine(cls, shapes, a, ctx: Context) -> Result:
        first = shapes[0]
        rank = len(first)
        dim = sample_axis(a.dim, first, ctx)
        off = [tuple(d for i, d in enumerate(s) if i != dim) for s in shapes]
        if any(len(s) != rank for s in shapes) or \
                not all(_same(o, off[0], ctx, shapes, f"the branches' shapes off dim {dim}") for o in off[1:]):
            raise ctx.error(f"the branches' shapes differ off dim {dim}", expected=f"every axis but {dim} equal",
                            found=ctx.branch_shapes(shapes), code="shape-mismatch")
        joined = N.total(s[dim] for s in shapes)
        step = Step("size", f"Σ branches' axis {dim}", " + ".join(N.fmt(s[dim]) for s in shapes), joined)
        return Result((*first[:dim], joined, *first[dim + 1:]), steps=[step])

    @classmethod
    def merge_receptive_field(cls, a, fields):
        """Joined along the channels, the union of the branches' fields; along a spatial axis
        an output position is one branch's or another's: no single field."""
        present = [f for f in fields if f is not None]
        if present and a.dim % (len(present[0]) + 1) != 0:
            return None, None
        return super().merge_receptive_field(a, fields)

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return []  # the gradient is split by the branches' sizes alone

    @classmethod
    def merge_output_strides(cls, a, shapes, out, layouts, batch):
        """torch.cat of contiguous tensors is contiguous; of others it follows their memory
        format (channels last), which is not followed here."""
        if all(st is not None and S.is_contiguous(sizes, st) for sizes, st in layouts):
            return S.contiguous((batch, *out))
        return None

    @classmethod
    def torch_combine(cls, a, outputs):
        import torch

        return torch.cat(outputs, dim=batched_axis(a.dim))


@register
class Mul(MergeKind):
    """y = Π branches, element by element, broadcasting as torch does: SE's gate [C, 1, 1]
    times the features [C, H, W], or a learned `parameter` scaling them. The branches have
    one rank per sample (the batch axis lines up in front); each axis is equal or 1."""

    kind = "mul"
    symbol, dot_label = "×", "*"
    doc = "multiplies its branches' outputs element by element, broadcasting (a gate, a scale)"
    torch_functions = ("mul", "mul_", "__mul__", "__imul__", "multiply")
    unfollowed = "multiplies by something that is not another branch's tensor (a constant?)"

    @classmethod
    def imported_merge(cls, args, kwargs, name=None):
        if len(args) < 2:
            raise Untranslatable(cls.unfollowed)
        return list(args[:2]), {}

    @classmethod
    def combine(cls, shapes, a, ctx: Context) -> Result:
        rank = len(shapes[0])
        out = list(shapes[0])
        for s in shapes[1:]:
            if len(s) != rank:
                raise ctx.error("the branches have different ranks, so their batch axes would not line up",
                                expected="every branch of one rank per sample (axes of size 1 broadcast)",
                                found=ctx.branch_shapes(shapes), hint="unsqueeze the smaller one (a size-1 axis)",
                                code="shape-mismatch")
            out = [_broadcast(d, e, ctx, shapes) for d, e in zip(out, s)]
        return Result(tuple(out))

    @classmethod
    def merge_saved_for_backward(cls, a, shapes, out, elem, grads, layouts=None):
        """The factors are multiplied left to right, ((b0·b1)·b2)·…, and each product keeps
        either side for the other's gradient: branch k when the product so far needs one, and
        the product so far (branch 0, or a new partial product) when branch k does."""
        entries, partial = [], shapes[0]
        for k in range(1, len(shapes)):
            if any(grads[:k]):
                entries.append((f"input:{k}", N.product(shapes[k]), elem))
            if grads[k]:
                entries.append(("input:0", N.product(partial), elem) if k == 1 else ("new", N.product(partial), elem))
            partial = tuple(e if N.compare(d, "==", 1) else d for d, e in zip(partial, shapes[k]))
        return entries

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return [(f"input:{i}", N.product(s), elem) for i, s in enumerate(x)]

    @classmethod
    def merge_receptive_field(cls, a, fields):
        """A broadcast factor (a gate over the channels) sees the whole image: none."""
        return (fields[0], None) if all(f == fields[0] for f in fields) and fields[0] is not None else (None, None)

    @classmethod
    def merge_output_strides(cls, a, shapes, out, layouts, batch):
        return _chained(layouts, batch)

    @classmethod
    def torch_combine(cls, a, outputs):
        total = outputs[0]
        for out in outputs[1:]:
            total = total * out
        return total


def _chained(layouts, batch):
    """The strides of ((b0 ∘ b1) ∘ b2) ∘ …, each step a TensorIterator's new tensor."""
    sizes, strides = layouts[0]
    for other_sizes, other in layouts[1:]:
        out = tuple(d if N.compare(d, "!=", 1) else e for d, e in zip(sizes, other_sizes))
        strides, sizes = S.elementwise(out, [(sizes, strides), (other_sizes, other)]), out
    return strides


def _broadcast(d, e, ctx: Context, shapes):
    if N.compare(d, "==", e) or N.compare(e, "==", 1):
        return d
    if N.compare(d, "==", 1):
        return e
    raise ctx.error("the branches' shapes do not broadcast: an axis differs and neither is 1",
                    expected="each axis equal, or 1 in all but one branch", found=ctx.branch_shapes(shapes),
                    code="shape-mismatch")


@register
class Matmul(MergeKind):
    """y = a @ b of two branches, a [..., n, k] and b [..., k, m] → [..., n, m], the leading
    axes broadcasting as torch.matmul's do: attention written by hand (q @ kᵀ, then the
    weights @ v). Unlike the other merges it multiplies: n·k·m MACs per leading position, and
    its backward as many for each branch that needs a gradient."""

    kind = "matmul"
    symbol, dot_label = "@", "@"
    doc = "a matrix product of its two branches' outputs, batched over leading axes (torch.matmul, @)"
    torch_functions = ("matmul", "__matmul__", "bmm")
    unfollowed = "multiplies a matrix that is not another branch's tensor (a weight? use linear)"
    args = MergeKind.args + (
        Arg("operator", Bool(), False, "the model writes a @ b (Tensor.__matmul__), not torch.matmul: the same "
                                       "product, but some peer tools count only the function"),)

    @classmethod
    def imported_merge(cls, args, kwargs, name=None):
        if len(args) < 2:
            raise Untranslatable(cls.unfollowed)
        return list(args[:2]), {"operator": True} if name == "__matmul__" else {}

    @classmethod
    def combine(cls, shapes, a, ctx: Context) -> Result:
        if len(shapes) != 2 or len(shapes[0]) < 2 or len(shapes[0]) != len(shapes[1]):
            raise ctx.error("multiplies two branches of one rank, 2 or more (their batch axes line up in front)",
                            expected="a [..., n, k] and b [..., k, m]", found=ctx.branch_shapes(shapes),
                            hint="unsqueeze the smaller one (a size-1 axis broadcasts)", code="shape-mismatch")
        left, right = shapes
        if not _same([left[-1]], [right[-2]], ctx, shapes, "the inner sizes"):
            raise ctx.error("the inner sizes differ", expected=f"b's axis -2 equal to a's last axis, "
                            f"{N.fmt(left[-1])}", found=ctx.branch_shapes(shapes), code="shape-mismatch")
        lead = [_broadcast(d, e, ctx, shapes) for d, e in zip(left[:-2], right[:-2])]
        n, k, m = left[-2], left[-1], right[-1]
        macs = N.mul(N.product(lead), N.mul(n, N.mul(k, m)))
        batch = "·".join(N.fmt(d) for d in lead) + "·" if lead else ""
        steps = [Step("MACs", ("∏ leading axes·" if lead else "") + "n·k·m",
                      f"{batch}{N.fmt(n)}·{N.fmt(k)}·{N.fmt(m)}", macs)]
        return Result((*lead, n, m), macs=macs, steps=steps)

    @classmethod
    def merge_backward_macs(cls, a, shapes, result, grads):
        """da = dy·bᵀ and db = aᵀ·dy, as many MACs as the product each, where needed."""
        return N.mul(result.macs, int(grads[0]) + int(grads[1]))

    @classmethod
    def merge_receptive_field(cls, a, fields):
        return None, None

    @classmethod
    def merge_saved_for_backward(cls, a, shapes, out, elem, grads, layouts=None):
        """Each factor where the other needs a gradient, as torch.matmul's batched product keeps
        it: the factor expanded to the leading axes both broadcast to and reshaped to [batch·…,
        rows, columns], a view of the factor (its whole storage) where its strides allow, else
        a copy at the broadcast size. None where a layout that decides it is unknown."""
        lead = [d if N.compare(d, "!=", 1) else e for d, e in zip(shapes[0][:-2], shapes[1][:-2])]
        entries = []
        for i, other_grad in ((0, grads[1]), (1, grads[0])):
            if not other_grad:
                continue
            sizes, strides = layouts[i] if layouts else (None, None)
            own = None if sizes is None else S.batched_operand(sizes, strides, (sizes[0], *lead))
            if own is None:
                return None
            shape = shapes[i]
            entries.append((f"input:{i}", N.product(shape), elem) if own
                           else ("new", N.product((*lead, *shape[-2:])), elem))
        return entries

    @classmethod
    def torch_combine(cls, a, outputs):
        import torch

        return outputs[0] @ outputs[1] if a.operator else torch.matmul(outputs[0], outputs[1])
