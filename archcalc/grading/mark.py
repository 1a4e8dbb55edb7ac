"""Grade submissions against an instructor's key: every answer on its own.

The key is analysed once; each submission's answers are read as students write them
(archcalc/grading/notation.py), compared with the right value under the key's tolerance
(centred on the right value; exact by default) and conventions (shape order, biases,
neurons, strides that must fit), and diagnosed where a common mistake explains the number.
An unreadable answer fails its question with the reason and nothing else; a missing one
scores 0; anything that is not a question of the key is named and ignored.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis, Row
from archcalc.grading.answers import QUANTITIES
from archcalc.grading.diagnose import diagnose, quantity_of
from archcalc.grading.draw import as_set, gradescope_ids, load_variants
from archcalc.grading.mistakes import context_of, reinfer
from archcalc.grading.grade import Graded, GradeReport, _Reanalysis, _text
from archcalc.grading.key import MEMORY, Conventions, Key, Question, load_key
from archcalc.grading.notation import Reading, read_answer
from archcalc.grading.submission import MAPPING, NESTED, Submission, load_submission
from archcalc.spec.errors import SpecError, did_you_mean

SHAPED = ("output", "input")
INVALID = "invalid"


@dataclass
class Right:
    """A question's right value: a number, a shape in the engine's order, or INVALID (the
    geometry does not fit and the key requires it to), with the reason for INVALID."""

    value: Any
    row: Row | None
    why: str = ""


class Marker:
    """A key, analysed once, that grades any number of submissions."""

    def __init__(self, key: Key):
        from archcalc.engine.analyze import analyze
        from archcalc.spec import load_spec

        self.key = key
        spec = load_spec(key.spec_path)
        self.analysis: Analysis = analyze(spec, key.bindings, variant=key.variant)
        self.reanalyze = _Reanalysis(spec, key)
        self.rights = {q.id: self._right(q) for q in key.questions}  # the key's own errors: before any submission
        self.env = dict(self.analysis.bindings)  # the names a symbolic answer may use: vars, dims, symbols
        for name in self.analysis.symbols:
            self.env[name] = N.sympy_module().Symbol(name, integer=True, positive=True)
        self.names = sorted(n for n in self.env if isinstance(n, str))

    # ---- the right values ------------------------------------------------------------------

    def _right(self, q: Question) -> Right:
        row = self._row(q, q.path)
        unfit = self._unfit(row) if self.key.conventions.stride_must_fit else None
        if unfit is not None:
            return Right(INVALID, row, unfit)
        value = self._value(q, row, q.quantity)
        if q.over is not None:
            divisor = self._value(q, self._row(q, q.over[0]), q.over[1])
            if divisor == 0:
                raise SpecError(f"question '{q.id}': {q.over[0]}.{q.over[1]} is 0, so the ratio has no value", q.loc,
                                code="invalid-key")
            value = N.normalize(N.true_div(value, divisor))
        return Right(value, row)

    def _row(self, q: Question, path: str) -> Row | None:
        if path == "total":
            return None
        try:
            return self.analysis.row(path)
        except KeyError:
            raise SpecError(f"question '{q.id}': the spec has no layer '{path}'", q.loc, code="invalid-key",
                            hint=did_you_mean(path, [r.path for r in self.analysis.rows])
                            or "archcalc summarize lists every path") from None

    def _value(self, q: Question, row: Row | None, quantity: str):
        """One quantity of a row (None: the network) under the key's conventions."""
        a = self.analysis
        quantity = _convened(quantity, self.key.conventions)
        rows = a.leaves() if row is None else [r for r in (row, *row.inside()) if r.leaf]
        if quantity == "weights":
            value = N.sub(a.totals["params"] if row is None else row.params, sum((_biases(r) for r in rows), 0))
        elif quantity == "values":
            value = Numbers(self._run_values(q)[row.path if row is not None else a.leaves()[-1].path])
        elif quantity == "rf":
            value = None if row is None or row.rf is None else tuple(axis.size for axis in row.rf)
        elif quantity in MEMORY:
            value = _memory(a, row, quantity)
        else:
            value = quantity_of(a.totals, quantity, a.output) if row is None else quantity_of(row, quantity)
        if value is None:
            raise SpecError(f"question '{q.id}': '{row.path if row else 'the network'}' has no {quantity}", q.loc,
                            code="invalid-key", hint="output_height needs an image output [C, H, W]; rf a spatial "
                                                     "layer; ask total.QUANTITY for the network")
        return value

    def _run_values(self, q: Question) -> dict:
        """Every layer's output numbers on the spec's input values: as `archcalc run` gives them
        (torch, float64), computed once."""
        if getattr(self, "_values", None) is None:
            try:
                from archcalc.torch_backend.run import run_values
            except ImportError:
                from archcalc.torch_backend import INSTALL_TORCH

                raise SpecError(f"question '{q.id}' asks for values: archcalc computes them with PyTorch, "
                                "which is not installed", q.loc, code="missing-dependency", hint=INSTALL_TORCH) from None
            self._values = dict(run_values(self.analysis))
        return self._values

    def _unfit(self, row: Row | None) -> str | None:
        """Why the geometry up to this row (the network for a total) does not fit, or None."""
        order = [r.path for r in self.analysis.leaves()]
        upto = None if row is None else max((order.index(r.path) for r in [row, *row.inside()] if r.path in order),
                                             default=None)
        for w in self.analysis.warnings:
            if w.code == "inexact-division" and w.path in order and (upto is None or order.index(w.path) <= upto):
                return f"the stride does not fit at '{w.path}': {w.message}"
        return None

    # ---- one submission ----------------------------------------------------------------------

    def grade(self, sub: Submission) -> GradeReport:
        report = GradeReport(sub.file, os.path.normpath(self.key.spec_path), self.analysis.name, [], mode="key",
                             student=sub.id, error=sub.error)
        report.ignored = [k + (f" ({hint})" if (hint := did_you_mean(k, [q.id for q in self.key.questions])) else "")
                          for k in sub.answers if k not in self.rights]
        mistakes: dict[str, set] = {}  # the student's own mistakes so far: layer path -> codes (for follow-through)
        for q in self.key.questions:
            graded = self._mark(q, sub)
            _credit(q, graded, mistakes)
            if not graded.ok and self.rights[q.id].row is not None:
                mistakes.setdefault(self.rights[q.id].row.path, set()).update(
                    d.code for d in graded.diagnoses if d.follows is None)
            report.results.append(graded)
        return report

    def _mark(self, q: Question, sub: Submission) -> Graded:
        right = self.rights[q.id]
        correct = self._shown(right)
        given = sub.answers.get(q.id)
        graded = Graded(q.id, False, "", correct, Fraction(0), q.points, given.loc if given else None, asks=q.answer)
        if given is None:
            graded.note = "no answer" + (": the submission could not be read" if sub.error else "")
            return graded
        if isinstance(right.value, Numbers):
            graded.student = _values_text(given.raw)
            graded.ok, graded.note = right.value.judge(given.raw, q.tolerance)
            graded.points = q.points if graded.ok else Fraction(0)
            return graded
        reading = _read(given.raw, self.names, q.quantity in SHAPED or q.quantity == "rf", q.quantity in MEMORY)
        graded.student = reading.text
        ok, note, value = self._judge(q, right, reading)
        graded.ok, graded.note = ok, note
        if ok:
            graded.points = q.points
            return graded
        graded.derivation = self._derivation(q, right)
        if value is not None and right.value is not INVALID:
            graded.diagnoses = self._diagnose(q, right, value)
        return graded

    def _judge(self, q: Question, right: Right, r: Reading) -> tuple[bool, str | None, Any]:
        """(right?, a note for the student, the value in the engine's terms for diagnosis)."""
        if r.kind == "blank":
            return False, "no answer", None
        if r.kind == "unreadable":
            return False, f"unreadable: {r.reason}", None
        if r.kind == "invalid":
            if right.value is INVALID:
                return True, right.why, None
            return False, "the geometry fits here: there is a whole-number answer", None
        if right.value is INVALID:
            return False, f"the answer is 'invalid': {right.why}", None
        if isinstance(right.value, tuple):
            return self._judge_shape(right.value, r)
        if r.kind == "shape":
            return False, "a shape where a number is asked", None
        value = self._number(r)
        if value is None:
            return False, f"{r.text} uses names this question does not bind", None
        if N.is_symbolic(right.value) or N.is_symbolic(value):
            from archcalc.spec.expect import equal

            return equal(value, right.value), None, value
        tol = q.tolerance
        if tol.exact:
            ok = value == right.value
            rounded = r.precision is not None and abs(Fraction(value) - Fraction(right.value)) <= r.precision
            note = None if ok or not (rounded or r.approximate) else \
                f"{r.text} rounds the right value: this question asks for it exactly"
            return ok, note, value
        ok = abs(Fraction(value) - Fraction(right.value)) <= tol.allowed(Fraction(right.value))
        return ok, None if ok else f"outside the tolerance ({tol.describe()} of the right value)", value

    def _judge_shape(self, right: tuple, r: Reading):
        if r.kind == "number" and len(set(map(str, right))) == 1:  # [4096] as 4096; a receptive field 51 × 51 as 51
            written = (N.normalize(r.value),) * len(right)
        elif r.kind == "shape":
            written = tuple(r.value)
        else:
            return False, f"a shape such as {self._shown(Right(right, None))} is asked", None
        order = self.key.conventions.shape_order
        engine = _from_order(written, order)
        if engine == right:
            return True, None, engine
        if sorted(map(str, engine)) == sorted(map(str, right)):
            return False, (f"the right sizes in another order: this course writes shapes "
                           f"{_ORDER_WORDS[order]}"), engine
        return False, None, engine

    def _number(self, r: Reading):
        if r.kind == "number":
            return N.normalize(r.value)
        if r.kind == "expression":
            expr = r.value
            if {s.name for s in expr.free_symbols} - set(self.env):
                return None
            return N.normalize(expr.subs({s: self.env[s.name] for s in expr.free_symbols}))
        return None

    def _shown(self, right: Right) -> str:
        if right.value is INVALID:
            return "invalid"
        if isinstance(right.value, Numbers):  # without sizes of 1, as a slide writes it: [[8, 9], [5, 7]]
            return _values_text(_squeezed(right.value.nested))
        if isinstance(right.value, tuple):
            order = self.key.conventions.shape_order
            sizes = _to_order(right.value, order)
            return _text(sizes) if order == "CHW" or len(sizes) != 3 else " × ".join(
                str(s) if isinstance(s, int) else N.fmt(s) for s in sizes)
        return _text(right.value)

    def _derivation(self, q: Question, right: Right) -> list[str]:
        from archcalc.engine.derive import steps_for

        if right.row is None:
            return [f"the sum over the network's {len(self.analysis.leaves())} layers"]
        return [s.text() for s in steps_for(right.row, q.quantity)] or \
            [f"{right.row.kind} '{right.row.path}': output {_text(right.row.output)}"]

    def _diagnose(self, q: Question, right: Right, value) -> list:
        sizes = value if isinstance(value, tuple) else (value,)
        if any(N.is_symbolic(v) or isinstance(v, Fraction) for v in sizes) or q.over is not None \
                or _convened(q.quantity, self.key.conventions) not in QUANTITIES:
            return []
        return diagnose(value, _convened(q.quantity, self.key.conventions), right.row, self.analysis, self.reanalyze)


