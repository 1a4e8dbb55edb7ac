"""What a peer's counting convention is made of: terms (named per-sample quantities of a
row), rules (a sum of terms for one layer kind, with the peer's reason in words) and the
convention (one small table of rules, with the peer's version and unit).

A term is computed from an analysed row alone: its kind, bound arguments, per-sample
input and output shapes and archcalc's exact MACs. Terms are the vocabulary in which
differences are explained: "torchinfo adds bias × output positions: +494,184" is the sum of
the term `bias_adds` over the rows whose rule has it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from archcalc.engine import numbers as N
from archcalc.spec.errors import SpecError


@dataclass(frozen=True)
class Term:
    key: str
    words: str  # what it counts, as a compare-conventions line says it
    value: Callable[[Any], Any]  # per-sample value for one row
    per_batch: bool | None = None  # None: as the convention counts; True: grows with the batch regardless; False: once per pass


@dataclass(frozen=True)
class Rule:
    """A peer's figure for one layer kind: Σ coefficient × term (per sample), and why."""

    terms: tuple[tuple[str, int], ...]
    words: str
    needs: Callable[[Any], str | None] | None = None  # a reason the rule does not apply to this row


def rule(words: str, *terms: str | tuple[str, int], needs=None) -> Rule:
    return Rule(tuple((t, 1) if isinstance(t, str) else t for t in terms), words, needs)


@dataclass(frozen=True)
class Convention:
    """One tool's counting rules. Every layer kind gets a rule: its own (`rules`, keyed by kind
    or "kind:variant"), or its family's (`families`: the tool's rule for the kinds of that
    family the table does not name, with the tool's reason). A kind with MACs is always named:
    a family rule never applies to a row with MACs, which is reported as not modelled instead.
    The keys are checked against the layer registry when the table loads."""

    name: str
    tool: str  # the package as installed: "torchinfo 1.8.0"
    reports: str  # what the tool prints, in its own words
    unit: str  # "MACs" or "FLOPs": which column the tool's figure lands in
    per_batch: bool  # True: the figure grows with the batch; False: averaged per sample
    rules: dict[str, Rule]
    default: Rule  # what the tool does with a module it has no rule for
    families: dict[str, Rule] = field(default_factory=dict)  # family → rule for its kinds not in `rules`
    notes: tuple[str, ...] = ()
    source: str = ""  # where the rules were read
    terms: dict[str, Term] = field(default_factory=dict)  # the peer's own terms, besides the shared ones
    every_kind: bool = False  # `default` is this tool's rule for every kind (it counts archcalc's own MACs)
    whole: bool = False  # the tool returns int(figure): a fraction its averaging over the batch leaves is dropped
    # a model of several inputs is called with keywords (ptflops' input_constructor returns a dict of them): a tool
    # that reads the batch from the positional input then assumes 1 and averages nothing (the whole batch)
    keywords_whole_batch: bool = False
    # A layer the model calls as a function (`call: function`: F.relu, F.max_pool2d) where the tool counts it
    # apart from its module: `functions` (by kind) or else `function_default`; None: as its module.
    functions: dict[str, Rule] = field(default_factory=dict)
    function_default: Rule | None = None

    def __post_init__(self) -> None:
        from archcalc.layers.registry import families, kinds

        registry = kinds()
        for key in self.functions:
            if key not in registry or not registry[key].torch_functions:
                raise ValueError(f"{self.name} convention: function rule for {key!r}, which is no kind with a "
                                 "function form")
        for key in self.rules:
            kind, _, variant = key.partition(":")
            if kind not in registry or (variant and variant not in registry[kind].torch_variants):
                raise ValueError(f"{self.name} convention: rule for {key!r}, which is not a layer kind"
                                 + (f" variant ({', '.join(registry[kind].torch_variants) or 'none'})"
                                    if kind in registry else ""))
        for key in set(self.families) - set(families()):
            raise ValueError(f"{self.name} convention: rule for family {key!r}, which no layer kind has")

    def rule_for(self, kind, variant: str | None = None, *, has_macs: bool = False,
                 call: str = "module") -> Rule | None:
        """The rule for a kind (with its torch variant; called as a module or a function), or None
        when it is not modelled."""
        if call == "function" and self.function_default is not None:
            return self.functions.get(kind.kind, self.function_default)
        if variant and f"{kind.kind}:{variant}" in self.rules:
            return self.rules[f"{kind.kind}:{variant}"]
        if kind.kind in self.rules:
            return self.rules[kind.kind]
        if self.every_kind:
            return self.default
        return None if has_macs else self.families.get(kind.family)

    def uncovered(self) -> list[str]:
        """Kinds this table has no rule for: weighted kinds it does not name, and kinds whose
        family it gives no rule (a new family, or a new kind in a family the table lists by kind)."""
        from archcalc.layers.registry import kinds

        if self.every_kind:
            return []
        return [name for name, kind in kinds().items()
                if name not in self.rules and (kind.weighted or kind.family not in self.families)]


TRANSFORMER_KINDS = ("transformer_encoder_layer", "transformer_encoder", "transformer_decoder_layer",
                     "transformer_decoder", "transformer")  # torch's transformer classes, read whole: one rule


def per_sample(row, value):
    return N.true_div(value, row.batch) if row.batch != 1 else value


def _bias_adds(row):
    """One add per element the bias is added to, as the row's kind says (maxout: its inner
    linear layer's out × pieces)."""
    return row.layer.bias_adds(row.args, row.output)


def _params(row):
    """The parameters the layer's module holds, also when it reuses another layer's weights
    (`share:`): a tool that counts per call counts them at every call."""
    return row.module_params


def _steps(row):
    """T of a recurrent layer: its per-sample input is [T, F]."""
    return row.input[0]


