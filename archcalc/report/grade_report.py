"""Rendering of `archcalc grade`: a table for people, JSON, and Gradescope's results.json."""
from __future__ import annotations

import json
from fractions import Fraction

from archcalc import __version__
from archcalc.report.summary import safe_markup


def _num(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def score_line(report) -> str:
    pct = float(report.score / report.max_score * 100) if report.max_score else 0.0
    right = sum(r.ok for r in report.results)
    return (f"score {_num(report.score)}/{_num(report.max_score)} ({pct:.1f}%): "
            f"{right} of {len(report.results)} answers right")


def feedback(r) -> str:
    """What a student reads for one answer."""
    if r.ok:
        return f"✓ {r.key} = {r.correct}"
    lines = [f"✗ {r.key}: you wrote {r.student}; the value is {r.correct}" + (f" ({r.note})" if r.note else "")]
    lines += [f"  {d}" for d in r.derivation]
    lines += [f"  likely: {d.text}" for d in r.diagnoses]
    return "\n".join(lines)


def render_text(report, console) -> None:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left",
                  title=f"{report.answers_file} → {report.name} ({report.spec_file})")
    for col, justify in (("", "left"), ("answer", "left"), ("yours", "right"), ("correct", "right"),
                         ("points", "right")):
        table.add_column(col, justify=justify)
    for r in report.results:
        mark = "[green]✓[/green]" if r.ok else "[red]✗[/red]"
        table.add_row(mark, safe_markup(r.key), safe_markup(r.student), safe_markup(r.correct),
                      f"{_num(r.points)}/{_num(r.max_points)}")
    console.print(table)
    for r in report.results:
        if not r.ok:
            console.print(safe_markup(feedback(r)), highlight=False)
    console.print(score_line(report), highlight=False)


def render_json(report) -> str:
    return json.dumps({
        "archcalc": __version__, "answers": report.answers_file, "spec": report.spec_file, "name": report.name,
        "score": _num(report.score), "max_score": _num(report.max_score), "all_correct": report.all_correct,
        "results": [{"key": r.key, "ok": r.ok, "yours": r.student, "correct": r.correct, "points": _num(r.points),
                     "max_points": _num(r.max_points), "line": r.loc.line if r.loc else None,
                     "derivation": r.derivation, "diagnoses": [d.text for d in r.diagnoses],
                     "diagnosis_codes": [d.code for d in r.diagnoses], "note": r.note}
                    for r in report.results],
    }, indent=2, ensure_ascii=False)


GRADESCOPE_TOP = ("score", "execution_time", "output", "visibility", "stdout_visibility", "extra_data", "tests",
                  "leaderboard")
GRADESCOPE_TEST = ("score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
                   "tags", "visibility", "extra_data")


def render_gradescope(report) -> str:
    """Gradescope autograder results.json: https://gradescope-autograders.readthedocs.io/en/latest/specs/"""
    tests = [{"name": r.key, "number": str(i), "score": _num(r.points), "max_score": _num(r.max_points),
              "status": "passed" if r.ok else "failed", "output": feedback(r), "visibility": "visible"}
             for i, r in enumerate(report.results, 1)]
    return json.dumps({"score": _num(report.score), "output": score_line(report), "visibility": "visible",
                       "tests": tests}, indent=2, ensure_ascii=False)


RENDERERS = {
    "text": lambda report, out: render_text(report, out.console()),
    "json": lambda report, out: out.echo(render_json(report)),
    "gradescope": lambda report, out: out.echo(render_gradescope(report)),
}
