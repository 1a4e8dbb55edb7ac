"""One row per layer kind: how the suite draws it and how torch computes it, independently.

Each row gives the input ranks the kind takes, a hypothesis strategy of arguments for an
input of a given shape (sometimes settings torch refuses too: both must refuse), and a torch
module built here, from torch's own classes or written out in a few lines — never through
archcalc's backend. The torch-agreement, random-stack, conventions-property, saved-tensor
and import round-trip tests iterate over this table, and test_kinds.py fails when a
registered kind has no row. Adding a kind: its class, a row here, and the peer rules the
tools really apply (the conventions property test runs the tools themselves).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Callable

from hypothesis import strategies as st

import torch
import torch.nn.functional as F
from torch import nn

Shape = tuple


@dataclass(frozen=True)
class KindCase:
    kind: str
    ranks: tuple[int, ...]  # the input ranks it takes (per sample)
    args: Callable[[Shape], st.SearchStrategy]  # its arguments for an input of this shape
    reference: Callable[[Shape, dict], Any]  # the torch module, built here from (input shape, arguments)
    dtype: str = "float"  # "index": its input holds token ids
    stacks: bool = True  # may follow any layer of a fitting rank in a random stack
    sizes: tuple[int, int] = (1, 14)  # the range of each input size drawn for it

    def inputs(self) -> st.SearchStrategy:
        """Input shapes it takes: channels (or features) first, then sizes."""
        def shape(rank: int):
            lo, hi = self.sizes
            return st.tuples(st.integers(1, 6), *[st.integers(lo, hi if rank < 4 else min(hi, 8))
                                                   for _ in range(rank - 1)])

        return st.sampled_from(self.ranks).flatmap(shape)

    def example(self) -> st.SearchStrategy:
        """(input shape, arguments)."""
        return self.inputs().flatmap(lambda x: st.tuples(st.just(x), self.args(x)))

    def item(self, args: dict) -> Any:
        return {self.kind: args} if args else self.kind


def batched(dim: int) -> int:
    return dim + 1 if dim >= 0 else dim


def per_axis(nd: int, values: st.SearchStrategy) -> st.SearchStrategy:
    """An int for every axis, or a list of one per axis."""
    return st.one_of(values, st.lists(values, min_size=nd, max_size=nd))


def _pair(v, nd):
    return v if isinstance(v, list) else [v] * nd


# ---- modules written here: what torch lacks, from its textbook definition ---------------------

class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class LocallyConnected(nn.Module):
    """Every output position with its own filters: unfold, then one matmul per position."""

    def __init__(self, c, k_out, size, kernel, stride, padding, bias):
        super().__init__()
        self.kernel, self.stride, self.padding, self.k_out = kernel, stride, padding, k_out
        self.out = [(n + 2 * p - k) // s + 1 for n, k, s, p in zip(size, kernel, stride, padding)]
        if min(self.out) < 1:
            raise ValueError("kernel larger than the padded input")
        fan_in = c * kernel[0] * kernel[1]
        self.weight = nn.Parameter(torch.randn(self.out[0] * self.out[1], fan_in, k_out))  # [L, F, K]
        self.bias = nn.Parameter(torch.randn(k_out, *self.out)) if bias else None

    def forward(self, x):
        cols = F.unfold(x, self.kernel, padding=self.padding, stride=self.stride)  # [B, fan_in, L]
        y = torch.bmm(cols.permute(2, 0, 1), self.weight)  # [L, B, K]: each position's own filters
        y = y.permute(1, 2, 0).reshape(x.shape[0], self.k_out, *self.out)
        return y if self.bias is None else y + self.bias


class Maxout(nn.Module):
    def __init__(self, fan_in, out, pieces, bias):
        super().__init__()
        self.out, self.pieces = out, pieces
        self.lin = nn.Linear(fan_in, out * pieces, bias)

    def forward(self, x):
        return self.lin(x).view(*x.shape[:-1], self.out, self.pieces).amax(-1)


class LocalContrast(nn.Module):
    """Subtract the local mean over size×size×C, divide by the local deviation (floored)."""

    def __init__(self, size):
        super().__init__()
        if size % 2 == 0:
            raise ValueError("the window must be centred: an odd size")
        self.size = size

    def _mean(self, x):
        return F.avg_pool2d(x.mean(1, keepdim=True), self.size, 1, self.size // 2, count_include_pad=False)

    def forward(self, x):
        centred = x - self._mean(x)
        sigma = self._mean(centred * centred).sqrt()
        return centred / torch.maximum(sigma, sigma.mean((2, 3), keepdim=True)).clamp_min(1e-4)


class CourseLSTM(nn.Module):
    """The course's LSTM, with peepholes w_c· ⊙ c and one or two bias sets, step by step."""

    def __init__(self, features, hidden, layers, bias, dirs, peephole, bias_sets):
        super().__init__()
        self.hidden, self.layers, self.dirs, self.peephole = hidden, layers, dirs, peephole
        self.cells = nn.ModuleList()
        for layer in range(layers):
            for _ in range(dirs):
                cell = nn.Module()
                f_in = features if layer == 0 else dirs * hidden
                cell.w_x = nn.Parameter(torch.randn(4 * hidden, f_in))
                cell.w_h = nn.Parameter(torch.randn(4 * hidden, hidden))
                for i in range(bias_sets if bias else 0):
                    cell.register_parameter(f"b{i}", nn.Parameter(torch.randn(4 * hidden)))
                if peephole:
                    cell.peep = nn.Parameter(torch.randn(3, hidden))
                self.cells.append(cell)

    def run(self, cell, x, reverse):
        h = x.new_zeros(x.shape[0], self.hidden)
        c = x.new_zeros(x.shape[0], self.hidden)
        outs = []
        for t in (range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])):
            gates = x[:, t] @ cell.w_x.T + h @ cell.w_h.T
            for name, p in cell.named_parameters():
                if name.startswith("b"):
                    gates = gates + p
            i, f, g, o = gates.chunk(4, 1)
            if self.peephole:
                i, f = i + cell.peep[0] * c, f + cell.peep[1] * c
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            if self.peephole:
                o = o + cell.peep[2] * c
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs[::-1] if reverse else outs, 1)

    def forward(self, x):
        for layer in range(self.layers):
            x = torch.cat([self.run(self.cells[layer * self.dirs + d], x, d == 1) for d in range(self.dirs)], -1)
        return x


class Recurrent(nn.Module):
    """torch's RNN/LSTM/GRU (batch first), its whole output or each direction's last state."""

    def __init__(self, module, last: bool, dirs: int):
        super().__init__()
        self.module, self.last, self.dirs = module, last, dirs

    def forward(self, x):
        out = self.module(x)
        seq = out[0] if isinstance(out, tuple) else out
        if not self.last:
            return seq
        hidden = seq.shape[-1] // self.dirs
        return torch.cat([seq[:, -1, :hidden]] + ([seq[:, 0, hidden:]] if self.dirs == 2 else []), -1)


class Learned(nn.Module):
    """A learned tensor of a given shape per sample, the same for the whole batch."""

    def __init__(self, shape):
        super().__init__()
        self.value = nn.Parameter(torch.randn(*shape))

    def forward(self, x):
        value = self.value if torch.is_grad_enabled() else self.value.detach()  # module hooks want a grad_fn
        return value.unsqueeze(0).expand(x.shape[0], *value.shape)


class Branches(nn.Module):
    """A merge's branches as written in the spec (1×1 convolutions, a global average pool, a
    learned tensor, or nothing), combined; with `split`, each branch is given its slice of the
    input (torch.split with the sizes, torch.chunk for 'equal')."""

    def __init__(self, x, a, combine):
        super().__init__()
        self.combine, self.split, self.dim = combine, a.get("split"), batched(a.get("split_dim", 0))
        self.paths = nn.ModuleList()
        for layers, shape in zip(a["branches"], slices(x, a)):
            seq, c = [], shape[0]
            for item in layers:
                if "parameter" in item:
                    seq.append(Learned(item["parameter"]["shape"]))
                elif "adaptive_avg_pool2d" in item:
                    seq.append(nn.AdaptiveAvgPool2d(item["adaptive_avg_pool2d"]))
                else:
                    b = item["conv2d"]
                    seq.append(nn.Conv2d(c, b["out_channels"], 1, bias=b.get("bias", True)))
                    c = b["out_channels"]
            self.paths.append(nn.Sequential(*seq))

    def forward(self, x):
        if self.split is None:
            given = [x] * len(self.paths)
        elif self.split == "equal":
            if x.shape[self.dim] % len(self.paths):
                raise RuntimeError("the axis does not divide into equal parts")
            given = x.chunk(len(self.paths), self.dim)
        else:
            given = x.split(self.split, self.dim)
            if len(given) != len(self.paths):
                raise RuntimeError("one slice per branch")
        return self.combine([p(v) for p, v in zip(self.paths, given)])


