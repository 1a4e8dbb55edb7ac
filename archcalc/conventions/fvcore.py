"""fvcore 0.1.5 (`FlopCountAnalysis(model, x).total()`): one "flop" per fused multiply-add.

Read from fvcore/nn/flop_count.py (_DEFAULT_SUPPORTED_OPS) and jit_handles.py: the model is
traced with torch.jit and only these aten ops are counted: _convolution (weights × output
positions, no bias; a convolution with padding 'same' or 'valid' traces to
aten::_convolution_mode instead, which has no handle: 0), linear/addmm/matmul/bmm/einsum
(the products, no bias), batch_norm (with running statistics in eval mode 1 per input
element, 2 with affine; 4/5 when it normalises by the batch's statistics: in training mode,
or without running stats), group/layer/instance norm (4 per element, 5 with a scale),
upsampling, and adaptive_avg_pool2d (1 per input element). Everything else (relu,
max_pool2d, avg_pool2d, softmax, aten::lstm, aten::gru, aten::embedding, ...) is skipped with
a warning. Counts cover the whole batch. It counts aten ops, not modules: a layer the model
calls as a function (`call: function`, F.adaptive_avg_pool2d) counts as its module does.
"""
import math

from archcalc.conventions.base import TRANSFORMER_KINDS, Convention, Term, parts_term, per_sample, rule
from archcalc.engine import numbers as N
from archcalc.spec.errors import SpecError

_UPSAMPLE_HANDLES = {("nearest", 2): 1, ("bilinear", 2): 4}  # (mode, spatial axes) → per output element


def _upsample(row):
    """fvcore's handles for upsampling: the aten op is the mode's on the input's spatial
    axes (upsample_nearest2d, upsample_bilinear2d, ...); only two of them are counted."""
    return N.mul(_UPSAMPLE_HANDLES.get((row.layer.interpolation(row.args), len(row.input) - 1), 0),
                 N.product(row.output))


def _einsum_path(row):
    """fvcore's handle for an einsum it has no formula for: numpy's einsum_path('optimal')
    cost as printed ("Optimized FLOP count: %.3e", numpy's cost 2·n + 1 for n MACs), halved and
    floored. relative_positional_attention's two einsums are n = batch·G·h·P²·d each, so the
    whole batch's figure is rounded to 4 significant digits: per sample here."""
    g, h, p, d = row.layer.heads(row.args, row.input)
    if any(N.is_symbolic(v) for v in (g, h, p, d)):
        raise SpecError(f"{row.path}: fvcore's einsum count, rounded as numpy prints it, needs concrete sizes",
                        row.loc, found=f"G, h, P, d = {', '.join(N.fmt(v) for v in (g, h, p, d))}",
                        hint="bind them, e.g. --set H=224", code="needs-concrete-size")
    n = row.batch * g * h * p * p * d
    return per_sample(row, 2 * math.floor(float(f"{2 * n + 1:.3e}") / 2))


_SKIPPED = "no fvcore handle for its aten op: skipped (fvcore warns 'unsupported operator')"
_IGNORED = "on fvcore's list of ops it ignores as truly 0: 0, no warning"

def _numpy_einsum(row):
    """fvcore counts an einsum it has no formula for by numpy's einsum_path, reading the cost
    numpy prints, "%.3e" of 2 × the products (the whole batch's), halved and floored: MViTv2's
    relative positions along H and W, four significant digits each. The difference from the
    products, per sample."""
    named, batch = row.layer.parts(row.args, row.input), row.batch
    exact = [N.mul(batch, named[k]) for k in ("rel_einsum_h", "rel_einsum_w")]
    if any(N.is_symbolic(p) for p in exact):
        raise SpecError(f"{row.path}: fvcore's einsum count needs concrete sizes", row.loc,
                        hint="bind them, e.g. --set H=224", code="needs-concrete-size")
    printed = sum(math.floor(float("%.3e" % (2 * p)) / 2) for p in exact if p)
    return N.true_div(printed - sum(exact), batch)


