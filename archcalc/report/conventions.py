"""The counting conventions (docs/conventions.md), stated once: report footers and --help use this."""

CONVENTIONS = (
    ("params", "trainable weights and biases, as torch's module.parameters() counts them"),
    ("buffers", "non-trainable state (BatchNorm running mean and var + num_batches_tracked)"),
    ("neurons", "output elements of layers with weights (conv, linear, locally connected, maxout)"),
    ("MACs", "multiply-accumulates of layers with weights; bias adds excluded"),
    ("FLOPs", "2 × MACs, as torch.utils.flop_counter counts: 0 for activations, pooling, "
              "normalisation, dropout, bias adds"),
    ("batch", "counts are per sample; --batch N multiplies MACs, FLOPs and activations, never params"),
)


def conventions_text(sep: str = "\n") -> str:
    return sep.join(f"{name}: {text}" for name, text in CONVENTIONS)


def in_force(analysis, conv=None) -> tuple[tuple[str, str], ...]:
    """The footer's conventions: archcalc's, with MACs and FLOPs replaced by a peer's rules
    when `--convention` chose one (only the rules of kinds the network has)."""
    if conv is None:
        return CONVENTIONS
    rules = []
    for kind in dict.fromkeys(row.layer for row in analysis.leaves()):
        rule = conv.rule_for(kind)
        rules.append((f"{conv.name} {kind.kind}", "not modelled (archcalc's own module)" if rule is None
                      else rule.words))
    head = (f"MACs ({conv.name})", f"{conv.tool}, '{conv.reports}', read from {conv.source}; FLOPs = 2 × MACs")
    notes = tuple((f"{conv.name} note", n) for n in conv.notes)
    return tuple(c for c in CONVENTIONS if c[0] not in ("MACs", "FLOPs")) + (head,) + tuple(rules) + notes


def convention_line(analysis, conv=None) -> str | None:
    """The header line that says which convention the MACs/FLOPs columns follow."""
    if conv is None:
        return None
    scope = "whole batch" if conv.per_batch else "per sample, as the tool averages over the batch (see its notes)"
    figure = analysis.totals["flops"] if conv.unit == "FLOPs" else analysis.totals["macs"]
    from archcalc.engine import numbers as N

    return (f"MACs/FLOPs by {conv.tool}'s rules ({scope}): it prints {N.fmt(figure)} "
            f"{'FLOPs' if conv.unit == 'FLOPs' else conv.reports}")
