"""`--format json`: exactly the shape docs/json.md gives."""
from __future__ import annotations

from archcalc import __version__
from archcalc.engine import numbers as N
from archcalc.engine.analysis import COUNTS, Row


def _shape(shape: tuple) -> list:
    return [N.to_json(d) for d in shape]


def _count(x):
    return None if x is None else N.to_json(x)


def row_json(row: Row, rf: bool = False, train: bool = False) -> dict:
    out = {"path": row.path, "kind": row.kind, "depth": row.depth, "leaf": row.leaf,
           "input": _shape(row.input), "output": _shape(row.output)}
    if row.reads:  # from: the input or earlier row this row reads
        out["reads"] = row.reads
    out.update({q: _count(getattr(row, q)) for q in COUNTS})
    if train:  # --columns train: forward + backward FLOPs of one training step
        out["training_flops"] = N.to_json(N.add(row.flops, N.mul(2, row.backward_macs)))
    if rf:  # --columns rf: per spatial axis, or null where the layer is not spatial
        out["receptive_field"] = None if not row.rf else [
            {"size": N.to_json(a.size), "jump": N.to_json(a.jump), "start": N.to_json(a.start)} for a in row.rf]
        if row.rf_branch:
            out["receptive_field_branch"] = row.rf_branch
    return out


def summary_json(summary, depth: int | None = None, rf: bool = False, train: bool = False) -> dict:
    """`summary`: a report.display.Summary (an analysis and the convention it is counted by)."""
    analysis = summary.analysis
    return {
        "archcalc": __version__,
        "spec": analysis.spec.file,
        "name": analysis.name,
        "batch": analysis.batch,
        "bindings": {k: N.to_json(v) for k, v in analysis.bindings.items()},
        "input": _shape(analysis.input),
        **({"inputs": {analysis.spec.input_name: _shape(analysis.input)}
            | {name: _shape(shape) for name, shape in analysis.more_inputs.items()}} if analysis.more_inputs else {}),
        "output": _shape(analysis.output),
        "totals": {q: N.to_json(analysis.totals[q]) for q in COUNTS}
        | ({"training_flops": N.to_json(analysis.training_flops())} if train else {}),
        "layers": [row_json(r, rf, train) for r in analysis.rows if depth is None or r.depth <= depth],
        "warnings": [{"path": w.path, "code": w.code, "message": w.message} for w in analysis.warnings],
    } | ({"convention": convention_json(summary.convention, analysis)} if summary.convention else {})


def convention_json(conv, analysis) -> dict:
    """A tool's convention as it applies to this network: its rule for each kind the network
    has (and for each of their variants the table names), the rule for anything else."""
    kinds = dict.fromkeys(r.layer for r in analysis.rows if r.layer is not None)
    rules = {}
    for kind in kinds:
        for key in (kind.kind, *(f"{kind.kind}:{v}" for v in kind.torch_variants)):
            if key in conv.rules:
                rules[key] = conv.rules[key].words
        if kind.kind not in rules:
            rule = conv.rule_for(kind)
            rules[kind.kind] = None if rule is None else rule.words
    return {"name": conv.name, "tool": conv.tool, "reports": conv.reports, "unit": conv.unit,
            "per_batch": conv.per_batch, "source": conv.source, "notes": list(conv.notes), "rules": rules,
            "default_rule": conv.default.words}
