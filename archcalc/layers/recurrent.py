"""Recurrent layers: rnn, lstm (with the course's peephole form), gru, and the sequence
helpers embedding and repeat_vector.

Sequences are [T, F] per sample (T may be a symbol). In the course's symbols, with G gate
blocks (rnn 1, lstm 4, gru 3), h hidden units and x inputs to a layer (F for the first,
then dirs·h), each layer and direction holds G·h·(x + h) weights and, with bias, b·G·h
biases (torch keeps two sets, b_ih and b_hh: b = 2). Every step multiplies G·h·(x + h)
times per layer and direction: MACs = T · dirs · Σ_layers G·h·(x + h), exactly the gate
matmuls torch's FlopCounterMode counts
(when it can see them: see the torch backend). Bias adds and the gates' element-wise work
(sigmoid, tanh, the Hadamard products, peephole multiplies) are not MACs (docs/conventions.md).
"""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.layers.args import Arg, ArgTypeError, Bool, Choice, Float, Int, Nullable
from archcalc.layers.base import Context, LayerKind, Result, Step, Untranslatable
from archcalc.layers.registry import register

_SEQ_HINT = "a recurrent layer reads a sequence [T, F]; to feed one vector at every step use repeat_vector"


class _BiasSets(Int):
    describe = "1 (one bias per gate, the textbook form) or 2 (torch's b_ih and b_hh)"

    def __init__(self):
        super().__init__(1)
        self.describe = _BiasSets.describe

    def check(self, value):
        value = super().check(value)
        if value not in (1, 2):
            raise ArgTypeError(self.describe, str(value))
        return value


def _recurrent_args(extra=()):
    return (
        Arg("hidden_size", Int(1), doc="H, hidden units per direction"),
        Arg("num_layers", Int(1), 1),
        *extra,
        Arg("bias", Bool(), True),
        Arg("bidirectional", Bool(), False),
        Arg("dropout", Float(minimum=0.0, maximum=1.0), 0.0, "between stacked layers; no effect on counts"),
        Arg("return_sequences", Bool(), True,
            "archcalc's: true gives every step's output [T, dirs·H] (many to many), false only the last [dirs·H]"),
        Arg("input_size", Nullable(Int(1)), None, "F; inferred from the input, checked when written"),
    )


