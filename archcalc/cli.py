"""The command line: one thin click command per use; the work lives in the library, the
rendering in report/ (each report module's RENDERERS table, keyed by --format), the error
boundary and the shared options in clibase.py. A command returns its exit code: 0 when all
holds, 1 when a check fails; an invalid spec or option is a SpecError (2)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from archcalc import __version__
from archcalc.clibase import (CHECK_EPILOG, CONVENTION_NAMES, EXPORT_EPILOG, GRADE_EPILOG,  # noqa: F401
                              IMPORT_EPILOG, VARIANTS_EPILOG, ArchcalcGroup, batch_option, canvas_options,
                              convention_option, feedback_option, grade_format_option, hide_answers_option,
                              output_option, set_option, variant_option, variants_file_option,
                              visibility_option)
from archcalc.report.conventions import conventions_text
from archcalc.report.output import Out
from archcalc.textio import spec_files

DEFAULT_SPEC = Path(__file__).parent / "data" / "alexnet.yaml"


def _analyze(spec: str | None, sets: dict, batch: int = 1, variant: str | None = None):
    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec

    return analyze(load_spec(spec or DEFAULT_SPEC), sets, batch, variant)


def _written(out: Out, render) -> None:
    render(out)
    out.close()


@click.group(cls=ArchcalcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archcalc")
def main() -> None:
    """Exact shapes, parameters, neurons, MACs and FLOPs of a network written as a YAML spec."""


@main.command(epilog="Counting conventions:\n\n" + conventions_text("\n\n"))
@click.argument("spec", required=False)
@set_option
@batch_option
@click.option("--format", "fmt", type=click.Choice(("table", "json", "markdown", "html")), default="table",
              show_default=True)
@click.option("--depth", type=click.IntRange(min=0), default=None,
              help="Fold blocks below this nesting depth (their rows show subtotals).")
@click.option("--unfold", is_flag=True, help="Show every copy of a repeat (by default, copies identical to the "
                                              "first, or to the copy shown in full before them, fold into one row).")
@variant_option
@click.option("--columns", "extra", type=click.Choice(("rf", "train")), multiple=True,
              help="Extra columns: rf (receptive field per spatial axis), train (forward + backward FLOPs).")
@click.option("--dataset-size", type=click.IntRange(min=1), default=None,
              help="Also give the training FLOPs of one epoch over this many samples.")
@click.option("--memory", "show_memory", is_flag=True,
              help="Add weights, activation, peak-inference and training memory (rules in the footer).")
@click.option("--dtype", type=click.Choice(("float32", "float16", "bfloat16", "int8")), default="float32",
              show_default=True, help="Element type for --memory.")
@click.option("--context", type=click.IntRange(min=1), default=None,
              help="With --memory: the KV cache of autoregressive inference at this many tokens.")
@click.option("--chart", default=None, type=click.Path(dir_okay=False, path_type=str),
              help="Also draw the per-layer chart to this file (.png/.svg/.pdf) and link it from a Markdown report.")
@convention_option
@output_option
def summarize(spec, sets, batch, fmt, depth, unfold, variant, extra, dataset_size, show_memory, dtype, context, chart,
              convention, output) -> None:
    """Per-layer table of a SPEC (default: the embedded AlexNet)."""
    from archcalc.report.display import Summary
    from archcalc.report.summarize import RENDERERS, Options, check_options

    options = Options(depth, extra, dataset_size, dtype if show_memory else None, chart, output, unfold, context)
    check_options(options, convention)
    summary = Summary(_analyze(spec, sets, batch, variant))
    if convention:
        from archcalc.conventions import apply, get

        summary = Summary(apply(summary.analysis, convention), get(convention))
    _written(Out(output), lambda out: RENDERERS[fmt](summary, options, out))
    if chart:
        from archcalc.pictures.chart import layer_chart

        layer_chart(summary.analysis, chart, depth)


@main.command("import", epilog=IMPORT_EPILOG)
@click.argument("target", metavar="MODULE:CALLABLE")
@click.option("--input", "input_dims", required=True, multiple=True, metavar="DIMS",
              help="The input of one sample, batch left out: 3,224,224; names are symbolic (3,H,W; T for a "
                   "sequence) and are traced at --set NAME=VALUE (default 224). Once for each input of forward, "
                   "in its order (a transformer's src and tgt: --input S,512 --input T,512).")
@click.option("--dtype", type=click.Choice(("float", "index")), default=None, multiple=True,
              help="index: token ids (the default when the model has an nn.Embedding); once for every input, "
                   "or once for each.")
@click.option("--name", default=None, help="The spec's name (default: the callable's).")
@set_option
@click.option("--no-verify", is_flag=True, help="Write the spec without checking it against the model.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False, path_type=str),
              help="Write the spec to this file (atomically); the report goes to standard output.")
def import_(target, input_dims, dtype, name, sets, no_verify, fmt, output) -> int:
    """Write a spec from PyTorch model code (this RUNS that code: see below). MODULE:CALLABLE (or
    path/to/file.py:CALLABLE) returns the nn.Module. Leaf modules become layers, `+` and torch.cat become add and concat merges;
    unsupported modules and functions are named with their source line. The spec is then verified
    against the model (output shape, parameters, buffers, FLOPs, every parameterised layer):
    exit 1 if they differ. Without -o the spec goes to standard output and the report to stderr."""
    from archcalc.report.import_report import RENDERERS
    from archcalc.torch_backend import load_torch

    load_torch()
    from archcalc.torch_backend.importing import import_and_verify

    imported, results = import_and_verify(target, ";".join(input_dims), dtype=",".join(dtype) or None, sizes=sets,
                                          name=name, verify=not no_verify)
    if output:
        from archcalc.textio import write_atomic

        write_atomic(output, imported.text)
    RENDERERS[fmt](imported, results, target, output, not no_verify)
    return 0 if all(r.ok for r in results) else 1


@main.command("compare-conventions")
@click.argument("spec", required=False)
@set_option
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--format", "fmt", type=click.Choice(("table", "json", "markdown")), default="table",
              show_default=True)
@variant_option
@output_option
def compare_conventions(spec, sets, batch, fmt, variant, output) -> None:
    """What torchinfo, fvcore, ptflops, thop and torch's FlopCounterMode print for SPEC, and why
    each differs from archcalc's exact MACs, rule by rule, in numbers."""
    from archcalc.conventions import compare
    from archcalc.report.compare_report import RENDERERS

    analysis = _analyze(spec, sets, batch, variant)
    comparisons = compare(analysis)
    _written(Out(output), lambda out: RENDERERS[fmt](analysis, comparisons, out))


