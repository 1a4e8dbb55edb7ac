"""thop as ultralytics-thop 2.2.3 (`thop.profile(model, inputs=(x,))` → macs).

Read from thop/profile.py (register_hooks), thop/vision/basic_hooks.py, calc_func.py and
rnn_hooks.py: conv and linear count their products (bias left out); batch/layer/group norm
2 per input element, 4 with affine; softmax n exponentials + (n − 1) adds + n divisions per
softmax of n values (log_softmax one log more); average pools one add per pooled input plus
one division per output, adaptive ones window by window; ReLU, ReLU6, LeakyReLU, max pools,
dropout, flatten, identity and embedding 0; nn.RNN/LSTM/GRU by their cell formulas × steps.
Modules with no rule (sigmoid, tanh, ELU, GELU, SiLU, LocalResponseNorm, LPPool2d) count 0
and thop warns. Counts cover the whole batch. Only module hooks count: a layer the model
calls as a function (`call: function`: F.avg_pool2d, F.softmax, F.adaptive_avg_pool2d) counts 0.
"""
from archcalc.conventions.base import TRANSFORMER_KINDS, Convention, Term, parts_term, per_sample, rule
from archcalc.engine import numbers as N


def _cell_extras(kind: str, x: int, h: int, bias: bool) -> int:
    """A cell's count beyond its gate products G·h·(x + h), as thop's _count_*_cell add it."""
    b = 2 * h if bias else 0
    if kind == "rnn":
        return h + b
    if kind == "gru":
        return 3 * (h + b) + h + 3 * h
    return 4 * (h + b) + 3 * h + h  # lstm (no projection)


def _recurrent_extras(row):
    a = row.args
    dirs = 2 if a.bidirectional else 1
    total, x = 0, row.input[-1]
    for layer in range(a.num_layers):
        total += dirs * _cell_extras(row.kind, x if layer == 0 else dirs * a.hidden_size, a.hidden_size, a.bias)
    return row.input[0] * total


_NO_RULE = "no rule in register_hooks: 0 (thop warns)"


def _einsum_elementwise(row):
    """The products _count_einsum counts (every label's size) beyond torch's count."""
    torch_counted = N.sub(per_sample(row, row.macs), row.layer.projections(row.args, row.input))
    return N.sub(row.layer.products(row.args, row.input), torch_counted)


