"""ptflops 0.7.5 (`get_model_complexity_info(model, res)`, default pytorch backend): "MACs".

Read from ptflops/pytorch_ops.py and pytorch_engine.py. Module hooks count: conv and linear
weights × positions plus one add per output element for the bias; ReLU, PReLU, ELU,
LeakyReLU, ReLU6 and GELU 1 per output element; every max/avg/adaptive pool 1 per input
element; batch/instance/group/layer norm 1 per input element, 2 with affine; nn.RNN/LSTM/GRU
by the formula in rnn_flops, for T·B steps read from the input's first two sizes, whatever the
layout; the total is then divided by len(input), the batch for a batch-first module (the layout
archcalc builds) but T for a sequence-first one, which ptflops therefore counts for B steps per
sample, not T (measured in tests/test_conventions.py). With count_functional (on by default) it also patches
torch.nn.functional: F.relu, F.elu, F.gelu, F.silu, F.softmax and the F.*pool* functions add
their input's size again, so a module that calls one of them (nn.ReLU → F.relu,
nn.MaxPool2d → F.max_pool2d) is counted twice; F.linear's patch is commented out, and
nn.ReLU6 (F.hardtanh) and nn.LeakyReLU (F.leaky_relu) call unpatched functions. The total is
divided by the batch (figures per sample), but the patched functions' counts are added after
that division: they count the whole batch.
It returns int(figure) (`whole`): nn.Upsample's hook counts one sample's output (output[0]),
so at batch N the average can leave a fraction, which is dropped.
A layer the model calls as a function (`call: function`) fires no module hook: only a patched
function counts it, once, for the whole batch (F.relu, F.relu6, F.elu, F.gelu, F.silu,
F.softmax, every F.*pool*, F.interpolate; F.relu6 is patched though nn.ReLU6's forward calls
F.hardtanh); any other function counts 0 (F.leaky_relu, F.hardswish, torch.sigmoid,
F.group_norm, F.dropout, torch.flatten, and torch.relu or x.relu(), which are not F.relu).
Measured with ptflops itself on modules and functions alike (tests/test_conventions_property.py).
"""
import dataclasses
from fractions import Fraction

from archcalc.conventions.base import TRANSFORMER_KINDS, Convention, Term, gates, parts_term, rule
from archcalc.engine import numbers as N

_EXTRA_PER_STEP = {"rnn": 1, "gru": 7, "lstm": 10}  # × hidden size, per layer, as rnn_flops adds them


def _recurrent_extras(row):
    """rnn_flops' additions beyond the gate products, per sample: per layer and step the
    element-wise work (RNN h, GRU 7h, LSTM 10h) and both biases (2·G·h), × T, × 2 directions."""
    a = row.args
    per_layer = _EXTRA_PER_STEP[row.kind] * a.hidden_size + (2 * gates(row) * a.hidden_size if a.bias else 0)
    return row.input[0] * a.num_layers * per_layer * (2 if a.bidirectional else 1)


def _lrn(row):
    """F.local_response_norm (torch 2.13) under ptflops' patches: input.mul(input), .mul(alpha)
    and .add(k) count the input's size each; avg_pool3d/2d counts its channel-padded input."""
    c, spatial = row.input[0], N.product(row.input[1:])
    return N.add(N.mul(3, N.product(row.input)), N.mul(c + row.args.size - 1, spatial))


def _window_products(row):
    windows, heads, n, d = row.layer.windows(row.args, row.input)
    return N.mul(2, N.mul(windows, N.mul(heads, N.mul(n * n, d))))


def _window_av(row):
    """A·V alone: Swin V2 writes cos(Q, K) with the @ operator (Tensor.__matmul__ is unpatched)."""
    windows, heads, n, d = row.layer.windows(row.args, row.input)
    return N.mul(windows, N.mul(heads, N.mul(n * n, d)))


def _bias_mlp_hooks(row):
    """Swin V2's position-bias MLP, by its modules' hooks, once per pass and divided by the batch
    like every hook: the first linear layer's products and bias adds (M·2·512 + M·512), the
    ReLU's outputs (M·512), the second's products (M·512·h, no bias)."""
    m, k, h = row.layer.bias_mlp(row.args)
    return N.true_div(m * 2 * k + m * k + m * k + m * k * h, row.batch)


