"""Multiscale Vision Transformers (Fan et al. 2021, MViT; Li et al. 2022, MViTv2) as torchvision's
video models compute them: mvit_position_encoding (the class token and the separable position
embeddings) and multiscale_block (a whole MultiscaleBlock: attention whose queries, keys and
values are pooled over the token grid, MViTv2's relative positions and residual pooling, the
skip path pooled to the queries' grid, the MLP).

The token grid [T, H, W] of a block's input is written in its `thw` argument: the tensor is
[1 + T·H·W, C], the class token first, and torchvision passes the grid along beside it (a block
returns the grid of its queries, which the next block is given); `archcalc import` reads it from
the traced call. Every product is counted as torch's FlopCounterMode counts it: the linear
layers, the depthwise Conv3d pooling, Q·Kᵀ, the relative-position einsums and A·V; the scaling,
softmax, norms, max pooling, sums and the position embeddings' additions are free.
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, Bool, Float, Int, Nullable, PerAxis
from archcalc.layers.base import Context, LayerKind, Result, Step, Untranslatable, list_text
from archcalc.layers.registry import register


def _check_grid(x, tokens, what: str, ctx: Context, arg: str) -> None:
    LayerKind.require_rank(x, (2,), ctx, "tokens [N, C]", hint="the tokens of a video clip: [T·H·W, C] after the "
                                                                "patch embedding's flatten(2).transpose(1, 2)")
    if N.compare(x[0], "!=", tokens):
        raise ctx.error(f"{N.fmt(x[0])} tokens are not {what}", arg=arg, expected=f"{N.fmt(tokens)} tokens ({what})",
                        found=f"{list_text(x)}, the {ctx.source}", code="shape-mismatch")


def _grid_text(grid) -> str:
    return "×".join(str(s) for s in grid)


@register
class MViTPositionEncoding(LayerKind):
    """torchvision's PositionalEncoding of MViT: a learned class token [E] put before the T·H·W
    tokens, and unless rel_pos_embed (MViTv2, whose blocks add relative positions instead)
    learned separable position embeddings added: a spatial one [H·W, E] repeated over the T
    frames plus a temporal one [T, E] repeated over the H·W positions, and one [E] for the class
    token. Additions only: nothing counted."""

    kind = "mvit_position_encoding"
    family = "position"
    weighted = True
    torch_classes = ("MViTPositionEncoding", "torchvision.models.video.mvit.PositionalEncoding")
    doc = "MViT's class token and separable spatial + temporal position embeddings on [T·H·W, E] (torchvision)"
    args = (
        Arg("temporal_size", Int(1), doc="T: the frames of the token grid"),
        Arg("spatial_size", PerAxis(2, Int(1)), doc="H, W: the token grid of a frame"),
        Arg("rel_pos_embed", Bool(), False, "MViTv2: the class token alone (the blocks add relative positions)"),
    )

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        t, (h, w) = a.temporal_size, a.spatial_size
        _check_grid(x, t * h * w, f"the grid T·H·W = {t}·{h}·{w}", ctx, "spatial_size")
        e = x[1]
        tables = 0 if a.rel_pos_embed else N.mul(h * w + t + 1, e)
        params = N.add(e, tables)
        formula = "E" if a.rel_pos_embed else "E + (H·W + T + 1)·E"
        substituted = "" if a.rel_pos_embed else f"{N.fmt(e)} + ({h}·{w} + {t} + 1)·{N.fmt(e)}"
        steps = [Step("output", "[1 + T·H·W, E]", f"[1 + {t}·{h}·{w}, {N.fmt(e)}]", list_text((t * h * w + 1, e))),
                 Step("params", formula + " (class token" + ("" if a.rel_pos_embed else
                                                              ", spatial, temporal and class positions") + ")",
                      substituted, params)]
        if not a.rel_pos_embed:
            steps.append(Step("element-wise additions (not in torch's FLOPs)", "T·H·W·E + (1 + T·H·W)·E",
                              f"{t * h * w}·{N.fmt(e)} + {t * h * w + 1}·{N.fmt(e)}",
                              N.mul(2 * t * h * w + 1, e)))
        return Result((t * h * w + 1, e), params=params, steps=steps)

    @classmethod
    def backward_macs(cls, a, x, result, input_grad):
        return 0  # additions and a join: nothing FlopCounterMode counts

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # the class token joins the tokens: positions are no longer the grid's

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return []  # a join and additions keep nothing for backward

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import MViTPositionEncoding as Module

        return Module(x[-1], a.temporal_size, tuple(a.spatial_size), a.rel_pos_embed)

    @classmethod
    def from_torch(cls, module) -> dict:
        return cls.written({"temporal_size": module.temporal_size, "spatial_size": list(module.spatial_size),
                            "rel_pos_embed": module.spatial_pos is None})


def pooled_grid(grid, kernel, stride) -> tuple:
    """The grid after a pooling of this kernel and stride, padded by kernel // 2 (torchvision's
    Pool: a depthwise Conv3d, or the skip path's MaxPool3d)."""
    return tuple((s + 2 * (k // 2) - k) // st + 1 for s, k, st in zip(grid, kernel, stride))


def _product(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


@register
class MultiscaleBlock(LayerKind):
    """torchvision's MultiscaleBlock on [1 + T·H·W, C] (the class token first, the token grid
    T×H×W in `thw`): x₁ = norm1(x); Q, K, V from one linear layer C → 3·A (A the attention's
    width: C, or C_out with proj_after_attn), h heads of d = A/h; each of Q, K and V pooled over
    the grid when its kernel or stride is more than 1 (torchvision's Pool: the class token set
    aside, a depthwise Conv3d of the kernel, stride and padding kernel//2 without bias, the
    token put back, LayerNorm(d)); softmax(Q·Kᵀ/√d + R)·V, R MViTv2's decomposed relative
    positions (Q's grid tokens times tables indexed by the T, H and W offsets, three einsums),
    plus Q itself with residual_pool (MViTv2); the heads joined and projected A → A. The skip
    path is x (or x₁ projected C → C_out with proj_after_attn) max-pooled to Q's grid (kernel
    s + 1 where the stride s > 1), then x + attention; x₂ = norm2(x); the output x projected
    C → C_out (unless already) plus the MLP A → 4·A → C_out with GELU. The block's output grid
    is Q's."""

    kind = "multiscale_block"
    family = "attention"
    weighted = True
    torch_classes = ("MultiscaleBlock", "torchvision.models.video.mvit.MultiscaleBlock")
    doc = "MViT's block: pooled multi-head attention over a T×H×W token grid and an MLP on [1 + T·H·W, C] (torchvision)"
    args = (
        Arg("thw", PerAxis(3, Int(1)), doc="T, H, W: the input's token grid (the tokens after the class token)"),
        Arg("num_heads", Int(1), doc="h; the attention's width A must divide into h heads of d = A/h"),
        Arg("output_channels", Nullable(Int(1)), None, "C_out (default: the input's C)"),
        Arg("kernel_q", PerAxis(3, Int(1)), 1, "the queries' pooling kernel over T, H, W"),
        Arg("kernel_kv", PerAxis(3, Int(1)), 1, "the keys' and values' pooling kernel"),
        Arg("stride_q", PerAxis(3, Int(1)), 1, "the queries' pooling stride: the output grid's"),
        Arg("stride_kv", PerAxis(3, Int(1)), 1, "the keys' and values' pooling stride"),
        Arg("residual_pool", Bool(), False, "MViTv2: the pooled queries added to the attention's output"),
        Arg("residual_with_cls_embed", Bool(), False, "residual_pool adds the class token's query too"),
        Arg("rel_pos_embed", Bool(), False, "MViTv2: decomposed relative position tables for T, H and W"),
        Arg("proj_after_attn", Bool(), False, "MViTv2: the attention works at C_out (the skip path projected "
                                              "before it), not at C (projected after)"),
        Arg("eps", Float(0.0), 1e-6, "the LayerNorms' ε (MViT's norm_layer)"),
        Arg("dropout", Float(0.0, 1.0), 0.0, "after the attention's projection and in the MLP while training"),
        Arg("stochastic_depth_prob", Float(0.0, 1.0), 0.0, "the attention and MLP paths dropped per sample while "
                                                            "training"),
    )

    @classmethod
    def score_matrices(cls, a, x):
        """The attention's h heads of Nq×Nk scores (the pooled queries against the pooled keys)."""
        s = cls.sizes(a, x)
        return [N.mul(s["heads"], N.mul(s["nq"], s["nk"]))]

    @classmethod
    def sizes(cls, a, x) -> dict:
        """Every size the counts are written in: C, C_out, A, h, d, the grids of the input, the
        queries and the keys (each (T, H, W)) and their token counts with the class token, and
        which pools there are."""
        c = x[-1]
        c_out = c if a.output_channels is None else a.output_channels
        width = c_out if a.proj_after_attn else c
        pool_q = _product(a.kernel_q) > 1 or _product(a.stride_q) > 1
        pool_kv = _product(a.kernel_kv) > 1 or _product(a.stride_kv) > 1
        grid = tuple(a.thw)
        q_grid = pooled_grid(grid, a.kernel_q, a.stride_q) if pool_q else grid
        k_grid = pooled_grid(grid, a.kernel_kv, a.stride_kv) if pool_kv else grid
        skip = pooled_grid(grid, [s + 1 if s > 1 else s for s in a.stride_q], a.stride_q) \
            if _product(a.stride_q) > 1 else grid
        return {"c": c, "c_out": c_out, "width": width, "heads": a.num_heads,
                "d": N.floordiv(width, a.num_heads), "grid": grid, "q_grid": q_grid, "k_grid": k_grid,
                "skip_grid": skip, "n": _product(grid) + 1, "nq": _product(q_grid) + 1, "nk": _product(k_grid) + 1,
                "pool_q": pool_q, "pool_kv": pool_kv, "project": N.compare(c, "!=", c_out)}

    @classmethod
    def rel_pos_sizes(cls, a) -> tuple[int, int]:
        """The relative position tables' rows, (spatial, temporal), as torchvision sizes them
        from the input grid: 2·max(S // s_q, S // s_kv) − 1 with S = max(H, W) and the strides
        along H, and 2·T − 1."""
        size = max(a.thw[1:])
        return 2 * max(size // a.stride_q[1], size // a.stride_kv[1]) - 1, 2 * a.thw[0] - 1

    @classmethod
    def parts(cls, a, x) -> dict:
        """Per sample, what the peer tools' rules are written in: the linear layers' products,
        the elements their biases are added to and their and the LayerNorms' parameters; the
        pooling convolutions' products; Q·Kᵀ and A·V; the relative positions' matmul along T
        and einsums along H and W (as written; each apart too), and those einsums' products again where
        d = 1, which torch multiplies element-wise and counts 0 (rel_einsum_uncounted); the
        elements each LayerNorm, the GELU and the skip path's max pool take; and the rows of
        relative position tables resized (linearly) to the pooled grids, times d, once per
        forward pass."""
        s = cls.sizes(a, x)
        c, c_out, width, heads, d = s["c"], s["c_out"], s["width"], s["heads"], s["d"]
        n, nq, nk = s["n"], s["nq"], s["nk"]
        hidden = N.mul(4, width)
        linear = [(n, c, N.mul(3, width)), (nq, width, width), (nq, width, hidden), (nq, hidden, c_out)]
        if s["project"]:
            linear.append((n if a.proj_after_attn else nq, c, c_out))
        pools = ([(s["q_grid"], a.kernel_q, nq)] if s["pool_q"] else []) + \
            ([(s["k_grid"], a.kernel_kv, nk)] * 2 if s["pool_kv"] else [])
        out = {"linear_products": N.total(N.mul(t, N.mul(i, o)) for t, i, o in linear),
               "linear_bias": N.total(N.mul(t, o) for t, _, o in linear),
               "linear_norm_params": N.add(N.total(N.mul(N.add(i, 1), o) for _, i, o in linear),
                                           N.add(N.mul(2, N.add(c, width)), N.mul(2 * len(pools), d))),
               "pool_products": N.total(N.mul(heads * _product(g) * _product(k), d) for g, k, _ in pools),
               "attention_products": N.mul(2 * heads * nq * nk, d),
               "norm_elements": N.add(N.add(N.mul(n, c), N.mul(nq, width)),
                                      N.total(N.mul(heads * tokens, d) for _, _, tokens in pools)),
               "gelu_elements": N.mul(nq, hidden),
               "skip_pool_inputs": N.mul(N.product(s["grid"]), c_out if s["project"] and a.proj_after_attn else c)
               if _product(a.stride_q) > 1 else 0,
               "rel_matmul": 0, "rel_einsum": 0, "rel_einsum_h": 0, "rel_einsum_w": 0, "rel_einsum_uncounted": 0,
               "interpolated": 0}
        if a.rel_pos_embed:
            (qt, qh, qw), (kt, kh, kw) = s["q_grid"], s["k_grid"]
            spatial, temporal = cls.rel_pos_sizes(a)
            out["rel_matmul"] = N.mul(heads * (nq - 1) * kt, d)
            out["rel_einsum_h"], out["rel_einsum_w"] = N.mul(heads * (nq - 1) * kh, d), N.mul(heads * (nq - 1) * kw, d)
            out["rel_einsum"] = N.mul(heads * (nq - 1) * (kh + kw), d)
            out["rel_einsum_uncounted"] = out["rel_einsum"] if N.compare(d, "==", 1) else 0
            rows = [2 * max(q, k) - 1 for q, k in ((qh, kh), (qw, kw), (qt, kt))]
            out["interpolated"] = N.mul(sum(r for r, table in zip(rows, (spatial, spatial, temporal)) if r != table), d)
        return out

    @classmethod
    def attention_shape(cls, a, x) -> tuple:
        """(heads, queries, keys, head size): the pooled queries over the pooled keys."""
        s = cls.sizes(a, x)
        return s["heads"], s["nq"], s["nk"], s["d"]

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        t, h, w = a.thw
        _check_grid(x, t * h * w + 1, f"1 + T·H·W = 1 + {t}·{h}·{w} (the class token and the grid)", ctx, "thw")
        s = cls.sizes(a, x)
        c, c_out, width, heads, d = s["c"], s["c_out"], s["width"], s["heads"], s["d"]
        if N.compare(N.mod(width, heads), "!=", 0):
            raise ctx.error(f"the attention's width {N.fmt(width)} does not divide into {heads} heads",
                            arg="num_heads", expected=f"num_heads dividing {N.fmt(width)}", found=str(heads),
                            code="invalid-layer")
        if s["skip_grid"] != s["q_grid"]:
            raise ctx.error(f"the queries' grid {_grid_text(s['q_grid'])} is not the skip path's "
                            f"{_grid_text(s['skip_grid'])}, which it is added to", arg="kernel_q",
                            expected="a kernel_q whose pooling gives the grid the stride's max pooling (kernel "
                                     "s + 1) gives: an odd kernel", found=f"kernel_q {list(a.kernel_q)}, stride_q "
                                                                         f"{list(a.stride_q)}", code="shape-mismatch")
        n, nq, nk = s["n"], s["nq"], s["nk"]
        fc = N.fmt
        steps, params, macs = [], 0, 0

        held = []  # each part's parameters, for the params step

        def add(quantity, formula, substituted, p, m):
            nonlocal params, macs
            params, macs = N.add(params, p), N.add(macs, m)
            steps.append(Step(quantity, formula, substituted, m))
            if not N.compare(p, "==", 0):
                held.append(fc(p))

        steps.append(Step("grids", "input → queries (→ output), keys",
                          f"{_grid_text(s['grid'])} → {_grid_text(s['q_grid'])}, {_grid_text(s['k_grid'])}",
                          f"{n} → {nq}, {nk} tokens"))
        norms = N.mul(2, N.add(c, width))
        add("Q, K, V projections (MACs)", "N·C·3·A", f"{n}·{fc(c)}·3·{fc(width)}",
            N.mul(3, N.add(N.mul(c, width), width)), N.mul(3 * n, N.mul(c, width)))
        pools = (("Q", a.kernel_q, s["q_grid"]),) if s["pool_q"] else ()
        pools += (("K", a.kernel_kv, s["k_grid"]), ("V", a.kernel_kv, s["k_grid"])) if s["pool_kv"] else ()
        for name, kernel, grid in pools:
            k = _product(kernel)
            add(f"{name} pooling (MACs)", "h·d·T'·H'·W'·kt·kh·kw (depthwise Conv3d)",
                f"{heads}·{fc(d)}·{_grid_text(grid).replace('×', '·')}·{_grid_text(kernel).replace('×', '·')}",
                N.add(N.mul(d, k), N.mul(2, d)), N.mul(heads * _product(grid) * k, d))
        scores = N.mul(heads * nq * nk, d)
        add("Q·Kᵀ (MACs)", "h·Nq·Nk·d", f"{heads}·{nq}·{nk}·{fc(d)}", 0, scores)
        if a.rel_pos_embed:
            spatial, temporal = cls.rel_pos_sizes(a)
            kt, kh, kw = s["k_grid"]
            if spatial < 1:
                raise ctx.error(f"the spatial relative position tables would have {spatial} rows: max(H, W) = "
                                f"{max(a.thw[1:])} is below both strides along H", arg="rel_pos_embed",
                                expected="max(H, W) at least stride_q[1] or stride_kv[1] (torchvision sizes the "
                                         "tables 2·max(S // s_q, S // s_kv) − 1)",
                                found=f"stride_q {list(a.stride_q)}, stride_kv {list(a.stride_kv)}", code="invalid-layer")
            if N.compare(d, "==", 1):  # an einsum contracting an axis of 1 is an element-wise product in torch
                add("relative positions (MACs)", "h·(Nq − 1)·d·Tk: the matmul along T (the einsums along H and W "
                    "contract d = 1, which torch multiplies element-wise: not counted)",
                    f"{heads}·{nq - 1}·1·{kt}", N.mul(2 * spatial + temporal, d), heads * (nq - 1) * kt)
            else:
                add("relative positions (MACs)", "h·(Nq − 1)·d·(Hk + Wk + Tk): einsums along H and W, a matmul "
                    "along T", f"{heads}·{nq - 1}·{fc(d)}·({kh} + {kw} + {kt})", N.mul(2 * spatial + temporal, d),
                    N.mul(heads * (nq - 1) * (kh + kw + kt), d))
            steps.append(Step("relative position tables (params)", "(2·(2·max(S // s_q, S // s_kv) − 1) + 2·T − 1)·d, "
                              "S = max(H, W), strides along H", f"(2·{spatial} + {temporal})·{fc(d)}",
                              N.mul(2 * spatial + temporal, d)))
        steps.append(Step("softmax (elements, no MACs)", "h·Nq·Nk", f"{heads}·{nq}·{nk}", heads * nq * nk))
        add("A·V (MACs)", "h·Nq·Nk·d", f"{heads}·{nq}·{nk}·{fc(d)}", 0, scores)
        add("output projection (MACs)", "Nq·A²", f"{nq}·{fc(width)}²", N.add(N.mul(width, width), width),
            N.mul(nq, N.mul(width, width)))
        if s["project"]:
            tokens, which = (n, "N") if a.proj_after_attn else (nq, "Nq")
            add("skip projection (MACs)", f"{which}·C·C_out", f"{tokens}·{fc(c)}·{fc(c_out)}",
                N.add(N.mul(c, c_out), c_out), N.mul(tokens, N.mul(c, c_out)))
        hidden = N.mul(4, width)
        add("MLP (MACs)", "Nq·(A·4A + 4A·C_out)", f"{nq}·({fc(width)}·{fc(hidden)} + {fc(hidden)}·{fc(c_out)})",
            N.add(N.add(N.mul(width, hidden), hidden), N.add(N.mul(hidden, c_out), c_out)),
            N.mul(nq, N.add(N.mul(width, hidden), N.mul(hidden, c_out))))
        params = N.add(params, norms)
        steps.append(Step("params", "the linear layers' weights and biases, the pools' kernels and LayerNorms, the "
                                    "tables (each in its step's order) + norm1 and norm2: 2·(C + A)",
                          " + ".join(held) + f" + 2·({fc(c)} + {fc(width)})", params))
        steps.append(Step("MACs", "the products above", " + ".join(fc(st.result) for st in steps
                                                                    if st.quantity.endswith("(MACs)")), macs))
        return Result((nq, c_out), params=params, macs=macs, steps=steps)

    @classmethod
    def backward_macs(cls, a, x, result, input_grad):
        """Every product's weight gradients (the linear layers', the pools' and the attention's
        products, all computed from weights), and the first products' input gradients (the
        qkv layer and, with proj_after_attn, the skip projection) only when something before
        needs them."""
        s = cls.sizes(a, x)
        first = N.mul(3 * s["n"], N.mul(s["c"], s["width"]))
        if s["project"] and a.proj_after_attn:
            first = N.add(first, N.mul(s["n"], N.mul(s["c"], s["c_out"])))
        return N.sub(N.mul(2, result.macs), 0 if input_grad else first)

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # every query sees every (pooled) key

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """Not modelled: the pools' reshapes and the relative positions' gathers are kept or not
        by torch's view rules, which the spec does not follow."""
        return None

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import MultiscaleBlock as Module

        return Module(x[-1], a)

    @classmethod
    def from_torch(cls, module) -> dict:
        from torch import nn

        attn = module.attn
        norms = [module.norm1, module.norm2] + [p.norm_act[0] for p in (attn.pool_q, attn.pool_k, attn.pool_v)
                                                if p is not None and p.norm_act is not None]
        if not all(type(n) is nn.LayerNorm for n in norms) or any(
                p is not None and (p.norm_act is None or len(p.norm_act) != 1 or p.norm_before_pool)
                for p in (attn.pool_q, attn.pool_k, attn.pool_v)):
            raise Untranslatable("has a norm_layer other than nn.LayerNorm (or pools normed otherwise): archcalc's "
                                 "multiscale_block is MViT's, LayerNorm throughout")
        values = {"num_heads": attn.num_heads, "output_channels": module.mlp[3].out_features,
                  "residual_pool": attn.residual_pool, "residual_with_cls_embed": attn.residual_with_cls_embed,
                  "rel_pos_embed": attn.rel_pos_h is not None, "proj_after_attn": module.proj_after_attn,
                  "eps": module.norm1.eps, "dropout": module.mlp[2].p, "stochastic_depth_prob": module.stochastic_depth.p}
        for which, pool in (("q", attn.pool_q), ("kv", attn.pool_k)):
            if pool is not None:
                values[f"kernel_{which}"], values[f"stride_{which}"] = list(pool.pool.kernel_size), list(pool.pool.stride)
        if values["output_channels"] == module.norm1.normalized_shape[0]:
            del values["output_channels"]
        if getattr(module, "thw", None) is not None:  # archcalc's module holds its grid; torchvision's is given it
            values["thw"] = list(module.thw)
        return cls.written(values)

    @classmethod
    def imported_module_call(cls, tensors, others, kwargs):
        """`block(x, thw)`: the grid as the traced call passed it (written for the first block,
        the previous block's returned grid after); archcalc's own module, which holds its
        grid, with the tokens alone."""
        if len(tensors) == 1 and not others and not kwargs:
            return {}
        thw = kwargs.get("thw", others[0] if others else None)
        if len(tensors) != 1 or not (isinstance(thw, (tuple, list)) and len(thw) == 3
                                     and all(isinstance(s, int) for s in thw)):
            raise Untranslatable("is called with something other than the tokens and their grid (T, H, W)")
        return {"thw": list(thw)}

    @classmethod
    def imported_index(cls, args, part, index):
        """`x, thw = block(x, thw)`: index 0 is the tokens (the layer's output), 1 the grid."""
        if part is None and index in (0, 1):
            return ("output" if index == 0 else "grid"), {}
        raise Untranslatable(f"reads [{index!r}] of the block's (tokens, grid): archcalc follows the tokens")
