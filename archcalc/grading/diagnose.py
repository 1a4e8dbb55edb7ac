"""Why an answer is wrong, where one common mistake explains it exactly.

Each hypothesis recomputes the quantity the way the mistake would and names the mistake
only when the student's number is exactly what that mistake gives. A mistake made at an
earlier layer is followed through the network: the spec is analysed again with that layer
(or every layer) computed the mistaken way (analyze(alter=...)), and a later layer's
output, params, neurons or MACs, or a total, that equals the re-analysed one is named
"follows from conv1 computed without its padding".

`diagnose()` returns Diagnosis(code, text, follows): `follows` is None where the mistake
is in the answer's own layer or quantity, the earlier layer's path where it is carried
from there, and "*" where it is every layer's. The codes (stable, for partial credit):

    bias-missing         the biases left out (weights only)
    full-depth           a grouped convolution counted with its full input depth D (groups ignored)
    padding-forgotten    the zero padding left out (P = 0)
    depth-forgotten      the input depth left out: F·F·K + K params instead of F·F·D·K + K
    unshared-weights     a convolution counted as locally connected: params × H2·W2
    plus-one-forgotten   the + 1 of W2 = (W1 − F + 2P)/S + 1 left out
    stride-ignored       the output size computed with stride 1
    kernel-minus-one     the kernel size F taken as F − 1
    one-bias-set         a recurrent layer with one bias set (Keras, the textbook) where torch has two
    two-bias-sets        torch's two bias sets where the layer keeps one (bias_sets: 1)
    gates-forgotten      an LSTM or GRU counted with one gate block instead of 4 or 3
    one-direction        a bidirectional recurrent layer counted in one direction
    input-224            the network computed at 224×224 where it takes 227×227 (AlexNet)
    flops-for-macs       FLOPs (2 per multiply-accumulate) where MACs were asked
    macs-for-flops       MACs where FLOPs were asked (half)
    one-gpu-half         one GPU's half of a layer split in two (groups=2, AlexNet's layout)
    neurons-for-params   the neurons (output elements) where the params were asked
    params-for-neurons   the params where the neurons were asked

A carried mistake is looked for at every layer at once, then at each earlier layer, nearest
first. A mistake that keeps its layer's output shape changes only that layer's counts, so
its effect on a total is a difference, without a re-analysis; one that changes the shape
needs one. Re-analyses are cached per (mistake, layer) on the grader's reanalyze_at (when
it offers `altered`); each answer consults at most MAX_REANALYSES of them, and at most
ROW_BUDGET rows' worth (a network of 600 rows: 3), cached or not, so that an answer's
diagnoses do not depend on the answers graded before it. A large network's far layers
therefore go unexamined.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis, Row
from archcalc.grading.mistakes import MISTAKES, Mistake, alter, context_of
from archcalc.spec.errors import SpecError

SHAPES = ("output", "input", "output_width", "output_height", "output_depth", "output_channels")
SUMMED = ("params", "buffers", "neurons", "activations", "macs", "flops")
MAX_REANALYSES = 32  # re-analyses consulted per answer (cached or not: the same answer, the same diagnoses)
ROW_BUDGET = 2_000  # and at most this many rows re-analysed per answer (fewer re-analyses of a large network)


# every code a Diagnosis may carry: the mistakes' own, then the arithmetic ones (a key's partial credit names them)
CODES = (*(m.code for m in MISTAKES), "input-224", "flops-for-macs", "macs-for-flops", "one-gpu-half",
         "neurons-for-params", "params-for-neurons")


@dataclass(frozen=True)
class Diagnosis:
    code: str  # a stable id (the module docstring lists them)
    text: str  # what the student reads
    follows: str | None = None  # the earlier layer it is carried from, "*" for every layer; None: this one


def quantity_of(row_or_totals: Any, quantity: str, output: tuple | None = None):
    """The value of an answer's quantity from a row (or the totals and the network output)."""
    if isinstance(row_or_totals, dict):  # the network: its output's sizes, no input
        if quantity not in SHAPES or quantity == "input":
            return row_or_totals.get(quantity)
        shape = output
    else:
        shape = row_or_totals.output if quantity != "input" else row_or_totals.input
        if quantity not in SHAPES:
            value = getattr(row_or_totals, quantity)
            return 0 if value is None and quantity == "neurons" else value
    return _of_shape(tuple(shape), quantity)


def _of_shape(shape: tuple, quantity: str):
    if quantity in ("output", "input"):
        return tuple(shape)
    if quantity == "output_width":
        return shape[-1]
    if quantity == "output_height":
        return shape[-2] if len(shape) >= 3 else None
    return shape[0]  # depth / channels