def _credit(q: Question, graded: Graded, mistakes: dict[str, set]) -> None:
    """Points for a wrong answer the key gives credit for: full where it follows from the
    student's own mistake at an earlier layer (follow-through), else the key's share for
    the mistake that explains it (partial), the largest that applies."""
    if graded.ok:
        return
    for d in graded.diagnoses:
        earlier = set().union(*mistakes.values()) if d.follows == "*" else mistakes.get(d.follows or "", set())
        if q.follow_through and d.follows is not None and d.code in earlier:
            graded.points = q.points
            graded.note = "; ".join(filter(None, [graded.note, f"full credit: it follows from your own earlier "
                                                                f"answer ({d.text})"]))
            return
    shares = [(q.partial[d.code], d) for d in graded.diagnoses if d.code in q.partial]
    if shares:
        share, d = max(shares, key=lambda s: s[0])
        graded.points = q.points * share
        graded.note = "; ".join(filter(None, [graded.note, f"partial credit ({share}) for: {d.code}"]))


_ORDER_WORDS = {"CHW": "[C, H, W] (depth first, as torch does)", "WHC": "W × H × D (width × height × depth)",
                "HWC": "H × W × C (channels last)"}


@dataclass(frozen=True)
class Numbers:
    """A layer's output numbers (nested lists, float64 from torch), as a numeric exercise
    asks for them: a student may leave out sizes of 1 ([[8, 9], [5, 7]] for a [1, 2, 2]
    output); each number within the key's tolerance, "exact" meaning within float64's
    rounding (a relative 1e-9)."""

    nested: list

    def judge(self, raw, tolerance) -> tuple[bool, str | None]:
        if isinstance(raw, str):
            from archcalc.spec.loader import load_yaml

            try:
                raw = _plain(load_yaml(raw, "answer"))
            except SpecError:
                return False, "unreadable: write the numbers as a list, e.g. [[8, 9], [5, 7]]"
        written, right = _squeezed(raw), _squeezed(self.nested)
        if written is None:
            return False, "unreadable: write the numbers as a list of numbers, e.g. [[8, 9], [5, 7]]"
        if _sizes(written) != _sizes(right):
            return False, f"{_sizes(written)} numbers where the output has {_sizes(right)}"
        wrong = [i for i, (w, r) in enumerate(zip(_flat(written), _flat(right))) if not _close(w, r, tolerance)]
        return not wrong, (f"{len(wrong)} of {len(_flat(right))} numbers differ (the first at position "
                           f"{wrong[0] + 1})" if wrong else None)


