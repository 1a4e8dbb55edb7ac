"""Memory layouts as torch lays tensors out: the strides of a tensor's axes, the batch axis
first, in elements. Whether autograd keeps a tensor or a copy of it can hang on its layout:
torch.matmul reshapes its operands to [batch, n, k] for the batched product, a view where
the strides allow it and a copy where they don't, and the copy is what the product keeps.

Strides here are numbers (int or sympy, as sizes are); None is an unknown layout. Where
symbols decide a comparison, sizes are taken as large (GENERIC): torch ignores an axis of
size 1 when it views, so at T = 1 a copy the formula counts may be a view; a report's
formula in T holds from T = 2 on (a size written as a number is always exact).
"""
from __future__ import annotations

from archcalc.engine import numbers as N


class Undecided(Exception):
    """A comparison of symbolic strides or sizes that depends on the symbols' values."""


GENERIC = 1_000_003  # the value a symbol takes where it decides a comparison of sizes or strides


def _is(x, op: str, y) -> bool:
    answer = N.compare(x, op, y)
    if answer is None:
        d = N.sub(x, y)
        answer = N.compare(N.substitute(d, {s.name: GENERIC for s in d.free_symbols}), op, 0)
        if answer is None:
            raise Undecided
    return answer


def contiguous(sizes) -> tuple:
    """Row-major strides of a new tensor of these sizes (torch's default layout)."""
    strides, step = [], 1
    for size in reversed(sizes):
        strides.append(step)
        step = N.mul(step, size)
    return tuple(reversed(strides))


def is_contiguous(sizes, strides) -> bool | None:
    """torch's Tensor.is_contiguous(): row-major, axes of size 1 (any stride) skipped."""
    try:
        expected = 1
        for size, stride in zip(reversed(sizes), reversed(strides)):
            if _is(size, "==", 1):
                continue
            if not _is(stride, "==", expected):
                return False
            expected = N.mul(expected, size)
        return True
    except Undecided:
        return None


def _dense(sizes, strides) -> bool:
    """torch's is_non_overlapping_and_dense (raises Undecided)."""
    axes = [i for i in range(len(sizes)) if not _is(sizes[i], "<", 2)]
    for i in range(1, len(axes)):  # insertion sort by stride, as std::sort orders them
        j = i
        while j > 0 and _is(strides[axes[j]], "<", strides[axes[j - 1]]):
            axes[j - 1], axes[j] = axes[j], axes[j - 1]
            j -= 1
    required = 1
    for i in axes:
        if not _is(strides[i], "==", required):
            return False
        required = N.mul(required, sizes[i])
    return True


def view(sizes, strides, new_sizes):
    """The strides a view of these sizes would have (torch's computeStride, what reshape and
    view decide by): a tuple where the view exists, False where reshape copies, None when
    symbols decide."""
    try:
        if not sizes:
            return tuple(1 for _ in new_sizes)
        new = [None] * len(new_sizes)
        view_d = len(new_sizes) - 1
        base, tensor_numel, view_numel = strides[-1], 1, 1
        for d in range(len(sizes) - 1, -1, -1):
            tensor_numel = N.mul(tensor_numel, sizes[d])
            if d == 0 or (not _is(sizes[d - 1], "==", 1)
                          and not _is(strides[d - 1], "==", N.mul(tensor_numel, base))):
                while view_d >= 0 and (_is(view_numel, "<", tensor_numel) or _is(new_sizes[view_d], "==", 1)):
                    new[view_d] = N.mul(view_numel, base)
                    view_numel = N.mul(view_numel, new_sizes[view_d])
                    view_d -= 1
                if not _is(view_numel, "==", tensor_numel):
                    return False
                if d > 0:
                    base, tensor_numel, view_numel = strides[d - 1], 1, 1
        return tuple(new) if view_d == -1 else False
    except Undecided:
        return None


def reshape(sizes, strides, new_sizes):
    """torch.reshape's result: a view's strides, or a contiguous copy's (None: undecided)."""
    strides = view(sizes, strides, new_sizes)
    return None if strides is None else strides or contiguous(new_sizes)