CONVENTION = Convention(
    name="thop",
    tool="ultralytics-thop 2.2.3",
    reports="macs",
    unit="MACs",
    per_batch=True,
    source="thop/profile.py: register_hooks; thop/vision/basic_hooks.py; thop/vision/calc_func.py; thop/rnn_hooks.py",
    terms={"mvit_einsum_d1": parts_term("mvit_einsum_d1", "MViTv2's relative positions along H and W where d = 1: "
                                         "torch.einsum's products (every label of size above 1), which torch runs "
                                         "as an element-wise product (FlopCounterMode: 0)", "rel_einsum_uncounted"),
           "mvit_norms": parts_term("mvit_norms", "one per element of each LayerNorm (the block's and its pools')",
                                    "norm_elements"),
           "thop_rnn": Term("thop_rnn", "element-wise gate work, gate sums and both biases per step "
                                        "(thop's cell formulas)", _recurrent_extras),
           "einsum_elementwise": Term("einsum_elementwise", "Q·Kᵀ or A·V over a summed axis of size 1, which torch's "
                                      "einsum multiplies element-wise (no product for FlopCounterMode) and "
                                      "_count_einsum counts in full", _einsum_elementwise)},
    rules={
        # --- activations ---
        "prelu": rule("count_prelu: 1 per input element, in eval mode (0 while training)", "inputs"),
        "softmin": rule("count_softmax as softmax, plus one negation per input element", "softmax_ops", "inputs"),
        "softmax2d": rule("count_softmax over the channels (axis −3): n exp + (n − 1) adds + n divisions per "
                          "position", "softmax_ops"),
        # --- norms ---
        **{k: rule("count_normalization: 2 per input element, 4 with affine (RMSNorm: elementwise_affine)",
                   ("norm_inputs", 2), ("norm_affine_inputs", 2))
           for k in ("batch_norm3d", "instance_norm1d", "instance_norm2d", "instance_norm3d", "group_norm",
                     "rms_norm")},
        # --- pools and padding ---
        **{k: rule("one add per pooled input, one division per output", "pool_taps", "outputs")
           for k in ("avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool3d")},
        **{k: rule("zero_ops: 0") for k in ("max_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
                                           "adaptive_max_pool3d")},
        **{f"{prefix}_pad{nd}d": rule("zero_ops, through the padding base classes: 0")
           for prefix in ("zero", "constant", "reflection", "replication", "circular") for nd in (1, 2, 3)},
        # --- convolution and resampling ---
        **{k: rule("count_convtNd: the products over the input positions, bias left out", "macs")
           for k in ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")},
        "upsample": rule("count_upsample: per output element 0 for nearest and nearest-exact, 5 for linear, 11 for "
                         "bilinear, 259 for bicubic, 31 for trilinear", ("linear_outputs", 5), ("bilinear_outputs", 11),
                         ("bicubic_outputs", 259), ("trilinear_outputs", 31)),
        **{k: rule("zero_ops: 0") for k in ("pixel_shuffle", "pixel_unshuffle")},
        # --- dropouts ---
        **{k: rule("zero_ops: 0 (registered for their base, nn.modules.dropout._DropoutNd; thop profiles in eval, "
                   "where they are identities)")
           for k in ("dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")},
        "stochastic_depth": rule("archcalc's module, as torchvision's StochasticDepth: no rule in register_hooks, 0 "
                                 "(thop warns); in eval, where thop profiles, it returns its input"),
        **{k: rule("the products, bias left out", "macs") for k in ("conv1d", "conv2d", "conv3d", "linear")},
        "multihead_attention": rule("count_multihead_attention: the projections (bias left out), Q·Kᵀ and A·V over "
                                    "every key (a bias_k or zero key included), and 3S − 1 per query's softmax",
                                    "macs", "attention_softmax_ops"),
        **{k: rule("no rule for archcalc's module, but its function counter sees F.linear (the "
                   "projections, bias left out) and Tensor.matmul (Q·Kᵀ and A·V): the products",
                   "macs")
           for k in ("shifted_window_attention", "shifted_window_attention3d")},
        "patch_embed3d": rule("its proj's Conv3d rule (the products, bias left out) and its norm's LayerNorm rule, "
                              "4 per element (2, and 2 more for the affine)", "macs", ("transformer_norm_elements", 4)),
        "shifted_window_attention_v2": rule("no rule for archcalc's module, but its position-bias MLP's nn.Linear "
                                            "rules (in × out per offset, once per pass) and its function counter's "
                                            "F.linear (the projections, bias left out) and matmuls (cos(Q, K), "
                                            "A·V): the products", "macs"),
        "relative_positional_attention": rule("no rule for archcalc's module (nor torchvision's), but count_linear "
                                              "for to_qkv and merge (the projections, bias left out) and the "
                                              "function counter's torch.einsum (Q·Kᵀ and A·V, in full even where "
                                              "torch multiplies element-wise): the products", "macs",
                                              "einsum_elementwise"),
        "multiscale_block": rule("no rule for archcalc's module, but its modules' rules: the linear layers' and "
                                 "Conv3d pools' products (bias left out), 4 per element of each LayerNorm (2, twice "
                                 "with affine); GELU has no rule (thop warns), max pool and dropout are zero_ops; and "
                                 "its function counter sees torch.matmul (Q·Kᵀ, A·V, the relative positions along T) "
                                 "and torch.einsum (along H and W, also where d = 1): the products", "macs",
                                 "mvit_einsum_d1", ("mvit_norms", 4)),
        "mvit_position_encoding": rule("no rule for archcalc's module (thop warns) and no product its function "
                                       "counter sees: 0"),
        "scaled_dot_product_attention": rule("its F.scaled_dot_product_attention counter: Q·Kᵀ and A·V, whole "
                                             "(a causal mask ignored)", "macs"),
        **{k: rule("its modules' rules: each attention's (self- and cross-; products and softmax), the linear layers' products, "
                   "4 per element of each LayerNorm; the activation is a function: 0", "macs",
                   "attention_softmax_ops", ("transformer_norm_elements", 4))
           for k in TRANSFORMER_KINDS},
        **{k: rule("2 per input element, 4 with affine", ("norm_inputs", 2), ("norm_affine_inputs", 2))
           for k in ("batch_norm1d", "batch_norm2d", "layer_norm")},
        "softmax": rule("per softmax of n values: n exp + (n − 1) adds + n divisions", "softmax_ops"),
        "log_softmax": rule("as softmax, plus one log per softmax", "softmax_ops", "log_softmax_logs"),
        **{k: rule("one add per pooled input, one division per output", "pool_taps", "outputs")
           for k in ("avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d")},
        **{k: rule("zero_ops: 0") for k in ("relu", "relu6", "leaky_relu", "max_pool1d", "max_pool2d", "dropout",
                                           "flatten", "identity", "embedding")},
        **{k: rule("the cell formula × steps: gate products, sums, biases and element-wise work", "macs",
                   "thop_rnn") for k in ("rnn", "lstm", "gru")},
        "lstm:course": rule("no rule for archcalc's step-by-step module (thop warns), but its matmuls are counted: "
                            "the products", "macs"),
        "locally_connected2d": rule("no rule for archcalc's module (thop warns), but its torch.bmm is counted: "
                                    "the products", "macs"),
        "maxout": rule("archcalc's module: its inner nn.Linear, the products", "macs"),
        # --- position encodings ---
        **{k: rule("no rule for archcalc's module (thop warns): 0; its element-wise `*` and `+` are no function "
                   "thop counts (matmul, bmm, einsum)") for k in ("rotary_embedding", "sinusoidal_position_encoding")},
        # --- structure: mul, parameter, views ---
        "mul": rule("`*` is no module: nothing counted"),
        "matmul": rule("its torch function counter: torch.matmul, torch.bmm and the @ operator, the product", "macs"),
        "parameter": rule("no rule for archcalc's module (thop warns): 0"),
        "mean": rule("no rule for archcalc's module (thop warns): 0; x.mean(...) in a forward is no module: 0"),
    },
    function_default=rule("called as a function (F.avg_pool2d, F.softmax, ...): thop counts in module hooks only, "
                          "so nothing counted"),
    default=rule(_NO_RULE),
    families={**{f: rule(_NO_RULE) for f in ("activation", "pool", "norm", "structure")},
              "resample": rule(_NO_RULE),
              "merge": rule("`+` and torch.cat are no modules: nothing counted")},
)
