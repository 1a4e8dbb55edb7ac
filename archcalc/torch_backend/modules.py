"""Modules torch lacks, written once: locally connected 2-D, maxout, local contrast norm,
rotary and sinusoidal position encodings.

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
    keeps the layer at 0 FLOPs under FlopCounterMode like every normalisation (docs/conventions.md).
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


class ParameterLayer(nn.Module):
    """A spec's `parameter`: a learned tensor, expanded over the batch (no copy). Its tensor is
    called `value`, neither weight nor bias, as a parameter a model reads in forward is not a
    layer's weight to the tools that look for those names."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.value = nn.Parameter(torch.randn(*shape) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # without gradients, a view of a parameter would claim one without a grad_fn (module hooks refuse it)
        value = self.value if torch.is_grad_enabled() else self.value.detach()
        return value.expand(x.shape[0], *value.shape)


class CenterCrop(nn.Module):
    """The central `size` positions of each spatial axis of [B, C, spatial...], as
    torchvision.transforms.CenterCrop crops an image: the crop starts at round((n − size)/2)
    (Python's round, half to even). `size`: one size for every spatial axis, or one per axis.
    A slice, so the output is a view of the input; a size larger than the input is refused
    (torchvision would pad)."""

    def __init__(self, size):
        super().__init__()
        self.size = tuple(size) if isinstance(size, (list, tuple)) else (size,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = [int(n) for n in x.shape[2:]]  # plain sizes also while torch.jit traces it
        sizes = self.size * len(spatial) if len(self.size) == 1 else self.size
        if not spatial or len(sizes) != len(spatial) or any(s > n for s, n in zip(sizes, spatial)):
            raise ValueError(f"can't crop {tuple(spatial)} to {tuple(sizes)}")
        index = [slice(None), slice(None)]
        for n, s in zip(spatial, sizes):
            start = int(round((n - s) / 2.0))
            index.append(slice(start, start + s))
        return x[tuple(index)]


class PeepholeLSTM(nn.Module):
    """The course's LSTM, step by step, batch first:

        i_t = σ(W_xi x_t + W_hi h_{t-1} + w_ci ⊙ c_{t-1} + b_i)
        f_t = σ(W_xf x_t + W_hf h_{t-1} + w_cf ⊙ c_{t-1} + b_f)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ tanh(W_xc x_t + W_hc h_{t-1} + b_c)
        o_t = σ(W_xo x_t + W_ho h_{t-1} + w_co ⊙ c_t + b_o)
        h_t = o_t ⊙ tanh(c_t)

    Weights are stacked in torch's gate order (i, f, c, o): weight_ih_l{k}[_reverse] is
    [4H, F_l], weight_hh [4H, H], bias_ih [4H] (and bias_hh [4H] with two bias sets), and
    with peepholes w_ci, w_cf, w_co [H] each. The per-step products are matmuls, so
    FlopCounterMode sees every gate multiplication.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 bidirectional: bool = False, peephole: bool = True, bias_sets: int = 1):
        super().__init__()
        self.hidden_size, self.num_layers, self.peephole = hidden_size, num_layers, peephole
        self.bias, self.bidirectional, self.bias_sets = bias, bidirectional, bias_sets  # as nn.LSTM names them
        self.batch_first = True
        self.directions = 2 if bidirectional else 1
        bound = 1 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            f_in = input_size if layer == 0 else hidden_size * self.directions
            for d in range(self.directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = {"weight_ih": (4 * hidden_size, f_in), "weight_hh": (4 * hidden_size, hidden_size)}
                if bias:
                    shapes["bias_ih"] = (4 * hidden_size,)
                    if bias_sets == 2:
                        shapes["bias_hh"] = (4 * hidden_size,)
                if peephole:
                    shapes.update({"w_ci": (hidden_size,), "w_cf": (hidden_size,), "w_co": (hidden_size,)})
                for name, shape in shapes.items():
                    p = nn.Parameter(torch.empty(shape))
                    nn.init.uniform_(p, -bound, bound)
                    self.register_parameter(name + sfx, p)

    def _param(self, name: str, layer: int, d: int):
        return getattr(self, f"{name}_l{layer}" + ("_reverse" if d else ""), None)

    def _direction(self, x: torch.Tensor, layer: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
        batch, steps, _ = x.shape
        h = x.new_zeros(batch, self.hidden_size)
        c = x.new_zeros(batch, self.hidden_size)
        w_ih, w_hh = self._param("weight_ih", layer, d), self._param("weight_hh", layer, d)
        b = self._param("bias_ih", layer, d)
        b2 = self._param("bias_hh", layer, d)
        outs = []
        order = range(steps - 1, -1, -1) if d else range(steps)
        for t in order:
            gates = x[:, t] @ w_ih.T + h @ w_hh.T
            if b is not None:
                gates = gates + b
            if b2 is not None:
                gates = gates + b2
            gi, gf, gc, go = gates.chunk(4, dim=1)
            if self.peephole:
                gi = gi + self._param("w_ci", layer, d) * c
                gf = gf + self._param("w_cf", layer, d) * c
            c = torch.sigmoid(gf) * c + torch.sigmoid(gi) * torch.tanh(gc)
            if self.peephole:
                go = go + self._param("w_co", layer, d) * c
            h = torch.sigmoid(go) * torch.tanh(c)
            outs.append(h)
        if d:
            outs.reverse()
        return torch.stack(outs, 1), h

    def forward(self, x: torch.Tensor):
        finals = []
        for layer in range(self.num_layers):
            results = [self._direction(x, layer, d) for d in range(self.directions)]
            x = torch.cat([seq for seq, _ in results], dim=2)
            finals = [h for _, h in results]
        return x, torch.stack(finals, 0)


class RecurrentLayer(nn.Module):
    """A spec's rnn/lstm/gru: torch's module (batch first), or PeepholeLSTM for the course's
    forms, returning every step's output (many to many) or only the final one."""

    def __init__(self, kind, input_size: int, a):
        """`kind`: the layer kind (rnn, lstm, gru), whose first torch class is torch's module."""
        super().__init__()
        self.return_sequences = a.return_sequences
        self.directions = 2 if a.bidirectional else 1
        common = dict(num_layers=a.num_layers, bias=a.bias, bidirectional=a.bidirectional)
        if kind.torch_variant(a) == "course":
            self.cell = PeepholeLSTM(input_size, a.hidden_size, peephole=a.peephole, bias_sets=a.bias_sets, **common)
        else:
            extra = {"nonlinearity": a.nonlinearity} if "nonlinearity" in dict(a.items()) else {}
            self.cell = getattr(nn, kind.torch_classes[0])(input_size, a.hidden_size, batch_first=True,
                                                            dropout=a.dropout, **common, **extra)

    def unwrap(self) -> tuple[nn.Module, dict]:
        """What `archcalc import` reads this as: its torch module, and the spec argument it adds."""
        return self.cell, {} if self.return_sequences else {"return_sequences": False}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, state = self.cell(x)
        if self.return_sequences:
            return out
        h_n = state[0] if isinstance(state, tuple) else state  # LSTM: (h_n, c_n)
        last = h_n[-self.directions:]  # the top layer, each direction's final state
        return torch.cat(list(last), dim=-1)


class RepeatVector(nn.Module):
    """[B, F] → [B, T, F]: the same vector at every step."""

    def __init__(self, times: int):
        super().__init__()
        self.times = times

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1).expand(-1, self.times, -1)