def _from_result(result, row: Row, quantity: str):
    """A recomputed layer's value of the quantity (per sample, as the mistake would give it)."""
    if result is None:
        return None
    if quantity in SHAPES:
        return _of_shape(tuple(row.input if quantity == "input" else result.output), quantity)
    elements = N.product(result.output)
    return {"params": result.params, "buffers": result.buffers, "neurons": elements if row.neurons is not None else 0,
            "activations": elements, "macs": N.add(result.macs, result.per_pass_macs),
            "flops": N.mul(2, N.add(result.macs, result.per_pass_macs))}.get(quantity)


def _same(a, b) -> bool:
    return a is not None and N.normalize(a) == b if not isinstance(a, tuple) else tuple(N.normalize(v) for v in a) == b


def diagnose(student: Any, quantity: str, row: Row | None, analysis: Analysis,
             reanalyze_at: Callable[[int, int], Analysis | None]) -> list[Diagnosis]:
    """Mistakes that give exactly the student's number."""
    if not isinstance(student, (int, tuple)) or isinstance(student, bool):
        return []
    target = quantity_of(row, quantity) if row is not None else quantity_of(analysis.totals, quantity, analysis.output)
    found = _layer_mistakes(student, quantity, row) if row is not None and row.leaf and row.args is not None else []
    found += _swapped(student, quantity, row, analysis, target)
    if tuple(analysis.input[1:]) == (227, 227) and _at_224(student, quantity, row, target, reanalyze_at):
        found.append(Diagnosis("input-224", "computed with a 224×224 input; this network takes 227×227"))
    found += _Carried(student, quantity, row, analysis, target, reanalyze_at).found()
    return _unique(found)


def _unique(found: list[Diagnosis]) -> list[Diagnosis]:
    """One diagnosis per code and origin: the layer's own (first) over a carried one of the same code."""
    seen: set = set()
    kept = []
    for d in found:
        key = (d.code, d.follows) if d.follows is not None else (d.code,)
        if key in seen or (d.code,) in seen and d.follows == "*":
            continue
        seen.add(key)
        kept.append(d)
    return kept


def _layer_mistakes(student, quantity: str, row: Row) -> list[Diagnosis]:
    """The layer recomputed with each mistake that applies to it."""
    found = []
    ctx = context_of(row)
    for mistake in MISTAKES:
        if mistake.applies(row.layer, row.args, row.input) and \
                _same(_from_result(mistake.redo(row.layer, row.input, row.args, ctx), row, quantity), student):
            found.append(Diagnosis(mistake.code, mistake.here(row)))
    return found


def _swapped(student, quantity: str, row: Row | None, analysis: Analysis, target) -> list[Diagnosis]:
    """Another quantity's number, or a factor of 2 the layer's layout or the counting rule explains."""
    found = []
    if not isinstance(target, int) or isinstance(target, bool) or isinstance(student, tuple):
        return found
    if student * 2 == target and quantity == "flops":
        found.append(Diagnosis("macs-for-flops", "counted MACs where FLOPs were asked: a FLOP count is 2 per "
                                                 "multiply-accumulate"))
    if student * 2 == target and row is not None and row.args is not None and \
            dict(row.args.items()).get("groups") == 2 and quantity in SUMMED:
        found.append(Diagnosis("one-gpu-half", "one GPU's half of the layer: with groups=2 (AlexNet's two GPUs) "
                                               "each GPU holds half of it"))
    if student == target * 2 and quantity == "macs":
        found.append(Diagnosis("flops-for-macs", "counted FLOPs (2 per multiply-accumulate) where MACs were asked"))
    other = {"params": "neurons", "neurons": "params"}.get(quantity)
    if other is not None:
        value = quantity_of(row, other) if row is not None else analysis.totals.get(other)
        if _same(value, student) and student != target:
            found.append(Diagnosis(f"{other}-for-{quantity}", f"gave the {other} ({N.fmt(value)}) where the "
                                                              f"{quantity} were asked"))
    return found


def _at_224(student, quantity: str, row: Row | None, target, reanalyze_at) -> bool:
    """The student's number is what the network gives at 224×224 (the paper's figure), not 227."""
    other = reanalyze_at(224, 224)
    if other is None:
        return False
    try:
        alt = quantity_of(other.row(row.path), quantity) if row is not None else \
            quantity_of(other.totals, quantity, other.output)
    except KeyError:
        return False
    return alt == student and alt != target


