"""archcalc's own torch modules against their textbook formulas, computed naively here."""
from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from archcalc.torch_backend.modules import LocalContrastNorm, LocallyConnected2d, Maxout


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(3, 7), st.integers(3, 7), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 2), st.integers(0, 1), st.booleans())
def test_locally_connected_is_an_unshared_convolution(c, h, w, k_out, k, s, p, bias):
    torch.manual_seed(0)
    m = LocallyConnected2d(c, k_out, (h, w), k, s, p, bias).double()
    x = torch.randn(2, c, h, w, dtype=torch.double)
    y = m(x)
    xp = torch.nn.functional.pad(x, (p, p, p, p))
    h2, w2 = m.out_size
    for i in range(h2):
        for j in range(w2):
            patch = xp[:, :, i * s:i * s + k, j * s:j * s + k].reshape(2, -1)  # [B, C·k·k]
            expected = patch @ m.weight[i * w2 + j].T  # that position's own filters
            if bias:
                expected = expected + m.bias[:, i, j]
            assert torch.allclose(y[:, :, i, j], expected)
    with FlopCounterMode(display=False) as counter:
        m(x)
    assert counter.get_total_flops() == 2 * 2 * h2 * w2 * k_out * c * k * k


def test_maxout_is_the_max_of_its_pieces():
    torch.manual_seed(0)
    m = Maxout(5, 3, pieces=4)
    x = torch.randn(7, 5)
    pieces = [x @ m.linear.weight[u * 4 + j] + m.linear.bias[u * 4 + j] for u in range(3) for j in range(4)]
    expected = torch.stack(pieces, -1).view(7, 3, 4).amax(-1)
    assert torch.allclose(m(x), expected, atol=1e-6)


def test_local_contrast_norm():
    m = LocalContrastNorm(3, eps=1e-4)
    flat = torch.full((1, 2, 6, 6), 5.0)
    assert torch.allclose(m(flat), torch.zeros_like(flat))  # no contrast, nothing left
    x = torch.randn(1, 2, 6, 6, dtype=torch.double)
    y = m.double()(x)

    def local_mean(t):  # over the valid part of each 3x3 window, across both channels
        out = torch.empty(6, 6, dtype=torch.double)
        for a in range(6):
            for b in range(6):
                out[a, b] = t[0, :, max(a - 1, 0):a + 2, max(b - 1, 0):b + 2].mean()
        return out

    centred = x - local_mean(x)
    sigma = local_mean(centred ** 2).sqrt()
    expected = centred / torch.maximum(sigma, sigma.mean()).clamp_min(1e-4)
    assert torch.allclose(y, expected)
    with FlopCounterMode(display=False) as counter:
        m(x)
    assert counter.get_total_flops() == 0