def gates(row) -> int:
    """G of a recurrent row (rnn 1, gru 3, lstm 4), as its kind declares it."""
    return row.layer.gates


def _concrete(row, values, what: str):
    if any(N.is_symbolic(v) for v in values):
        raise SpecError(f"{row.path}: {what} needs concrete sizes", row.loc,
                        found="symbolic sizes " + ", ".join(N.fmt(v) for v in values if N.is_symbolic(v)),
                        hint="bind them, e.g. --set H=224", code="needs-concrete-size")


def pool_taps(row):
    """Input elements summed by an average pool, window by window (its kind's pooled_inputs)."""
    _concrete(row, list(row.input) + list(row.output), "counting pooled inputs window by window")
    return row.layer.pooled_inputs(row.args, row.input, row.output)


def softmax_rows(row):
    """Independent softmaxes of a row: its elements over the size of the axis it normalises
    (as its kind says: softmax2d's channels have no `dim`)."""
    n = row.input[row.layer.normalized_axis(row.args)]
    return N.floordiv(N.product(row.input), n), n


def interpolated(row, mode: str):
    """The output elements of a layer that interpolates in this mode (its kind's
    `interpolation`: upsample's torch mode), else 0."""
    return N.product(row.output) if row.layer.interpolation(row.args) == mode else 0


def attention_products(row):
    """Q·Kᵀ and A·V of each attention in a row: 2·h·T·S·d (its kind's attentions)."""
    return N.total(N.mul(2, N.mul(at.heads, N.mul(at.queries, N.mul(at.keys, at.head_size))))
                   for at in row.layer.attentions(row.args, row.input))


def attention_softmax_ops(row):
    """A softmax over each query's S scores in each head of each attention: h·T·(3S − 1),
    as softmax_ops counts one."""
    return N.total(N.mul(N.mul(at.heads, at.queries), N.sub(N.mul(3, at.keys), 1))
                   for at in row.layer.attentions(row.args, row.input))


SHARED_TERMS = {t.key: t for t in (
    Term("macs", "multiply-accumulates of the weights (archcalc's MACs)", lambda r: per_sample(r, r.macs)),
    Term("bias_adds", "bias × output positions (one add per output element)", _bias_adds),
    Term("outputs", "output elements", lambda r: N.product(r.output)),
    Term("inputs", "input elements", lambda r: N.product(r.input)),
    Term("params", "the layer's parameters, once per sample", _params),
    Term("linear_positions_dropped", "a linear layer on a sequence counted once per sample, not per position",
         lambda r: N.sub(_params(r), N.add(per_sample(r, r.macs), _bias_adds(r)))),
    Term("recurrent_bias_steps", "both bias vectors of every gate, added at every step",
         lambda r: N.mul(_steps(r), r.layer.bias_values(r.args))),
    Term("norm_inputs", "one per normalised element", lambda r: N.product(r.input)),
    Term("norm_affine_inputs", "one more per element for the affine scale and shift",
         lambda r: N.product(r.input) if r.layer.affine(r.args) else 0),
    Term("pool_taps", "one add per pooled input, window by window", pool_taps),
    Term("softmax_ops", "per softmax over n values: n exponentials, n − 1 adds, n divisions",
         lambda r: N.mul(softmax_rows(r)[0], N.sub(N.mul(3, softmax_rows(r)[1]), 1))),
    Term("log_softmax_logs", "one logarithm per softmax", lambda r: softmax_rows(r)[0]),
    Term("macs_without_attention", "every product but the attention's Q·Kᵀ and A·V (bias left out)",
         lambda r: N.sub(per_sample(r, r.macs), attention_products(r))),
    Term("attention_products", "the attention's own products Q·Kᵀ and A·V", attention_products),
    Term("attention_softmax_ops", "the attention's softmax: 3S − 1 per query and head", attention_softmax_ops),
    Term("attention_weights_products", "Q·Kᵀ and A·V as torch.bmm, where the call returns the attention weights "
         "(need_weights)", lambda r: attention_products(r) if getattr(r.args, "need_weights", False) else 0),
    Term("transformer_norm_elements", "one per element of each LayerNorm", lambda r: r.layer.norm_elements(r.args,
                                                                                                         r.input)),
    Term("feedforward_macs", "the feed-forward networks' products", lambda r: r.layer.feedforward_macs(r.args,
                                                                                                     r.input)),
    Term("leaf_params", "the parameters of its modules without children (not the attention's), once per sample",
         lambda r: r.layer.leaf_params(r.args, r.input)),
    Term("plane", "one channel's plane (H × W)", lambda r: N.product(r.input[1:])),
    Term("embedding_table", "the embedding table (vocabulary × dim) counted as mult-adds", _params),
    *(Term(f"{mode}_outputs", f"output elements interpolated {mode}", lambda r, mode=mode: interpolated(r, mode))
      for mode in ("linear", "bilinear", "bicubic", "trilinear")),
)}


def variant(row) -> str | None:
    """The row's torch variant (its kind's torch_variant): a table's rule for "lstm:course"
    applies to the course's LSTM, which runs archcalc's step-by-step module."""
    return row.layer.torch_variant(row.args)


def parts_term(key: str, words: str, *parts: str, coefficients: dict | None = None,
               per_batch: bool | None = None) -> Term:
    """A term that sums quantities a kind's `parts(args, input)` names, per sample (MViT's
    multiscale_block: its linear layers' products, its LayerNorms' elements, ...), each times
    its coefficient (default 1)."""
    coefficients = coefficients or {}

    def value(row):
        named = row.layer.parts(row.args, row.input)
        return N.total(N.mul(coefficients.get(p, 1), named[p]) for p in parts)

    return Term(key, words, value, per_batch)