def _plain(node):
    from archcalc.spec.loader import YScalar, YSeq

    if isinstance(node, YSeq):
        return [_plain(i) for i in node.items]
    return node.value if isinstance(node, YScalar) else None


def _squeezed(values):
    """Nested lists without their sizes of 1 (a number alone for [[5]]); None where not numbers."""
    if isinstance(values, list):
        if len(values) == 1:
            return _squeezed(values[0])
        parts = [_squeezed(v) for v in values]
        return None if any(p is None for p in parts) else parts
    if isinstance(values, bool) or not isinstance(values, (int, float)):
        return None
    return values


def _sizes(values) -> list:
    return [len(values), *_sizes(values[0])] if isinstance(values, list) and values else []


def _flat(values) -> list:
    return [x for v in values for x in _flat(v)] if isinstance(values, list) else [values]


def _close(written, right, tolerance) -> bool:
    """Within the tolerance, or float64's rounding (a relative 1e-9), compared exactly as
    fractions: an integer of any size never passes through a float (10**400 would overflow
    it; 2**53 + 1 would round). An infinity matches only itself; NaN nothing."""
    if not (_finite(written) and _finite(right)):
        return written == right
    w, r = Fraction(written), Fraction(right)
    allowed = max(tolerance.allowed(r), Fraction(1, 10**9) * max(abs(r), 1))
    return abs(w - r) <= allowed


