"""Modules torch lacks, written once: locally connected 2-D, maxout, local contrast norm.

Each is built from operations torch's FlopCounterMode understands, so `verify` can measure
them like any torch layer.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LocallyConnected2d(nn.Module):
    """A convolution without weight sharing: output position l has its own filter bank.

    weight: [L, K, C·kh·kw] with L = H2·W2 positions; bias: [K, H2, W2] (one per output
    element). Computed as unfold (im2col) then one batched matmul over positions.
    """

    def __init__(self, in_channels: int, out_channels: int, in_size: tuple[int, int], kernel_size, stride=1,
                 padding=0, bias: bool = True):
        super().__init__()
        pair = nn.modules.utils._pair
        self.kernel_size, self.stride, self.padding = pair(kernel_size), pair(stride), pair(padding)
        self.out_size = tuple((n + 2 * p - k) // s + 1 for n, k, s, p in
                              zip(in_size, self.kernel_size, self.stride, self.padding))
        self.out_channels = out_channels
        fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
        positions = self.out_size[0] * self.out_size[1]
        self.weight = nn.Parameter(torch.empty(positions, out_channels, fan_in))
        self.bias = nn.Parameter(torch.empty(out_channels, *self.out_size)) if bias else None
        bound = 1 / math.sqrt(fan_in)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cols = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)  # [B, C·kh·kw, L]
        out = torch.bmm(cols.permute(2, 0, 1), self.weight.transpose(1, 2))  # [L, B, K]
        out = out.permute(1, 2, 0).reshape(x.shape[0], self.out_channels, *self.out_size)
        return out if self.bias is None else out + self.bias


class Maxout(nn.Module):
    """max over `pieces` affine maps: one Linear to out·pieces units, then a max per unit."""

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, bias: bool = True):
        super().__init__()
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).unflatten(-1, (self.out_features, self.pieces)).amax(-1)


class LocalContrastNorm(nn.Module):
    """Jarrett et al. (2009): subtract the local mean over a size×size×C neighbourhood, then
    divide by the local standard deviation, floored by its mean over the image (and eps).

    A uniform window stands in for Jarrett's Gaussian; average pooling computes it, which
    keeps the layer at 0 FLOPs under FlopCounterMode like every normalisation (CONTRACT.md).
    """

    def __init__(self, size: int = 9, eps: float = 1e-4):
        super().__init__()
        if size % 2 == 0:
            raise ValueError("LocalContrastNorm needs an odd size")
        self.size, self.eps = size, eps

    def _local_mean(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x.mean(1, keepdim=True), self.size, 1, self.size // 2, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - self._local_mean(x)
        sigma = self._local_mean(centred.pow(2)).sqrt()
        floor = sigma.mean(dim=(2, 3), keepdim=True)
        return centred / torch.maximum(sigma, floor).clamp_min(self.eps)