CONVENTION = Convention(
    name="fvcore",
    tool="fvcore 0.1.5",
    reports="flops (one per multiply-add)",
    unit="MACs",
    per_batch=True,
    source="fvcore/nn/flop_count.py: _DEFAULT_SUPPORTED_OPS; fvcore/nn/jit_handles.py",
    notes=("the model in eval mode: in training mode fvcore counts batch_norm as 5 per element (4 without affine)",),
    terms={"mvit_einsum_d1": parts_term("mvit_einsum_d1", "MViTv2's relative positions along H and W where d = 1: "
                                         "aten::einsum's products by numpy's einsum_path, which torch runs as an "
                                         "element-wise product (FlopCounterMode: 0)", "rel_einsum_uncounted"),
           "mvit_einsum_printed": Term("mvit_einsum_printed", "the relative positions' einsums as numpy prints their "
                                        "cost (four significant digits, whole batch), not their products",
                                        _numpy_einsum),
           "mvit_norms": parts_term("mvit_norms", "one per element of each LayerNorm (the block's and its pools')",
                                    "norm_elements"),
           "convolution_mode": Term("convolution_mode", "the products of convolutions with padding 'same' or "
                                    "'valid' and zeros: aten::_convolution_mode has no fvcore handle (other padding "
                                    "modes pad first and trace to aten::_convolution)",
                                    lambda r: per_sample(r, r.macs) if isinstance(r.args.padding, str)
                                    and r.args.padding_mode == "zeros" else 0),
           "fvcore_upsample": Term("fvcore_upsample", "1 per output element of a nearest 2-D upsampling "
                                   "(aten::upsample_nearest2d), 4 of a bilinear one (aten::upsample_bilinear2d)",
                                   _upsample),
           "einsum_path": Term("einsum_path", "Q·Kᵀ and A·V (two aten::einsum) as numpy's einsum_path prints their "
                               "cost, to 4 significant digits", _einsum_path),
           "partition_projections": Term("partition_projections", "to_qkv's and merge's products (aten::linear, "
                                         "bias left out)", lambda r: r.layer.projections(r.args, r.input)),
           "batch_statistics": Term("batch_statistics", "three more per element for a batch norm without running "
                                    "statistics (aten::batch_norm with training=True)",
                                    lambda r: 0 if r.args.track_running_stats else N.mul(3, N.product(r.input)))},
    rules={
        # --- activations ---
        "relu": rule("aten::relu is " + _IGNORED),
        "prelu": rule("aten::prelu, learned slopes and all: " + _SKIPPED),
        # --- norms ---
        "batch_norm3d": rule("aten::batch_norm (eval): 1 per element, 2 with affine; without running statistics it "
                             "normalises by the batch's, counted as in training: 4, 5 with affine", "norm_inputs",
                             "norm_affine_inputs", "batch_statistics"),
        **{k: rule("aten::instance_norm: 4 per element, 5 with a learned scale, also where eval normalises by the "
                   "running statistics", ("norm_inputs", 4), "norm_affine_inputs")
           for k in ("instance_norm1d", "instance_norm2d", "instance_norm3d")},
        "group_norm": rule("aten::group_norm: 4 per element, 5 with a learned scale", ("norm_inputs", 4),
                           "norm_affine_inputs"),
        "rms_norm": rule("no fvcore handle for aten::rms_norm: skipped (fvcore warns 'unsupported operator')"),
        # --- pools and padding ---
        "center_crop": rule("archcalc's module slices its input: aten::slice is one of fvcore's ignored ops, 0"),
        # --- convolution and resampling ---
        **{k: rule("aten::_convolution (transposed): weights × input positions, bias left out", "macs")
           for k in ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")},
        "upsample": rule("aten::upsample_nearest2d: 1 per output element, aten::upsample_bilinear2d: 4; the other "
                         "modes and ranks (upsample_nearest1d/3d, _upsample_nearest_exact*, upsample_linear1d, "
                         "upsample_bicubic2d, upsample_trilinear3d) have no handle: 0", "fvcore_upsample"),
        # --- dropouts ---
        "dropout": rule("aten::dropout (eval: it returns its input) is " + _IGNORED),
        **{k: rule(f"aten::{op} has no fvcore handle: skipped (fvcore warns 'unsupported operator'); traced in "
                   "eval, where it returns its input") for k, op in (
            ("dropout1d", "feature_dropout"), ("dropout2d", "feature_dropout"), ("dropout3d", "feature_dropout"),
            ("alpha_dropout", "alpha_dropout"), ("feature_alpha_dropout", "feature_alpha_dropout"))},
        "stochastic_depth": rule("in eval its forward returns its input: no aten op is traced, nothing counted"),
        **{k: rule("aten::_convolution: weights × output positions, bias left out; with padding 'same' or 'valid' "
                   "aten::_convolution_mode, not counted; a padding_mode other than zeros pads first with aten::pad, "
                   "which has no handle (fvcore warns)", "macs", ("convolution_mode", -1))
           for k in ("conv1d", "conv2d", "conv3d")},
        "linear": rule("aten::linear: the product, bias left out", "macs"),
        "multihead_attention": rule("the projections' aten::linear, bias left out; Q·Kᵀ and A·V run in "
                                    "aten::scaled_dot_product_attention, which has no handle (fvcore warns 'unsupported "
                                    "operator'): 0. Under torch.no_grad() in eval, an even head count runs torch's "
                                    "native fast path, which fvcore counts 0 whole; called with need_weights, Q·Kᵀ "
                                    "and A·V are aten::bmm, which it counts", "macs_without_attention",
                                    "attention_weights_products"),
        **{k: rule("the projections' aten::linear (bias left out) and the windows' Q·Kᵀ and A·V "
                   "by aten::matmul: the products, as archcalc counts them; the padding, roll, "
                   "scaling, bias gather and softmax have no handle (fvcore warns 'unsupported "
                   "operator'), 0", "macs")
           for k in ("shifted_window_attention", "shifted_window_attention3d")},
        "patch_embed3d": rule("aten::_convolution's products (bias left out) and, with its norm, aten::layer_norm "
                              "5 per element; the padding and the permute have no handle, 0", "macs",
                              ("transformer_norm_elements", 5)),
        "shifted_window_attention_v2": rule("aten::linear's products (bias left out): the projections, and the "
                                            "position-bias MLP's two layers once per pass (as archcalc counts "
                                            "them); the windows' cos(Q, K) and A·V by aten::matmul; the norms, "
                                            "clamp, exp, sigmoid, padding, roll and softmax have no handle (fvcore "
                                            "warns 'unsupported operator'), 0", "macs"),
        "relative_positional_attention": rule("the projections' aten::linear (bias left out) and each aten::einsum "
                                              "(Q·Kᵀ, A·V) as numpy's einsum_path prints its cost, to 4 significant "
                                              "digits (off by a few where the count needs more); the scaling "
                                              "(aten::mul), the bias add and the softmax have no handle (fvcore warns "
                                              "'unsupported operator'), 0", "partition_projections", "einsum_path"),
        "multiscale_block": rule("aten::linear (bias left out), the pools' aten::_convolution, aten::matmul (Q·Kᵀ, "
                                 "A·V, the relative positions along T) and aten::einsum (along H and W, also where "
                                 "d = 1): the products; aten::layer_norm 5 per element; gelu, softmax, max_pool3d, "
                                 "the scaling, the adds, the tables' gathers and upsample_linear1d have no handle "
                                 "(fvcore warns 'unsupported operator'), 0; the einsums' cost as numpy's "
                                 "einsum_path prints it, to four significant digits", "macs", "mvit_einsum_d1",
                                 "mvit_einsum_printed", ("mvit_norms", 5)),
        "mvit_position_encoding": rule("aten::cat and expand are ignored; the position embeddings' repeat, "
                                       "repeat_interleave and add have no handle (fvcore warns where they run): 0"),
        "scaled_dot_product_attention": rule("no handle for aten::scaled_dot_product_attention (fvcore warns "
                                             "'unsupported operator'): 0"),
        **{k: rule("aten::linear's products (bias left out) but Q·Kᵀ and A·V (aten::scaled_dot_product_attention "
                   "has no handle: fvcore warns), aten::layer_norm 5 per element; relu is ignored, gelu has no "
                   "handle (0)", "macs_without_attention", ("transformer_norm_elements", 5))
           for k in TRANSFORMER_KINDS},
        **{k: rule("aten::batch_norm (eval): 1 per element, 2 with affine; without running statistics it "
                   "normalises by the batch's, counted as in training: 4, 5 with affine", "norm_inputs",
                   "norm_affine_inputs", "batch_statistics")
           for k in ("batch_norm1d", "batch_norm2d")},
        "layer_norm": rule("aten::layer_norm: 4 per element, 5 with a learned scale", ("norm_inputs", 4),
                           "norm_affine_inputs"),
        "adaptive_avg_pool2d": rule("aten::adaptive_avg_pool2d: 1 per input element", "inputs"),
        "mean": rule("aten::mean, a global average pool or not: " + _SKIPPED),
        "locally_connected2d": rule("archcalc's module: aten::bmm of the unfolded input, the products; im2col and "
                                    "the bias add have no handle (fvcore warns)", "macs"),
        "maxout": rule("archcalc's module: its inner aten::linear, the product; unflatten and amax have no "
                         "handle (fvcore warns)", "macs"),
        **{k: rule(_SKIPPED) for k in ("rnn", "lstm", "gru", "embedding")},
        "lstm:course": rule("archcalc's step-by-step module: its matmuls at every step, the products; its "
                                "adds, gates and element-wise products have no handle (fvcore warns)", "macs"),
        # --- position encodings ---
        "rotary_embedding": rule("archcalc's module: its table (aten::pow, reciprocal, mul, cos, sin) and the "
                                 "rotation (aten::neg, mul, add) are element-wise ops without a handle: skipped "
                                 "(fvcore warns 'unsupported operator'); aten::arange, cat and slice are ignored"),
        "sinusoidal_position_encoding": rule("archcalc's module adds its buffer: aten::add has no handle, skipped "
                                             "(fvcore warns 'unsupported operator')"),
        # --- structure: mul, parameter, views ---
        "mul": rule("no handle for aten::mul (fvcore warns): 0"),
        "parameter": rule("aten::expand is " + _IGNORED),
        "select": rule("aten::select is " + _IGNORED),
        "matmul": rule("aten::matmul: the product", "macs"),
        "narrow": rule("aten::narrow is " + _IGNORED),
        "concat": rule("aten::cat is " + _IGNORED),
        "identity": rule("no aten op is traced: nothing counted"),
        **{k: rule("a view or copy (aten::flatten, reshape, view, permute, transpose, squeeze, unsqueeze, expand), "
                   + _IGNORED) for k in ("flatten", "reshape", "permute", "transpose", "squeeze", "unsqueeze",
                                         "repeat_vector")},
    },
    default=rule(_SKIPPED),
    families={**{f: rule(_SKIPPED) for f in ("activation", "pool", "norm", "structure")},
              "resample": rule(_SKIPPED),
              "merge": rule("no handle for aten::add (fvcore warns): 0")},
)
