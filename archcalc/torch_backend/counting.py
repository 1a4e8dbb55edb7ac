"""One way to run torch under FlopCounterMode, for every measurement archcalc makes.

FlopCounterMode counts what reaches its formulas, so the path torch takes matters: on the
CPU, nn.LSTM's mkldnn op and scaled_dot_product_attention's flash kernel have no formula
(they read 0), and nn.MultiheadAttention's native fast path (eval, no gradients) reads 0
too. Measured here, attention runs torch's math path (its matmuls are counted; on CUDA the
flash kernels' own formula gives the same figure) and the fast path is off.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.utils.flop_counter import FlopCounterMode


@contextlib.contextmanager
def counted_paths(mkldnn: bool = False) -> Iterator[None]:
    """torch's paths that FlopCounterMode counts: attention's math path, MultiheadAttention's
    fast path off, and mkldnn as asked (off by default: its RNN op is uncounted)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH), torch.backends.mkldnn.flags(enabled=mkldnn):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


@contextlib.contextmanager
def flop_counter(mkldnn: bool = False) -> Iterator[FlopCounterMode]:
    """A FlopCounterMode on the counted paths."""
    with counted_paths(mkldnn), FlopCounterMode(display=False) as counter:
        yield counter