class Reshape(nn.Module):
    """A spec's reshape: every sample to `shape` (the batch axis left as it is)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


class Permute(nn.Module):
    """A spec's permute: the per-sample axes in the order `dims`, the batch axis first."""

    def __init__(self, dims):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, *(d % (x.dim() - 1) + 1 for d in self.dims))


class Transpose(nn.Module):
    def __init__(self, dim0: int, dim1: int):
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rank = x.dim() - 1
        return x.transpose(self.dim0 % rank + 1, self.dim1 % rank + 1)


class Squeeze(nn.Module):
    """Axes of size 1 of each sample removed (`dim`, or all of them), never the batch axis."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rank = x.dim() - 1
        dims = [d for d in range(rank) if x.shape[d + 1] == 1] if self.dim is None else [self.dim % rank]
        return x.squeeze(tuple(d + 1 for d in dims)) if dims else x


class Select(nn.Module):
    """A spec's select: one position of a per-sample axis, the axis removed (x[:, 0])."""

    def __init__(self, dim: int, index: int):
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.select(self.dim % (x.dim() - 1) + 1, self.index)


class Narrow(nn.Module):
    """A spec's narrow: `length` positions of a per-sample axis from `start` (a view)."""

    def __init__(self, dim: int, start: int, length: int):
        super().__init__()
        self.dim, self.start, self.length = dim, start, length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.narrow(self.dim % (x.dim() - 1) + 1, self.start, self.length)


