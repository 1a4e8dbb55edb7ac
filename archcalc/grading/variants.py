"""Per-student variants: each student answers the key's questions for numbers of their own,
drawn from the key's `variants:` (parsed in archcalc/grading/draw.py).

How a student's numbers are drawn: for each name, sha256 of "SEED:ID:NAME" (":N" appended for
the N-th redraw) read as a 64-bit integer, modulo the number of values, picks one value; the
same seed and id give the same numbers on any machine (Python's hash() would not). A draw is
kept when the spec analyses without error at those numbers and, under must_fit, without any
inexact-division warning; otherwise the student's numbers are all drawn again, at most
MAX_ATTEMPTS times. This is rejection sampling: each student's numbers are uniform over the
combinations that fit, for any spec (pools after convolutions, several layers), where choosing
P to fit W, F and S would favour some paddings and know which name is a padding.

`archcalc variants` writes each student's sheet, variants.yaml (each id → its numbers) and
answers.csv; `archcalc grade --key KEY --variants variants.yaml` grades each submission for
the numbers of its id (the file name; in Gradescope, submission_metadata.json's sid or email).
"""
from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from archcalc.grading.draw import _err, as_set, check_names, draw_index, load_variants, variants_text
from archcalc.printable import printable
from archcalc.spec.errors import Location, SpecError

if TYPE_CHECKING:
    from archcalc.grading.key import Key

MAX_ATTEMPTS = 1000
ID = re.compile(r"^[^\W][\w.@+\-]{0,127}$")  # a file name: letters, digits, . _ @ + -, not a leading dot or dash


# ---- drawing -------------------------------------------------------------------------------------


class Drawer:
    """Draws students' numbers from a key's variants, keeping those that fit."""

    def __init__(self, key: Key, seed: int | str | None = None):
        from archcalc.spec import load_spec

        if key.draw is None:
            raise _err("the key has no variants: to draw from", Location(key.file),
                       expected="variants: {seed: 2026, draw: {W: {range: [32, 256]}, F: [3, 5, 7]}}")
        self.key, self.draw = key, key.draw
        self.seed = seed if seed is not None else (self.draw.seed if self.draw.seed is not None else 0)
        self.spec = load_spec(key.spec_path)
        check_names(self.draw.names, self.spec, lambda n: next(c.loc for c in self.draw.choices if c.name == n))
        self.misfits: dict[tuple, str | None] = {}  # the verdict on each combination analysed

    def values(self, student: str) -> dict:
        last = ""
        for attempt in range(MAX_ATTEMPTS):
            values = {c.name: c.pick(draw_index(self.seed, student, c.name, attempt, c.size))
                      for c in self.draw.choices}
            last = self.misfit(values)
            if last is None:
                return values
        raise _err(f"no draw of {self.draw.describe()} fits the spec for '{student}' in {MAX_ATTEMPTS} attempts "
                   f"(the last: {last})", self.draw.loc,
                   hint="widen the ranges, or allow strides that floor with must_fit: false")

    def misfit(self, values: dict) -> str | None:
        """Why these numbers do not fit the spec, or None."""
        from archcalc.engine.analyze import analyze

        memo = tuple(values.items())
        if memo not in self.misfits:
            try:
                analysis = analyze(self.spec, {**self.key.bindings, **as_set(values)}, variant=self.key.variant)
            except SpecError as err:
                self.misfits[memo] = err.message
            else:
                inexact = [w for w in analysis.warnings if w.code == "inexact-division"] if self.draw.must_fit else []
                self.misfits[memo] = f"{inexact[0].path}: {inexact[0].message}" if inexact else None
        return self.misfits[memo]


# ---- the roster ---------------------------------------------------------------------------------


@dataclass
class Student:
    id: str
    line: int
    name: str = ""
    email: str = ""