class _Recurrent(LayerKind):
    family = "recurrent"
    weighted = True
    in_arg = "input_size"
    gates: int = 1
    gate_names: str = ""
    mkldnn_uncounted = True  # nn.LSTM on the CPU runs as one mkldnn op FlopCounterMode has no formula for
    verify_note = ("recurrent layers run with mkldnn and cuDNN disabled, so that FlopCounterMode sees their "
                   "gate matmuls (its mkldnn LSTM path counts 0)")

    @classmethod
    def bias_sets(cls, a) -> int:
        return 2

    @classmethod
    def bias_values(cls, a) -> int:
        """Bias values added at every step, over layers and directions: b·G·h each."""
        return (2 if a.bidirectional else 1) * a.num_layers * cls.bias_sets(a) * cls.gates * a.hidden_size \
            if a.bias else 0

    @classmethod
    def layer_inputs(cls, a, x) -> list:
        """x of each stacked layer: the features F for the first, dirs·h after it."""
        dirs = 2 if a.bidirectional else 1
        return [x[1] if layer == 0 else N.mul(dirs, a.hidden_size) for layer in range(a.num_layers)]

    @classmethod
    def extra_params(cls, a, hidden) -> int:
        """Per layer and direction, beyond the gate matrices and biases (peepholes)."""
        return 0

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, [2], ctx, "a sequence [T, F]", _SEQ_HINT if len(x) == 1 else
                         "flatten the image, or give the spec a sequence input [T, F]")
        steps_t, features = x
        cls.check_in_size(features, ctx)
        if N.is_symbolic(a.num_layers):
            raise ctx.error("num_layers must be a number: the layers are counted one by one", arg="num_layers",
                            expected="a positive integer", found=N.fmt(a.num_layers), code="invalid-layer")
        h, g, dirs = a.hidden_size, cls.gates, 2 if a.bidirectional else 1
        b = cls.bias_sets(a) if a.bias else 0
        params, per_step = 0, 0
        steps: list[Step] = []
        for layer, f_l in enumerate(cls.layer_inputs(a, x)):
            weights = N.mul(N.mul(g, h), N.add(f_l, h))
            layer_params = N.add(N.add(weights, N.mul(b, N.mul(g, h))), cls.extra_params(a, h))
            params = N.add(params, N.mul(dirs, layer_params))
            per_step = N.add(per_step, N.mul(dirs, weights))
            extra = " + 3·h" if cls.extra_params(a, h) else ""
            b_text = f" + {b}·G·h" if b else ""
            steps.append(Step(f"params of layer {layer + 1}" + (" (per direction)" if dirs == 2 else ""),
                              f"G·h·(x + h){b_text}{extra}",
                              f"{g}·{N.fmt(h)}·({N.fmt(f_l)} + {N.fmt(h)})"
                              + (f" + {b}·{g}·{N.fmt(h)}" if b else "") + (f" + 3·{N.fmt(h)}" if extra else ""),
                              layer_params))
        macs = N.mul(steps_t, per_step)
        out_width = N.mul(dirs, h)
        output = (steps_t, out_width) if a.return_sequences else (out_width,)
        steps += [
            Step("params", f"{'2·' if dirs == 2 else ''}Σ layers (G = {g}: {cls.gate_names})", "", params),
            Step("MACs per step", "dirs·Σ_layers G·h·(x + h)", "", per_step),
            Step("MACs", "T·(MACs per step)", f"{N.fmt(steps_t)}·{N.fmt(per_step)}", macs),
            Step("neurons per step", "dirs·h", f"{dirs}·{N.fmt(h)}", out_width),
        ]
        return Result(output, params=params, macs=macs, steps=steps)

    @classmethod
    def backward_macs(cls, a, x, result, input_grad):
        """Per layer and direction: the gradients of W_ih (T·G·h·x) and W_hh (T·G·h·h), of the
        hidden state at every step but the first, whose h_0 is a constant ((T − 1)·G·h·h), and of
        the layer's input (T·G·h·x) when it needs one: always past the first layer."""
        steps_t = x[0]
        h, g, dirs = a.hidden_size, cls.gates, 2 if a.bidirectional else 1
        total = 0
        for layer, x_l in enumerate(cls.layer_inputs(a, x)):
            gates_in, gates_h = N.mul(N.mul(g, h), x_l), N.mul(N.mul(g, h), h)
            per_direction = N.add(N.mul(steps_t, gates_in), N.mul(steps_t, gates_h))
            per_direction = N.add(per_direction, N.mul(N.sub(steps_t, 1), gates_h))
            if layer > 0 or input_grad:
                per_direction = N.add(per_direction, N.mul(steps_t, gates_in))
            total = N.add(total, N.mul(dirs, per_direction))
        return total

    saved_per_step: int = 1  # hidden-sized tensors autograd keeps per step and direction (measured)
    saved_initial: int = 0  # and once per direction (the zero h_0 of an Elman RNN)

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        """Per layer: its input sequence (the previous layer's output past the first); per
        direction: saved_initial + T·saved_per_step hidden-sized tensors; the first layer's
        reverse direction also keeps a reversed copy of its input when T > 1 (later layers' do not). Measured with saved-tensor hooks on
        torch's RNN (h_t), GRU and LSTM (7 per step: gates and states); not modelled for the
        step-by-step peephole / one-bias-set LSTM."""
        if cls.torch_variant(a) is not None:
            return None
        steps_t = x[0]
        h, dirs = a.hidden_size, 2 if a.bidirectional else 1
        entries = []
        for layer, x_l in enumerate(cls.layer_inputs(a, x)):
            entries.append(("input" if layer == 0 else "new", N.mul(steps_t, x_l), elem))
            for direction in range(dirs):
                states = N.add(cls.saved_initial, N.mul(steps_t, cls.saved_per_step))
                entries.append(("new", N.mul(states, h), elem))
                if direction == 1 and layer == 0 and N.compare(steps_t, ">", 1) is not False:
                    entries.append(("new", N.mul(steps_t, x_l), elem))
        return entries

    @classmethod
    def receptive_field(cls, a, x, rf):
        return None  # a recurrent state sees every earlier step

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import RecurrentLayer

        return RecurrentLayer(cls, x[-1], a)

    @classmethod
    def torch_output_shape(cls, a, x, out):
        """torch's module returns every step; with return_sequences false the row keeps the last."""
        return out if a.return_sequences else (x[0], *out)

    cell_state: bool = False  # the module's final state is (h_n, c_n), not h_n alone

    @classmethod
    def imported_index(cls, args, part, index):
        """`out, state = lstm(x)`: out (index 0) is the layer's output, state (1) its final
        state. The last step, `out[:, -1]` or the top layer's `h_n[-1]` (state[0][-1] for an
        LSTM), is the layer with return_sequences: false, for one direction."""
        if part is None and index in (0, 1):
            return ("output", "state")[index], {}
        if part == "state" and cls.cell_state and index == 0:
            return "h_n", {}
        last = (part == "output" and _is_last_step(index)) or \
            (part in ("h_n", "state") and not (part == "state" and cls.cell_state) and index == -1)
        if last and not args.get("bidirectional"):
            return "output", {"return_sequences": False}
        if part == "state" and cls.cell_state:
            raise Untranslatable(f"reads part {index!r} of the final state (c_n?): archcalc follows h_n[-1] or the "
                                 "output sequence")
        raise Untranslatable(f"reads [{index!r}] of the layer's output: archcalc follows the whole sequence, or the "
                             "top layer's last step of a one-direction layer (out[:, -1], h_n[-1])")

    @classmethod
    def from_torch(cls, module) -> dict:
        if not getattr(module, "batch_first", False):
            raise Untranslatable(f"{type(module).__name__}(batch_first=False): specs put the batch first "
                                 "([T, F] per sample); construct it with batch_first=True")
        if getattr(module, "proj_size", 0):
            raise Untranslatable("LSTM(proj_size=...) has no lstm argument in archcalc")
        return super().from_torch(module)