def _bias_mlp_relu(row):
    """The patched F.relu that nn.ReLU calls: the MLP's hidden elements again, once (not averaged)."""
    m, k, _ = row.layer.bias_mlp(row.args)
    return m * k


def _window_softmax(row):
    windows, heads, n, _ = row.layer.windows(row.args, row.input)
    return N.mul(windows, N.mul(heads, n * n))


def _partition_linear(row):
    """relative_positional_attention's to_qkv and merge hooks: their products and one add per
    output element for the bias."""
    return N.add(row.layer.projections(row.args, row.input), row.layer.bias_adds(row.args, row.output))


def _partition_softmax(row):
    g, h, p, _ = row.layer.heads(row.args, row.input)
    return N.mul(g, N.mul(h, N.mul(p, p)))


def _upsample_hook(row):
    """upsample_flops_counter_hook counts output[0].numel(): the first sample's elements, not
    the batch's, and the engine divides every module's count by the batch."""
    return N.true_div(N.product(row.output), row.batch)


def _interpolate(row):
    """_interpolate_functional_flops_hook, per sample: with a size, the output's elements; with
    one scale factor s, the input's × s ** dims (a float power, here exactly); with one per
    axis, the input's × their product after np.prod(..., dtype=np.int64) casts each to int.
    ptflops multiplies the batch's element count by the float scale in floating point: 10 × 0.3
    is 3.0000000000000004 there, so a concrete count is rounded as the float product is."""
    size, scale = row.layer.interpolate_arguments(row.args)
    inputs = N.product(row.input)
    if size is not None:
        return N.product(row.output)
    if isinstance(scale, tuple):
        return N.mul(inputs, N.product(int(s) for s in scale))
    power = scale ** (len(row.input) - 1)
    if N.is_symbolic(inputs):
        return N.mul(inputs, Fraction(power))
    return Fraction(float(inputs * row.batch) * power) / row.batch


_TWICE = "counted twice: the module hook and the patched torch.nn.functional call inside it"
_POOLS = tuple(f"{p}_pool{nd}d" for p in ("max", "avg", "adaptive_avg", "adaptive_max") for nd in (1, 2, 3))


def _functions(rules: dict) -> dict:
    """The rules for layers called as functions (`call: function`): no module hook fires, so
    only a patched function counts, once, for the whole batch; a kind whose module has no hook
    (lp_pool, local_response_norm) counts as its module does."""
    patched = {k: rule(f"called as a function: the patched F.{k} alone, 1 per input element (whole batch), no module "
                       f"hook (torch.{k} and Tensor.{k} are not patched: they read 0)", "functional_inputs")
               for k in ("relu", "relu6", "elu", "gelu", "silu", "softmax")}
    patched |= {k: rule(f"called as a function: the patched F.{k} alone, 1 per input element (whole batch), no "
                        "module hook", "functional_inputs") for k in _POOLS}
    patched["upsample"] = rule("called as a function: the patched F.interpolate alone (whole batch), no nn.Upsample "
                               "hook", "ptflops_interpolate")
    patched["mean"] = rule("called as a function: torch.mean and Tensor.mean are not patched (x.mean((2, 3)) is no "
                           "F.adaptive_avg_pool2d): nothing counted")
    return patched | {k: rules[k] for k in ("lp_pool1d", "lp_pool2d", "lp_pool3d", "local_response_norm")}


