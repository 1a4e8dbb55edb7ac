"""The command line's frame: one error boundary and the options commands share.

A user's error is a SpecError, which carries its exit code (2); ArchcalcCommand prints it
located, as text or as JSON when --format json was asked for, without a traceback (--debug
shows one), and exits with the code a command returns (click's model: no sys.exit).
"""
from __future__ import annotations

import json

import click

from archcalc.spec.errors import Location, SpecError

CONVENTION_NAMES = ("archcalc", "torchinfo", "fvcore", "ptflops", "thop", "torch")  # archcalc.conventions.NAMES


def _parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise SpecError(f"--set {item}: expected NAME=VALUE", Location("--set"),
                            expected="e.g. --set H=224 or --set classes=10", code="usage")
        out[name.strip()] = value.strip()
    return out


def _error_json(err: SpecError) -> str:
    payload = {"error": err.to_json()}
    if len(err.errors) > 1:
        payload["errors"] = [e.to_json() for e in err.errors]
    return json.dumps(payload, indent=2)


def _error_text(err: SpecError) -> str:
    return err.render()


ERROR_RENDERERS = {"json": _error_json}  # every other format: the located text


class ArchcalcCommand(click.Command):
    """Every command: --debug, --set values read into a dict, and the error boundary."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params.append(click.Option(["--debug"], is_flag=True, help="Show a traceback for errors too."))

    def invoke(self, ctx: click.Context):
        debug = ctx.params.pop("debug", False)
        from archcalc.textio import clear_notes

        clear_notes()  # notes are per command (tests run several in one process)
        try:
            if "sets" in ctx.params:
                ctx.params["sets"] = _parse_sets(ctx.params["sets"])
            code = super().invoke(ctx)
        except SpecError as err:
            if debug:
                raise
            click.echo(ERROR_RENDERERS.get(ctx.params.get("fmt"), _error_text)(err), err=True)
            ctx.exit(err.exit_code)
        ctx.exit(code or 0)


class ArchcalcGroup(click.Group):
    command_class = ArchcalcCommand

    def invoke(self, ctx):
        import gc

        gc.set_threshold(100_000, 50, 100)  # reports build many small objects with no cycles: collect less often
        return super().invoke(ctx)


set_option = click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
                          help="Bind a var or a symbolic dimension.")
variant_option = click.option("--variant", default=None, help="Select one of the spec's variants.")
output_option = click.option("--output", "-o", default=None, type=click.Path(dir_okay=False, path_type=str),
                             help="Write the report to this file (atomically) instead of standard output.")
batch_option = click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
                            help="Multiply MACs, FLOPs and activations by N.")
convention_option = click.option(
    "--convention", type=click.Choice(CONVENTION_NAMES), default=None,
    help="Count MACs/FLOPs as that tool does (torchinfo 1.8.0, fvcore 0.1.5, ptflops 0.7.5, ultralytics-thop "
         "2.2.3, torch's FlopCounterMode); only those columns change, and the report says which rules are in force.")
visibility_option = click.option(
    "--visibility", type=click.Choice(("visible", "after_due_date", "after_published", "hidden")), default="visible",
    show_default=True, help="Gradescope: when students see their results.")
hide_answers_option = click.option("--hide-answers", is_flag=True,
                                   help="Keep the right values out of the students' feedback (Gradescope, --feedback).")
variants_file_option = click.option(
    "--variants", type=click.Path(dir_okay=False, path_type=str), default=None,
    help="With --key: each student's numbers (archcalc variants' variants.yaml); a submission is graded for its id's.")
VARIANTS_EPILOG = ("Each student's numbers are drawn from the key's variants: (ranges or lists of a spec's vars) by "
                   "sha256 of seed, id and name, the same on every run; draws that do not fit the spec (an error, or "
                   "under must_fit a stride that floors) are drawn again. An existing variants.yaml is kept: a "
                   "student whose numbers would change is an error. Grade with grade --key KEY --variants "
                   "OUTDIR/variants.yaml SUBMISSIONS/ (each file named ID.yaml).")
GRADE_EPILOG = ("With --key, SUBMISSION is a student's file of values only (q1: 55 × 55 × 96), or a folder of them "
                "(*.yaml, one per student, named by their id): the key holds the spec, the questions, points, "
                "tolerances and conventions. Every answer is graded on its own; a submission that cannot be read "
                "scores 0 with the reason, and the report (results.json too) is always written. Without --key, "
                "SUBMISSION is a self-study answers file that names its own spec, points and tolerances. Exit: with --key 0 "
                "once all is graded; without, 0 when every answer is right, else 1; 2 for an invalid key or spec.")
GRADE_FORMATS = ("text", "json", "gradescope", "csv", "canvas")
grade_format_option = click.option(
    "--format", "fmt", type=click.Choice(GRADE_FORMATS), default="text", show_default=True,
    help="csv: a gradebook, one row per submission; canvas: Canvas's gradebook import, one total each (with --key).")
feedback_option = click.option("--feedback", "feedback_dir", type=click.Path(file_okay=False, path_type=str),
                               help="With --key: also write each submission's feedback to this folder (ID.txt).")


def canvas_options(command):
    """--roster and --assignment, for --format canvas."""
    command = click.option("--assignment", default=None, metavar="NAME",
                           help="Canvas: the assignment's column, e.g. 'Homework 1 (1234)' with its Canvas id "
                                "(default: the key's name).")(command)
    return click.option("--roster", type=click.Path(dir_okay=False, path_type=str), default=None,
                        help="Canvas: a CSV (Canvas's gradebook export serves) giving each submission id's "
                             "Student, ID, SIS User ID, SIS Login ID and Section.")(command)


IMPORT_EPILOG = ("This imports MODULE and runs CALLABLE and the model's forward pass: it executes that Python code "
                 "with your permissions, so run it only on code you trust. It is the one command that runs model "
                 "code on purpose (with check --against); specs never run code.")
CHECK_EPILOG = ("--against imports and runs the named Python code (its factory and a forward pass on the meta "
                "device): use it only on code you trust.")
EXPORT_EPILOG = ("moodle: a Moodle XML question bank (Question bank → Import → Moodle XML format): numbers as "
                 "numerical questions with the key's tolerance made absolute, shapes, 'invalid' and formulas as "
                 "short answers listing the strings accepted; each with its points and the derivation as feedback.")