class Unsqueeze(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(self.dim % x.dim() + 1)


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth, as torchvision defines it (torchvision may be absent):
    while training, each sample's input ("row") or the whole batch's ("batch") is zeroed with
    probability p and the rest divided by 1 − p; in eval it returns its input."""

    def __init__(self, p: float, mode: str):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"drop probability has to be between 0 and 1, but got {self.p}")
        if self.mode not in ("batch", "row"):
            raise ValueError(f"mode has to be either 'batch' or 'row', but got {self.mode}")
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


class Mean(nn.Module):
    """torch.mean over `dim` (torch's axes, the batch axis first), as a module: torch has none."""

    def __init__(self, dim, keepdim: bool = False):
        super().__init__()
        self.dim, self.keepdim = tuple(dim), keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(self.dim, keepdim=self.keepdim)


class EncoderDecoder(nn.Module):
    """A spec's transformer: torch's nn.Transformer (batch first), called on the target the
    spec's flow brings and the source it names, as transformer(src, tgt): no masks (a
    causal mask changes no count, as torch counts it)."""

    def __init__(self, d_model: int, a):
        super().__init__()
        self.transformer = nn.Transformer(d_model, a.nhead, a.num_encoder_layers, a.num_decoder_layers,
                                          a.dim_feedforward, a.dropout, a.activation, layer_norm_eps=a.layer_norm_eps,
                                          batch_first=True, norm_first=a.norm_first, bias=a.bias)

    def unwrap(self) -> tuple[nn.Module, dict]:
        return self.transformer, {}

    def forward(self, tgt: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        return self.transformer(src, tgt)


class SelfAttention(nn.Module):
    """A spec's multihead_attention: torch's nn.MultiheadAttention (batch first) given the
    sequence as query, key and value (or the memory as key and value: cross-attention), returning the output alone (with need_weights, as the
    spec says: torch's own transformer layers call it without)."""

    def __init__(self, embed_dim: int, a):
        super().__init__()
        kdim = int(a.memory.shape[-1]) if getattr(a, "memory", None) is not None else None
        self.attention = nn.MultiheadAttention(embed_dim, a.num_heads, dropout=a.dropout, bias=a.bias,
                                               add_bias_kv=a.add_bias_kv, add_zero_attn=a.add_zero_attn,
                                               kdim=kdim, vdim=kdim, batch_first=True)
        self.need_weights = a.need_weights

    def unwrap(self) -> tuple[nn.Module, dict]:
        """What `archcalc import` reads this as: its torch module, and how it is called."""
        return self.attention, {"need_weights": True} if self.need_weights else {}

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:
        kv = x if memory is None else memory
        return self.attention(x, kv, kv, need_weights=self.need_weights)[0]


class RotaryEmbedding(nn.Module):
    """A spec's rotary_embedding: RoPE on [B, ..., T, d] for positions 0 … T − 1, as Hugging
    Face's LlamaRotaryEmbedding and apply_rotary_pos_emb compute it (the angles t·θ^(−2i/d) in
    float32, repeated over both halves; x·cos + rotate_half(x)·sin). Element-wise operators
    only (`*`, `+`, no matmul, no torch.mul): FlopCounterMode counts it 0, and no peer tool's
    patched function sees it. The table is made in forward, for the input's T: no buffer."""

    def __init__(self, theta: float = 10000.0):
        super().__init__()
        self.theta = theta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, d = x.shape[-2], x.shape[-1]
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, d, 2, dtype=torch.float, device=x.device) / d))
        freqs = torch.arange(t, dtype=torch.float, device=x.device)[:, None] * inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        half = d // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rotated * sin

    def extra_repr(self) -> str:
        return f"theta={self.theta}"


class SinusoidalPositionEncoding(nn.Module):
    """A spec's sinusoidal_position_encoding: Vaswani et al.'s table for `max_len` positions,
    registered as a buffer `pe` [max_len, E] as pytorch/examples' PositionalEncoding does (batch
    first here, and without its dropout); forward adds its first T rows to [B, T, E]."""

    def __init__(self, embed_dim: int, max_len: int = 5000):
        super().__init__()
        self.max_len = max_len
        position = torch.arange(max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, embed_dim, 2, dtype=torch.float) * (-math.log(10000.0) / embed_dim))
        pe = torch.zeros(max_len, embed_dim)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pe[:x.shape[-2]]

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}"