def _attention_hook(row):
    """multihead_attention_counter_hook for each attention, per sample, as it writes it: the
    query's scaling T·E and projection T·E², the keys' and values' projections as S·E_kv²
    each (it squares kdim and vdim where kdim·E is meant), Q·Kᵀ and A·V over the S source
    positions (it ignores a bias_k or zero key), h·T·S for the softmax, the output projection
    as T·E_kv·(E_kv + 1) (its bias counted with or without one), (T + 2·S)·E more for the
    input biases when there are any. Self-attention: 4·T·E² + 2·T²·E + h·T² + 2·T·E (+ 3·T·E)."""
    total = 0
    for at in row.layer.attentions(row.args, row.input):
        h, t, s, d, e, ekv = at.heads, at.queries, at.sources, at.head_size, row.input[-1], at.source_width
        hook = N.add(N.mul(t, e), N.mul(t, N.mul(e, e)))
        hook = N.add(hook, N.mul(2, N.mul(s, N.mul(ekv, ekv))))
        hook = N.add(hook, N.mul(h, N.mul(N.mul(t, s), N.add(N.add(d, 1), N.floordiv(ekv, h)))))
        hook = N.add(hook, N.mul(t, N.mul(ekv, N.add(ekv, 1))))
        if row.args.bias:
            hook = N.add(hook, N.mul(N.add(t, N.mul(2, s)), e))
        total = N.add(total, hook)
    return total


def _weights_path(row):
    """need_weights: torch computes the attention with torch.bmm and F.softmax, both patched:
    2·h·T·S·d products and h·T·S softmax inputs per sample (S with any appended key)."""
    if not getattr(row.args, "need_weights", False):
        return 0
    return N.total(N.mul(at.heads, N.mul(at.queries, N.mul(at.keys, N.add(N.mul(2, at.head_size), 1))))
                   for at in row.layer.attentions(row.args, row.input))