def slices(x, a) -> list:
    """The shapes a merge's branches are given (the input's, when a split does not fit)."""
    split, n = a.get("split"), len(a["branches"])
    if split is None:
        return [x] * n
    d = a.get("split_dim", 0) % len(x)
    sizes = ([x[d] // n] * n) if split == "equal" else split
    return [(*x[:d], s, *x[d + 1:]) for s in sizes] if len(sizes) == n and sum(sizes) == x[d] else [x] * n


@st.composite
def split_args(draw, x, branches: int) -> dict:
    """A merge's split, sometimes: 'equal' parts or sizes along an axis (sometimes not adding up: refused)."""
    choice = draw(st.sampled_from([None, None, "equal", "sizes"]))
    if choice is None:
        return {}
    dim = draw(st.sampled_from([0, 0, *range(-len(x), len(x))]))
    if choice == "equal":
        return {"split": "equal", "split_dim": dim}
    n, sizes = x[dim], draw(st.lists(st.integers(1, 4), min_size=branches, max_size=branches))
    if draw(st.integers(0, 7)) > 0 and n - sum(sizes[:-1]) >= 1:
        sizes[-1] = n - sum(sizes[:-1])  # mostly the axis's size; otherwise refused
    return {"split": sizes, "split_dim": dim}


class RelativeAttentionReference(nn.Module):
    """MaxViT's attention on [B, G, P, D], from the paper, as torchvision's constants have it: in
    each of G partitions of P tokens, D/d heads of softmax(Q·(K·D^-½)ᵀ + B)·V, B read from a
    table of (2·s − 1)² offsets per head by an index of every token pair of an s×s partition
    (a buffer), the heads joined and projected. The products are torch.einsum's, as in the
    paper's code and torchvision's (an axis of size 1 summed element-wise, no product counted).
    A head size not dividing D is refused, as torchvision's constructor refuses it."""

    def __init__(self, x, a):
        super().__init__()
        d, dh, s = x[-1], a["head_dim"], a["partition_size"]
        if d % dh:
            raise ValueError("the head size does not divide the features")
        self.heads, self.dh = d // dh, dh
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.table = nn.Parameter(torch.randn((2 * s - 1) ** 2, self.heads))
        cells = [(i, j) for i in range(s) for j in range(s)]
        self.register_buffer("index", torch.tensor([[(p[0] - q[0] + s - 1) * (2 * s - 1) + p[1] - q[1] + s - 1
                                                     for q in cells] for p in cells]))

    def forward(self, x):
        b, g, p, d = x.shape
        q, k, v = self.qkv(x).view(b, g, p, 3, self.heads, self.dh).permute(3, 0, 1, 4, 2, 5)
        bias = self.table[self.index].permute(2, 0, 1)  # heads, s², s²
        scores = (torch.einsum("bghid,bghjd->bghij", q, k * d ** -0.5) + bias).softmax(-1)
        return self.out(torch.einsum("bghij,bghjd->bgihd", scores, v).reshape(b, g, p, d))


@st.composite
def relative_attention_args(draw, x):
    """The partition's side mostly √P (P not square: refused), sometimes 1 (one bias per head,
    broadcast over any P) or one more (refused); heads dividing D, or a size that does not."""
    root = math.isqrt(x[1])
    return {"head_dim": draw(st.sampled_from([h for h in range(1, x[2] + 1) if x[2] % h == 0] + [x[2] + 1])),
            "partition_size": draw(st.sampled_from([root, root, root, 1, root + 1]))}


class SelfAttentionReference(nn.Module):
    """nn.MultiheadAttention given the sequence as query, key and value (or the memory as key
    and value: cross-attention), its output alone."""

    def __init__(self, x, a):
        super().__init__()
        memory = a.get("memory")
        kdim = a.get("kdim", memory[-1] if memory else None)
        self.attention = nn.MultiheadAttention(x[-1], a["num_heads"], bias=a["bias"], add_bias_kv=a["add_bias_kv"],
                                               add_zero_attn=a["add_zero_attn"], kdim=kdim, vdim=kdim,
                                               batch_first=True)
        self.need_weights = a["need_weights"]

    def forward(self, x, memory=None):
        kv = x if memory is None else memory
        return self.attention(x, kv, kv, need_weights=self.need_weights)[0]


class TransformerReference(nn.Module):
    """nn.Transformer on the target x and the source, called as transformer(src, tgt)."""

    def __init__(self, x, a):
        super().__init__()
        self.transformer = nn.Transformer(x[-1], a["nhead"], a["num_encoder_layers"], a["num_decoder_layers"],
                                          a["dim_feedforward"], a["dropout"], a["activation"], batch_first=True,
                                          norm_first=a["norm_first"], bias=a["bias"])

    def forward(self, tgt, src):
        return self.transformer(src, tgt)


class WindowAttentionReference(nn.Module):
    """Swin's (shifted) window attention on [B, H, W, C], from the paper: pad to whole
    windows, roll by −shift, attend within each window with a bias from a table of the
    (2·Wh − 1)·(2·Ww − 1) offsets per head (its index a buffer, one entry per token pair),
    the tokens of different regions masked apart, project, roll back, cut the padding."""

    def __init__(self, x, a):
        super().__init__()
        c = x[-1]
        self.win = _two(a["window_size"])
        self.shift, self.heads = _two(a.get("shift_size", 0)), a["num_heads"]
        wh, ww = self.win
        self.qkv = nn.Linear(c, 3 * c, bias=a.get("qkv_bias", True))
        self.proj = nn.Linear(c, c, bias=a.get("proj_bias", True))
        self.learned_offsets(wh, ww)
        cells = [(i, j) for i in range(wh) for j in range(ww)]
        self.register_buffer("index", torch.tensor([(p[0] - q[0] + wh - 1) * (2 * ww - 1) + p[1] - q[1] + ww - 1
                                                    for p in cells for q in cells]))

    def learned_offsets(self, wh, ww):
        """A learned value per head for each of the (2·Wh − 1)·(2·Ww − 1) offsets."""
        self.table = nn.Parameter(torch.randn((2 * wh - 1) * (2 * ww - 1), self.heads))

    def offset_bias(self):
        return self.table

    def scores(self, q, k):
        return (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)

    def qkv_bias(self):
        return self.qkv.bias

    def forward(self, x):
        b, h, w, c = x.shape
        (wh, ww), n = self.win, self.win[0] * self.win[1]
        x = F.pad(x, (0, 0, 0, -w % ww, 0, -h % wh))
        ph, pw = x.shape[1:3]
        shift = [s if win < size else 0 for s, win, size in zip(self.shift, self.win, (ph, pw))]
        x = torch.roll(x, (-shift[0], -shift[1]), (1, 2))
        region = torch.zeros(ph, pw)
        for axis, (size, win, s) in enumerate(zip((ph, pw), self.win, shift)):
            band = torch.tensor([0 if not s or i < size - win else 1 if i < size - s else 2 for i in range(size)])
            region = region + (band.view(-1, 1) * 3 if axis == 0 else band.view(1, -1))
        def windows(t):  # [B, H', W', ...] → [B·nW, N, ...]
            t = t.view(t.shape[0], ph // wh, wh, pw // ww, ww, *t.shape[3:]).transpose(2, 3)
            return t.reshape(-1, n, *t.shape[5:])
        mask = windows(region[None, :, :])
        mask = (mask[:, :, None] != mask[:, None, :]).float() * -100.0 if sum(shift) else torch.zeros(1, n, n)
        q, k, v = F.linear(windows(x), self.qkv.weight, self.qkv_bias()).view(-1, n, 3, self.heads, c // self.heads) \
            .permute(2, 0, 3, 1, 4)
        bias = self.offset_bias()[self.index].view(n, n, self.heads).permute(2, 0, 1)
        scores = self.scores(q, k) + bias
        scores = scores.view(b, -1, self.heads, n, n) + mask.to(x)[None, :, None]
        out = scores.view(-1, self.heads, n, n).softmax(-1) @ v
        out = self.proj(out.transpose(1, 2).reshape(-1, n, c))
        out = out.view(b, ph // wh, pw // ww, wh, ww, c).transpose(2, 3).reshape(b, ph, pw, c)
        return torch.roll(out, tuple(shift), (1, 2))[:, :h, :w]


class WindowAttentionV2Reference(WindowAttentionReference):
    """Swin V2's window attention, from its paper: as Swin's, but cosine attention (q and k of
    each head scaled to unit length) times a learned per-head scale exp(min(s, ln 100)), the
    k third of the qkv bias held at 0, and the offsets' bias 16·sigmoid of a two-layer MLP
    (2 → 512 → heads, ReLU, the last without bias) applied to the offsets log-spaced:
    sign(t)·log2(1 + |t|)/3 with t = 8·offset/(window − 1)."""

    def learned_offsets(self, wh, ww):
        self.scale = nn.Parameter(torch.full((self.heads, 1, 1), math.log(10.0)))
        self.mlp = nn.Sequential(nn.Linear(2, 512), nn.ReLU(), nn.Linear(512, self.heads, bias=False))
        offsets = torch.tensor([[8 * i / (wh - 1) if wh > 1 else math.nan, 8 * j / (ww - 1) if ww > 1 else math.nan]
                                for i in range(1 - wh, wh) for j in range(1 - ww, ww)])
        self.register_buffer("offsets", torch.sign(offsets) * torch.log2(1 + offsets.abs()) / 3)

    def offset_bias(self):
        return 16 * torch.sigmoid(self.mlp(self.offsets))

    def scores(self, q, k):
        unit = lambda t: t / t.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return unit(q) @ unit(k).transpose(-2, -1) * self.scale.clamp(max=math.log(100.0)).exp()

    def qkv_bias(self):
        if self.qkv.bias is None:
            return None
        third = self.qkv.bias.numel() // 3
        return torch.cat([self.qkv.bias[:third], torch.zeros(third), self.qkv.bias[2 * third:]])


def _two(v):
    return list(v) if isinstance(v, (list, tuple)) else [v, v]


def patch_merging_pad_reference(x, a):
    """Pad H and W to even sizes; the four 2×2-interleaved sub-grids along the channels."""
    def merge(v):
        v = F.pad(v, (0, 0, 0, v.shape[-2] % 2, 0, v.shape[-3] % 2))
        return torch.cat([v[..., i::2, j::2, :] for j in (0, 1) for i in (0, 1)], -1)

    return Lambda(merge)


@st.composite
def window_attention_args(draw, x):
    """Windows up to 5 a side (larger than the map too: torchvision pads), any shift below
    the window, heads dividing C (or one more: refused)."""
    c = x[-1]
    win = [draw(st.integers(1, 5)), draw(st.integers(1, 5))]
    args = {"window_size": win if win[0] != win[1] else win[0],
            "num_heads": draw(st.sampled_from([h for h in range(1, c + 1) if c % h == 0] + [c + 1])),
            "qkv_bias": draw(st.booleans()), "proj_bias": draw(st.booleans())}
    shift = [draw(st.integers(0, w - 1)) for w in win]
    if any(shift):
        args["shift_size"] = shift
    return args


class WindowAttention3dReference(nn.Module):
    """Video Swin's (shifted) window attention on [B, T, H, W, C], from its paper and
    torchvision's rule for small clips: on an axis no longer than its window, the window is the
    axis and there is no shift; pad to whole windows, roll by −shift, attend within each window
    with a bias from a table of the (2·Wd − 1)·(2·Wh − 1)·(2·Ww − 1) offsets per head (its
    index a buffer for the configured window's token pairs, a smaller window reading its
    corner), the tokens of different regions masked apart, project, roll back, cut the padding."""

    def __init__(self, x, a):
        super().__init__()
        c = x[-1]
        self.win = _three(a["window_size"])
        self.shift, self.heads = _three(a.get("shift_size", 0)), a["num_heads"]
        wd, wh, ww = self.win
        self.qkv = nn.Linear(c, 3 * c, bias=a.get("qkv_bias", True))
        self.proj = nn.Linear(c, c, bias=a.get("proj_bias", True))
        self.table = nn.Parameter(torch.randn((2 * wd - 1) * (2 * wh - 1) * (2 * ww - 1), self.heads))
        cells = [(i, j, k) for i in range(wd) for j in range(wh) for k in range(ww)]
        self.register_buffer("index", torch.tensor([[((p[0] - q[0] + wd - 1) * (2 * wh - 1) + p[1] - q[1] + wh - 1)
                                                     * (2 * ww - 1) + p[2] - q[2] + ww - 1 for q in cells]
                                                    for p in cells]))

    def forward(self, x):
        b, *size, c = x.shape
        win = [min(w, s) for w, s in zip(self.win, size)]
        shift = [0 if s <= w else sh for s, w, sh in zip(size, self.win, self.shift)]
        n = win[0] * win[1] * win[2]
        x = F.pad(x, (0, 0, 0, -size[2] % win[2], 0, -size[1] % win[1], 0, -size[0] % win[0]))
        padded = list(x.shape[1:4])
        x = torch.roll(x, [-s for s in shift], (1, 2, 3))
        region = torch.zeros(padded)
        for axis, (length, w, s) in enumerate(zip(padded, win, shift)):
            band = torch.tensor([0 if not s or i < length - w else 1 if i < length - s else 2 for i in range(length)])
            region = region + band.view([-1 if d == axis else 1 for d in range(3)]) * 3 ** (2 - axis)
        def windows(t):  # [B, T', H', W', ...] → [B·nW, N, ...]
            t = t.view(t.shape[0], padded[0] // win[0], win[0], padded[1] // win[1], win[1], padded[2] // win[2],
                       win[2], *t.shape[4:]).permute(0, 1, 3, 5, 2, 4, 6, *range(7, t.dim() + 3))
            return t.reshape(-1, n, *t.shape[7:])
        mask = windows(region[None])
        mask = (mask[:, :, None] != mask[:, None, :]).float() * -100.0 if sum(shift) else torch.zeros(1, n, n)
        q, k, v = self.qkv(windows(x)).view(-1, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        bias = self.table[self.index[:n, :n].flatten()].view(n, n, self.heads).permute(2, 0, 1)
        scores = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1) + bias
        scores = scores.view(b, -1, self.heads, n, n) + mask.to(x)[None, :, None]
        out = self.proj((scores.view(-1, self.heads, n, n).softmax(-1) @ v).transpose(1, 2).reshape(-1, n, c))
        out = out.view(b, padded[0] // win[0], padded[1] // win[1], padded[2] // win[2], *win, c) \
            .permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, *padded, c)
        return torch.roll(out, shift, (1, 2, 3))[:, :size[0], :size[1], :size[2]]


def _three(v):
    return list(v) if isinstance(v, (list, tuple)) else [v, v, v]


@st.composite
def window_attention3d_args(draw, x):
    """Windows up to 4 a side (larger than the clip too: torchvision shrinks them), any shift
    below the window, heads dividing C (or one more: refused)."""
    c = x[-1]
    win = [draw(st.integers(1, 4)) for _ in range(3)]
    args = {"window_size": win if len(set(win)) > 1 else win[0],
            "num_heads": draw(st.sampled_from([h for h in range(1, c + 1) if c % h == 0] + [c + 1])),
            "qkv_bias": draw(st.booleans()), "proj_bias": draw(st.booleans())}
    shift = [draw(st.integers(0, w - 1)) for w in win]
    if any(shift):
        args["shift_size"] = shift
    return args


class PatchEmbed3dReference(nn.Module):
    """Video Swin's patch embedding, from its paper: zero-pad the clip's ends to whole patches,
    a convolution whose kernel and stride are the patch, channels last, a LayerNorm (or none)."""

    def __init__(self, x, a):
        super().__init__()
        self.patch = _three(a["patch_size"])
        self.conv = nn.Conv3d(x[0], a.get("embed_dim", 96), self.patch, self.patch)
        self.norm = nn.LayerNorm(a.get("embed_dim", 96), eps=a.get("eps", 1e-5)) if a.get("norm") else None

    def forward(self, x):
        pads = [(-s) % p for s, p in zip(x.shape[2:], self.patch)]
        y = self.conv(F.pad(x, (0, pads[2], 0, pads[1], 0, pads[0]))).permute(0, 2, 3, 4, 1)
        return self.norm(y) if self.norm is not None else y


class AttentionReference(nn.Module):
    """F.scaled_dot_product_attention of three branches, each the input, a linear layer on it
    or a learned tensor (expanded over the batch)."""

    def __init__(self, x, a):
        super().__init__()
        self.a = a
        self.paths = nn.ModuleList()
        for layers in a["branches"]:
            if not layers:
                self.paths.append(nn.Identity())
            elif "linear" in layers[0]:
                self.paths.append(nn.Linear(x[-1], layers[0]["linear"]["out_features"], bias=False))
            else:
                self.paths.append(Learned(layers[0]["parameter"]["shape"]))

    def forward(self, x, mask=None):
        q, k, v = (p(x) for p in self.paths)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.a.get("is_causal", False),
                                              scale=self.a.get("scale"), enable_gqa=self.a.get("enable_gqa", False))


# ---- argument strategies ----------------------------------------------------------------------

@st.composite
def conv_args(draw, x):
    nd = len(x) - 1
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))  # sometimes not a divisor of the channels: refused
    padding = draw(st.one_of(per_axis(nd, st.integers(0, 3)), st.sampled_from(["same", "valid"])))
    stride = [1] * nd if padding == "same" and draw(st.booleans()) else draw(per_axis(nd, st.integers(1, 3)))
    return dict(out_channels=draw(st.integers(1, 3)) * groups, kernel_size=draw(per_axis(nd, st.integers(1, 4))),
                stride=stride, padding=padding, dilation=draw(per_axis(nd, st.integers(1, 2))), groups=groups,
                bias=draw(st.booleans()),
                padding_mode=draw(st.sampled_from(["zeros"] * 5 + ["reflect", "replicate", "circular"])))


def conv_reference(x, a):
    nd = len(x) - 1
    cls = getattr(nn, f"Conv{nd}d")
    return cls(x[0], a["out_channels"], a["kernel_size"], a["stride"], a["padding"], a["dilation"], a["groups"],
               a["bias"], a.get("padding_mode", "zeros"))


@st.composite
def pool_args(draw, x, *, dilation=False, padding=True, average=False, two_d=False):
    nd = len(x) - 1
    a = dict(kernel_size=draw(per_axis(nd, st.integers(1, 4))),
             stride=draw(st.one_of(st.none(), per_axis(nd, st.integers(1, 3)))), ceil_mode=draw(st.booleans()))
    if padding:
        a["padding"] = draw(per_axis(nd, st.integers(0, 2)))
    if dilation:
        a["dilation"] = draw(per_axis(nd, st.integers(1, 2)))
        a["return_indices"] = draw(st.booleans())
    if average:
        a["count_include_pad"] = draw(st.booleans())
        if two_d and draw(st.booleans()):
            a["divisor_override"] = draw(st.integers(1, 5))
    return a


def max_pool_reference(x, a):
    cls = getattr(nn, f"MaxPool{len(x) - 1}d")
    return cls(a["kernel_size"], a["stride"], a["padding"], a["dilation"], a["return_indices"], a["ceil_mode"])


def avg_pool_reference(x, a):
    cls = getattr(nn, f"AvgPool{len(x) - 1}d")
    extra = {"divisor_override": a["divisor_override"]} if "divisor_override" in a else {}
    return cls(a["kernel_size"], a["stride"], a["padding"], a["ceil_mode"], a["count_include_pad"], **extra)


def batch_norm_args(x):
    return st.fixed_dictionaries({"affine": st.booleans(), "track_running_stats": st.booleans(),
                                  "eps": st.sampled_from([1e-5, 1e-3]), "momentum": st.sampled_from([0.1, None])})


def batch_norm_reference(x, a):
    cls = nn.BatchNorm2d if len(x) == 3 else nn.BatchNorm1d
    return cls(x[0], a["eps"], a["momentum"], a["affine"], a["track_running_stats"]).eval()


def _normalized_shape(draw, x):
    """The sizes of the input's last k axes (a bare number for one, sometimes); one time in six
    not the input's last axes, which both archcalc and torch refuse."""
    k = draw(st.integers(1, len(x)))
    shape = list(x[-k:])
    if draw(st.integers(0, 5)) == 0:
        shape[0] += 1
    return shape[0] if k == 1 and draw(st.booleans()) else shape


@st.composite
def layer_norm_args(draw, x):
    return dict(normalized_shape=_normalized_shape(draw, x),
                eps=draw(st.sampled_from([1e-5, 1e-6])), elementwise_affine=draw(st.booleans()), bias=draw(st.booleans()))


def no_args(x):
    return st.just({})


def activation(kind, cls, args=no_args):
    return KindCase(kind, (1, 2, 3, 4), args, lambda x, a: cls(**a))


def softmax_args(x):
    return st.fixed_dictionaries({"dim": st.integers(-len(x), len(x))})  # len(x) is out of range: refused


def _listed(v):
    return v if isinstance(v, list) else [v]


def mean_args(x):
    """One axis or several (a repeated one, or len(x), out of range: both refuse), kept or not."""
    axis = st.integers(-len(x), len(x))
    return st.fixed_dictionaries({"dim": st.one_of(axis, st.lists(axis, min_size=1, max_size=len(x) + 1)),
                                  "keepdim": st.booleans()})


@st.composite
def recurrent_args(draw, x, kind):
    a = dict(hidden_size=draw(st.integers(1, 12)), num_layers=draw(st.integers(1, 3)), bias=draw(st.booleans()),
             bidirectional=draw(st.booleans()), return_sequences=draw(st.booleans()))
    if kind == "rnn":
        a["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if kind == "lstm" and draw(st.booleans()):  # the course's forms
        a.update(peephole=draw(st.booleans()), bias_sets=draw(st.sampled_from([1, 2])))
    return a


def recurrent_reference(kind):
    def build(x, a):
        dirs = 2 if a["bidirectional"] else 1
        if a.get("peephole") or a.get("bias_sets") == 1:
            module = CourseLSTM(x[-1], a["hidden_size"], a["num_layers"], a["bias"], dirs, a.get("peephole", False),
                                a.get("bias_sets", 2))
        else:
            extra = {"nonlinearity": a["nonlinearity"]} if kind == "rnn" else {}
            module = getattr(nn, kind.upper())(x[-1], a["hidden_size"], num_layers=a["num_layers"], bias=a["bias"],
                                               batch_first=True, bidirectional=a["bidirectional"], **extra)
        return Recurrent(module, not a["return_sequences"], dirs)

    return build


def conv_branch(draw, channels) -> list:
    if draw(st.booleans()):
        return []
    return [{"conv2d": {"out_channels": channels, "kernel_size": 1, "bias": draw(st.booleans())}}]


@st.composite
def add_args(draw, x):
    n = draw(st.integers(2, 3))
    split = draw(split_args(x, n))
    shapes = slices(x, {"branches": [[]] * n, **split})
    same = draw(st.integers(0, 5)) > 0  # mostly the slices' channels; otherwise the sum is refused
    return {**split, "branches": [conv_branch(draw, s[0] if same else s[0] + 1) for s in shapes]}


@st.composite
def concat_args(draw, x):
    rank = len(x)
    dim = draw(st.one_of(st.just(0), st.integers(-rank, rank)))  # rank is out of range: refused
    n = draw(st.integers(2, 4))
    branches = [conv_branch(draw, draw(st.integers(1, 4))) for _ in range(n)]
    return {**draw(split_args(x, n)), "dim": dim, "branches": branches}


@st.composite
def factor_branch(draw, x) -> list:
    """What a product's branch computes: the features, a 1×1 convolution, a gate [C, 1, 1], or a
    learned tensor each of whose axes is the input's or 1 (rarely neither: refused)."""
    choice = draw(st.sampled_from(["identity", "conv", "gate", "parameter"]))
    if choice == "identity":
        return []
    if choice == "conv":
        return [{"conv2d": {"out_channels": x[0], "kernel_size": 1}}]
    if choice == "gate":
        return [{"adaptive_avg_pool2d": 1}, {"conv2d": {"out_channels": x[0], "kernel_size": 1}}]
    shape = [draw(st.sampled_from([d, 1, d, 1, d + 1])) for d in x]
    return [{"parameter": {"shape": shape}}]


@st.composite
def mul_args(draw, x):
    n = draw(st.integers(2, 3))
    split = draw(split_args(x, n))
    return {**split, "branches": [draw(factor_branch(s)) for s in slices(x, {"branches": [[]] * n, **split})]}


@st.composite
def self_attention_args(draw, x):
    e = x[-1]
    heads = draw(st.sampled_from([h for h in range(1, e + 1) if e % h == 0] + [e + 1]))  # e + 1: refused
    args = {"num_heads": heads, "bias": draw(st.booleans()), "add_bias_kv": draw(st.booleans()),
            "add_zero_attn": draw(st.booleans()), "need_weights": draw(st.booleans())}
    if draw(st.booleans()):  # cross-attention to a memory [S, E_kv], kdim written at times (rarely wrong: refused)
        width = draw(st.sampled_from([e, draw(st.integers(1, 8))]))
        args["memory"] = [draw(st.integers(1, 6)), width]
        if draw(st.integers(0, 3)) == 0:
            args["kdim"] = width if draw(st.integers(0, 4)) else width + 1
    return args


@st.composite
def attention_args(draw, x):
    """q, k, v from the input [.., L, E] (rank 2, or 3 with heads first): the input itself, a
    linear layer (to E' for q and k, Ev for v), or a learned k and v with their own length S and,
    with enable_gqa, fewer heads. Rarely a size that does not fit: refused."""
    lead, e = list(x[:-2]), x[-1]
    width = draw(st.sampled_from([e, e, draw(st.integers(1, 8))]))
    gqa = len(x) == 3 and draw(st.booleans())
    kv_heads = draw(st.sampled_from([h for h in range(1, x[0] + 1) if x[0] % h == 0])) if gqa else None
    s = draw(st.integers(1, 6))

    def branch(out, learned):
        choice = draw(st.sampled_from(["input", "linear", "parameter"] if learned else ["input", "linear"]))
        if choice == "input":
            return []
        if choice == "linear":
            return [{"linear": {"out_features": out, "bias": False}}]
        heads = [kv_heads] if gqa else lead
        return [{"parameter": {"shape": [*heads, s, out]}}]

    q = branch(width, False) if width != e else draw(st.sampled_from([[], [{"linear": {"out_features": e,
                                                                                          "bias": False}}]]))
    k = branch(width, True)
    v = branch(draw(st.integers(1, 8)), True)
    if draw(st.integers(0, 9)) == 0:
        k = [{"linear": {"out_features": width + 1, "bias": False}}]  # E of q and k differ: refused
    args = {"branches": [q, k, v], "is_causal": draw(st.booleans())}
    if gqa:
        args["enable_gqa"] = True
    if draw(st.booleans()):
        args["scale"] = 0.5
    if draw(st.integers(0, 2)) == 0:  # a float mask of the scores' rank, broadcasting (with is_causal: refused)
        big_l, keys = x[-2], s if k and "parameter" in k[0] else x[-2]
        front = [draw(st.sampled_from([d, 1])) for d in lead]
        args["attn_mask"] = front + draw(st.sampled_from([[big_l, keys], [1, keys], [big_l, 1], [big_l + 1, keys]]))
    return args


@st.composite
def encoder_args(draw, x, stack: bool = False):
    e = x[-1]
    args = {"nhead": draw(st.sampled_from([h for h in range(1, e + 1) if e % h == 0] + [e + 1])),  # e + 1: refused
            "dim_feedforward": draw(st.integers(1, 20)), "activation": draw(st.sampled_from(["relu", "gelu"])),
            "norm_first": draw(st.booleans()), "bias": draw(st.booleans()), "dropout": 0.0}
    if stack:
        args |= {"num_layers": draw(st.integers(1, 3)), "norm": draw(st.booleans())}
    return args


@st.composite
def decoder_args(draw, x, stack: bool = False):
    """The encoder's arguments and a memory [S, E] (rarely of another width: refused)."""
    e = x[-1]
    args = draw(encoder_args(x, stack))
    args["memory"] = [draw(st.integers(1, 6)), e if draw(st.integers(0, 9)) else e + 1]
    return args


def decoder_reference(x, a, stack: bool = False):
    layer = nn.TransformerDecoderLayer(x[-1], a["nhead"], a["dim_feedforward"], a["dropout"], a["activation"],
                                       batch_first=True, norm_first=a["norm_first"], bias=a["bias"])
    if not stack:
        return layer
    norm = nn.LayerNorm(x[-1], bias=a["bias"]) if a["norm"] else None
    return nn.TransformerDecoder(layer, a["num_layers"], norm=norm)


@st.composite
def transformer_args(draw, x):
    """nn.Transformer's arguments, its layer counts small, and a source [S, E] (rarely of
    another width: refused)."""
    e = x[-1]
    args = draw(encoder_args(x))
    args |= {"num_encoder_layers": draw(st.integers(1, 2)), "num_decoder_layers": draw(st.integers(1, 2)),
             "src": [draw(st.integers(1, 6)), e if draw(st.integers(0, 9)) else e + 1]}
    return args


def encoder_reference(x, a, stack: bool = False):
    layer = nn.TransformerEncoderLayer(x[-1], a["nhead"], a["dim_feedforward"], a["dropout"], a["activation"],
                                       batch_first=True, norm_first=a["norm_first"], bias=a["bias"])
    if not stack:
        return layer
    norm = nn.LayerNorm(x[-1], bias=a["bias"]) if a["norm"] else None
    return nn.TransformerEncoder(layer, a["num_layers"], norm=norm, enable_nested_tensor=False)


@st.composite
def matmul_args(draw, x):
    """a @ b from an input [.., n, k]: a the input or a linear layer on it; b its transpose
    (a [.., k, n]), a linear layer's transpose, or a learned matrix [k, m] (rarely of the wrong
    size: refused)."""
    k = x[-1]
    left = draw(st.sampled_from([[], [{"linear": {"out_features": k, "bias": False}}]]))
    choice = draw(st.sampled_from(["transpose", "linear", "parameter"]))
    if choice == "transpose":
        right = [{"transpose": {"dim0": -1, "dim1": -2}}]
    elif choice == "linear":
        right = [{"linear": {"out_features": k, "bias": False}}, {"transpose": {"dim0": -1, "dim1": -2}}]
    else:
        rows = k if draw(st.integers(0, 9)) else k + 1
        right = [{"parameter": {"shape": [1] * (len(x) - 2) + [rows, draw(st.integers(1, 6))]}}]
    return {"branches": [left, right], "operator": draw(st.booleans())}


class MatmulReference(nn.Module):
    def __init__(self, x, a):
        super().__init__()
        self.operator = a.get("operator", False)
        self.paths = nn.ModuleList()
        for layers in a["branches"]:
            seq = []
            for item in layers:
                if "linear" in item:
                    seq.append(nn.Linear(x[-1], item["linear"]["out_features"], bias=False))
                elif "transpose" in item:
                    seq.append(Lambda(lambda v: v.transpose(-1, -2)))
                else:
                    seq.append(Learned(item["parameter"]["shape"]))
            self.paths.append(nn.Sequential(*seq))

    def forward(self, x):
        a, b = (p(x) for p in self.paths)
        return a @ b if self.operator else torch.matmul(a, b)


def _product(outs):
    total = outs[0]
    for o in outs[1:]:
        total = total * o
    return total


@st.composite
def reshape_args(draw, x):
    total = math.prod(x)
    shape = draw(st.sampled_from([[total], [x[0], total // x[0]], list(reversed(x)), [1, *x], [total + 1]]))
    if draw(st.booleans()):
        shape[draw(st.integers(0, len(shape) - 1))] = -1
    return {"shape": shape}


@st.composite
def permute_args(draw, x):
    dims = draw(st.permutations(range(len(x))))
    if draw(st.integers(0, 5)) == 0:
        dims = [0, *(d + 1 for d in dims)]  # torch's dims, batch axis included: refused
    return {"dims": [d - len(x) if draw(st.booleans()) and d < len(x) else d for d in dims]}


@st.composite
def unflatten_args(draw, x):
    dim = draw(st.integers(-len(x), len(x) - 1))
    n = x[dim]
    a = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0] + [n + 1]))
    sizes = [a, max(n // a, 1)]
    if draw(st.booleans()):
        sizes[draw(st.integers(0, 1))] = -1
    return {"dim": dim, "unflattened_size": sizes}


def _squeeze(v, dim):
    rank = v.dim() - 1
    dims = [d for d in range(rank) if v.shape[d + 1] == 1] if dim is None else [dim % rank]
    if dim is not None and not -rank <= dim < rank:
        raise IndexError("dim out of range")
    return v.squeeze(tuple(d + 1 for d in dims)) if dims else v


def _sum(outs):
    """A residual sum: equal shapes (torch would broadcast [2, 1, 1] + [1, 1, 1]; add does not)."""
    if any(o.shape != outs[0].shape for o in outs):
        raise RuntimeError("the branches' shapes differ")
    total = outs[0]
    for o in outs[1:]:
        total = total + o
    return total


# --- activations: strategies and modules ---

def inplace_args(x):
    return st.fixed_dictionaries({"inplace": st.booleans()})


def floats(*values):
    return st.sampled_from([float(v) for v in values])


def prelu_args(x):
    """One slope, one per channel, or a count that is neither (refused)."""
    return st.fixed_dictionaries({"num_parameters": st.sampled_from([1, x[0], x[0] + 1]),
                                  "init": floats(0.25, -0.5)})


def celu_args(x):
    return st.fixed_dictionaries({"alpha": floats(1.0, 0.5, 2.0, -1.0, 0.0), "inplace": st.booleans()})  # 0: refused


def hardtanh_args(x):  # max_val ≤ min_val: refused
    return st.fixed_dictionaries({"min_val": floats(-1.0, -2.0, 0.0, 0.5), "max_val": floats(1.0, 2.0, 0.0, 0.5),
                                  "inplace": st.booleans()})


def shrink_args(x):  # a negative lambd: softshrink refuses it, hardshrink takes it
    return st.fixed_dictionaries({"lambd": floats(0.5, 0.0, 1.5, -0.5)})


def threshold_args(x):
    return st.fixed_dictionaries({"threshold": floats(0.1, -1.0, 0.0), "value": floats(20.0, 0.0, -3.0),
                                  "inplace": st.booleans()})


def rrelu_args(x):  # lower > upper: refused
    return st.fixed_dictionaries({"lower": floats(1 / 8, 0.3, 0.5, -0.2), "upper": floats(1 / 3, 0.1, 0.5),
                                  "inplace": st.booleans()})


def glu_args(x):  # len(x) is out of range, an odd size can't be halved: refused
    return st.fixed_dictionaries({"dim": st.integers(-len(x), len(x))})


# --- norms: strategies and modules ---

def channels_written(draw, x):
    """None mostly (inferred); sometimes the input's channel count written, now and then a
    wrong one (torch refuses it where affine weights or running statistics use it, and
    ignores it otherwise)."""
    choice = draw(st.integers(0, 7))
    return None if choice > 1 else x[0] + choice


@st.composite
def per_channel_norm_args(draw, x, *, batch_defaults: bool):
    """Batch and instance norm: affine and running statistics both ways, bias=False sometimes."""
    a = dict(affine=draw(st.booleans()), track_running_stats=draw(st.booleans()),
             eps=draw(st.sampled_from([1e-5, 1e-3])), momentum=draw(st.sampled_from([0.1, None, 0.5])),
             bias=draw(st.booleans()))
    if (written := channels_written(draw, x)) is not None:
        a["num_features"] = written
    if not batch_defaults and draw(st.booleans()):  # instance norm's defaults: affine and tracking off
        for name in ("affine", "track_running_stats", "momentum"):
            a.pop(name)
    return a


def per_channel_reference(cls):
    def build(x, a):
        return cls(a.get("num_features", x[0]), a["eps"], a.get("momentum", 0.1), a.get("affine", False),
                   a.get("track_running_stats", False), bias=a["bias"]).eval()

    return build


@st.composite
def group_norm_args(draw, x):
    divisors = [g for g in range(1, x[0] + 1) if x[0] % g == 0]
    groups = draw(st.sampled_from(divisors)) if draw(st.integers(0, 4)) else draw(st.integers(1, 7))  # may not divide
    a = dict(num_groups=groups, eps=draw(st.sampled_from([1e-5, 1e-6])), affine=draw(st.booleans()),
             bias=draw(st.booleans()))
    if (written := channels_written(draw, x)) is not None:
        a["num_channels"] = written
    return a


def group_norm_reference(x, a):
    return nn.GroupNorm(a["num_groups"], a.get("num_channels", x[0]), a["eps"], a["affine"], bias=a["bias"])


@st.composite
def rms_norm_args(draw, x):
    return dict(normalized_shape=_normalized_shape(draw, x),
                eps=draw(st.sampled_from([None, 1e-6])), elementwise_affine=draw(st.booleans()))


# --- pools and padding: strategies and modules ---

def lp_pool_reference(x, a):
    nd = len(x) - 1
    kernel = a["kernel_size"]
    if nd == 1 and isinstance(kernel, list):
        kernel = kernel[0]  # F.lp_pool1d multiplies by kernel_size: a spec's [3] is torch's 3
    return getattr(nn, f"LPPool{nd}d")(a["norm_type"], kernel, a["stride"], a["ceil_mode"])


@st.composite
def adaptive_args(draw, x, *, indices=False):
    """output_size: an int, or one per axis where None keeps the axis (2-D and 3-D only: the 1-D
    pools take an int, and torch raises TypeError, no refusal, for None there)."""
    nd = len(x) - 1
    one = st.integers(1, 7)
    size = draw(st.one_of(one, st.lists(one if nd == 1 else st.one_of(st.none(), one), min_size=nd, max_size=nd)))
    return {"output_size": size, **({"return_indices": draw(st.booleans())} if indices else {})}


def adaptive_reference(what):
    def build(x, a):
        size = a["output_size"]
        extra = {"return_indices": a["return_indices"]} if "return_indices" in a else {}
        return getattr(nn, f"Adaptive{what}Pool{len(x) - 1}d")(tuple(size) if isinstance(size, list) else size,
                                                               **extra)

    return build


@st.composite
def pad_args(draw, x, *, nd, mode, value=False):
    """torch's padding, an int or (left, right, top, bottom, front, back), negative values
    cropping, some beyond torch's limits (reflection: less than the input; circular: at most the
    input, and some crops its copies cannot make). Where a padding crops an axis away, torch
    returns an empty tensor (but for 1-D reflection and replication, which refuse it) and archcalc
    refuses it: such an axis is given one more position."""
    side = st.integers(-3, 4)
    padding = draw(st.one_of(side, st.lists(side, min_size=2 * nd, max_size=2 * nd)))
    if (nd > 1 or mode in ("constant", "circular")) and len(x) >= nd:
        sides = list(_pair(padding, 2 * nd))
        empty = [k for k, n in enumerate(reversed(x[-nd:])) if n + sides[2 * k] + sides[2 * k + 1] == 0]
        for k in empty:
            sides[2 * k + 1] += 1
        padding = sides if empty else padding
    a = {"padding": padding}
    if value:
        a["value"] = draw(st.sampled_from([0.0, 0.5, -2.0]))
    return a


def pad_reference(x, a, *, name):
    padding = tuple(a["padding"]) if isinstance(a["padding"], list) else a["padding"]
    cls = getattr(nn, name)
    return cls(padding, a["value"]) if "value" in a else cls(padding)


def pad_case(kind, torch_name, mode):
    nd = int(kind[-2])
    ranks = tuple(range(nd, 5)) if mode == "constant" else tuple(range(max(nd - 1, 1), min(nd + 2, 4) + 1))
    return KindCase(kind, ranks, lambda x: pad_args(x, nd=nd, mode=mode, value=kind.startswith("constant")),
                    lambda x, a: pad_reference(x, a, name=torch_name), sizes=(1, 10))


@st.composite
def center_crop_args(draw, x):
    spatial = max(len(x) - 1, 1)
    one = st.integers(1, max(x[1:], default=1) + 1)  # one more than the input: refused
    return {"size": draw(st.one_of(one, st.lists(one, min_size=spatial, max_size=spatial),
                                   st.lists(one, min_size=1, max_size=3)))}  # sometimes the wrong count: refused


class CenterCrop(nn.Module):
    """torchvision.transforms.CenterCrop's geometry on every spatial axis: start at
    round((n − size)/2) (Python's round, half to even); a crop larger than the input is refused."""

    def __init__(self, size):
        super().__init__()
        self.size = size if isinstance(size, list) else [size]

    def forward(self, x):
        spatial = list(x.shape[2:])
        size = self.size * len(spatial) if len(self.size) == 1 else self.size
        if not spatial or len(size) != len(spatial) or any(s > n for s, n in zip(size, spatial)):
            raise ValueError("no such crop")
        for axis, (n, s) in enumerate(zip(spatial, size), start=2):
            x = x.narrow(axis, round((n - s) / 2), s)
        return x


# --- convolution and resampling: strategies and modules ---

@st.composite
def conv_transpose_args(draw, x):
    nd = len(x) - 1
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))  # sometimes not a divisor of the channels: refused
    return dict(out_channels=draw(st.integers(1, 3)) * groups, kernel_size=draw(per_axis(nd, st.integers(1, 4))),
                stride=draw(per_axis(nd, st.integers(1, 3))), padding=draw(per_axis(nd, st.integers(0, 3))),
                output_padding=draw(per_axis(nd, st.sampled_from([0, 0, 0, 1, 2]))),  # not below S or D: refused
                groups=groups, bias=draw(st.booleans()), dilation=draw(per_axis(nd, st.integers(1, 2))),
                padding_mode=draw(st.sampled_from(["zeros"] * 7 + ["reflect"])))  # torch takes only zeros


def conv_transpose_reference(x, a):
    cls = getattr(nn, f"ConvTranspose{len(x) - 1}d")
    return cls(x[0], a["out_channels"], a["kernel_size"], a["stride"], a["padding"], a["output_padding"], a["groups"],
               a["bias"], a["dilation"], a["padding_mode"])


UPSAMPLE_MODES = ["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"]
RANK_MODES = {1: ["linear"], 2: ["bilinear", "bicubic"], 3: ["trilinear"]}  # the interpolating modes of each rank
SCALES = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 0.3, 0.7, 1.3, 1.7]  # 0.7 and 1.3: torch's double product decides the size


@st.composite
def upsample_args(draw, x):
    """Mostly one of size and scale_factor, one value or one per axis; sometimes both or neither,
    a list of the wrong length, align_corners on a nearest mode, a mode for another rank:
    refused by both."""
    nd = len(x) - 1
    lengths = st.sampled_from([nd] * 6 + [nd % 3 + 1])
    fitting = ["nearest", "nearest-exact"] + RANK_MODES.get(nd, [])
    a = {"mode": draw(st.sampled_from(fitting * 3 + UPSAMPLE_MODES))}
    given = draw(st.sampled_from(["size"] * 4 + ["scale_factor"] * 6 + ["both", "neither"]))
    if given in ("size", "both"):
        a["size"] = draw(st.one_of(st.integers(1, 12), lengths.flatmap(
            lambda n: st.lists(st.integers(1, 12), min_size=n, max_size=n))))
    if given in ("scale_factor", "both"):
        a["scale_factor"] = draw(st.one_of(st.sampled_from(SCALES), lengths.flatmap(
            lambda n: st.lists(st.sampled_from(SCALES), min_size=n, max_size=n))))
    if draw(st.integers(0, 1 if a["mode"] in ("linear", "bilinear", "bicubic", "trilinear") else 7)) == 0:
        a["align_corners"] = draw(st.booleans())
    if draw(st.booleans()):
        a["recompute_scale_factor"] = draw(st.booleans())
    from hypothesis import assume

    assume(not (a["mode"].startswith("nearest") and _empties_an_axis(x, a.get("scale_factor"))))
    return a


def _empties_an_axis(x, scale) -> bool:
    """Whether a scale factor leaves an axis empty. Torch refuses that, and so does archcalc,
    but under FlopCounterMode the nearest modes run a Python decomposition that returns an
    empty tensor (or divides by zero) instead: the measurement could not tell."""
    if scale is None:
        return False
    scales = scale if isinstance(scale, list) else [scale] * (len(x) - 1)
    return any(int(float(n) * s) < 1 for n, s in zip(x[1:], scales))


def upsample_reference(x, a):
    def form(v):
        return tuple(v) if isinstance(v, list) else v

    return nn.Upsample(form(a.get("size")), form(a.get("scale_factor")), a["mode"], a.get("align_corners"),
                       a.get("recompute_scale_factor"))


# --- dropouts: strategies and modules ---

def dropout_args(x):
    """p across its range and past both ends (refused by both), in place or not."""
    return st.fixed_dictionaries({"p": st.sampled_from([0.0, 0.2, 0.5, 1.0, -0.1, 1.5]), "inplace": st.booleans()})


def stochastic_depth_args(x):
    """p across its range and past it, and a mode torchvision refuses besides its two."""
    return st.fixed_dictionaries({"p": st.sampled_from([0.0, 0.2, 0.5, 1.0, 1.5]),
                                  "mode": st.sampled_from(["row", "batch", "rows"])})


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth as torchvision defines it (torchvision is not installed
    here): zero a sample's whole input ("row") or the batch's, with probability p, while training."""

    def __init__(self, p, mode):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x):
        if not 0.0 <= self.p <= 1.0 or self.mode not in ("batch", "row"):
            raise ValueError(f"p={self.p} outside [0, 1] or mode={self.mode!r} neither 'batch' nor 'row'")
        if not self.training or self.p == 0.0:
            return x
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype).bernoulli_(1.0 - self.p)
        return x * (noise / (1.0 - self.p) if self.p < 1.0 else noise)



# --- position encodings: strategies and modules ---

class Rotary(nn.Module):
    """RoPE as a complex product, in float64: each position's halves (x₁, x₂) of the last axis
    as x₁ + i·x₂, times e^(i·t·θ^(−2k/d)) for k < d/2 (the pairing Hugging Face's
    rotate_half makes, Su et al.'s rotation); an odd d has no such pairs."""

    def __init__(self, theta):
        super().__init__()
        self.theta = theta

    def forward(self, x):
        t, d = x.shape[-2:]
        if d % 2:
            raise ValueError("RoPE rotates pairs: an even last axis")
        half = d // 2
        angles = torch.outer(torch.arange(t, dtype=torch.float64),
                             self.theta ** (-2 * torch.arange(half, dtype=torch.float64) / d))
        z = torch.complex(x[..., :half].double(), x[..., half:].double()) * torch.polar(torch.ones_like(angles), angles)
        return torch.cat((z.real, z.imag), -1).to(x.dtype)


class PositionalEncoding(nn.Module):
    """pytorch/examples' word_language_model PositionalEncoding (without its dropout): the
    table for max_len positions registered as a buffer [max_len, 1, E], added to [T, B, E];
    called here on [B, T, E]. An odd E does not fit its table (torch raises)."""

    def __init__(self, d_model, max_len=5000):
        super().__init__()
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)
        self.register_buffer("pe", pe)

    def forward(self, x):
        x = x.transpose(0, 1)
        return (x + self.pe[:x.size(0), :]).transpose(0, 1)


def rotary_args(x):
    return st.fixed_dictionaries({"theta": st.sampled_from([10000.0, 500000.0, 100.0, 1.0])})


def position_encoding_args(x):
    """The default table (5000 positions), one exactly T long, a longer one, or one shorter
    than T (both refuse; but not a table of one position, whose row torch's code broadcasts
    over any T where archcalc refuses)."""
    return st.sampled_from([None, x[0], x[0] + 3, x[0] - 1 if x[0] > 2 else x[0]]).map(
        lambda n: {} if n is None else {"max_len": n})

# --- MViT (torchvision's video models): strategies and modules ---

@dataclass(frozen=True)
class GridCase(KindCase):
    """A kind on the tokens of a T×H×W grid, [extra + T·H·W, C] (extra 1: the class token
    first): inputs drawn from a grid of 1 to 4 a side and 1 to 12 channels."""

    extra: int = 1

    def inputs(self) -> st.SearchStrategy:
        side = st.integers(1, 4)
        return st.tuples(side, side, side, st.integers(1, 12)).map(
            lambda g: (self.extra + g[0] * g[1] * g[2], g[3]))


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _grid_of(draw, tokens: int) -> list[int]:
    """A grid [T, H, W] of this many tokens, a factorisation drawn at random; now and then one
    of another size (refused)."""
    t = draw(st.sampled_from(_divisors(tokens))) if tokens > 0 else 1
    h = draw(st.sampled_from(_divisors(tokens // t))) if tokens > 0 else 1
    w = max(tokens // t // h, 1) if tokens > 0 else 1
    return [t, h, w + 1] if draw(st.sampled_from([False] * 9 + [True])) else [t, h, w]


@st.composite
def mvit_position_encoding_args(draw, x):
    t, h, w = _grid_of(draw, x[0])
    return {"temporal_size": t, "spatial_size": [h, w] if h != w else h, "rel_pos_embed": draw(st.booleans())}


class MViTPositionReference(nn.Module):
    """MViT's class token and separable position embeddings (Fan et al. 2021, §3.3): the token
    first, then position (t, p) of the grid gets temporal[t] + spatial[p], the token its own."""

    def __init__(self, x, a):
        super().__init__()
        self.t, (self.h, self.w) = a["temporal_size"], _two(a["spatial_size"])
        if x[0] != self.t * self.h * self.w:
            raise ValueError("the tokens are not the grid")
        e = x[-1]
        self.cls = nn.Parameter(torch.randn(e))
        self.tables = None if a["rel_pos_embed"] else nn.ParameterList(
            [nn.Parameter(torch.randn(self.t, e)), nn.Parameter(torch.randn(self.h * self.w, e)),
             nn.Parameter(torch.randn(1, e))])

    def forward(self, x):
        x = torch.cat([self.cls.view(1, 1, -1).expand(x.shape[0], 1, -1), x], 1)
        if self.tables is None:
            return x
        temporal, spatial, token = self.tables
        grid = (temporal[:, None, :] + spatial[None, :, :]).flatten(0, 1)
        return x + torch.cat([token, grid])[None]


@st.composite
def multiscale_block_args(draw, x):
    """A grid for the tokens (now and then a wrong one), kernels 1 to 3 (mostly odd) and strides
    1 or 2 per axis (an even query kernel changes the grid the skip path's max pool does not: refused),
    heads dividing the attention's width (or one more: refused), MViTv1's and v2's options."""
    n, c = x
    c_out = draw(st.one_of(st.none(), st.integers(1, 12)))
    proj_after = draw(st.booleans())
    width = (c if c_out is None else c_out) if proj_after else c
    axes = lambda values: st.lists(values, min_size=3, max_size=3)
    odd_mostly = st.sampled_from([1, 1, 3, 3, 2])
    args = {"thw": _grid_of(draw, n - 1), "num_heads": draw(st.sampled_from(_divisors(width) * 4 + [width + 1])),
            "kernel_q": draw(axes(odd_mostly)), "kernel_kv": draw(axes(odd_mostly)),
            "stride_q": draw(axes(st.integers(1, 2))), "stride_kv": draw(axes(st.integers(1, 2))),
            "residual_pool": draw(st.booleans()), "residual_with_cls_embed": draw(st.booleans()),
            "rel_pos_embed": draw(st.booleans()), "proj_after_attn": proj_after,
            "eps": draw(st.sampled_from([1e-6, 1e-5])), "dropout": draw(st.sampled_from([0.0, 0.1])),
            "stochastic_depth_prob": draw(st.sampled_from([0.0, 0.2]))}
    if c_out is not None:
        args["output_channels"] = c_out
    return args


def _offsets(q: int, k: int) -> torch.Tensor:
    """MViTv2's relative offset of query i and key j along an axis of q and k positions, both
    scaled to the longer axis: i·max(k/q, 1) − j·max(q/k, 1) + (k − 1)·max(q/k, 1) ≥ 0."""
    qs, ks = max(k / q, 1.0), max(q / k, 1.0)
    return (torch.arange(q).view(-1, 1) * qs - torch.arange(k).view(1, -1) * ks + (k - 1) * ks).long()


class MultiscaleBlockReference(nn.Module):
    """MViT's block (Fan et al. 2021; MViTv2, Li et al. 2022) on [B, 1 + T·H·W, C], from the
    papers and torchvision's choices: pre-norm; q, k, v from one linear map to 3·A, h heads; each
    pooled over the grid by a depthwise 3-D convolution (padding kernel // 2, no bias) then a
    LayerNorm, the class token kept out of the pooling; softmax(q·kᵀ/√d + relative positions)·v
    (+ q, MViTv2's residual pooling); the heads projected; the shortcut max-pooled (kernel s + 1
    where s > 1) to the queries' grid and projected to C_out before (v2) or after (v1) the
    attention; then a 4× MLP with GELU. The relative positions: for each axis a table of
    2·max(q, k) − 1 rows (stored at the size the input grid gives, resized linearly where the
    pooled axes need another), each query's grid vector times the rows of its offsets to every
    key along that axis, the three summed."""

    def __init__(self, x, a):
        super().__init__()
        n, c = x
        self.thw = list(a["thw"])
        if n != 1 + math.prod(self.thw):
            raise ValueError("the tokens are not the class token and the grid")
        c_out = a.get("output_channels") or c
        self.proj_after, self.a = a["proj_after_attn"], a
        width = self.width = c_out if self.proj_after else c
        self.heads = a["num_heads"]
        if width % self.heads:
            raise ValueError("heads do not divide the width")
        d = self.d = width // self.heads
        eps = a["eps"]
        self.norm1, self.norm2 = nn.LayerNorm(c, eps=eps), nn.LayerNorm(width, eps=eps)
        self.qkv, self.out = nn.Linear(c, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, c_out))
        self.shortcut = nn.Linear(c, c_out) if c != c_out else None

        def pooling(kernel, stride):
            if math.prod(kernel) == 1 and math.prod(stride) == 1:
                return None
            conv = nn.Conv3d(d, d, kernel, stride, [k // 2 for k in kernel], groups=d, bias=False)
            return nn.ModuleList([conv, nn.LayerNorm(d, eps=eps)])

        self.pools = nn.ModuleList([pooling(a["kernel_q"], a["stride_q"]) or nn.Identity(),
                                    *[pooling(a["kernel_kv"], a["stride_kv"]) or nn.Identity() for _ in "kv"]])
        self.skip = [s + 1 if s > 1 else 1 for s in a["stride_q"]] if math.prod(a["stride_q"]) > 1 else None
        if a["rel_pos_embed"]:
            side = max(self.thw[1:])
            rows = 2 * max(side // a["stride_q"][1], side // a["stride_kv"][1]) - 1
            self.rel = nn.ParameterList([nn.Parameter(torch.randn(2 * self.thw[0] - 1, d)),
                                         nn.Parameter(torch.randn(rows, d)), nn.Parameter(torch.randn(rows, d))])

    def _pool(self, which, v):
        """[B, h, 1 + G, d] → the grid pooled and normed, with its sizes."""
        pool = self.pools[which]
        if isinstance(pool, nn.Identity):
            return v, self.thw
        b, h = v.shape[:2]
        grid = pool[0](v[:, :, 1:].reshape(b * h, *self.thw, self.d).permute(0, 4, 1, 2, 3))
        sizes = list(grid.shape[2:])
        grid = grid.reshape(b, h, self.d, -1).transpose(-1, -2)
        return pool[1](torch.cat([v[:, :, :1], grid], 2)), sizes

    def _relative(self, q, qg, kg):
        """[B, h, Gq, Gk]: per axis, the queries' grid vectors times the table rows of their
        offsets (a [q, k, d] gather), as SlowFast writes it (einsums along H and W, a batched
        matmul along T: torch counts an einsum over d = 1 as no product), summed over the axes
        by broadcasting."""
        b, h = q.shape[:2]
        grid = q[:, :, 1:].reshape(b, h, *qg, self.d)
        rows = []
        for axis, table in enumerate(self.rel):
            size = 2 * max(qg[axis], kg[axis]) - 1
            if table.shape[0] != size:
                table = F.interpolate(table.t()[None], size=size, mode="linear")[0].t()
            rows.append(table[_offsets(qg[axis], kg[axis])])  # [q, k, d]
        along_t = (grid.permute(2, 0, 1, 3, 4, 5).reshape(qg[0], -1, self.d) @ rows[0].transpose(1, 2))
        along_t = along_t.reshape(qg[0], b, h, qg[1], qg[2], kg[0]).permute(1, 2, 0, 3, 4, 5)
        along_h = torch.einsum("bntxyd,xkd->bntxyk", grid, rows[1])
        along_w = torch.einsum("bntxyd,ykd->bntxyk", grid, rows[2])
        total = (along_t[..., :, None, None] + along_h[..., None, :, None] + along_w[..., None, None, :])
        return total.reshape(b, h, math.prod(qg), math.prod(kg))

    def forward(self, x):
        b, n, _ = x.shape
        y = self.norm1(x)
        q, k, v = self.qkv(y).view(b, n, 3, self.heads, self.d).permute(2, 0, 3, 1, 4)
        k, kg = self._pool(1, k)
        v, _ = self._pool(2, v)
        q, qg = self._pool(0, q)
        scores = (q / math.sqrt(self.d)) @ k.transpose(-1, -2)
        if self.a["rel_pos_embed"]:
            scores = scores + F.pad(self._relative(q, qg, kg), (1, 0, 1, 0))
        att = scores.softmax(-1) @ v
        if self.a["residual_pool"]:
            att = att + (q if self.a["residual_with_cls_embed"] else F.pad(q[:, :, 1:], (0, 0, 1, 0)))
        att = self.out(att.transpose(1, 2).reshape(b, -1, self.width))
        short = self.shortcut(y) if self.shortcut is not None and self.proj_after else x
        if self.skip is not None:
            grid = short[:, 1:].transpose(1, 2).reshape(b, -1, *self.thw)
            grid = F.max_pool3d(grid, self.skip, self.a["stride_q"], [s // 2 for s in self.skip]).flatten(2)
            short = torch.cat([short[:, :1], grid.transpose(1, 2)], 1)
        x = short + att
        z = self.norm2(x)
        return (self.shortcut(z) if self.shortcut is not None and not self.proj_after else x) + self.mlp(z)


TABLE: dict[str, KindCase] = {c.kind: c for c in [
    # --- activations ---
    activation("hardswish", nn.Hardswish, inplace_args),
    activation("hardsigmoid", nn.Hardsigmoid, inplace_args),
    activation("mish", nn.Mish, inplace_args),
    activation("selu", nn.SELU, inplace_args),
    activation("celu", nn.CELU, celu_args),
    activation("softplus", nn.Softplus, lambda x: st.fixed_dictionaries({
        "beta": floats(1.0, 2.0, 0.5, -1.0), "threshold": floats(20.0, 1.0, -1.0)})),
    activation("hardtanh", nn.Hardtanh, hardtanh_args),
    activation("softsign", nn.Softsign),
    activation("logsigmoid", nn.LogSigmoid),
    activation("hardshrink", nn.Hardshrink, shrink_args),
    activation("softshrink", nn.Softshrink, shrink_args),
    activation("tanhshrink", nn.Tanhshrink),
    activation("threshold", nn.Threshold, threshold_args),
    activation("rrelu", nn.RReLU, rrelu_args),
    activation("prelu", nn.PReLU, prelu_args),
    KindCase("glu", (1, 2, 3, 4), glu_args, lambda x, a: nn.GLU(dim=batched(a["dim"]))),
    KindCase("softmin", (1, 2, 3, 4), softmax_args, lambda x, a: nn.Softmin(dim=batched(a["dim"]))),
    # ranks 1 and 4: both refuse; not rank 2, whose batch torch reads as one [C, H, W] (archcalc refuses it)
    KindCase("softmax2d", (1, 3, 4), no_args, lambda x, a: nn.Softmax2d()),
    # --- norms ---
    KindCase("batch_norm3d", (4,), lambda x: per_channel_norm_args(x, batch_defaults=True),
             per_channel_reference(nn.BatchNorm3d), sizes=(1, 8)),
    *[KindCase(f"instance_norm{nd}d", (nd + 1,), lambda x: per_channel_norm_args(x, batch_defaults=False),
               per_channel_reference(getattr(nn, f"InstanceNorm{nd}d")), sizes=(1, 14 if nd < 3 else 8))
      for nd in (1, 2, 3)],
    KindCase("group_norm", (1, 2, 3, 4), group_norm_args, group_norm_reference),
    KindCase("rms_norm", (1, 2, 3, 4), rms_norm_args,
             lambda x, a: nn.RMSNorm(a["normalized_shape"], a["eps"], a["elementwise_affine"])),
    # --- pools and padding ---
    KindCase("max_pool3d", (4,), lambda x: pool_args(x, dilation=True), max_pool_reference, sizes=(1, 8)),
    # two_d: divisor_override, which AvgPool3d has too
    KindCase("avg_pool3d", (4,), lambda x: pool_args(x, average=True, two_d=True), avg_pool_reference, sizes=(1, 8)),
    *[KindCase(f"lp_pool{nd}d", (nd + 1,), lambda x: pool_args(x, padding=False).flatmap(
        lambda a: st.sampled_from([1.0, 2.0, 3.0]).map(lambda p: {"norm_type": p, **a})), lp_pool_reference,
        sizes=(1, 14 if nd < 3 else 8)) for nd in (1, 3)],
    *[KindCase(f"adaptive_avg_pool{nd}d", (nd + 1,), adaptive_args, adaptive_reference("Avg")) for nd in (1, 3)],
    *[KindCase(f"adaptive_max_pool{nd}d", (nd + 1,), lambda x: adaptive_args(x, indices=True),
               adaptive_reference("Max")) for nd in (1, 2, 3)],
    *[pad_case(f"{prefix}_pad{nd}d", f"{torch_name}{nd}d", mode) for nd in (1, 2, 3)
      for prefix, torch_name, mode in (("zero", "ZeroPad", "constant"), ("constant", "ConstantPad", "constant"),
                                       ("reflection", "ReflectionPad", "reflect"),
                                       ("replication", "ReplicationPad", "replicate"),
                                       ("circular", "CircularPad", "circular"))],
    KindCase("center_crop", (1, 2, 3, 4), center_crop_args, lambda x, a: CenterCrop(a["size"])),
    # --- convolution and resampling ---
    *[KindCase(f"conv_transpose{nd}d", (nd + 1,), conv_transpose_args, conv_transpose_reference,
               sizes=(1, 12 if nd < 3 else 6)) for nd in (1, 2, 3)],
    KindCase("upsample", (2, 3, 4), upsample_args, upsample_reference, sizes=(1, 10)),
    KindCase("pixel_shuffle", (3, 4), lambda x: st.fixed_dictionaries({"upscale_factor": st.integers(1, 3)}),
             lambda x, a: nn.PixelShuffle(a["upscale_factor"])),
    KindCase("pixel_unshuffle", (3, 4), lambda x: st.fixed_dictionaries({"downscale_factor": st.integers(1, 3)}),
             lambda x, a: nn.PixelUnshuffle(a["downscale_factor"])),
    # --- dropouts ---
    KindCase("dropout1d", (1, 2, 3), dropout_args, lambda x, a: nn.Dropout1d(**a)),  # rank 3: both refuse
    *[KindCase(kind, (1, 2, 3, 4), dropout_args, lambda x, a, cls=cls: cls(**a))
      for kind, cls in (("dropout2d", nn.Dropout2d), ("dropout3d", nn.Dropout3d), ("alpha_dropout", nn.AlphaDropout),
                        ("feature_alpha_dropout", nn.FeatureAlphaDropout))],
    KindCase("stochastic_depth", (1, 2, 3, 4), stochastic_depth_args,
             lambda x, a: StochasticDepth(a["p"], a["mode"])),
    # convolutions
    *[KindCase(f"conv{nd}d", (nd + 1,), conv_args, conv_reference, sizes=(1, 14 if nd < 3 else 8))
      for nd in (1, 2, 3)],
    KindCase("patch_embed3d", (4,), lambda x: st.fixed_dictionaries({
        "patch_size": per_axis(3, st.integers(1, 3)), "embed_dim": st.integers(1, 8), "norm": st.booleans(),
        "eps": st.sampled_from([1e-5, 1e-3])}), PatchEmbed3dReference, sizes=(1, 8)),
    KindCase("locally_connected2d", (3,), lambda x: st.fixed_dictionaries({
        "out_channels": st.integers(1, 3), "kernel_size": per_axis(2, st.integers(1, 3)),
        "stride": per_axis(2, st.integers(1, 2)), "padding": per_axis(2, st.integers(0, 1)), "bias": st.booleans()}),
        lambda x, a: LocallyConnected(x[0], a["out_channels"], x[1:], _pair(a["kernel_size"], 2),
                                      _pair(a["stride"], 2), _pair(a["padding"], 2), a["bias"]), sizes=(1, 9)),
    # fully connected
    KindCase("linear", (1, 2, 3, 4), lambda x: st.fixed_dictionaries({"out_features": st.integers(1, 40),
                                                                "bias": st.booleans()}),
             lambda x, a: nn.Linear(x[-1], a["out_features"], a["bias"])),
    KindCase("maxout", (1, 2, 3, 4), lambda x: st.fixed_dictionaries({
        "out_features": st.integers(1, 12), "pieces": st.integers(1, 5), "bias": st.booleans()}),
        lambda x, a: Maxout(x[-1], a["out_features"], a["pieces"], a["bias"])),
    # pooling
    KindCase("max_pool1d", (2,), lambda x: pool_args(x, dilation=True), max_pool_reference),
    KindCase("max_pool2d", (3,), lambda x: pool_args(x, dilation=True), max_pool_reference),
    KindCase("avg_pool1d", (2,), lambda x: pool_args(x, average=True), avg_pool_reference),
    KindCase("avg_pool2d", (3,), lambda x: pool_args(x, average=True, two_d=True), avg_pool_reference),
    KindCase("lp_pool2d", (3,), lambda x: pool_args(x, padding=False).map(lambda a: {"norm_type": 2.0, **a}),
             lambda x, a: nn.LPPool2d(a["norm_type"], a["kernel_size"], a["stride"], a["ceil_mode"])),
    KindCase("adaptive_avg_pool2d", (3,), lambda x: st.fixed_dictionaries({"output_size": st.one_of(
        st.integers(1, 7), st.lists(st.one_of(st.none(), st.integers(1, 7)), min_size=2, max_size=2))}),
        lambda x, a: nn.AdaptiveAvgPool2d(tuple(a["output_size"]) if isinstance(a["output_size"], list)
                                          else a["output_size"])),
    KindCase("mean", (1, 2, 3, 4), mean_args,
             lambda x, a: Lambda(lambda v: torch.mean(v, tuple(batched(d) for d in _listed(a["dim"])), a["keepdim"]))),
    # normalisation
    KindCase("batch_norm1d", (1, 2), batch_norm_args, batch_norm_reference),
    KindCase("batch_norm2d", (3,), batch_norm_args, batch_norm_reference),
    KindCase("layer_norm", (1, 2, 3, 4), layer_norm_args,
             lambda x, a: nn.LayerNorm(a["normalized_shape"], a["eps"], a["elementwise_affine"], a["bias"])),
    KindCase("local_response_norm", (1, 2, 3, 4), lambda x: st.fixed_dictionaries({  # rank 1: both refuse
        "size": st.integers(1, 6), "alpha": st.sampled_from([1e-4, 1e-2]), "beta": st.sampled_from([0.75, 0.5]),
        "k": st.sampled_from([1.0, 2.0])}), lambda x, a: nn.LocalResponseNorm(**a)),
    KindCase("local_contrast_norm", (3,), lambda x: st.fixed_dictionaries({"size": st.sampled_from([1, 3, 5, 4])}),
             lambda x, a: LocalContrast(a["size"])),
    # element-wise
    activation("relu", nn.ReLU, lambda x: st.fixed_dictionaries({"inplace": st.booleans()})),
    activation("relu6", nn.ReLU6),
    activation("leaky_relu", nn.LeakyReLU,
               lambda x: st.fixed_dictionaries({"negative_slope": st.sampled_from([0.01, 0.2])})),
    activation("elu", nn.ELU, lambda x: st.fixed_dictionaries({"alpha": st.just(1.0)})),
    activation("gelu", nn.GELU,
               lambda x: st.fixed_dictionaries({"approximate": st.sampled_from(["none", "tanh"])})),
    activation("silu", nn.SiLU),
    activation("sigmoid", nn.Sigmoid),
    activation("tanh", nn.Tanh),
    KindCase("softmax", (1, 2, 3, 4), softmax_args, lambda x, a: nn.Softmax(dim=batched(a["dim"]))),
    KindCase("log_softmax", (1, 2, 3, 4), softmax_args, lambda x, a: nn.LogSoftmax(dim=batched(a["dim"]))),
    # structure
    KindCase("flatten", (1, 2, 3, 4), lambda x: st.fixed_dictionaries({
        "start_dim": st.integers(-len(x), len(x)), "end_dim": st.integers(-len(x), len(x))}),  # len(x): refused
        lambda x, a: nn.Flatten(batched(a["start_dim"]), batched(a["end_dim"]))),
    KindCase("dropout", (1, 2, 3, 4), lambda x: st.fixed_dictionaries({"p": st.sampled_from([0.0, 0.5])}),
             lambda x, a: nn.Dropout(a["p"])),
    KindCase("identity", (1, 2, 3, 4), no_args, lambda x, a: nn.Identity()),
    KindCase("repeat_vector", (1,), lambda x: st.fixed_dictionaries({"times": st.integers(1, 6)}),
             lambda x, a: Lambda(lambda v: v.unsqueeze(1).expand(-1, a["times"], -1))),
    # sequences
    *[KindCase(kind, (2,), lambda x, kind=kind: recurrent_args(x, kind), recurrent_reference(kind), sizes=(1, 10))
      for kind in ("rnn", "lstm", "gru")],
    KindCase("embedding", (1,), lambda x: st.integers(1, 40).flatmap(lambda n: st.fixed_dictionaries({
        "num_embeddings": st.just(n), "embedding_dim": st.integers(1, 12),
        "padding_idx": st.one_of(st.none(), st.integers(-n - 1, n))})),  # ±n are outside: refused
        lambda x, a: nn.Embedding(a["num_embeddings"], a["embedding_dim"], a["padding_idx"]), dtype="index"),
    # position encodings
    KindCase("rotary_embedding", (2, 3, 4), rotary_args, lambda x, a: Rotary(a["theta"])),
    KindCase("sinusoidal_position_encoding", (2,), position_encoding_args,
             lambda x, a: PositionalEncoding(x[-1], a.get("max_len", 5000))),
    # merges
    # attention
    KindCase("multihead_attention", (2,), self_attention_args, SelfAttentionReference, sizes=(1, 12)),
    KindCase("shifted_window_attention", (3,), window_attention_args, WindowAttentionReference, sizes=(1, 9)),
    KindCase("shifted_window_attention_v2", (3,), window_attention_args, WindowAttentionV2Reference, sizes=(1, 9)),
    KindCase("shifted_window_attention3d", (4,), window_attention3d_args, WindowAttention3dReference, sizes=(1, 6)),
    GridCase("multiscale_block", (2,), multiscale_block_args, MultiscaleBlockReference),
    GridCase("mvit_position_encoding", (2,), mvit_position_encoding_args, MViTPositionReference, extra=0),
    KindCase("transformer_encoder_layer", (2,), encoder_args, encoder_reference, sizes=(1, 10)),
    KindCase("transformer_encoder", (2,), lambda x: encoder_args(x, True),
             lambda x, a: encoder_reference(x, a, True), sizes=(1, 10)),
    KindCase("transformer_decoder_layer", (2,), decoder_args, decoder_reference, sizes=(1, 10)),
    KindCase("transformer_decoder", (2,), lambda x: decoder_args(x, True),
             lambda x, a: decoder_reference(x, a, True), sizes=(1, 10)),
    KindCase("transformer", (2,), transformer_args, TransformerReference, sizes=(1, 8)),
    KindCase("relative_positional_attention", (3,), relative_attention_args, RelativeAttentionReference,
             sizes=(1, 16)),
    KindCase("scaled_dot_product_attention", (2, 3), attention_args, AttentionReference, stacks=False,
             sizes=(1, 6)),
    KindCase("matmul", (2, 3), matmul_args, MatmulReference, stacks=False, sizes=(1, 6)),
    KindCase("add", (3,), add_args, lambda x, a: Branches(x, a, _sum), stacks=False, sizes=(1, 6)),
    KindCase("mul", (3,), mul_args, lambda x, a: Branches(x, a, _product), stacks=False, sizes=(1, 6)),
    KindCase("parameter", (1, 2, 3, 4), lambda x: st.fixed_dictionaries({"shape": st.lists(st.integers(1, 5),
                                                                                             min_size=1, max_size=4)}),
             lambda x, a: Learned(a["shape"])),
    # structure: views and shuffles
    KindCase("reshape", (1, 2, 3, 4), reshape_args, lambda x, a: Lambda(lambda v: v.reshape(v.shape[0], *a["shape"]))),
    KindCase("permute", (1, 2, 3, 4), permute_args,
             lambda x, a: Lambda(lambda v: v.permute(0, *(d % (v.dim() - 1) + 1 if len(a["dims"]) == v.dim() - 1
                                                            else d for d in a["dims"])))),
    KindCase("transpose", (1, 2, 3, 4), lambda x: st.fixed_dictionaries({
        "dim0": st.integers(-len(x), len(x)), "dim1": st.integers(-len(x), len(x) - 1)}),
        lambda x, a: Lambda(lambda v: v.transpose(batched(a["dim0"]), batched(a["dim1"])))),
    KindCase("unflatten", (1, 2, 3, 4), unflatten_args,
             lambda x, a: nn.Unflatten(batched(a["dim"]), a["unflattened_size"])),
    KindCase("squeeze", (1, 2, 3, 4), lambda x: st.fixed_dictionaries({"dim": st.one_of(
        st.none(), st.integers(-len(x), len(x)))}), lambda x, a: Lambda(lambda v: _squeeze(v, a["dim"])), sizes=(1, 3)),
    KindCase("unsqueeze", (1, 2, 3, 4), lambda x: st.fixed_dictionaries({"dim": st.integers(-len(x) - 1, len(x) + 1)}),
             lambda x, a: Lambda(lambda v: v.unsqueeze(batched(a["dim"])))),
    KindCase("select", (1, 2, 3, 4), lambda x: st.integers(-len(x), len(x)).flatmap(  # rank: out of range
        lambda d: st.fixed_dictionaries({"dim": st.just(d), "index": st.integers(-8, 8)})),  # past the size: refused
        lambda x, a: Lambda(lambda v: v.select(batched(a["dim"]), a["index"]))),
    KindCase("narrow", (1, 2, 3, 4), lambda x: st.fixed_dictionaries({  # dim len(x): out of range
        "dim": st.integers(-len(x), len(x)), "start": st.integers(-9, 9),  # past the size: refused
        "length": st.integers(1, 9)}),  # start + length past the size: refused
        lambda x, a: Lambda(lambda v: v.narrow(batched(a["dim"]), a["start"], a["length"]))),
    KindCase("channel_shuffle", (1, 2, 3, 4), lambda x: st.fixed_dictionaries({"groups": st.integers(1, 4)}),
             lambda x, a: nn.ChannelShuffle(a["groups"])),
    KindCase("patch_merging_pad", (3, 4), lambda x: st.just({}), patch_merging_pad_reference),
    KindCase("concat", (3,), concat_args,
             lambda x, a: Branches(x, a, lambda outs: torch.cat(outs, batched(a["dim"]))),
             stacks=False, sizes=(1, 6)),
]}

STARTS = [c for c in TABLE.values() if c.stacks]  # a stack may start by reading token ids (embedding)
STACKABLE = [c for c in STARTS if c.dtype == "float"]


def tensor_args(kind: str, args: dict) -> list[tuple[str, list]]:
    """[(argument, shape)] of a case's tensor arguments (cross-attention's memory): a table's
    arguments give each as the shape of one sample of the tensor it names."""
    from archcalc.layers.registry import kinds

    k = kinds().get(kind)
    return [(arg.name, list(args[arg.name])) for arg in (k.args if k else ()) if k.is_tensor_arg(arg)
            and isinstance(args.get(arg.name), (list, tuple))]


def spec_doc(shape: Shape, layers: list[tuple[KindCase, dict]], dtype: str = "float") -> dict:
    """A spec (as a mapping) with these layers on an input of this shape; each tensor argument
    (a shape in the table's arguments) becomes an input of its own, which the layer names."""
    main = {"shape": list(shape), "dtype": dtype} if dtype == "index" else list(shape)
    inputs, items = {}, []
    for case, args in layers:
        for name, given in tensor_args(case.kind, args):
            inputs[f"{name}{len(inputs) + 1}"] = given
            args = dict(args, **{name: f"{name}{len(inputs)}"})
        items.append(case.item(args))
    if inputs:
        return {"archcalc": 1, "inputs": {"input": main, **inputs}, "layers": items}
    return {"archcalc": 1, "input": main, "layers": items}


def all_inputs(analysis, x) -> tuple:
    """x and a random batch of each of the spec's other inputs (tensor arguments' tensors)."""
    return (x, *(torch.randn(x.shape[0], *(int(d) for d in shape)) for shape in analysis.more_inputs.values()))


BATCH = 2  # the batch the references run at


def sample_input(case: KindCase, shape: Shape, args: dict, batch: int = BATCH):
    """A random batch for the case's first layer (token ids below its vocabulary)."""
    if case.dtype == "index":
        return torch.randint(0, args["num_embeddings"], (batch, *shape))
    return torch.randn(batch, *shape)


@contextlib.contextmanager
def no_mha_fast_path():
    """nn.MultiheadAttention without its native fast path (eval, no gradients), which
    FlopCounterMode counts as 0; with scaled_dot_product_attention's math kernel (on the CPU
    its flash kernel is uncounted too), every attention product is counted."""
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(True)


REFUSALS = (RuntimeError, ValueError, IndexError, AssertionError)  # what torch raises for settings it refuses


# ---- running rows: the engine's figures and torch's, for one layer or a stack ------------------

def engine(shape: Shape, layers: list[tuple[KindCase, dict]], dtype: str = "float", batch: int = 1):
    """The engine's analysis of these layers, or the SpecError it refuses them with."""
    import json

    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec_text
    from archcalc.spec.errors import SpecError

    try:
        return analyze(load_spec_text(json.dumps(spec_doc(shape, layers, dtype)), "case.yaml"), None, batch)
    except SpecError as err:
        return err


def measured(case: KindCase, shape: Shape, args: dict, x=None):
    """(the reference module's output, its (output shape per sample, params, buffers, FLOPs of
    the whole batch)) on a batch of 2 (BATCH), or None when torch refuses the settings. The
    batch's FLOPs, not per sample: work done once per pass (Swin V2's position-bias MLP) is
    counted once, which the engine's figure at the same batch must say too."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    x = sample_input(case, shape, args) if x is None else x
    extras = [torch.randn(x.shape[0], *given) for _, given in tensor_args(case.kind, args)]
    try:
        module = case.reference(tuple(shape), args)
        with torch.backends.mkldnn.flags(enabled=False), sdpa_kernel(SDPBackend.MATH), no_mha_fast_path(), \
                FlopCounterMode(display=False) as counter, torch.no_grad():
            y = module(x, *extras)
    except REFUSALS:
        return None
    y = y[0] if isinstance(y, tuple) else y
    return y, (tuple(y.shape[1:]), sum(p.numel() for p in module.parameters()),
               sum(b.numel() for b in module.buffers()), counter.get_total_flops())


def _by_family(cases: list[KindCase]) -> st.SearchStrategy:
    """A family first, then one of its kinds: the ten activations don't crowd out the convolutions."""
    from archcalc.layers.registry import kinds

    families: dict[str, list[KindCase]] = {}
    for case in cases:
        families.setdefault(kinds()[case.kind].family, []).append(case)
    return st.sampled_from(sorted(families)).flatmap(lambda f: st.sampled_from(families[f]))


@st.composite
def stacks(draw, max_layers: int = 6):
    """A random stack: a first kind's input, then kinds that take the rank each layer makes,
    with arguments drawn for the exact shape the engine says reaches them. (shape, layers,
    dtype); the last layer may be one both the engine and torch refuse."""
    first = draw(_by_family(STARTS))
    shape = draw(first.inputs())
    layers: list[tuple[KindCase, dict]] = [(first, draw(first.args(shape)))]
    analysis = engine(shape, layers, first.dtype)
    for _ in range(draw(st.integers(0, max_layers - 1))):
        if not hasattr(analysis, "output") or not analysis.output:  # refused, or one number per sample (a mean)
            break
        x = analysis.output
        case = draw(_by_family([c for c in STACKABLE if len(x) in c.ranks] or STACKABLE))
        layers.append((case, draw(case.args(x))))
        analysis = engine(shape, layers, first.dtype)
    return tuple(shape), layers, first.dtype
