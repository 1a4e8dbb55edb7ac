"""What archcalc gives learning-management systems: a key's questions for a quiz (Moodle's
question bank), and a roster that names each submission's student in Canvas's gradebook.

`lms_questions` turns every question of a key, with the Marker's own right values, into an
LMS-neutral question: `numerical` (a number with an absolute tolerance, the key's tolerance
around the right value) or `shortanswer` (the strings accepted, each one archcalc itself
accepts: shapes in the course's order, "invalid", a formula). report/lms_report.py writes
them as Moodle XML. `load_roster` reads the CSV that maps submission ids to Canvas's student
columns (Canvas's own gradebook export serves).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

from archcalc.engine import numbers as N
from archcalc.grading.key import MEMORY, QUANTITY_WORDS, SHAPE_ORDERS
from archcalc.grading.mark import INVALID, SHAPED, Marker, Numbers, Right, _to_order
from archcalc.spec.errors import Location, SpecError

DIGITS = 15  # significant digits of a right value that is no terminating decimal (a ratio such as 1/3)
# what students may write for "the hyperparameters do not fit" (each one archcalc reads as invalid)
INVALID_ANSWERS = ("invalid", "doesn't fit", "doesn’t fit", "does not fit", "not valid", "not an integer",
                   "impossible")
_ORDER_NAMES = {"CHW": "C × H × W (depth first)", "WHC": "W × H × D (width × height × depth)",
                "HWC": "H × W × C (channels last)"}


@dataclass
class Answer:
    """One answer an LMS compares a response with: the text (a decimal numeral for a
    numerical question; the literal string for a short answer), its credit (100 or 0), the
    feedback a student sees on it, and for a numerical one the absolute tolerance."""

    text: str
    fraction: int = 100
    feedback: str = ""
    tolerance: str | None = None


@dataclass
class LmsQuestion:
    id: str
    type: str  # "numerical" or "shortanswer"
    name: str
    text: list[str]  # paragraphs, plain text (the renderer escapes them)
    feedback: list[str]  # the general feedback: the right value and its derivation
    points: Fraction
    answers: list[Answer]
    usecase: bool = False  # short answers: compare case-sensitively (a formula's names)
    right: Any = None  # the Marker's right value, for the record


@dataclass
class Export:
    questions: list[LmsQuestion]
    notes: list[str] = field(default_factory=list)  # what the LMS cannot say as archcalc does


def lms_questions(marker: Marker) -> Export:
    """Every question of the marker's key, in the key's order."""
    export = Export([])
    for q in marker.key.questions:
        right = marker.rights[q.id]
        value = right.value
        if value is INVALID or isinstance(value, (tuple, Numbers)) or N.is_symbolic(value):
            question = _short_answer(marker, q, right)
        else:
            question = _numerical(marker, q, right, export.notes)
        export.questions.append(question)
    if marker.key.conventions.stride_must_fit and any(x.type == "numerical" for x in export.questions) \
            and any(marker.rights[x.id].value is INVALID for x in export.questions):
        export.notes.append("stride_must_fit: a question whose right answer is 'invalid' is a short answer, while a "
                            "number is a numerical question; the question's type shows which it is")
    return export


def _base(marker: Marker, q, right: Right, kind: str, answers: list[Answer]) -> LmsQuestion:
    text = [q.text or _generated_text(q)]
    feedback = [f"The right answer: {marker._shown(right)}."] + ([right.why] if right.why else [])
    feedback += _derivation(marker, q, right)
    return LmsQuestion(q.id, kind, f"{q.id}: {q.answer}", text, feedback, q.points, answers, right=right.value)


def _generated_text(q) -> str:
    words = QUANTITY_WORDS.get(q.quantity, q.quantity)
    where = "the network" if q.path == "total" else q.path
    if q.over is None:
        return f"{where}: {words} ({q.quantity})?"
    over = "the network" if q.over[0] == "total" else q.over[0]
    return f"{where}: {words} ({q.quantity}) divided by {over}'s {q.over[1]}?"


def _derivation(marker: Marker, q, right: Right) -> list[str]:
    lines = marker._derivation(q, right)
    if q.over is not None and right.value is not INVALID:
        top = marker._value(q, marker._row(q, q.path), q.quantity)
        bottom = marker._value(q, marker._row(q, q.over[0]), q.over[1])
        lines = lines + [f"{q.answer} = {N.fmt(top)} / {N.fmt(bottom)}"]
    return lines


# ---- numerical ---------------------------------------------------------------------------------


def decimal(x: Fraction, rounding: str = ROUND_HALF_EVEN) -> tuple[str, Fraction]:
    """x as a plain decimal numeral (no exponent, no separators), and the value that numeral
    has: x itself when x is a terminating decimal, else x to DIGITS significant digits."""
    x = Fraction(x)
    q = x.denominator
    for p in (2, 5):
        while q % p == 0:
            q //= p
    with localcontext() as ctx:
        ctx.rounding = rounding
        ctx.prec = DIGITS if q != 1 else len(str(abs(x.numerator))) + len(str(x.denominator)) + 2
        d = Decimal(x.numerator) / Decimal(x.denominator)
    text = format(d.normalize(), "f") if d else "0"
    return text, Fraction(d)


def _numerical(marker: Marker, q, right: Right, notes: list[str]) -> LmsQuestion:
    exact = Fraction(N.normalize(right.value))
    text, written = decimal(exact)
    allowed = q.tolerance.allowed(exact)
    if written == exact:
        tolerance = decimal(allowed, ROUND_FLOOR)[0]
    elif allowed:  # the interval Moodle checks lies inside the key's
        tolerance = decimal(allowed - abs(exact - written), ROUND_FLOOR)[0]
        notes.append(f"{q.id}: the right value {N.fmt(exact)} is no terminating decimal: written as {text}, "
                     f"the tolerance narrowed by the rounding")
    else:
        tolerance = decimal(abs(exact - written), ROUND_CEILING)[0]
        notes.append(f"{q.id}: the right value {N.fmt(exact)} is no terminating decimal: written as {text}, the "
                     f"tolerance is the rounding ({tolerance}), not exact")
    question = _base(marker, q, right, "numerical", [Answer(text, 100, "", tolerance)])
    if q.quantity in MEMORY:
        question.text.append("Give the number of bytes.")
    return question


# ---- short answer ------------------------------------------------------------------------------


def _short_answer(marker: Marker, q, right: Right) -> LmsQuestion:
    conv = marker.key.conventions
    shaped = q.quantity in SHAPED or q.quantity == "rf"
    hint = []
    if right.value is INVALID:
        answers = [Answer(a) for a in INVALID_ANSWERS]
    elif isinstance(right.value, Numbers):  # a numeric exercise's output, as the feedback shows it
        shown = marker._shown(right)
        answers = [Answer(a) for a in _unique([shown, shown.replace(" ", "")])]
        hint.append("Write the numbers as nested lists, e.g. [[8, 9], [5, 7]]; they are compared as text.")
    elif isinstance(right.value, tuple):
        sizes = _to_order(right.value, conv.shape_order)
        answers = [Answer(a) for a in shape_strings(sizes)]
        answers += _other_orders(right.value, conv.shape_order)
    else:
        formula = N.expr_text(right.value)
        answers = [Answer(a) for a in _unique([formula, formula.replace(" ", "")])]
        hint.append("Write the formula in the spec's names (K, C, …) with * for products; it is compared as text, "
                    "letter case included.")
    if shaped:
        order = _ORDER_NAMES[conv.shape_order] if q.quantity in SHAPED else "one size per spatial axis"
        hint.insert(0, f"Write the sizes as {order}, separated by × or x.")
    if conv.stride_must_fit and (shaped or right.value is INVALID):
        hint.append("Write 'invalid' if the hyperparameters do not fit.")
    question = _base(marker, q, right, "shortanswer", answers)
    question.text += hint
    sizes = right.value if isinstance(right.value, tuple) else () if right.value is INVALID \
        or isinstance(right.value, Numbers) else (right.value,)
    question.usecase = any(N.is_symbolic(s) for s in sizes)  # names are case-sensitive; digits and x are not
    return question


def shape_strings(sizes: tuple) -> list[str]:
    """The ways of writing a shape that archcalc reads, in the course's order: 55 × 55 × 96,
    55×55×96, 55 x 55 x 96, 55x55x96, 55 * 55 * 96, 55*55*96, [55, 55, 96], (55, 55, 96); one
    number where every size is the same ([4096], a 51 × 51 receptive field). With a symbolic
    size only × , " x " and brackets: K*30*30 is a product, Kx30 a name."""
    parts = [N.decimal_text(s) for s in sizes]
    symbolic = any(N.is_symbolic(s) for s in sizes)
    if len(parts) == 1:
        return ["[" + parts[0] + "]"] + ([] if symbolic else [parts[0]])
    separators = (" × ", "×", " x ") + (() if symbolic else ("x", " * ", "*"))
    out = [sep.join(parts) for sep in separators] + ["[" + ", ".join(parts) + "]", "(" + ", ".join(parts) + ")"]
    if len(set(parts)) == 1 and not symbolic:
        out.append(parts[0])
    return _unique(out)


def _other_orders(shape: tuple, order: str) -> list[Answer]:
    """The right sizes in another course's order: no credit, and the feedback archcalc gives."""
    if len(shape) != 3:
        return []
    right = _to_order(shape, order)
    wrong: list[Answer] = []
    for other in SHAPE_ORDERS:
        sizes = _to_order(shape, other)
        if sizes != right and not any(a.text == " × ".join(map(N.decimal_text, sizes)) for a in wrong):
            note = f"The right sizes in another order: this course writes shapes {_ORDER_NAMES[order]}."
            wrong += [Answer(text, 0, note) for text in shape_strings(sizes)[:3]]
    return wrong


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# ---- a roster for Canvas -----------------------------------------------------------------------