CONVENTION = Convention(
    name="ptflops",
    tool="ptflops 0.7.5",
    reports="Computational complexity (MACs), pytorch backend",
    unit="MACs",
    per_batch=False,
    whole=True,
    keywords_whole_batch=True,
    source="ptflops/pytorch_ops.py: MODULES_MAPPING, FUNCTIONAL_MAPPING; ptflops/pytorch_engine.py",
    notes=("at batch N the module hooks' counts are divided by N but the patched functions' are added after that "
           "division, so they count the whole batch",
           "backend='aten' counts differently (convolutions and matmuls with their bias only)",
           "add merges count 0, as for `a + b` and `out += identity`; a model that calls torch.add(a, b) or "
           "a.add(b) gets 1 per output element from the patched tensor op",
           "a model of several inputs (a transformer's source and target) is given them by keyword, from its "
           "input_constructor's dict: ptflops then finds no positional input, assumes a batch of 1 and divides "
           "nothing: every count is the whole batch's"),
    terms={"mvit_hook_products": parts_term("mvit_hook_products", "the linear layers' and pooling Conv3d's products, "
                                             "by their module hooks", "linear_products", "pool_products"),
           "mvit_hook_extras": parts_term("mvit_hook_extras", "by the module hooks: each linear layer's bias per "
                                          "output element, 1 per LayerNorm element (ptflops looks for `affine`, "
                                          "which LayerNorm lacks), GELU's outputs and the skip path's MaxPool3d "
                                          "inputs", "linear_bias", "norm_elements", "gelu_elements",
                                          "skip_pool_inputs"),
           "mvit_functional": parts_term("mvit_functional", "Q·Kᵀ, A·V and the relative positions along T by the "
                                         "patched torch.matmul, GELU's and the max pool's elements again by the "
                                         "patched F.gelu and F.max_pool3d (whole batch)", "attention_products",
                                         "rel_matmul", "gelu_elements", "skip_pool_inputs", per_batch=True),
           "mvit_interpolate": parts_term("mvit_interpolate", "the relative position tables resized to the pooled "
                                          "grids: rows × d by the patched F.interpolate (once per pass)",
                                          "interpolated", per_batch=False),
           "ptflops_attention": Term("ptflops_attention", "its nn.MultiheadAttention hook: projections, Q·Kᵀ and "
                                     "A·V over T keys, the softmax, the scaling and biases", _attention_hook),
           "ptflops_rnn": Term("ptflops_rnn", "element-wise gate work and both biases per step (rnn_flops)",
                               _recurrent_extras),
           "ptflops_upsample_hook": Term("ptflops_upsample_hook", "one sample's output elements (nn.Upsample's hook "
                                         "reads output[0]), divided by the batch", _upsample_hook),
           "ptflops_interpolate": Term("ptflops_interpolate", "the patched F.interpolate: output elements for a size; "
                                       "input elements × s^dims for one scale factor, × the product of the factors "
                                       "cast to int for one per axis (whole batch)", _interpolate, per_batch=True),
           "ptflops_lrn": Term("ptflops_lrn", "the patched tensor ops inside F.local_response_norm, whole batch",
                               _lrn, per_batch=True),
           "ptflops_weights_path": Term("ptflops_weights_path", "with need_weights: Q·Kᵀ and A·V by the patched "
                                        "torch.bmm and the softmax's inputs by F.softmax (whole batch)",
                                        _weights_path, per_batch=True),
           "ptflops_matmul": Term("ptflops_matmul", "the product, by the patched torch.matmul (whole batch); 0 for "
                                  "the @ operator", lambda r: 0 if r.args.operator else N.true_div(r.macs, r.batch),
                                  per_batch=True),
           "window_products": Term("window_products", "Q·Kᵀ and A·V of every window, by the patched Tensor.matmul "
                                   "(whole batch)", _window_products,
                                   per_batch=True),
           "window_av": Term("window_av", "A·V of every window, by the patched Tensor.matmul (whole batch); "
                             "cos(Q, K) is the @ operator, unpatched", _window_av, per_batch=True),
           "bias_mlp_hooks": Term("bias_mlp_hooks", "the position-bias MLP's hooks once per pass (its linear layers' "
                                  "products and bias, the ReLU's outputs), divided by the batch", _bias_mlp_hooks),
           "bias_mlp_relu": Term("bias_mlp_relu", "the MLP's hidden elements again, by the patched F.relu inside "
                                 "nn.ReLU, once per pass", _bias_mlp_relu),
           "window_softmax": Term("window_softmax", "the attention weights' elements, windows·h·N², by the patched "
                                  "F.softmax (whole batch)", _window_softmax, per_batch=True),
           "partition_linear": Term("partition_linear", "to_qkv's and merge's hooks: the projections and one add "
                                    "per output element for the bias", _partition_linear),
           "partition_softmax": Term("partition_softmax", "the attention weights' elements, G·h·P², by the patched "
                                     "F.softmax (whole batch)", _partition_softmax, per_batch=True),
           "functional_macs": Term("functional_macs", "the products, by the patched torch.bmm (whole batch)",
                                   lambda r: N.true_div(r.macs, r.batch), per_batch=True),
           "functional_planes": Term("functional_planes", "one channel's plane (H × W) by the patched "
                                     "F.avg_pool2d, whole batch", lambda r: N.product(r.input[1:]), per_batch=True),
           "functional_inputs": Term("functional_inputs", "input elements, again by the patched torch.nn.functional "
                                     "call (added after the per-sample average: whole batch)",
                                     lambda r: N.product(r.input), per_batch=True),
           "functional_outputs": Term("functional_outputs", "output elements, again by the patched "
                                      "torch.nn.functional call (whole batch)",
                                      lambda r: N.product(r.output), per_batch=True)},
    rules={
        # --- activations ---
        "prelu": rule("1 per output element, " + _TWICE, "outputs", "functional_inputs"),
        "softmax2d": rule("no module hook; its forward calls the patched F.softmax: 1 per input element",
                          "functional_inputs"),
        "softmin": rule("no module hook; F.softmin calls Tensor.softmax, which is not patched: nothing counted"),
        # --- norms ---
        **{k: rule("1 per input element, 2 with affine", "norm_inputs", "norm_affine_inputs")
           for k in ("batch_norm3d", "instance_norm1d", "instance_norm2d", "instance_norm3d", "group_norm")},
        "rms_norm": rule("nn.RMSNorm has no module hook and F.rms_norm is not patched: nothing counted"),
        # --- pools and padding ---
        **{k: rule("1 per input element, " + _TWICE, "inputs", "functional_inputs")
           for k in ("max_pool3d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
                     "adaptive_max_pool2d", "adaptive_max_pool3d")},
        **{k: rule(f"no module hook; inside F.{k} (torch 2.13) the patched avg_pool{k[-2]}d counts its input, the "
                   "patched relu and Tensor.mul its output each", "functional_inputs", ("functional_outputs", 2))
           for k in ("lp_pool1d", "lp_pool3d")},
        # --- convolution and resampling ---
        **{k: rule("weights × input positions (its hook with transpose=True), plus one add per output element for "
                   "the bias", "macs", "bias_adds")
           for k in ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")},
        "upsample": rule("its nn.Upsample hook counts output[0], one sample's elements, which the average then divides "
                         "by the batch; the patched F.interpolate adds its own count for the whole batch",
                         "ptflops_upsample_hook", "ptflops_interpolate"),
        # --- attention ---
        "multihead_attention": rule("multihead_attention_counter_hook: the projections, Q·Kᵀ and A·V over the T "
                                    "queries (a bias_k or zero key ignored), h·T² for the softmax, T·E for the "
                                    "scaling and the biases (the output one always); called with need_weights, "
                                    "the patched torch.bmm and F.softmax count Q·Kᵀ, A·V and the softmax's inputs "
                                    "again (whole batch)", "ptflops_attention", "ptflops_weights_path"),
        **{k: rule("no module hook, and F.linear's patch is commented out: the projections are "
                   "not counted; the patched Tensor.matmul counts Q·Kᵀ and A·V and the patched "
                   "F.softmax its input (whole batch)", "window_products", "window_softmax")
           for k in ("shifted_window_attention", "shifted_window_attention3d")},
        "patch_embed3d": rule("its proj's Conv3d hook (products, and one add per output element for the bias) and "
                              "its norm's LayerNorm hook, 1 per element (its affine doubling reads `affine`, which "
                              "LayerNorm calls elementwise_affine)", "macs", "bias_adds", "transformer_norm_elements"),
        "shifted_window_attention_v2": rule("no hook for archcalc's module, and F.linear's patch is commented out: "
                                            "the projections are not counted; its position-bias MLP's module hooks "
                                            "count once per pass, and F.relu again; the patched Tensor.matmul counts "
                                            "A·V (cos(Q, K) is the @ operator) and F.softmax its input (whole batch)",
                                            "window_av", "window_softmax", "bias_mlp_hooks", "bias_mlp_relu"),
        "relative_positional_attention": rule("no hook for the module, nn.Linear's for to_qkv and merge (products and "
                                              "bias); torch.einsum is not patched (Q·Kᵀ and A·V not counted), nor "
                                              "the * and + operators; the patched F.softmax counts its input (whole "
                                              "batch)", "partition_linear", "partition_softmax"),
        "multiscale_block": rule("its modules' hooks: the linear layers' products and biases, the Conv3d pools' "
                                 "products, 1 per LayerNorm element, GELU's outputs, the MaxPool3d's inputs; the "
                                 "patched functions, whole batch: torch.matmul (Q·Kᵀ, A·V, the relative positions "
                                 "along T), F.gelu and F.max_pool3d (the modules' own calls, again) and F.interpolate "
                                 "(tables resized); torch.einsum (along H and W) and Tensor.softmax are not patched",
                                 "mvit_hook_products", "mvit_hook_extras", "mvit_functional", "mvit_interpolate"),
        "mvit_position_encoding": rule("no module hook; its operators (+, cat, repeat) are no patched function: "
                                       "nothing counted"),
        "scaled_dot_product_attention": rule("F.scaled_dot_product_attention is not patched: nothing counted"),
        **{k: rule("its modules' hooks: each attention's (as multihead_attention's, self- or cross-), each linear layer's products "
                   "and bias, 1 per element of each LayerNorm; the activation function it captured when built "
                   "is not the patched one: nothing", "ptflops_attention", "feedforward_macs", "bias_adds",
                   "transformer_norm_elements")
           for k in TRANSFORMER_KINDS},
        # --- dropouts ---
        **{k: rule("weights × output positions, plus one add per output element for the bias", "macs", "bias_adds")
           for k in ("conv1d", "conv2d", "conv3d", "linear")},
        **{k: rule("1 per output element, " + _TWICE, "outputs", "functional_outputs")
           for k in ("relu", "elu", "gelu")},
        **{k: rule("1 per output element (its functional form is not patched)", "outputs")
           for k in ("relu6", "leaky_relu")},
        "silu": rule("no module hook; the patched F.silu: 1 per input element", "functional_inputs"),
        "softmax": rule("no module hook; the patched F.softmax: 1 per input element", "functional_inputs"),
        **{k: rule("1 per input element, " + _TWICE, "inputs", "functional_inputs")
           for k in ("max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d")},
        "lp_pool2d": rule("no module hook; inside F.lp_pool2d (torch 2.13) the patched avg_pool2d counts its input, "
                          "the patched relu and Tensor.mul its output each", "functional_inputs",
                          ("functional_outputs", 2)),
        **{k: rule("1 per input element, 2 with affine", "norm_inputs", "norm_affine_inputs")
           for k in ("batch_norm1d", "batch_norm2d")},
        "layer_norm": rule("1 per input element: its hook doubles it for `affine`, which LayerNorm calls "
                           "elementwise_affine", "norm_inputs"),
        **{k: rule("gate products, element-wise gate work and both biases, every step, for a batch-first module "
                   "(batch_first=True, as archcalc builds and imports recurrent layers); a sequence-first module "
                   "(batch_first=False) given [T, B, F] is counted for B steps per sample instead of T (its hook "
                   "multiplies the first two sizes, T·B either way, but the batch counter divides by the first, T): "
                   "one step at batch 1", "macs", "ptflops_rnn")
           for k in ("rnn", "lstm", "gru")},
        "embedding": rule("no module hook and no patched function (a gather): nothing counted"),
        "lstm:course": rule("archcalc's step-by-step module: no module hook, and its @ and + are not patched: 0"),
        "local_response_norm": rule("no module hook; inside F.local_response_norm (torch 2.13) the patched "
                                    "Tensor.mul (twice) and Tensor.add count the input's size each, avg_pool3d the "
                                    "channel-padded squares", "ptflops_lrn"),
        "locally_connected2d": rule("archcalc's module: no module hook; the patched torch.bmm counts the products; "
                                    "the bias add (+) is not patched", "functional_macs"),
        "maxout": rule("archcalc's module: its inner nn.Linear, products plus one add per output for the bias",
                       "macs", "bias_adds"),
        "local_contrast_norm": rule("archcalc's module: the patched F.avg_pool2d counts its input, the channel mean "
                                    "(H × W), twice (local mean and local deviation)", ("functional_planes", 2)),
        # --- position encodings ---
        **{k: rule("archcalc's module: no module hook, and its `*` and `+` (Tensor.__mul__, __add__) are not patched "
                   "(torch.mul and torch.add are): nothing counted")
           for k in ("rotary_embedding", "sinusoidal_position_encoding")},
        # --- structure: mul, parameter, views ---
        "mul": rule("`*` calls Tensor.__mul__, which is not patched (torch.mul and Tensor.mul are): nothing counted"),
        "matmul": rule("the patched torch.matmul and torch.bmm: the product, whole batch; a @ b (operator: true) "
                       "calls Tensor.__matmul__, which is not patched: nothing", "ptflops_matmul"),
        "parameter": rule("archcalc's module: no module hook, and its expand is not patched: nothing counted"),
        "mean": rule("archcalc's module: no module hook, and torch.mean / Tensor.mean are not patched (F.adaptive_avg_pool2d "
                     "is): nothing counted"),
    },
    function_default=rule("called as a function: no module hook, and ptflops does not patch this function: nothing "
                          "counted"),
    default=rule("no module hook and no patched function: nothing counted"),
    families={**{f: rule("no module hook and no patched function: nothing counted")
                 for f in ("activation", "pool", "norm", "structure")},
              "resample": rule("no module hook and no patched function: nothing counted"),
              "merge": rule("`+` and torch.cat are not patched: nothing counted")},
)
CONVENTION = dataclasses.replace(CONVENTION, functions=_functions(CONVENTION.rules))
