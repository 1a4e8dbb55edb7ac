"""Rendering of `archcalc grade`: a table for people, JSON, Gradescope's results.json, a CSV
gradebook, and Canvas's gradebook import."""
from __future__ import annotations

from fractions import Fraction

from archcalc import __version__
from archcalc.printable import dumps, printable
from archcalc.report.summary import safe_markup


def _num(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def score_line(report) -> str:
    pct = float(report.score / report.max_score * 100) if report.max_score else 0.0
    right = sum(r.ok for r in report.results)
    return (f"score {_num(report.score)}/{_num(report.max_score)} ({pct:.1f}%): "
            f"{right} of {len(report.results)} answers right")


def _label(r) -> str:
    return f"{r.key} ({r.asks})" if r.asks else r.key


def feedback(r, reveal: bool = True) -> str:
    """What a student reads for one answer (reveal=False: without the right value)."""
    if r.ok:
        return f"✓ {_label(r)} = {r.student or r.correct}" + (f" ({r.note})" if r.note else "")
    if not r.student:
        return f"✗ {_label(r)}: {r.note or 'no answer'}" + (f"; the value is {r.correct}" if reveal else "")
    lines = [f"✗ {_label(r)}: you wrote {r.student}" + (f"; the value is {r.correct}" if reveal else "")
             + (f" ({r.note})" if r.note else "")]
    if not reveal:
        return "\n".join(lines + [f"  likely: {d.text}" for d in r.diagnoses])
    lines += [f"  {d}" for d in r.derivation]
    lines += [f"  likely: {d.text}" for d in r.diagnoses]
    return "\n".join(lines)


def render_text(report, console) -> None:
    from rich import box
    from rich.table import Table

    title = f"{report.answers_file} → {report.name} ({report.spec_file})"
    if report.mode == "self-study":
        title += "\nself-study: the answers file sets its own spec, points and tolerances (grade --key for a course)"
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left", title=safe_markup(title))
    for col, justify in (("", "left"), ("answer", "left"), ("yours", "right"), ("correct", "right"),
                         ("points", "right")):
        table.add_column(col, justify=justify)
    for r in report.results:
        mark = "[green]✓[/green]" if r.ok else "[red]✗[/red]"
        table.add_row(mark, safe_markup(_label(r)), safe_markup(r.student or "—"), safe_markup(r.correct),
                      f"{_num(r.points)}/{_num(r.max_points)}")
    console.print(table)
    for line in _notices(report):
        console.print(safe_markup(line), highlight=False)
    for r in report.results:
        if not r.ok:
            console.print(safe_markup(feedback(r)), highlight=False)
    console.print(score_line(report), highlight=False)


def _notices(report) -> list[str]:
    """What a student reads about the submission as a whole."""
    lines = [f"the submission could not be read: {report.error}"] if report.error else []
    if report.ignored:
        shown = report.ignored[:12] + ([f"and {len(report.ignored) - 12:,} more"] if len(report.ignored) > 12 else [])
        lines.append("ignored (not questions of this assignment): " + ", ".join(s[:60] for s in shown))
    return lines


def _json(report) -> dict:
    return {
        "archcalc": __version__, "mode": report.mode, "student": report.student, "answers": report.answers_file,
        "spec": report.spec_file, "name": report.name, "error": report.error, "ignored": report.ignored,
        "score": _num(report.score), "max_score": _num(report.max_score), "all_correct": report.all_correct,
        "results": [{"key": r.key, "ok": r.ok, "yours": r.student, "correct": r.correct, "points": _num(r.points),
                     "max_points": _num(r.max_points), "line": r.loc.line if r.loc else None,
                     "derivation": r.derivation, "diagnoses": [d.text for d in r.diagnoses],
                     "diagnosis_codes": [d.code for d in r.diagnoses], "note": r.note, "asks": r.asks}
                    for r in report.results],
    }


def render_json(report) -> str:
    return dumps(_json(report), indent=2)


GRADESCOPE_TOP = ("score", "execution_time", "output", "visibility", "stdout_visibility", "extra_data", "tests",
                  "leaderboard")
GRADESCOPE_TEST = ("score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
                   "tags", "visibility", "extra_data")


def render_gradescope(report, visibility: str = "visible", reveal: bool = True) -> str:
    """Gradescope autograder results.json: https://gradescope-autograders.readthedocs.io/en/latest/specs/
    (visibility: when students see it; reveal=False keeps the right values out of the feedback)."""
    tests = [{"name": _label(r), "number": str(i), "score": _num(r.points), "max_score": _num(r.max_points),
              "status": "passed" if r.ok else "failed", "output": printable(feedback(r, reveal)),
              "visibility": visibility}
             for i, r in enumerate(report.results, 1)]
    output = printable("\n".join([score_line(report), *_notices(report)]))  # Gradescope shows it as text
    return dumps({"score": _num(report.score), "output": output, "visibility": visibility,
                  "stdout_visibility": "hidden", "tests": tests}, indent=2)


def render_csv(reports) -> str:
    """A gradebook: one row per submission (its id, each question's points, the total)."""
    import csv
    import io

    questions = [r.key for r in reports[0].results] if reports else []
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", *questions, "total", "max", "error"])
    for report in reports:
        points = {r.key: _num(r.points) for r in report.results}
        writer.writerow([_cell(report.student), *(points.get(q, 0) for q in questions), _num(report.score),
                         _num(report.max_score), "unreadable" if report.error else ""])
    return buf.getvalue()


def _cell(text: str | None) -> str:
    """A student's id in a spreadsheet cell: never a formula (=, +, -, @ lead one in Excel)."""
    text = text or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def feedback_text(report, reveal: bool = True) -> str:
    lines = [f"{report.student}: {score_line(report)}", *_notices(report)]
    lines += [feedback(r, reveal) for r in report.results]
    return "\n".join(lines) + "\n"


def write_feedback(reports, folder: str, reveal: bool = True) -> None:
    from pathlib import Path

    from archcalc.textio import write_atomic

    Path(folder).mkdir(parents=True, exist_ok=True)
    for report in reports:
        write_atomic(Path(folder) / f"{report.student}.txt", printable(feedback_text(report, reveal)))


def render_batch_text(reports, console) -> None:
    for report in reports:
        console.print(safe_markup(f"{report.student}: {score_line(report)}"
                                  + (" (unreadable submission)" if report.error else "")), highlight=False)


def render_canvas(reports, assignment: str, roster=None) -> tuple[str, list[str]]:
    """Canvas's gradebook import CSV, as its importer (GradebookImporter) reads one: the header
    Student, ID, SIS User ID, SIS Login ID, Section, then the assignment's column; a Points
    Possible row; one row per submission with its total. And the ids the roster does not have,
    each written with the id as its Student and SIS Login ID (Canvas lists it as a student it
    could not find)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", _cell(assignment)])
    max_score = max((r.max_score for r in reports), default=0)
    writer.writerow(["Points Possible", "", "", "", "", _num(max_score)])
    missing = []
    for report in reports:
        row = roster.find(report.student) if roster is not None else None
        if roster is not None and row is None:
            missing.append(report.student)
        student = [row.get(c, "") for c in ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")] if row \
            else [report.student, "", "", report.student, ""]
        writer.writerow([*(_cell((s or "").strip()) for s in student), _num(report.score)])
    return buf.getvalue(), missing


def _canvas(reports, out, assignment: str = "archcalc", roster=None) -> None:
    import click

    text, missing = render_canvas(reports, assignment, roster)
    out.echo(text, nl=False)
    if missing:
        shown = ", ".join(missing[:12]) + (f" and {len(missing) - 12:,} more" if len(missing) > 12 else "")
        click.echo(printable(f"warning: not in the roster {roster.file}: {shown}; written with the id as Student and "
                             "SIS Login ID, so Canvas lists them as students it could not find (match or ignore them "
                             "there)"), err=True)


BATCH_RENDERERS = {
    "text": lambda reports, out: render_batch_text(reports, out.console()),
    "json": lambda reports, out: out.echo(dumps([_json(r) for r in reports], indent=2)),
    "csv": lambda reports, out: out.echo(render_csv(reports), nl=False),
    "canvas": lambda reports, out, **options: _canvas(reports, out, **options),
}

RENDERERS = {
    "text": lambda report, out: render_text(report, out.console()),
    "json": lambda report, out: out.echo(render_json(report)),
    "gradescope": lambda report, out: out.echo(render_gradescope(report)),
    "csv": lambda report, out: out.echo(render_csv([report]), nl=False),
    "canvas": lambda report, out, **options: _canvas([report], out, **options),
}