@main.command()
@click.option("--format", "fmt", type=click.Choice(("table", "json", "markdown")), default="table", show_default=True)
def kinds(fmt) -> None:
    """List the layer kinds and their arguments (markdown: the full reference, with formulas and peer rules)."""
    from archcalc.layers.registry import kinds as registry
    from archcalc.report.kinds_report import RENDERERS

    RENDERERS[fmt](registry(), Out())


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--device", default="meta", show_default=True,
              help="meta (shapes only, no memory), cpu, or cuda[:N].")
@set_option
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Check a symbolic spec at N random sizes (default: at its dims defaults).")
@click.option("--max-memory", metavar="SIZE", help="Memory budget for a real-device run (e.g. 2GB; default: half the "
                                                   "free memory); above it, meta is used.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--variant", default=None, help="Select one of the spec's variants ('all': every variant too).")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
def verify(paths, device, sets, samples, max_memory, batch, variant, fmt) -> int:
    """Build each spec as a torch module, run it, and compare every layer with the engine.
    PATHS are spec files or folders (default: the embedded AlexNet). Exit 0 when every
    layer agrees on output shape, params, buffers and FLOPs; 1 otherwise; 2 for invalid input."""
    from archcalc.torch_backend.command import run_verify  # validates every spec before importing torch

    return run_verify(spec_files(paths) if paths else [DEFAULT_SPEC], Out(), fmt, sets, device, samples, max_memory,
                      batch, variant)


@main.command(epilog=CHECK_EPILOG)
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--strict", is_flag=True, help="Inexact divisions (sizes torch silently floors) become errors.")
@click.option("--verify", "run_verify", is_flag=True, help="Also build and run each spec with torch (meta device).")
@click.option("--against", default=None, metavar="MODULE:CALLABLE",  # or path/to/file.py:CALLABLE
              help="Compare with real model code: imports MODULE and calls CALLABLE() (runs that code!).")
@click.option("--variant", default=None, help="Check only this variant (default: the spec and every variant).")
@set_option
@click.option("--max-params", default=None, metavar="N", help="Budget, e.g. 30M.")
@click.option("--max-macs", default=None, metavar="N", help="Budget, e.g. 5G.")
@click.option("--max-activation-memory", default=None, metavar="SIZE",
              help="Budget for 4 bytes × all activations, e.g. 200MB.")
@click.option("--format", "fmt", type=click.Choice(("text", "json", "github", "junit")), default="text",
              show_default=True)