def _is_last_step(index) -> bool:
    """out[:, -1] or out[:, -1, :] on a batch-first sequence."""
    if not isinstance(index, tuple) or len(index) not in (2, 3):
        return False
    full = slice(None, None, None)
    return index[0] == full and index[1] == -1 and all(i == full for i in index[2:])


@register
class RNN(_Recurrent):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh). With bias: false it is the
    course's h_t = tanh(W_hh h_{t-1} + W_xh x_t); follow it with a bias-free linear for
    y_t = W_hy h_t."""

    kind = "rnn"
    torch_classes = ("RNN",)
    gates = 1
    saved_per_step = 1
    saved_initial = 1
    gate_names = "one tanh (or relu) block"
    doc = "Elman recurrent layer (torch.nn.RNN)"
    args = _recurrent_args((Arg("nonlinearity", Choice("tanh", "relu"), "tanh"),))


@register
class LSTM(_Recurrent):
    """torch's LSTM by default. `peephole: true` adds the course's peephole connections:
    i_t = σ(W_xi x_t + W_hi h_{t-1} + W_ci ⊙ c_{t-1} + b_i), f_t likewise with W_cf,
    o_t = σ(W_xo x_t + W_ho h_{t-1} + W_co ⊙ c_t + b_o), W_c· diagonal (3·H weights per
    layer and direction). `bias_sets: 1` keeps one bias per gate (the textbook b_i, b_f,
    b_c, b_o) instead of torch's two (b_ih + b_hh), which are redundant in the sum."""

    kind = "lstm"
    torch_classes = ("LSTM", "PeepholeLSTM")
    torch_variants = ("course",)
    cell_state = True
    gates = 4
    saved_per_step = 7
    gate_names = "input, forget, cell, output"
    doc = "long short-term memory (torch.nn.LSTM; peephole and one-bias-set forms are archcalc's)"
    args = _recurrent_args((Arg("peephole", Bool(), False, "the course's W_ci, W_cf, W_co (diagonal)"),
                            Arg("bias_sets", _BiasSets(), 2)))

    @classmethod
    def torch_variant(cls, a):
        """The course's forms (peephole, one bias set) run archcalc's PeepholeLSTM."""
        return "course" if a.peephole or a.bias_sets == 1 else None

    @classmethod
    def bias_sets(cls, a) -> int:
        return a.bias_sets

    @classmethod
    def extra_params(cls, a, hidden):
        return N.mul(3, hidden) if a.peephole else 0


