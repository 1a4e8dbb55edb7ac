"""torchinfo 1.8.0 (`summary(...).total_mult_adds`, "Total mult-adds").

Read from torchinfo/layer_info.py, LayerInfo.calculate_macs: for every leaf module and each
of its parameters named `weight` or `bias`, a class whose name contains "Conv" adds the
parameter's size × output positions (batch × spatial, channels left out); any other class
adds the parameter's size × the batch; parameters merely containing "weight"/"bias"
(recurrent layers' weight_ih_l0, bias_hh_l0, ...) add their size × batch × sequence length.
Modules without parameters add nothing. Counts cover the whole batch. A layer the model calls
as a function (`call: function`) holds no parameters: nothing counted, as for its module.
"""
from archcalc.conventions.base import TRANSFORMER_KINDS, Convention, parts_term, rule
from archcalc.conventions.base import Term, per_sample
from archcalc.engine import numbers as N


def _bias_mlp_params(row):
    """Swin V2's position-bias MLP's parameters (2·512 + 512 + 512·h), counted once per pass:
    its leaves' output has a batch axis of 1 (the table of offsets), whatever the batch."""
    m, k, h = row.layer.bias_mlp(row.args)
    return N.true_div(2 * k + k + k * h, row.batch)


def _transposed_output_positions(row):
    """A transposed convolution multiplies its weights once per input position (archcalc's
    MACs); torchinfo takes the output's positions instead: the difference, MACs × (output
    positions − input positions) / input positions."""
    inputs, outputs = N.product(row.input[1:]), N.product(row.output[1:])
    return N.mul(per_sample(row, row.macs), N.true_div(N.sub(outputs, inputs), inputs))