CANVAS_STUDENT = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
ROSTER_KEYS = ("submission", "SIS Login ID", "SIS User ID", "ID")  # where a submission id is looked up, in order


@dataclass
class Roster:
    """Canvas's student columns for each submission id. A roster is a CSV with a header row
    and some of Student, ID, SIS User ID, SIS Login ID, Section (Canvas's gradebook export is
    one); a submission id is looked up in its `submission` column if it has one, else in SIS
    Login ID, then SIS User ID, then ID."""

    file: str
    header: list[str]
    rows: list[tuple[int, dict]]  # (line, the row's cells)

    def find(self, sid: str) -> dict | None:
        """The row of a submission id, None when the roster has none; an id that names two
        students is the roster's error."""
        columns = ["submission"] if "submission" in self.header else [c for c in ROSTER_KEYS[1:] if c in self.header]
        for column in columns:
            found = [(line, row) for line, row in self.rows if (row.get(column) or "").strip() == sid]
            if len(found) > 1:
                raise SpecError(f"'{sid}' is the {column} of {len(found)} students in the roster (lines "
                                f"{', '.join(str(line) for line, _ in found)})", Location(self.file, found[1][0]),
                                code="invalid-roster", hint="each submission id names one student")
            if found:
                return found[0][1]
        return None