@register
class GRU(_Recurrent):
    kind = "gru"
    torch_classes = ("GRU",)
    gates = 3
    saved_per_step = 7
    gate_names = "reset, update, new"
    doc = "gated recurrent unit (torch.nn.GRU)"
    args = _recurrent_args()


@register
class Embedding(LayerKind):
    """A lookup table: token ids [T] → vectors [T, D]. num_embeddings·D weights; a lookup
    multiplies nothing (0 MACs, as FlopCounterMode counts)."""

    kind = "embedding"
    contiguous_output = True  # rows gathered into a new tensor
    torch_classes = ("Embedding",)
    family = "embedding"
    weighted = True
    accepts_index = True
    doc = "token ids to vectors (torch.nn.Embedding); needs input dtype index"
    args = (
        Arg("num_embeddings", Int(1), doc="vocabulary size"),
        Arg("embedding_dim", Int(1), doc="D"),
        Arg("padding_idx", Nullable(Int(None)), None),
    )

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        if a.padding_idx is not None and not -a.num_embeddings <= a.padding_idx < a.num_embeddings:
            raise ctx.error(f"padding_idx={a.padding_idx} is outside the vocabulary", arg="padding_idx",
                            expected=f"from {-a.num_embeddings} to {a.num_embeddings - 1}", code="invalid-layer")
        params = N.mul(a.num_embeddings, a.embedding_dim)
        steps = [Step("params", "num_embeddings·D", f"{N.fmt(a.num_embeddings)}·{N.fmt(a.embedding_dim)}", params)]
        return Result((*x, a.embedding_dim), params=params, steps=steps)

    @classmethod
    def weight_shapes(cls, a, x):
        """The table [num_embeddings, D]: a bias-free linear D → num_embeddings may share it
        (a language model's output layer tied to its input embedding)."""
        return {"weight": (a.num_embeddings, a.embedding_dim)}

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return [("input", N.product(x), 8)]  # the token ids (int64), to scatter the gradient

    @classmethod
    def torch_module(cls, a, x):
        from torch import nn

        return nn.Embedding(a.num_embeddings, a.embedding_dim, a.padding_idx)


@register
class RepeatVector(LayerKind):
    """[F] → [times, F]: one vector fed at every step (the course's "one to many", e.g. an
    image feature starting a caption). archcalc's own (Keras' RepeatVector)."""

    kind = "repeat_vector"
    torch_classes = ("RepeatVector",)  # archcalc's own module
    family = "structure"  # an expanded view, but the recurrent layer after it copies it out
    doc = "repeats a vector over `times` steps (archcalc's own)"
    args = (Arg("times", Int(1), doc="T, the number of steps"),)

    @classmethod
    def infer(cls, x, a, ctx: Context) -> Result:
        cls.require_rank(x, [1], ctx, "a vector [F]")
        return Result((a.times, *x))

    @classmethod
    def output_is_input(cls, a) -> bool:
        # an expand of the vector's storage; past one step not contiguous, so a layer reading it copies it out
        return a.times == 1

    @classmethod
    def saved_for_backward(cls, a, x, out, elem):
        return []

    @classmethod
    def output_strides(cls, a, x, out, strides, batch):
        """x.unsqueeze(1).expand(times): the new axis's stride 0 (F times one step's where times is 1)."""
        if strides is None:
            return None
        return strides[0], N.mul(x[0], strides[1]) if a.times == 1 else 0, strides[1]

    @classmethod
    def torch_module(cls, a, x):
        from archcalc.torch_backend.modules import RepeatVector as Module

        return Module(a.times)