class _Carried:
    """Mistakes at earlier layers (or every layer) followed to the answer's layer or total."""

    def __init__(self, student, quantity: str, row: Row | None, analysis: Analysis, target, reanalyze_at):
        self.student, self.quantity, self.row, self.analysis, self.target = student, quantity, row, analysis, target
        self.altered = getattr(reanalyze_at, "altered", None) or _Uncached(analysis).altered
        self.budget = min(MAX_REANALYSES, ROW_BUDGET // max(len(analysis.rows), 1))
        leaves = analysis.leaves()
        if row is None:
            self.inside, self.before = leaves, leaves
        elif row.leaf:
            self.inside, self.before = [], leaves[:leaves.index(row)] if row in leaves else []
        else:
            self.inside = row.leaves()
            last = leaves.index(self.inside[-1]) + 1 if self.inside else 0
            self.before = leaves[:last]
        self.inside_ids = {id(r) for r in self.inside}
        self.redone = getattr(reanalyze_at, "redone", {})  # (code, path) -> the layer redone, per grader

    def found(self) -> list[Diagnosis]:
        if self.student == self.target or not self.before:
            return []
        everywhere = [d for m in MISTAKES for d in self._everywhere(m)]  # first: one re-analysis each
        found = [d for earlier in reversed(self.before) if earlier.args is not None for m in MISTAKES
                 if (not m.keeps_shape or id(earlier) in self.inside_ids)
                 and m.applies(earlier.layer, earlier.args, earlier.input) for d in self._at(m, earlier)]
        codes = {d.code for d in found}
        return found + [d for d in everywhere if d.code not in codes]

    def _redo(self, mistake: Mistake, row: Row):
        key = (mistake.code, row.path)
        if key not in self.redone:
            self.redone[key] = None if row.args is None or row.owner is not None or \
                not mistake.applies(row.layer, row.args, row.input) else \
                mistake.redo(row.layer, row.input, row.args, context_of(row))
        return self.redone[key]

    def _delta(self, mistake: Mistake, rows: list[Row]):
        """The answer's value with the rows' counts changed, where no row's output shape changes
        (so nothing after them changes): None where a shape does, or nothing does."""
        if self.quantity not in SUMMED:
            return None
        value, changed = self.target, False
        for row in rows:
            result = self._redo(mistake, row)
            if result is None:
                continue
            if tuple(result.output) != tuple(row.output):
                return None
            if id(row) in self.inside_ids:
                value = N.add(value, N.sub(_from_result(result, row, self.quantity), quantity_of(row, self.quantity)))
                changed = True
        return value if changed else None

    def _reanalysed(self, mistake: Mistake, paths: frozenset | None):
        key = (mistake.code, "*" if paths is None else next(iter(paths)))
        if self.budget <= 0:
            return None
        self.budget -= 1
        other, _ = self.altered(key, alter(mistake, paths), True)
        if other is None:
            return None
        try:
            return quantity_of(other.row(self.row.path), self.quantity) if self.row is not None else \
                quantity_of(other.totals, self.quantity, other.output)
        except KeyError:
            return None

    def _at(self, mistake: Mistake, earlier: Row) -> list[Diagnosis]:
        result = self._redo(mistake, earlier)
        if result is None:
            return []
        if tuple(result.output) == tuple(earlier.output):
            value = self._delta(mistake, [earlier]) if id(earlier) in self.inside_ids else None
        else:
            value = self._reanalysed(mistake, frozenset([earlier.path]))
        if not _same(value, self.student):
            return []
        return [Diagnosis(mistake.code, mistake.follows(f"{earlier.path}", earlier), earlier.path)]

    def _everywhere(self, mistake: Mistake) -> list[Diagnosis]:
        if mistake.keeps_shape and not self.inside:
            return []  # only the answer's own layer would change: named there
        rows = [r for r in self.before if r.args is not None and mistake.applies(r.layer, r.args, r.input)]
        if len(rows) < 2:
            return []
        value = self._delta(mistake, rows)
        if value is None and any(tuple(getattr(self._redo(mistake, r), "output", r.output)) != tuple(r.output)
                                 for r in rows):
            value = self._reanalysed(mistake, None)
        if not _same(value, self.student):
            return []
        return [Diagnosis(mistake.code, mistake.follows("every layer"), "*")]


class _Uncached:
    """Re-analyses for a grader that offers no cache of its own (its reanalyze_at has no `altered`)."""

    def __init__(self, analysis: Analysis):
        self.analysis = analysis
        self.cache: dict = {}

    def altered(self, key, alter_fn, allowed: bool = True):
        if key in self.cache:
            return self.cache[key], 0
        if not allowed:
            return None, 0
        from archcalc.engine.analyze import analyze

        try:
            self.cache[key] = analyze(self.analysis.spec, _overrides(self.analysis.bindings),
                                      variant=self.analysis.variant, alter=alter_fn)
        except SpecError:
            self.cache[key] = None
        return self.cache[key], 1


def _overrides(bindings: dict) -> dict:
    return {name: ("true" if v is True else "false" if v is False else v) for name, v in bindings.items()}
