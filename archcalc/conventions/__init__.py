"""Every peer's counting convention as data, and the two things done with them:

- `apply(analysis, name)`: the same analysis with each row's MACs/FLOPs as that peer counts
  them (`summarize --convention NAME`); nothing else changes.
- `compare(analysis)`: each peer's headline figure and its difference from archcalc's MACs,
  explained term by term (`compare-conventions`).

A rule's terms add up operations where one multiply-add is 1: that is the MACs column;
FLOPs is twice it. A peer whose tool prints FLOPs (torch's FlopCounterMode) shows its figure
in the FLOPs column. Kinds a table does not name get the tool's rule for everything else
(nothing counted, or skipped) — unless they have MACs: a kind with weights that a table
forgets is "not modelled" and named in a warning rather than silently counted 0.
archcalc's own modules are counted by what they call (torch.bmm, F.avg_pool2d, an inner
nn.Linear, the course's LSTM's matmuls), measured against each tool.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archcalc.conventions import flop_counter, fvcore, native, ptflops, thop, torchinfo
from archcalc.conventions.base import SHARED_TERMS, Convention, Rule, Term, variant
from archcalc.engine import numbers as N
from archcalc.engine.analysis import AnalysisWarning
from archcalc.spec.errors import Location, SpecError

CONVENTIONS: dict[str, Convention] = {m.CONVENTION.name: m.CONVENTION
                                      for m in (native, torchinfo, fvcore, ptflops, thop, flop_counter)}
NAMES = tuple(CONVENTIONS)


def get(name: str) -> Convention:
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise SpecError(f"no convention named {name!r}", Location("--convention"),
                        expected="one of " + ", ".join(NAMES), code="usage") from None


class _Facts:
    """A row as terms read it: the row's fields, plus the analysis' batch and the parameters
    its module holds (a layer that shares weights holds its owner's)."""

    def __init__(self, row, batch: int):
        self._row, self.batch = row, batch
        self.module_params = row.owner.params if row.owner is not None else row.params
        self.macs = row.own_macs  # a merge's own (its branches are rows of their own)

    def __getattr__(self, name):
        return getattr(self._row, name)


@dataclass
class RowFigure:
    path: str
    kind: str
    rule: Rule | None  # None: not modelled
    terms: dict[str, Any]  # term key → its amount in this row, as the tool counts it at this batch
    value: Any  # the row's figure as the tool counts it at this batch (a multiply-add = 1)
    reason: str | None = None  # why not modelled


@dataclass
class Figures:
    convention: Convention
    rows: list[RowFigure] = field(default_factory=list)
    total: Any = 0  # as the tool prints it, in its unit
    not_modelled: list[RowFigure] = field(default_factory=list)
    dropped: Any = 0  # what the tool's int(figure) drops (Convention.whole), in its unit


def _term(conv: Convention, key: str) -> Term:
    return conv.terms.get(key) or SHARED_TERMS[key]


def _scale(conv: Convention, term: Term, batch: int, several: bool = False) -> int:
    """How many samples' worth of a term the tool's figure holds: the batch for tools that
    count whole batches, 1 for those that average; some of ptflops' terms escape its average,
    and all of them where a model of several inputs is given by keyword (`several`), but for a
    term counted once per pass (per_batch False: ptflops' F.interpolate of MViT's position
    tables), which no batch multiplies."""
    if term.per_batch is not None:
        return batch if term.per_batch else 1
    return batch if conv.per_batch or (several and conv.keywords_whole_batch) else 1


def figures(analysis, name: str) -> Figures:
    """Each layer's and merge's figure by the peer's rules, and the total the tool would print."""
    conv = get(name)
    out = Figures(conv)
    # a repeat's cloned copies share their rows' bound arguments (engine/analyze.py's _Clone): a row with the
    # same kind, arguments (the same object), shapes and counts as one already counted has that row's figure
    seen: dict[tuple, tuple] = {}
    for row in analysis.rows:
        if row.layer is None:
            continue  # blocks and repeats: their rows are counted one by one
        key = (row.layer, id(row.args), row.input, row.output, row.call, row.params, row.buffers, row.own_macs,
               row.owner.params if row.owner is not None else None)
        known = seen.get(key)
        if known is None:
            known = seen[key] = _row_figure(conv, row, analysis)
        rule, terms, value, reason = known
        fig = RowFigure(row.path, row.kind, rule, terms, value, reason)
        if rule is None:
            out.not_modelled.append(fig)
        out.rows.append(fig)
    total = N.total(f.value for f in out.rows)
    if conv.whole:  # the tool returns int(figure)
        out.dropped, total = N.sub(N.floor(total), total), N.floor(total)
    out.total = N.mul(total, 2) if conv.unit == "FLOPs" else total
    return out


def _row_figure(conv: Convention, row, analysis) -> tuple:
    """(rule, terms, value, reason) of one row; rule None: not modelled, for `reason`."""
    rule = conv.rule_for(row.layer, variant(row), has_macs=bool(row.own_macs), call=row.call)
    facts = _Facts(row, analysis.batch)
    reason = rule.needs(facts) if rule is not None and rule.needs else None
    if rule is None or reason:
        return None, {}, 0, reason or f"{conv.tool}'s rules for {row.kind} are not modelled"
    terms = {}
    for key, coef in rule.terms:
        term = _term(conv, key)
        terms[key] = N.mul(coef * _scale(conv, term, analysis.batch, bool(analysis.more_inputs)), term.value(facts))
    return rule, terms, N.total(terms.values()), None


def apply(analysis, name: str):
    """A copy of `analysis` whose MACs/FLOPs are the peer's (blocks and merges summing their
    layers); the report says which convention (report.summary.Summary)."""
    figs = figures(analysis, name)
    by_path = {f.path: f.value for f in figs.rows}
    result = analysis.recounted(lambda row: by_path[row.path])
    result.warnings = list(analysis.warnings) + [
        AnalysisWarning(f.path, "convention-not-modelled", f"{f.reason}: counted 0 here", analysis.row(f.path).loc)
        for f in figs.not_modelled]
    return result


@dataclass
class Difference:
    words: str  # the term, in words ("bias × output positions ...", "output elements, ×2")
    rules: dict[str, str]  # kind → the peer's rule for it, in words
    amount: Any  # in multiply-adds, as the tool counts (per batch or per sample)


@dataclass
class Comparison:
    convention: Convention
    figure: Any  # as the tool prints it
    macs_equivalent: Any  # the figure in multiply-adds (FLOPs / 2)
    differences: list[Difference]
    not_modelled: list[RowFigure]
    unavailable: str | None = None  # why this tool's figure cannot be given (e.g. symbolic sizes)


def compare(analysis) -> list[Comparison]:
    """Each convention's figure and, term by term, how it differs from archcalc's MACs; a tool
    whose rules need what the spec leaves open (thop's window-by-window pools on symbolic
    sizes) is listed with the reason instead of failing the whole comparison."""
    out = []
    for name in NAMES:
        try:
            out.append(_compare_one(analysis, name))
        except SpecError as err:
            out.append(Comparison(get(name), None, None, [], [], f"{err.message} ({err.hint})" if err.hint
                                  else err.message))
    return out


def _compare_one(analysis, name: str) -> Comparison:
    figs = figures(analysis, name)
    conv = figs.convention
    groups: dict[str, Difference] = {}

    def note(words, kind, rule_words, amount):
        if amount == 0:
            return
        d = groups.setdefault(words, Difference(words, {}, []))
        d.rules.setdefault(kind, rule_words)
        d.amount.append(amount)  # summed once at the end: symbolic sums grow term by term otherwise

    notes_of: dict[tuple, list] = {}  # a row's notes, for the rows that share its figure (a repeat's clones)
    for fig in figs.rows:
        ours = analysis.row(fig.path).own_macs  # archcalc's, for the whole batch
        key = (id(fig.terms), fig.kind, fig.reason, ours)
        if key not in notes_of:
            notes_of[key] = _row_notes(conv, fig, ours, analysis.batch)
        for args in notes_of[key]:
            note(*args)
    note("the fraction dropped when the tool returns a whole number", "all", "int(figure)", figs.dropped)
    if conv.unit == "FLOPs":
        note("a multiply and an add counted separately (2 FLOPs per MAC)", "all", conv.default.words,
             N.true_div(figs.total, 2))
    macs_eq = N.true_div(figs.total, 2) if conv.unit == "FLOPs" else figs.total
    for d in groups.values():
        d.amount = N.total(d.amount)
    return Comparison(conv, figs.total, macs_eq, list(groups.values()), figs.not_modelled)


def _row_notes(conv: Convention, fig: RowFigure, ours, batch: int) -> list[tuple]:
    """How one row's figure differs from archcalc's MACs `ours`: (words, kind, rule words, amount) each."""
    if fig.rule is None:
        return [("not modelled: counted 0 here", fig.kind, fig.reason, N.neg(ours))]
    notes = []
    coefs = dict(fig.rule.terms)
    if "macs" not in coefs:
        notes.append(("multiply-accumulates not counted", fig.kind, fig.rule.words, N.neg(ours)))
    else:
        notes.append((f"divided by the batch of {batch}: per-sample figures", "all",
                      "the tool averages its module counts over the batch", N.sub(fig.terms["macs"], ours)))
    for key, value in fig.terms.items():
        if key != "macs":
            words = _term(conv, key).words + (f", ×{coefs[key]}" if coefs[key] != 1 else "")
            notes.append((words, fig.kind, fig.rule.words, value))
    return notes