def _finite(x) -> bool:
    return not isinstance(x, float) or math.isfinite(x)


def _values_text(values) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_values_text(v) for v in values) + "]"
    if isinstance(values, float) and values.is_integer():
        return str(int(values))
    if values is None:
        return "—"
    return "…" if values is MAPPING or values is NESTED else str(values)[:200]


def _convened(quantity: str, conv: Conventions) -> str:
    """The quantity the key's conventions mean: params without biases, neurons of every layer."""
    if quantity == "params" and not conv.biases:
        return "weights"
    if quantity == "neurons" and conv.neurons == "every":
        return "activations"
    return quantity


def _memory(a: Analysis, row: Row | None, quantity: str):
    """Bytes in float32: the parameters and buffers, or every layer's output (the batch's)."""
    if row is None:
        from archcalc.engine.memory import memory

        m = memory(a)
        return m.weights if quantity == "weights_memory" else m.activations
    if quantity == "weights_memory":
        return N.mul(N.add(row.params, row.buffers), 4)
    return N.mul(row.activations, 4)


def _biases(row: Row):
    """The bias parameters of one layer (0 for a kind without a bias argument)."""
    if row.args is None or not dict(row.args.items()).get("bias"):
        return 0
    without = reinfer(row.layer, row.input, row.args, context_of(row), bias=False)
    return 0 if without is None else N.sub(row.params, without.params)


def _to_order(shape: tuple, order: str) -> tuple:
    """An engine [C, H, W] in the order students write it (other ranks stay as they are)."""
    if len(shape) != 3 or order == "CHW":
        return tuple(shape)
    axes = dict(zip("CHW", shape))
    return tuple(axes[letter] for letter in order)


def _from_order(written: tuple, order: str) -> tuple:
    if len(written) != 3 or order == "CHW":
        return tuple(written)
    axes = dict(zip(order, written))
    return tuple(axes[letter] for letter in "CHW")


def _read(raw, names: list[str], shape: bool, in_bytes: bool = False) -> Reading:
    """A submitted value as a Reading; memory in bytes may carry a unit (93MB, 1.5 GiB)."""
    if in_bytes and isinstance(raw, str):
        from archcalc.spec.figures import parse_figure

        figure = parse_figure(raw.replace("~", "").replace("≈", ""), bytes_ok=True)
        if figure is not None:
            return Reading("number", figure.value, text=raw.strip())
    if raw is MAPPING:
        return Reading("unreadable", text="{…}", reason="an answer is a value: points and tolerances are the key's")
    if isinstance(raw, list) and any(i is NESTED for i in raw):
        return Reading("unreadable", text="[…]", reason="a list inside a list")
    return read_answer(raw, names, shape=shape)