def read_roster(path: str | Path) -> list[Student]:
    """A CSV with an `id` column (the names submissions will have); `name` and `email` are kept."""
    from archcalc.textio import read_text

    name = str(path)
    reader = csv.DictReader(io.StringIO(read_text(path, "roster"), newline=""))
    columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
    if "id" not in columns:
        raise _err(f"the roster has no 'id' column (its columns: {', '.join(columns) or 'none'})",
                   Location(name, 1, 1), code="usage", expected="id,name,email (a header line, then one per student)")
    students: list[Student] = []
    seen: dict[str, int] = {}
    for row in reader:
        cell = {k: (row.get(c) or "").strip() for k, c in columns.items()}
        if not any(cell.values()):
            continue
        student = Student(cell["id"], reader.line_num, cell.get("name", ""), cell.get("email", ""))
        _check_id(student, name, seen)
        students.append(student)
    if not students:
        raise _err("the roster lists no students", Location(name), code="usage")
    return students


def _check_id(student: Student, roster: str, seen: dict[str, int]) -> None:
    loc = Location(roster, student.line, 1)
    if not ID.match(student.id) or student.id.endswith("."):
        raise _err(f"roster id {student.id!r} cannot name a file", loc, code="usage",
                   expected="letters, digits, . _ @ + - (at most 128), as the submissions will be named")
    folded = student.id.casefold()
    if folded in seen:
        raise _err(f"roster id '{student.id}' is listed twice (line {seen[folded]} and here)", loc, code="usage")
    seen[folded] = student.line


# ---- archcalc variants ----------------------------------------------------------------------------------


def variants_command(key_path: str, roster: str, outdir: str, seed: int | None) -> str:
    """Draw every student's numbers, write OUTDIR/ID.md, variants.yaml, answers.csv; what was done."""
    from archcalc.grading.key import load_key
    from archcalc.grading.mark import Markers
    from archcalc.report.sheet import answers_csv, sheet_markdown
    from archcalc.textio import write_atomic

    key = load_key(key_path)
    drawer = Drawer(key, seed)
    students = read_roster(roster)
    values = {s.id: drawer.values(s.id) for s in students}
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise _err(f"{outdir} is a file, not a folder", Location(outdir), code="usage")
    previous = _previous(out / "variants.yaml", key)
    changed = [sid for sid in values if sid in previous and previous[sid] != values[sid]]
    if changed:
        raise _err(f"{out / 'variants.yaml'} gives {len(changed)} student(s) other numbers than this draw "
                   f"({', '.join(changed[:5])}): the seed, the ranges or the spec changed since",
                   Location(str(out / "variants.yaml")), code="usage",
                   hint="keep the sheets already handed out: restore the seed; or delete the folder to draw afresh")
    markers = Markers(key)
    out.mkdir(parents=True, exist_ok=True)
    for s in students:
        write_atomic(out / f"{s.id}.md", printable(sheet_markdown(key, s, values[s.id], markers(values[s.id]))))
    write_atomic(out / "answers.csv", printable(answers_csv(key, [(s.id, markers(values[s.id])) for s in students])))
    relative = os.path.relpath(Path(key_path).resolve(), out.resolve())
    write_atomic(out / "variants.yaml", variants_text(relative, drawer.seed, key.draw, values))
    dropped = [sid for sid in previous if sid not in values]
    return (f"wrote {len(students)} sheet(s), variants.yaml and answers.csv to {outdir} (seed {drawer.seed}; "
            f"{len(markers.cache)} distinct variant(s))"
            + (f"; {sum(s.id in previous for s in students)} student(s) kept their numbers" if previous else "")
            + (f"; no longer in the roster: {', '.join(dropped)}" if dropped else ""))


def _previous(path: Path, key: Key) -> dict[str, dict]:
    if not path.exists():
        return {}
    try:
        return load_variants(path, replace(key, draw=None))
    except SpecError as err:
        raise _err(f"{path} exists and cannot be read: {err.message}", Location(str(path)), code="usage",
                   hint="delete it to draw afresh (the sheets handed out would no longer match)") from None