class RelativePositionalMultiHeadAttention(nn.Module):
    """A spec's relative_positional_attention on [B, G, P, D]: what torchvision's MaxViT
    RelativePositionalMultiHeadAttention computes, written out with its names (to_qkv, merge,
    relative_position_bias_table, relative_position_index) and its operations (the two
    linear layers called as modules, the two einsums): in each of the G partitions of
    P = s² tokens, h = D/head_dim heads of softmax(q·(k·D^-½)ᵀ + bias)·v, the bias read from a
    table of (2·s − 1)² offsets per head by the index of each token pair, then merged."""

    def __init__(self, dim: int, a):
        super().__init__()
        self.head_dim, self.size = a.head_dim, a.partition_size
        self.n_heads, self.max_seq_len = dim // a.head_dim, a.partition_size ** 2
        self.to_qkv = nn.Linear(dim, 3 * self.n_heads * self.head_dim)
        self.scale_factor = dim ** -0.5  # torchvision's: the features', not a head's
        self.merge = nn.Linear(self.n_heads * self.head_dim, dim)
        s = self.size
        self.relative_position_bias_table = nn.Parameter(torch.empty((2 * s - 1) ** 2, self.n_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # P, P, 2: offsets (dh, dw)
        self.register_buffer("relative_position_index", (relative[:, :, 0] + s - 1) * (2 * s - 1)
                             + relative[:, :, 1] + s - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, g, p, d = x.shape
        h, dh = self.n_heads, self.head_dim
        q, k, v = torch.chunk(self.to_qkv(x), 3, dim=-1)
        q, k, v = (t.reshape(b, g, p, h, dh).permute(0, 1, 3, 2, 4) for t in (q, k, v))
        scores = torch.einsum("B G H I D, B G H J D -> B G H I J", q, k * self.scale_factor)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(self.max_seq_len, self.max_seq_len, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        attention = F.softmax(scores + bias, dim=-1)
        out = torch.einsum("B G H I J, B G H J D -> B G H I D", attention, v)
        return self.merge(out.permute(0, 1, 3, 2, 4).reshape(b, g, p, d))


class ShiftedWindowAttention(nn.Module):
    """A spec's shifted_window_attention on [B, H, W, C]: what torchvision's
    ShiftedWindowAttention computes (its qkv and proj linear layers, whose weights forward
    passes to F.linear without calling them, the table of relative position biases and the
    index that reads it, the same names), written out here: pad to whole windows, roll by
    the shift, window, h heads of softmax(q·kᵀ·d^-½ + bias + mask)·v, project, unwindow, roll
    back, cut the padding."""

    def __init__(self, dim: int, a):
        super().__init__()
        self.window_size, self.shift_size = list(a.window_size), list(a.shift_size)
        self.num_heads, self.attention_dropout, self.dropout = a.num_heads, a.attention_dropout, a.dropout
        self.qkv = nn.Linear(dim, dim * 3, bias=a.qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=a.proj_bias)
        wh, ww = self.window_size
        self._position_bias_weights(wh, ww, a.num_heads)
        coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # N, N, 2: offsets (dh, dw)
        index = (relative[:, :, 0] + wh - 1) * (2 * ww - 1) + relative[:, :, 1] + ww - 1
        self.register_buffer("relative_position_index", index.flatten())

    def _position_bias_weights(self, wh: int, ww: int, heads: int) -> None:
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wh - 1) * (2 * ww - 1), heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def _gathered(self, table: torch.Tensor) -> torch.Tensor:
        """A table of one value per offset and head, read for every token pair: 1, heads, N, N."""
        n = self.window_size[0] * self.window_size[1]
        return table[self.relative_position_index].view(n, n, -1).permute(2, 0, 1).contiguous().unsqueeze(0)

    def _bias(self) -> torch.Tensor:
        return self._gathered(self.relative_position_bias_table)

    def _qkv_bias(self):
        return self.qkv.bias

    def _scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return (q * q.shape[-1] ** -0.5).matmul(k.transpose(-2, -1))

    def _mask(self, x: torch.Tensor, pad_h: int, pad_w: int, shift: list) -> torch.Tensor:
        """-100 between tokens of one window that came from different regions of the rolled map."""
        (wh, ww), (sh, sw) = self.window_size, shift
        regions = x.new_zeros((pad_h, pad_w))
        count = 0
        for h in ((0, -wh), (-wh, -sh), (-sh, None)):
            for w in ((0, -ww), (-ww, -sw), (-sw, None)):
                regions[h[0]:h[1], w[0]:w[1]] = count
                count += 1
        regions = regions.view(pad_h // wh, wh, pad_w // ww, ww).permute(0, 2, 1, 3).reshape(-1, wh * ww)
        differ = regions.unsqueeze(1) - regions.unsqueeze(2)
        return differ.masked_fill(differ != 0, -100.0).masked_fill(differ == 0, 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        (wh, ww), heads = self.window_size, self.num_heads
        x = F.pad(x, (0, 0, 0, (ww - w % ww) % ww, 0, (wh - h % wh) % wh))
        _, pad_h, pad_w, _ = x.shape
        shift = [0 if wh >= pad_h else self.shift_size[0], 0 if ww >= pad_w else self.shift_size[1]]
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
        windows = (pad_h // wh) * (pad_w // ww)
        x = x.view(b, pad_h // wh, wh, pad_w // ww, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b * windows, wh * ww, c)
        n = wh * ww
        bias = self._bias()
        qkv = F.linear(x, self.qkv.weight, self._qkv_bias()).reshape(b * windows, n, 3, heads, c // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = self._scores(q, k) + bias
        if sum(shift) > 0:
            attn = attn.view(b, windows, heads, n, n) + self._mask(x, pad_h, pad_w, shift).unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, heads, n, n)
        attn = F.dropout(F.softmax(attn, dim=-1), p=self.attention_dropout, training=self.training)
        x = attn.matmul(v).transpose(1, 2).reshape(b * windows, n, c)
        x = F.dropout(F.linear(x, self.proj.weight, self.proj.bias), p=self.dropout, training=self.training)
        x = x.view(b, pad_h // wh, pad_w // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b, pad_h, pad_w, c)
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(shift[0], shift[1]), dims=(1, 2))
        return x[:, :h, :w, :].contiguous()


class ShiftedWindowAttentionV2(ShiftedWindowAttention):
    """A spec's shifted_window_attention_v2 on [B, H, W, C]: torchvision's
    ShiftedWindowAttentionV2 written out with its names (qkv, proj, logit_scale, cpb_mlp, the
    relative_coords_table and relative_position_index buffers): the bias 16·sigmoid of the
    MLP on the table of log-spaced offsets, the qkv bias with its k third zeroed, cosine
    attention scaled by exp(min(logit_scale, ln 100)); the rest as shifted_window_attention."""

    def __init__(self, dim: int, a):
        super().__init__(dim, a)
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((a.num_heads, 1, 1))))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, 512, bias=True), nn.ReLU(inplace=True),
                                     nn.Linear(512, a.num_heads, bias=False))

    def _position_bias_weights(self, wh: int, ww: int, heads: int) -> None:
        """No learned table: a fixed one of the offsets, sign(t)·log2(|8·t| + 1)/3 with t the offset
        over the window's size less one (division by zero for a window of 1, as torchvision's)."""
        axes = [torch.arange(-(w - 1), w, dtype=torch.float32) / (w - 1) for w in (wh, ww)]
        table = torch.stack(torch.meshgrid(axes, indexing="ij")).permute(1, 2, 0).contiguous().unsqueeze(0) * 8
        self.register_buffer("relative_coords_table", torch.sign(table) * torch.log2(torch.abs(table) + 1.0) / 3.0)

    def _bias(self) -> torch.Tensor:
        return 16 * torch.sigmoid(self._gathered(self.cpb_mlp(self.relative_coords_table).view(-1, self.num_heads)))

    def _qkv_bias(self):
        if self.qkv.bias is None:
            return None
        bias = self.qkv.bias.clone()
        third = bias.numel() // 3
        bias[third:2 * third].zero_()
        return bias

    def _scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        return attn * torch.clamp(self.logit_scale, max=math.log(100.0)).exp()


class ShiftedWindowAttention3d(nn.Module):
    """A spec's shifted_window_attention3d on [B, T, H, W, C]: what torchvision's
    ShiftedWindowAttention3d computes (its qkv and proj, whose weights go to F.linear, the
    table of relative position biases and its [N, N] index, the same names), written out:
    each window no larger than its axis (and that axis unshifted), pad to whole windows, roll
    by the shift, window, h heads of softmax(q·kᵀ·d^-½ + bias + mask)·v, project, unwindow,
    roll back, cut the padding."""

    def __init__(self, dim: int, a):
        super().__init__()
        self.window_size, self.shift_size = list(a.window_size), list(a.shift_size)
        self.num_heads, self.attention_dropout, self.dropout = a.num_heads, a.attention_dropout, a.dropout
        self.qkv = nn.Linear(dim, dim * 3, bias=a.qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=a.proj_bias)
        wd, wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wd - 1) * (2 * wh - 1) * (2 * ww - 1), a.num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        coords = torch.stack(torch.meshgrid(*[torch.arange(w) for w in self.window_size], indexing="ij")).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # N, N, 3: offsets (dt, dh, dw)
        index = ((relative[:, :, 0] + wd - 1) * (2 * wh - 1) + relative[:, :, 1] + wh - 1) * (2 * ww - 1) \
            + relative[:, :, 2] + ww - 1
        self.register_buffer("relative_position_index", index)

    def _mask(self, x: torch.Tensor, padded: tuple, window: list, shift: list) -> torch.Tensor:
        """-100 between tokens of one window that came from different regions of the rolled clip."""
        regions = x.new_zeros(padded)
        count = 0
        bands = [((0, -w), (-w, -s), (-s, None)) for w, s in zip(window, shift)]
        for d in bands[0]:
            for h in bands[1]:
                for w in bands[2]:
                    regions[d[0]:d[1], h[0]:h[1], w[0]:w[1]] = count
                    count += 1
        (tp, hp, wp), (wd, wh, ww) = padded, window
        regions = regions.view(tp // wd, wd, hp // wh, wh, wp // ww, ww).permute(0, 2, 4, 1, 3, 5) \
            .reshape(-1, wd * wh * ww)
        differ = regions.unsqueeze(1) - regions.unsqueeze(2)
        return differ.masked_fill(differ != 0, -100.0).masked_fill(differ == 0, 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, h, w, c = x.shape
        window, shift = list(self.window_size), list(self.shift_size)
        for i, size in enumerate((t, h, w)):
            if size <= window[i]:
                window[i], shift[i] = size, 0
        (wd, wh, ww), heads = window, self.num_heads
        n = wd * wh * ww
        bias = self.relative_position_bias_table[self.relative_position_index[:n, :n].flatten()]
        bias = bias.view(n, n, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        x = F.pad(x, (0, 0, 0, -w % ww, 0, -h % wh, 0, -t % wd))
        _, tp, hp, wp, _ = x.shape
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(-shift[0], -shift[1], -shift[2]), dims=(1, 2, 3))
        windows = (tp // wd) * (hp // wh) * (wp // ww)
        x = x.view(b, tp // wd, wd, hp // wh, wh, wp // ww, ww, c).permute(0, 1, 3, 5, 2, 4, 6, 7) \
            .reshape(b * windows, n, c)
        qkv = F.linear(x, self.qkv.weight, self.qkv.bias).reshape(b * windows, n, 3, heads, c // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = (q * (c // heads) ** -0.5).matmul(k.transpose(-2, -1)) + bias
        if sum(shift) > 0:
            attn = attn.view(b, windows, heads, n, n) \
                + self._mask(x, (tp, hp, wp), window, shift).unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, heads, n, n)
        attn = F.dropout(F.softmax(attn, dim=-1), p=self.attention_dropout, training=self.training)
        x = attn.matmul(v).transpose(1, 2).reshape(b * windows, n, c)
        x = F.dropout(F.linear(x, self.proj.weight, self.proj.bias), p=self.dropout, training=self.training)
        x = x.view(b, tp // wd, hp // wh, wp // ww, wd, wh, ww, c).permute(0, 1, 4, 2, 5, 3, 6, 7) \
            .reshape(b, tp, hp, wp, c)
        if sum(shift) > 0:
            x = torch.roll(x, shifts=(shift[0], shift[1], shift[2]), dims=(1, 2, 3))
        return x[:, :t, :h, :w, :].contiguous()


class PatchEmbed3d(nn.Module):
    """A spec's patch_embed3d on [B, C, T, H, W]: torchvision's PatchEmbed3d (its proj and
    norm, the same names): padded at the end of each axis to whole patches, Conv3d of kernel
    = stride = patch, permuted to channels last, LayerNorm (or none)."""

    def __init__(self, in_channels: int, a):
        super().__init__()
        self.tuple_patch_size = tuple(a.patch_size)
        self.proj = nn.Conv3d(in_channels, a.embed_dim, kernel_size=self.tuple_patch_size,
                              stride=self.tuple_patch_size)
        self.norm = nn.LayerNorm(a.embed_dim, eps=a.eps) if a.norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, t, h, w = x.shape
        pt, ph, pw = self.tuple_patch_size
        x = F.pad(x, (0, -w % pw, 0, -h % ph, 0, -t % pt))
        return self.norm(self.proj(x).permute(0, 2, 3, 4, 1))


class PatchMergingPad(nn.Module):
    """A spec's patch_merging_pad on [..., H, W, C]: torchvision's _patch_merging_pad, H and W
    padded with zeros to even sizes, then x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2] and
    x[1::2, 1::2] joined along the channels: [..., ⌈H/2⌉, ⌈W/2⌉, 4·C]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-3], x.shape[-2]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        return torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :],
                          x[..., 1::2, 1::2, :]], -1)


class MViTPositionEncoding(nn.Module):
    """A spec's mvit_position_encoding on [B, T·H·W, E]: torchvision's PositionalEncoding (the
    same tensor names), the class token put first, then unless rel_pos_embed the spatial
    embedding repeated over the frames plus the temporal one repeated over the positions, and
    the class token's own, added."""

    def __init__(self, embed_size: int, temporal_size: int, spatial_size: tuple, rel_pos_embed: bool):
        super().__init__()
        self.temporal_size, self.spatial_size = temporal_size, spatial_size
        self.class_token = nn.Parameter(torch.zeros(embed_size))
        self.spatial_pos = self.temporal_pos = self.class_pos = None
        if not rel_pos_embed:
            self.spatial_pos = nn.Parameter(torch.zeros(spatial_size[0] * spatial_size[1], embed_size))
            self.temporal_pos = nn.Parameter(torch.zeros(temporal_size, embed_size))
            self.class_pos = nn.Parameter(torch.zeros(embed_size))
        for p in self.parameters():
            nn.init.trunc_normal_(p, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat((self.class_token.expand(x.shape[0], 1, -1), x), dim=1)
        if self.spatial_pos is None:
            return x
        hw, e = self.spatial_pos.shape
        grid = self.temporal_pos.repeat_interleave(hw, dim=0) + self.spatial_pos.repeat(self.temporal_size, 1)
        return x + torch.cat((self.class_pos.unsqueeze(0), grid), dim=0).unsqueeze(0)


class _MViTPool(nn.Module):
    """torchvision's Pool with a depthwise Conv3d (or the skip path's MaxPool3d) and a
    LayerNorm after: the class token set aside, the grid tokens [B, heads, T·H·W, C] pooled as
    [B·heads, C, T, H, W], the token put back, normed. The same tensor names (pool, norm_act.0)."""

    def __init__(self, pool: nn.Module, norm: nn.Module | None):
        super().__init__()
        self.pool, self.norm_before_pool = pool, False
        self.norm_act = nn.Sequential(norm) if norm is not None else None

    def forward(self, x: torch.Tensor, thw: tuple) -> tuple[torch.Tensor, tuple]:
        squeeze = x.dim() == 3
        if squeeze:
            x = x.unsqueeze(1)
        token, grid = x[:, :, :1], x[:, :, 1:]
        b, heads, _, c = grid.shape
        grid = self.pool(grid.transpose(2, 3).reshape(b * heads, c, *thw))
        thw = tuple(grid.shape[2:])
        x = torch.cat((token, grid.reshape(b, heads, c, -1).transpose(2, 3)), dim=2)
        if self.norm_act is not None:
            x = self.norm_act(x)
        return (x.squeeze(1) if squeeze else x), thw


class _MultiscaleAttention(nn.Module):
    """The attention of a spec's multiscale_block, torchvision's MultiscaleAttention (the same
    tensor names: qkv, project.0, pool_q/k/v, rel_pos_h/w/t)."""

    def __init__(self, dim: int, width: int, a, eps: float):
        super().__init__()
        self.num_heads, self.head_dim = a.num_heads, width // a.num_heads
        self.width, self.residual_pool, self.residual_with_cls_embed = width, a.residual_pool, a.residual_with_cls_embed
        self.qkv = nn.Linear(dim, 3 * width)
        self.project = nn.Sequential(nn.Linear(width, width), *([nn.Dropout(a.dropout)] if a.dropout > 0 else []))
        d = self.head_dim

        def pool(kernel, stride):
            if math.prod(kernel) == 1 and math.prod(stride) == 1:
                return None
            conv = nn.Conv3d(d, d, kernel, stride=stride, padding=[k // 2 for k in kernel], groups=d, bias=False)
            return _MViTPool(conv, nn.LayerNorm(d, eps=eps))

        self.pool_q = pool(a.kernel_q, a.stride_q)
        self.pool_k, self.pool_v = pool(a.kernel_kv, a.stride_kv), pool(a.kernel_kv, a.stride_kv)
        self.rel_pos_h = self.rel_pos_w = self.rel_pos_t = None
        if a.rel_pos_embed:
            size = max(a.thw[1:])
            spatial = 2 * max(size // a.stride_q[1], size // a.stride_kv[1]) - 1
            self.rel_pos_h = nn.Parameter(torch.zeros(spatial, d))
            self.rel_pos_w = nn.Parameter(torch.zeros(spatial, d))
            self.rel_pos_t = nn.Parameter(torch.zeros(2 * a.thw[0] - 1, d))
            for p in (self.rel_pos_h, self.rel_pos_w, self.rel_pos_t):
                nn.init.trunc_normal_(p, std=0.02)

    @staticmethod
    def _table(table: torch.Tensor, q: int, k: int) -> torch.Tensor:
        """The table's rows for each (query, key) offset along one axis: [q, k, d], the table
        first resized (linearly) to 2·max(q, k) − 1 rows when it has another length."""
        rows = 2 * max(q, k) - 1
        if table.shape[0] != rows:
            table = F.interpolate(table.t().unsqueeze(0), size=rows, mode="linear").squeeze(0).t()
        q_ratio, k_ratio = max(k / q, 1.0), max(q / k, 1.0)
        offsets = torch.arange(q)[:, None] * q_ratio - (torch.arange(k)[None, :] + (1.0 - k)) * k_ratio
        return table[offsets.long()]

    def _rel_pos(self, attn, q, q_thw, k_thw):
        (qt, qh, qw), (kt, kh, kw) = q_thw, k_thw
        rh, rw = self._table(self.rel_pos_h, qh, kh), self._table(self.rel_pos_w, qw, kw)
        rt = self._table(self.rel_pos_t, qt, kt)
        b, heads, _, d = q.shape
        grid = q[:, :, 1:].reshape(b, heads, qt, qh, qw, d)
        along_h = torch.einsum("bythwc,hkc->bythwk", grid, rh)
        along_w = torch.einsum("bythwc,wkc->bythwk", grid, rw)
        along_t = torch.matmul(grid.permute(2, 0, 1, 3, 4, 5).reshape(qt, b * heads * qh * qw, d), rt.transpose(1, 2))
        along_t = along_t.transpose(0, 1).view(b, heads, qh, qw, qt, kt).permute(0, 1, 4, 2, 3, 5)
        rel = (along_h[:, :, :, :, :, None, :, None] + along_w[:, :, :, :, :, None, None, :]
               + along_t[:, :, :, :, :, :, None, None]).reshape(b, heads, qt * qh * qw, kt * kh * kw)
        attn[:, :, 1:, 1:] += rel
        return attn

    def forward(self, x: torch.Tensor, thw: tuple) -> tuple[torch.Tensor, tuple]:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).transpose(1, 3).unbind(dim=2)
        k, k_thw = self.pool_k(k, thw) if self.pool_k is not None else (k, thw)
        v = self.pool_v(v, thw)[0] if self.pool_v is not None else v
        q, thw = self.pool_q(q, thw) if self.pool_q is not None else (q, thw)
        attn = torch.matmul(q * self.head_dim ** -0.5, k.transpose(2, 3))
        if self.rel_pos_h is not None:
            attn = self._rel_pos(attn, q, thw, k_thw)
        x = torch.matmul(attn.softmax(dim=-1), v)
        if self.residual_pool:
            if self.residual_with_cls_embed:
                x = x + q
            else:
                x[:, :, 1:, :] += q[:, :, 1:, :]
        return self.project(x.transpose(1, 2).reshape(b, -1, self.width)), thw


class MultiscaleBlock(nn.Module):
    """A spec's multiscale_block on [B, 1 + T·H·W, C]: torchvision's MultiscaleBlock (the same
    tensor names: norm1, attn, norm2, mlp.0/3, project), its grid held (a.thw), not passed."""

    def __init__(self, dim: int, a):
        super().__init__()
        c_out = dim if a.output_channels is None else a.output_channels
        width = c_out if a.proj_after_attn else dim
        self.thw, self.proj_after_attn = tuple(a.thw), a.proj_after_attn
        self.pool_skip = None
        if math.prod(a.stride_q) > 1:
            kernel = [s + 1 if s > 1 else s for s in a.stride_q]
            self.pool_skip = _MViTPool(nn.MaxPool3d(kernel, stride=a.stride_q, padding=[k // 2 for k in kernel]),
                                       None)
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=a.eps), nn.LayerNorm(width, eps=a.eps)
        self.attn = _MultiscaleAttention(dim, width, a, a.eps)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Dropout(a.dropout),
                                 nn.Linear(4 * width, c_out), nn.Dropout(a.dropout))
        self.stochastic_depth = StochasticDepth(a.stochastic_depth_prob, "row")
        self.project = nn.Linear(dim, c_out) if dim != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_norm1 = self.norm1(x)
        x_attn, _ = self.attn(x_norm1, self.thw)
        if self.project is not None and self.proj_after_attn:
            x = self.project(x_norm1)
        x_skip = x if self.pool_skip is None else self.pool_skip(x, self.thw)[0]
        x = x_skip + self.stochastic_depth(x_attn)
        x_norm2 = self.norm2(x)
        x_proj = x if self.project is None or self.proj_after_attn else self.project(x_norm2)
        return x_proj + self.stochastic_depth(self.mlp(x_norm2))

    def extra_repr(self) -> str:
        return f"thw={list(self.thw)}"