class Markers:
    """One Marker per distinct bindings: students who drew the same numbers share one."""

    def __init__(self, key: Key):
        self.key = key
        self.cache: dict[tuple, Marker] = {}

    def __call__(self, values: dict) -> Marker:
        memo = tuple(sorted(as_set(values).items()))
        if memo not in self.cache:
            self.cache[memo] = Marker(replace(self.key, bindings={**self.key.bindings, **as_set(values)}))
        return self.cache[memo]


class ByStudent:
    """Grades each submission with the Marker of its id's numbers."""

    def __init__(self, key: Key, variants_path: str | Path):
        self.key, self.path = key, Path(variants_path)
        self.students = load_variants(variants_path, key)
        folded: dict[str, list[str]] = {}
        for sid in self.students:
            folded.setdefault(sid.casefold(), []).append(sid)
        self.folded = {k: v[0] for k, v in folded.items() if len(v) == 1}  # ids that differ only in case
        self.markers = Markers(key)

    def find(self, sub: Submission) -> str | None:
        """The variant's id: Gradescope's sid or email, else the file's name; exactly, else ignoring case."""
        for candidate in [*sub.aliases, sub.id]:
            if candidate in self.students:
                return candidate
        return next((self.folded[c.casefold()] for c in [*sub.aliases, sub.id] if c.casefold() in self.folded),
                    None)

    def grade(self, sub: Submission) -> GradeReport:
        sid = self.find(sub)
        if sid is None:
            return self._without_variant(sub)
        sub.id = sid
        return self.markers(self.students[sid]).grade(sub)

    def _without_variant(self, sub: Submission) -> GradeReport:
        if sub.aliases:
            tried = ", ".join(f"'{c}'" for c in [*sub.aliases, sub.id])
            reason = f"no variant for this student (tried {tried}): were they on the roster the variants come from?"
        else:
            reason = f"no variant for id '{sub.id}': is the file named after the student's roster id?"
        results = [Graded(q.id, False, "", "—", Fraction(0), q.points, None, asks=q.answer,
                          note="not graded: no variant for this id") for q in self.key.questions]
        return GradeReport(sub.file, os.path.normpath(self.key.spec_path), self.key.name or self.key.spec_path.stem, results,
                           mode="key", student=sub.id, error=reason + (f"; {sub.error}" if sub.error else ""))


def grade_submissions(key_path: str, paths: list, variants: str | None = None) -> list[GradeReport]:
    """Every submission graded against one key (the key's errors raise: the instructor's); with
    variants, each for its id's numbers (archcalc/grading/draw.py)."""
    key = load_key(key_path)
    if key.draw is not None and variants is None:
        from archcalc.spec.errors import Location

        raise SpecError("this key draws each student's numbers (variants:): grade with the file of their numbers",
                        Location(key_path), code="usage",
                        hint="archcalc grade --key KEY --variants OUTDIR/variants.yaml SUBMISSIONS/")
    if variants is None:
        marker = Marker(key)
    else:
        marker = ByStudent(key, variants)
        paths = [p for p in paths if isinstance(p, Submission) or Path(p).resolve() != Path(variants).resolve()]
    return [marker.grade(p if isinstance(p, Submission) else load_submission(p)) for p in paths]


def submission_files(path: str) -> list[str]:
    """A submission file, or a folder's *.yaml / *.yml files (regular files only), by name."""
    from archcalc.spec.errors import Location

    from archcalc.textio import regular_files

    p = Path(path)
    if p.is_dir():  # a device, FIFO or socket (or a link to one) is skipped with a note, never read
        found = regular_files(sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml")))
        if not found:
            raise SpecError(f"no submissions (*.yaml, *.yml) in {path}", Location(path), code="file-not-found")
        return [str(f) for f in found]
    if not p.exists():
        raise SpecError(f"no such submission: {path}", Location(path), code="file-not-found",
                        hint="give a submission file or a folder of them")
    return [path]


def one_submission(path: str):
    """A Gradescope upload: the file given, or the one .yaml/.yml file in the folder (any
    depth); none or several is a submission with that error, so results.json is still written."""
    from archcalc.textio import regular_files

    p = Path(path)
    if not p.is_dir():  # a file (the reader refuses a device or FIFO), or none
        return path if p.exists() else Submission(path, p.stem, error=f"no submission file {path}")
    found = regular_files(sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml")))
    names = ", ".join(f.name for f in found[:5])
    sub = load_submission(found[0]) if len(found) == 1 else \
        Submission(path, p.name, error="no .yaml file was submitted" if not found else
                   f"{len(found)} .yaml files were submitted ({names}): submit one")
    sub.aliases = gradescope_ids(p)  # who submitted: their variant's id
    return sub
