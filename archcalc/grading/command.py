"""`archcalc grade`: an instructor's key against one submission, a folder of them or a
Gradescope upload (a gradebook: csv, or Canvas's import with --roster and --assignment); or a
self-study answers file. The command line's choices, here so that
cli.py stays a list of commands."""
from __future__ import annotations

from pathlib import Path

from archcalc.report.output import Out
from archcalc.spec.errors import Location, SpecError


def grade_command(submission: str, key: str | None, fmt: str, feedback_dir: str | None, visibility: str,
                  hide_answers: bool, out: Out, roster: str | None = None, assignment: str | None = None,
                  variants: str | None = None) -> int:
    """The exit code: with a key 0 once all is graded; self-study 0 when every answer is right."""
    from archcalc.report.grade_report import BATCH_RENDERERS, RENDERERS, render_gradescope

    if (roster or assignment is not None) and fmt != "canvas":
        raise SpecError(f"{'--roster' if roster else '--assignment'} is for Canvas's gradebook", Location("--format"),
                        hint="add --format canvas", code="usage")
    if key is None:
        if variants:
            raise SpecError("--variants gives each student's numbers for an instructor's --key", Location("--variants"),
                            hint="archcalc grade --key KEY --variants OUTDIR/variants.yaml SUBMISSIONS/", code="usage")
        return _self_study(submission, fmt, feedback_dir, out)
    options = {}
    if fmt == "canvas":
        from archcalc.grading.export import canvas_options

        options = canvas_options(key, roster, assignment)
    from archcalc.grading.mark import grade_submissions, one_submission, submission_files

    if fmt == "gradescope":  # one student's upload: whatever it holds, a results.json
        report = grade_submissions(key, [one_submission(submission)], variants)[0]
        out.echo(render_gradescope(report, visibility, not hide_answers))
        out.close()
        return 0
    files = [f for f in submission_files(submission) if Path(f).resolve() != Path(key).resolve()]
    reports = grade_submissions(key, files, variants)
    if feedback_dir:
        from archcalc.report.grade_report import write_feedback

        write_feedback(reports, feedback_dir, not hide_answers)
    if len(reports) == 1 and not Path(submission).is_dir() and fmt not in ("csv", "canvas"):
        RENDERERS[fmt](reports[0], out)
    else:
        BATCH_RENDERERS[fmt](reports, out, **options)
    out.close()
    return 0


def _self_study(answers: str, fmt: str, feedback_dir: str | None, out: Out) -> int:
    from archcalc.grading.grade import grade
    from archcalc.report.grade_report import RENDERERS

    if fmt in ("csv", "canvas") or feedback_dir:
        raise SpecError("a gradebook and feedback files need an instructor's key", Location("--key"),
                        hint=f"archcalc grade --key KEY.yaml SUBMISSIONS/ --format {fmt if fmt == 'canvas' else 'csv'}",
                        code="usage")
    report = grade(answers)
    RENDERERS[fmt](report, out)
    out.close()
    return 0 if report.all_correct else 1
