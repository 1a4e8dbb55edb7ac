"""Grade an answers file against the engine: per answer ✓/✗, the right value, its
derivation, a diagnosis where one is clear, points and a score."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis
from archcalc.engine.analyze import analyze
from archcalc.grading.answers import AnswersFile, load_answers, parse_value
from archcalc.grading.diagnose import Diagnosis, diagnose, quantity_of
from archcalc.spec import load_spec
from archcalc.spec.errors import SpecError, did_you_mean
from archcalc.spec.model import Value


@dataclass
class Graded:
    key: str
    ok: bool
    student: str
    correct: str
    points: Fraction
    max_points: Fraction
    loc: Any
    derivation: list[str] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    note: str | None = None
    asks: str | None = None  # a key's question: what it asks (conv1.params)


@dataclass
class GradeReport:
    answers_file: str
    spec_file: str
    name: str
    results: list[Graded]
    mode: str = "self-study"  # the answers file sets its own spec, points and tolerances; "key": an instructor's
    student: str | None = None  # a submission's id (its file name)
    error: str | None = None  # the submission could not be read as a whole
    ignored: list[str] = field(default_factory=list)  # a submission's entries that are no question of the key

    @property
    def score(self) -> Fraction:
        return sum((r.points for r in self.results), Fraction(0))

    @property
    def max_score(self) -> Fraction:
        return sum((r.max_points for r in self.results), Fraction(0))

    @property
    def all_correct(self) -> bool:
        return all(r.ok for r in self.results)


def _text(v) -> str:
    """A value as feedback shows it: a shape's sizes without thousands separators ([4096], which
    reads back as a shape; [4,096] would not), a count with them (34,944)."""
    if isinstance(v, tuple):
        return "[" + ", ".join(str(d) if isinstance(d, int) else N.fmt(d) for d in v) + "]"
    return N.fmt(v)


def grade(path: str) -> GradeReport:
    answers: AnswersFile = load_answers(path)
    spec = load_spec(answers.spec_path)
    analysis = analyze(spec, answers.bindings, variant=answers.variant)
    at = _Reanalysis(spec, answers)
    results = [_grade_one(answer, analysis, at) for answer in answers.answers]
    return GradeReport(answers.file, str(answers.spec_path), analysis.name, results)


class _Reanalysis:
    """The same network at another input size, or with a layer computed with a common
    mistake (diagnose's figures), each computed once."""

    def __init__(self, spec, answers: AnswersFile):
        self.spec, self.answers = spec, answers
        self.cache: dict[tuple, Analysis | None] = {}
        self.mistaken: dict[tuple, Analysis | None] = {}
        self.redone: dict[tuple, object] = {}  # diagnose's: (mistake, layer) -> that layer recomputed

    def altered(self, key: tuple, alter, allowed: bool = True) -> tuple[Analysis | None, int]:
        """The network with `alter` (analyze's) under `key` (mistake, layer): (the analysis or
        None where the spec then fails, 1 if it was analysed now); not analysed when not `allowed`."""
        if key in self.mistaken:
            return self.mistaken[key], 0
        if not allowed:
            return None, 0
        try:
            self.mistaken[key] = analyze(self.spec, self.answers.bindings, variant=self.answers.variant, alter=alter)
        except SpecError:
            self.mistaken[key] = None
        return self.mistaken[key], 1

    def __call__(self, h: int, w: int) -> Analysis | None:
        if (h, w) not in self.cache:
            spec = self.spec
            shifted = list(spec.input)
            shifted[1:] = [Value(h, spec.input[1].loc), Value(w, spec.input[2].loc)]
            original, spec.input = spec.input, shifted
            try:
                self.cache[(h, w)] = analyze(spec, self.answers.bindings, variant=self.answers.variant)
            except SpecError:
                self.cache[(h, w)] = None
            finally:
                spec.input = original
        return self.cache[(h, w)]


def _correct(answer, analysis: Analysis):
    """(the row the answer is about, None for the network; the right value)."""
    if answer.path == "total":
        correct = quantity_of(analysis.totals, answer.quantity, analysis.output)
        if correct is None:
            raise SpecError(f"answer '{answer.key}': the network's output has no {answer.quantity}", answer.loc,
                            hint=f"its output is [{', '.join(N.fmt(d) for d in analysis.output)}]",
                            code="invalid-answers")
        return None, correct
    try:
        row = analysis.row(answer.path)
    except KeyError:
        paths = [r.path for r in analysis.rows]
        raise SpecError(f"answer '{answer.key}': the spec has no layer '{answer.path}'", answer.loc,
                        hint=did_you_mean(answer.path, paths) or "archcalc summarize lists every path",
                        code="invalid-answers") from None
    correct = quantity_of(row, answer.quantity)
    if correct is None:
        raise SpecError(f"answer '{answer.key}': '{answer.path}' has no {answer.quantity}", answer.loc,
                        hint="output_height needs an image output [C, H, W]", code="invalid-answers")
    return row, correct


def _grade_one(answer, analysis: Analysis, reanalyze_at) -> Graded:
    from archcalc.engine.derive import steps_for

    row, correct = _correct(answer, analysis)
    written = parse_value(answer, dict(analysis.bindings))
    ok, why = written.holds(correct)
    exact_text = None if written.exact is None else _text(tuple(written.exact) if written.is_shape else written.exact)
    detail = written.describe() if exact_text is None else None
    graded = Graded(answer.key, ok, exact_text or written.text, _text(correct), answer.points if ok else Fraction(0),
                    answer.points, answer.loc, note=why or detail)
    if ok:
        return graded
    if row is not None:
        graded.derivation = [s.text() for s in steps_for(row, answer.quantity)] or \
            [f"{row.kind} '{row.path}': output {_text(row.output)}"]
    else:
        graded.derivation = [f"the sum over the network's {len(analysis.leaves())} layers"]
    if written.exact is not None:
        value = tuple(written.exact) if written.is_shape else N.normalize(written.exact)
        graded.diagnoses = diagnose(value, answer.quantity, row, analysis, reanalyze_at)
    return graded