CONVENTION = Convention(
    name="torchinfo",
    tool="torchinfo 1.8.0",
    reports="Total mult-adds",
    unit="MACs",
    per_batch=True,
    source="torchinfo/layer_info.py: LayerInfo.calculate_macs",
    terms={"bias_mlp_params": Term("bias_mlp_params", "the position-bias MLP's weights and bias once per pass "
                                   "(its input, the table of offsets, has a batch of 1)", _bias_mlp_params),
           "patch_norm_params": Term("patch_norm_params", "the patch embedding's LayerNorm's weight and bias "
                                     "(2·E), once per sample", lambda r: 2 * r.args.embed_dim if r.args.norm else 0),
           "mvit_leaves": parts_term("mvit_leaves", "its linear layers' and LayerNorms' weights and biases once per "
                                      "sample, its pooling Conv3d's weight × output positions (their products)",
                                      "linear_norm_params", "pool_products"),
           "transposed_output_positions": Term("transposed_output_positions", "a transposed convolution's weights "
                                               "× its output positions, not its input's",
                                               _transposed_output_positions)},
    rules={
        # --- activations ---
        "prelu": rule("its `weight` (the slopes) once per sample, as any parameter named weight of a class without "
                      "'Conv' in its name", "params"),
        # --- norms ---
        **{k: rule("weight and bias (one each per channel, when affine) once per sample", "params")
           for k in ("batch_norm3d", "instance_norm1d", "instance_norm2d", "instance_norm3d", "group_norm")},
        "rms_norm": rule("its weight (one per normalised element) once per sample", "params"),
        # --- pools and padding ---
        # --- convolution and resampling ---
        **{k: rule("weight and bias × output positions ('Conv' is in its class name), though a transposed "
                   "convolution's products are per input position", "macs", "transposed_output_positions",
                   "bias_adds") for k in ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")},
        # --- dropouts ---
        **{k: rule("weights and bias × output positions", "macs", "bias_adds")
           for k in ("conv1d", "conv2d", "conv3d")},
        **{k: rule("weight and bias parameters once per sample: a linear layer on a sequence is not "
                   "repeated per position" + (" (maxout: its inner nn.Linear)" if k == "maxout" else ""),
                   "macs", "bias_adds", "linear_positions_dropped") for k in ("linear", "maxout")},
        "patch_embed3d": rule("its proj (a Conv3d: 'Conv' in its class name) weight and bias × output positions, "
                              "its norm (a LayerNorm) weight and bias once per sample; archcalc's module holds them, "
                              "so it is no leaf itself", "macs", "bias_adds", "patch_norm_params"),
        "locally_connected2d": rule("weight and bias parameters once per sample ('Conv' is not in its class name): "
                                    "each weight is used once, so its MACs plus one add per output element",
                                    "macs", "bias_adds"),
        **{k: rule("weight and bias (2 per channel) once per sample", "params")
           for k in ("batch_norm1d", "batch_norm2d")},
        "layer_norm": rule("weight and bias (one each per normalised element) once per sample", "params"),
        **{k: rule("every weight and bias × sequence length", "macs", "recurrent_bias_steps")
           for k in ("rnn", "lstm", "gru")},
        "lstm:course": rule("archcalc's step-by-step module: every parameter named weight_* or bias_* × sequence "
                            "length (the peepholes w_c* are neither)", "macs", "recurrent_bias_steps"),
        "embedding": rule("its table's size, as for any 'weight' parameter", "embedding_table"),
        # --- attention ---
        "multihead_attention": rule("nothing: nn.MultiheadAttention holds a module (out_proj), so it is no leaf "
                                    "and its row is left out of the sum, and out_proj is never called (its weight "
                                    "is read by F.multi_head_attention_forward)"),
        **{k: rule("nothing: archcalc's module holds modules (qkv, proj), so it is no leaf and "
                   "its row is left out of the sum, and qkv and proj are never called (its "
                   "forward passes their weights to F.linear, as torchvision's does)")
           for k in ("shifted_window_attention", "shifted_window_attention3d")},
        "shifted_window_attention_v2": rule("archcalc's module holds modules, so it is no leaf and its own row "
                                            "is left out (qkv and proj are never called: their weights go to "
                                            "F.linear); but its position-bias MLP's two nn.Linear are leaves it "
                                            "calls, on the table of offsets: their parameters once (its batch "
                                            "axis is 1)", "bias_mlp_params"),
        "relative_positional_attention": rule("its leaf modules to_qkv and merge (nn.Linear): their parameters once "
                                              "per sample, whatever the G·P tokens; the module holds them, so it is "
                                              "no leaf and its bias table is not counted", "leaf_params"),
        "multiscale_block": rule("its leaf modules' weight and bias: the linear layers' and LayerNorms' once per "
                                 "sample, the pooling Conv3d's × output positions ('Conv' in the name); the "
                                 "attention holds modules, so it is no leaf: its relative position tables (not named "
                                 "weight or bias either) are not counted", "mvit_leaves"),
        "mvit_position_encoding": rule("its tensors are class_token, spatial_pos, temporal_pos and class_pos, none "
                                       "named weight or bias: nothing counted"),
        "scaled_dot_product_attention": rule("a function, no module: nothing counted"),
        **{k: rule("its leaf modules' parameters (linear layers and LayerNorms) once per sample; each attention "
                   "holds a module, so it is no leaf: nothing", "leaf_params")
           for k in TRANSFORMER_KINDS},
        # --- position encodings ---
        "rotary_embedding": rule("archcalc's module holds no parameters (its cos/sin table is made in forward): "
                                 "nothing counted"),
        "sinusoidal_position_encoding": rule("archcalc's module holds its table as a buffer (pe), no parameter: "
                                             "nothing counted"),
        # --- structure: mul, parameter, views ---
        "mul": rule("`*` is no module: nothing counted"),
        "parameter": rule("archcalc's module holds a tensor named neither weight nor bias: nothing counted"),
        "mean": rule("no parameters (archcalc's module, or torch.mean called in a forward): nothing counted"),
    },
    default=rule("no parameters: nothing counted"),
    families={**{f: rule("no parameters: nothing counted") for f in ("activation", "pool", "norm", "structure")},
              "resample": rule("no parameters: nothing counted"),
              "merge": rule("`+` and torch.cat are no modules: nothing counted")},
)