def reshape_copies(sizes, strides, new_sizes) -> bool | None:
    """Whether torch.reshape copies (None when unknown or undecided)."""
    if strides is None:
        return None
    result = view(sizes, strides, new_sizes)
    return None if result is None else result is False


def elementwise(sizes, operands: list) -> tuple | None:
    """The strides of a new tensor an element-wise op (torch's TensorIterator) makes of
    operands given as (sizes, strides), broadcast to `sizes`: contiguous when every operand is,
    the operands' own strides when they share one dense layout, else dense in the axis order
    TensorIterator sorts them by (reorder_dimensions). None when an operand's layout is unknown."""
    if any(s is None for _, s in operands):
        return None
    try:
        fast = _fast_setup(sizes, operands)
        if fast is not None:
            return fast
        perm = _reordered(sizes, [_broadcast(sizes, o, s) for o, s in operands])
        if perm == list(range(len(sizes) - 1, -1, -1)):
            return contiguous(sizes)
        out, step = [None] * len(sizes), 1
        for d in perm:
            out[d] = step
            step = N.mul(step, sizes[d])
        return tuple(out)
    except Undecided:
        return None


def _fast_setup(sizes, operands):
    """TensorIterator's fast setup, where every operand has the output's shape: contiguous, or
    one shared dense layout; None where it does not apply."""
    if not all(len(o) == len(sizes) and all(_is(a, "==", b) for a, b in zip(o, sizes)) for o, _ in operands):
        return None
    if all(is_contiguous(o, s) for o, s in operands):
        return contiguous(sizes)
    first = operands[0][1]
    if all(_dense(o, s) and all(_is(a, "==", b) for a, b in zip(s, first)) for o, s in operands):
        return tuple(first)
    return None


def _broadcast(sizes, own, strides) -> list:
    """An operand's strides over the broadcast `sizes`: 0 along an axis it broadcasts."""
    rank = len(sizes)
    own, strides = (1,) * (rank - len(own)) + tuple(own), (0,) * (rank - len(strides)) + tuple(strides)
    return [0 if _is(a, "==", 1) and not _is(b, "==", 1) else st for a, b, st in zip(own, sizes, strides)]


def _reordered(sizes, broadcast: list) -> list:
    """TensorIterator's reorder_dimensions: the axes fastest first, by the operands' strides
    (an insertion sort that leaves ambiguous pairs in place)."""
    def should_swap(d0, d1) -> int:
        for st in broadcast:
            s0, s1 = st[d0], st[d1]
            if _is(s0, "==", 0) or _is(s1, "==", 0):
                continue
            if _is(s0, "!=", s1):
                return -1 if _is(s0, "<", s1) else 1
        return 1 if _is(sizes[d0], ">", sizes[d1]) else 0

    perm = list(range(len(sizes) - 1, -1, -1))
    for i in range(1, len(sizes)):
        d1 = i
        for d0 in range(i - 1, -1, -1):
            c = should_swap(perm[d0], perm[d1])
            if c < 0:
                break
            if c > 0:
                perm[d0], perm[d1] = perm[d1], perm[d0]
                d1 = d0
    return perm


def permuted(strides, order) -> tuple | None:
    """The strides after the axes are reordered (permute, transpose): order[i] is the axis
    that becomes axis i."""
    return None if strides is None else tuple(strides[i] for i in order)


def batched_operand(sizes, strides, lead) -> bool | None:
    """Whether torch.matmul's batched product keeps an operand's own storage: it expands the
    operand of these sizes (batch axis first, [..., n, k]) to the leading axes `lead` (batch
    first) and reshapes it to [∏lead, n, k], a view where the strides allow it (True), else a
    copy (False), which is what the product keeps. None where the layout is unknown."""
    if strides is None:
        return None
    try:
        expanded = [0 if _is(s, "==", 1) and not _is(d, "==", 1) else st
                    for s, d, st in zip(sizes[:-2], lead, strides[:-2])]
    except Undecided:
        return None
    result = view((*lead, *sizes[-2:]), (*expanded, *strides[-2:]), (N.product(lead), *sizes[-2:]))
    return None if result is None else result is not False