def load_roster(path: str) -> Roster:
    """The roster, or a located SpecError (the instructor's file)."""
    from archcalc.textio import read_text

    text = read_text(Path(path), "roster").lstrip("\ufeff")
    reader = csv.reader(text.splitlines())
    header = [h.strip() for h in next(reader, [])]
    if not any(h in ROSTER_KEYS for h in header):
        raise SpecError("a roster's header names the column that holds each submission's id", Location(path, 1),
                        code="invalid-roster", expected="submission, SIS Login ID, SIS User ID or ID "
                                                         "(Canvas's gradebook export has the last three)")
    rows = []
    for line, cells in enumerate(reader, 2):
        row = dict(zip(header, cells))
        if (row.get("Student") or "").strip() != "Points Possible" and any(c.strip() for c in cells):
            rows.append((line, row))
    return Roster(path, header, rows)


def canvas_options(key: str, roster: str | None, assignment: str | None) -> dict:
    """The assignment's column name (default: the key's name, else its file name) and the
    roster, checked: Canvas drops a column named like one of its own."""
    from archcalc.grading.key import load_key

    name = (assignment if assignment is not None else (load_key(key).name or Path(key).stem)).strip()
    reserved = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Integration ID", "Root Account",
                "LastName", "FirstName")
    canvas_own = ("Current Score", "Current Points", "Current Grade", "Final Score", "Final Points", "Final Grade",
                  "Override Score", "Override Grade", "Override Status")
    if not name or name in reserved or any(c in name for c in canvas_own) or "Points Possible" in name:
        raise SpecError(f"--assignment {name!r}: Canvas would not read it as an assignment's column",
                        Location("--assignment"), code="usage",
                        hint="a title such as 'Homework 1', or 'Homework 1 (1234)' with the Canvas assignment's id; "
                             "not a student column and nothing with " + ", ".join(canvas_own[:3]) + " … in it")
    return {"assignment": name, "roster": load_roster(roster) if roster else None}


def export_command(key: str, fmt: str, out) -> None:
    """`archcalc export`: the key's questions for an LMS; notes on what it cannot say to stderr."""
    import click

    from archcalc.grading.key import load_key
    from archcalc.report.lms_report import RENDERERS

    export = lms_questions(Marker(load_key(key)))
    RENDERERS[fmt](export, out)
    out.close()
    for note in export.notes:
        click.echo(f"note: {note}", err=True)