@output_option
def check(paths, strict, run_verify, against, variant, sets, max_params, max_macs, max_activation_memory, fmt,
          output) -> int:
    """Check specs for CI: valid, their `expect:` figures and budgets hold, and optionally
    torch and the real model code agree. PATHS are files or folders (default: specs/).

    Exit 0 when everything holds, 1 when a check fails, 2 when a spec is invalid."""
    from archcalc.check.budget import command_line_limits
    from archcalc.check.run import check_file
    from archcalc.report.check_report import RENDERERS

    limits = command_line_limits(params=max_params, macs=max_macs, activation_memory=max_activation_memory)
    if run_verify or against:
        from archcalc.torch_backend import require_torch

        require_torch()
    reports = [check_file(f, strict=strict, verify=run_verify, against=against, variant=variant, limits=limits,
                          overrides=sets) for f in spec_files(paths or ("specs",))]
    _written(Out(output), lambda out: RENDERERS[fmt](reports, out))
    return max((r.exit_code for r in reports), default=0)


@main.command()
def schema() -> None:
    """Print the JSON Schema (draft-07) of the spec language, generated from the layer registry.

    Save it (archcalc schema > archcalc.schema.json) and point specs at it with a first line
    `# yaml-language-server: $schema=./archcalc.schema.json` for completion in editors."""
    from archcalc.spec.schema import spec_schema

    click.echo(json.dumps(spec_schema(), indent=2, ensure_ascii=False))


@main.command()
@click.argument("spec", type=click.Path(path_type=str))
@click.argument("path", required=False)
@set_option
@variant_option
@click.option("--format", "fmt", type=click.Choice(("text", "markdown", "latex")), default="text", show_default=True)
@output_option
def explain(spec, path, sets, variant, fmt, output) -> None:
    """Derive every number of layer PATH (default: every layer) of SPEC, step by step:
    formula → values → result, in the course's symbols."""
    from archcalc.report.explain import RENDERERS

    analysis = _analyze(spec, sets, variant=variant)
    _written(Out(output), lambda out: out.echo(RENDERERS[fmt](analysis, path), nl=False))


@main.command(epilog=GRADE_EPILOG)
@click.argument("submission", type=click.Path(path_type=str))
@click.option("--key", type=click.Path(dir_okay=False, path_type=str), help="The instructor's answer key (YAML).")
@grade_format_option
@feedback_option
@canvas_options
@visibility_option
@hide_answers_option
@output_option
@variants_file_option
def grade(submission, key, fmt, feedback_dir, roster, assignment, visibility, hide_answers, output,
          variants) -> int:
    """Grade SUBMISSION (a file or folder) against an instructor's --key, or a self-study answers
    file: ✓/✗, the right value, its derivation, the likely mistake (exit codes below)."""
    from archcalc.grading.command import grade_command

    return grade_command(submission, key, fmt, feedback_dir, visibility, hide_answers, Out(output), roster, assignment,
                         variants)


@main.command(epilog="Upload the zip as a Gradescope assignment's autograder; students submit one .yaml file.")
@click.option("--key", required=True, type=click.Path(dir_okay=False, path_type=str), help="The answer key.")
@visibility_option
@hide_answers_option
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=str), help="The zip.")
@variants_file_option
def autograder(key, visibility, hide_answers, output, variants) -> None:
    """Write a Gradescope autograder (setup.sh, run_autograder, KEY and its spec, archcalc)."""
    from archcalc.grading.autograder import write_autograder

    Out().echo(write_autograder(key, visibility, hide_answers, output, variants))  # paths escaped


@main.command(epilog=VARIANTS_EPILOG)
@click.option("--key", required=True, type=click.Path(dir_okay=False, path_type=str), help="A key with variants:.")
@click.option("--roster", required=True, type=click.Path(dir_okay=False, path_type=str), help="A CSV: an id column.")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False, path_type=str), help="The folder.")
@click.option("--seed", type=int, default=None, help="Overrides the key's variants.seed.")
def variants(key, roster, output, seed) -> None:
    """Draw each student's own numbers from the key's variants: write their question sheets (ID.md),
    variants.yaml (each id's numbers, for grade --variants) and answers.csv."""
    from archcalc.grading.variants import variants_command

    Out().echo(variants_command(key, roster, output, seed))  # paths escaped


@main.command(epilog=EXPORT_EPILOG)
@click.option("--key", required=True, type=click.Path(dir_okay=False, path_type=str), help="The answer key.")
@click.option("--format", "fmt", type=click.Choice(("moodle",)), required=True, help="The system's format.")
@output_option
def export(key, fmt, output) -> None:
    """Write the questions of an instructor's --key for a learning-management system (Moodle)."""
    from archcalc.grading.export import export_command

    export_command(key, fmt, Out(output))


@main.command()
@click.argument("spec", type=click.Path(path_type=str))
@click.option("--for", "wanted", multiple=True, metavar="NAME",
              help="The open quantity to find (a \"?\" argument: padding, or padding[1] for one axis; a size).")
@click.option("--exact", is_flag=True, help="Also require every division to be exact (no flooring).")
@click.option("--smallest", is_flag=True, help="Stop at the smallest solution.")
@click.option("--max", "maximum", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Upper end of the search for unbounded quantities.")
@set_option
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def solve(spec, wanted, exact, smallest, maximum, sets, fmt) -> int:
    """Find the integer values of what SPEC leaves open ("?" arguments, each axis its own:
    conv1.padding[0]; symbolic sizes) that make its expect: values hold. Exit 0 with a solution."""
    from archcalc.engine.solve import solve as run_solve
    from archcalc.report.solve_report import RENDERERS
    from archcalc.spec import load_spec

    result = run_solve(load_spec(spec), list(wanted), exact=exact, smallest=smallest, maximum=maximum,
                       overrides=sets)
    RENDERERS[fmt](result, Out())
    return 0 if result.count else 1


@main.command(name="run")
@click.argument("spec", type=click.Path(path_type=str))
@click.option("--all", "every", is_flag=True, help="Print every layer's output, not only the last.")
@set_option
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def run_command(spec, every, sets, fmt) -> None:
    """Run a numeric exercise: SPEC's input `values:` (and layers' `weights:`) through the
    torch backend, in float64, and print the output tensor."""
    from archcalc.torch_backend import load_torch, require_torch

    require_torch()
    analysis = _analyze(spec, sets)  # an invalid spec fails before torch is imported
    load_torch()  # a located error where torch cannot be loaded
    from archcalc.report.run_report import RENDERERS
    from archcalc.torch_backend.run import run_values

    outputs = run_values(analysis)
    RENDERERS[fmt](outputs if every else outputs[-1:], Out())


@main.command()
@click.argument("spec", type=click.Path(path_type=str))
@click.option("--over", "over", multiple=True, required=True, metavar="NAME=START:STOP[:STEP]",
              help="A swept size or var (stop included); repeat for a grid. Also NAME=V1,V2,...")
@set_option
@variant_option
@click.option("--format", "fmt", type=click.Choice(("table", "csv", "json")), default="table", show_default=True)
@output_option
def sweep(spec, over, sets, variant, fmt, output) -> None:
    """Totals (params, MACs, FLOPs, activation memory) over a grid of sizes, from SPEC's
    formulas compiled once: e.g. --over H=32:1024:32 --over W=32:1024:32."""
    from archcalc.engine.sweep import parse_over
    from archcalc.engine.sweep import sweep as run_sweep
    from archcalc.report.sweep_report import RENDERERS
    from archcalc.spec import load_spec

    result = run_sweep(load_spec(spec), [parse_over(o) for o in over], sets, variant)
    _written(Out(output), lambda out: RENDERERS[fmt](result, out))


@main.command()
@click.argument("spec", type=click.Path(path_type=str))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The image to write: .png, .svg or .pdf.")
@click.option("--sweep", "sweeps", multiple=True, metavar="NAME=START:STOP[:STEP]",
              help="Plot totals against a size instead of per-layer bars.")
@click.option("--depth", type=click.IntRange(min=0), default=None,
              help="Draw blocks at this depth as single bars (default: as deep as 40 bars allow).")
@click.option("--log", is_flag=True, help="Logarithmic bars.")
@set_option
@variant_option
def plot(spec, output, sweeps, depth, log, sets, variant) -> None:
    """Chart SPEC: params and MACs per layer side by side with their shares, or (--sweep)
    totals against an input size. Needs matplotlib: pip install "archcalc[plot]"."""
    from archcalc.pictures.chart import plot_command

    Out().echo(plot_command(spec, output, sweeps, depth, log, sets, variant))  # paths escaped


@main.command()
@click.argument("spec", type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(("svg", "dot")), default="svg", show_default=True)
@click.option("--depth", type=click.IntRange(min=0), default=None, help="Fold blocks deeper than this.")
@set_option
@variant_option
@output_option
def diagram(spec, fmt, depth, sets, variant, output) -> None:
    """A block diagram of SPEC: boxes sized by output shape, blocks as frames, branches side
    by side. SVG (no browser needed) or Graphviz DOT."""
    from archcalc.pictures.diagram import write_diagram

    write_diagram(_analyze(spec, sets, variant=variant), fmt, depth, Out(output))
