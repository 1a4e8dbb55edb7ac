"""The command line: one thin click command per use; the work lives in the library."""
from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click

from archcalc import __version__
from archcalc.report.conventions import conventions_text
from archcalc.spec.errors import Location, SpecError

DEFAULT_SPEC = Path(__file__).parent / "data" / "alexnet.yaml"
FORMATS = ("table", "json", "markdown", "html")


def _emit_error(err: SpecError, fmt: str) -> None:
    if fmt == "json":
        payload = {"error": err.to_json()}
        if len(err.errors) > 1:
            payload["errors"] = [e.to_json() for e in err.errors]
        click.echo(json.dumps(payload, indent=2), err=True)
    else:
        click.echo(err.render(), err=True)


def handles_errors(command):
    """Turn user errors into a located message and exit code 2 (no traceback unless --debug)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        fmt = kwargs.get("fmt", "table")
        debug = kwargs.pop("debug", False)
        try:
            return command(*args, **kwargs)
        except SpecError as err:
            if debug:
                raise
            _emit_error(err, fmt)
            sys.exit(2)

    return wrapper


def _parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise SpecError(f"--set {item}: expected NAME=VALUE", Location("--set"),
                            expected="e.g. --set H=224 or --set classes=10", code="usage")
        out[name.strip()] = value.strip()
    return out


debug_option = click.option("--debug", is_flag=True, help="Show a traceback for errors too.")
set_option = click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
                          help="Bind a var or a symbolic dimension.")
variant_option = click.option("--variant", default=None, help="Select one of the spec's variants.")
output_option = click.option("--output", "-o", default=None, type=click.Path(dir_okay=False, path_type=str),
                             help="Write the report to this file (atomically) instead of standard output.")


CONVENTION_NAMES = ("archcalc", "torchinfo", "fvcore", "ptflops", "thop", "torch")  # archcalc.conventions.NAMES
convention_option = click.option(
    "--convention", type=click.Choice(CONVENTION_NAMES), default=None,
    help="Count MACs/FLOPs as that tool does (torchinfo 1.8.0, fvcore 0.1.5, ptflops 0.7.5, ultralytics-thop "
         "2.2.3, torch's FlopCounterMode); only those columns change, and the report says which rules are in force.")


class Out:
    """Where a command's report goes: standard output, or a file written atomically at the end."""

    def __init__(self, output: str | None):
        import io

        self.output = output
        self.buffer = io.StringIO() if output else None

    def echo(self, text: str, nl: bool = True) -> None:
        if self.buffer is not None:
            self.buffer.write(text + ("\n" if nl else ""))
        else:
            click.echo(text, nl=nl)

    def console(self):
        from rich.console import Console

        if self.buffer is not None:
            return Console(file=self.buffer, width=132, color_system=None, force_terminal=False)
        return Console(width=None if sys.stdout.isatty() else 132)

    def close(self) -> None:
        if self.buffer is not None:
            from archcalc.textio import write_atomic

            write_atomic(self.output, self.buffer.getvalue())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archcalc")
def main() -> None:
    """Exact shapes, parameters, neurons, MACs and FLOPs of a network written as a YAML spec."""


@main.command(epilog="Counting conventions:\n\n" + conventions_text("\n\n"))
@click.argument("spec", required=False)
@set_option
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Multiply MACs, FLOPs and activations by N.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--depth", type=click.IntRange(min=0), default=None,
              help="Fold blocks below this nesting depth (their rows show subtotals).")
@variant_option
@click.option("--columns", "extra", type=click.Choice(("rf", "train")), multiple=True,
              help="Extra columns: rf (receptive field per spatial axis), train (forward + backward FLOPs).")
@click.option("--dataset-size", type=click.IntRange(min=1), default=None,
              help="Also give the training FLOPs of one epoch over this many samples.")
@click.option("--memory", "show_memory", is_flag=True,
              help="Add weights, activation, peak-inference and training memory (rules in the footer).")
@click.option("--dtype", type=click.Choice(("float32", "float16", "bfloat16", "int8")), default="float32",
              show_default=True, help="Element type for --memory.")
@click.option("--chart", default=None, type=click.Path(dir_okay=False, path_type=str),
              help="Also draw the per-layer chart to this file (.png/.svg/.pdf) and link it from a Markdown report.")
@convention_option
@output_option
@debug_option
@handles_errors
def summarize(spec: str | None, sets: tuple[str, ...], batch: int, fmt: str, depth: int | None,
              variant: str | None, extra: tuple[str, ...], dataset_size: int | None, show_memory: bool,
              dtype: str, chart: str | None, convention: str | None, output: str | None) -> None:
    """Per-layer table of a SPEC (default: the embedded AlexNet)."""
    from archcalc.engine import numbers as N
    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec

    if convention and ("train" in extra or dataset_size):
        raise SpecError("--convention with training FLOPs: the backward pass is counted only by archcalc's rules",
                        Location("--convention"), hint="drop --columns train / --dataset-size, or --convention",
                        code="usage")
    from archcalc.report.display import Summary

    analysis = analyze(load_spec(spec or DEFAULT_SPEC), _parse_sets(sets), batch, variant)
    summary = Summary(analysis)
    if convention:
        from archcalc.conventions import apply, get

        analysis = apply(analysis, convention)
        summary = Summary(analysis, get(convention))
    out = Out(output)
    if fmt == "json":
        from archcalc.report.json_report import summary_json

        doc = summary_json(summary, depth, "rf" in extra, "train" in extra or dataset_size is not None)
        if dataset_size:
            doc["epoch_training_flops"] = N.to_json(N.mul(analysis.training_flops(),
                                                          N.true_div(dataset_size, analysis.batch)))
        if show_memory:
            from archcalc.engine.memory import RULES, memory

            m = memory(analysis, dtype)
            doc["memory"] = {"dtype": dtype, "weights": N.to_json(m.weights), "activations": N.to_json(m.activations),
                             "peak_inference": N.to_json(m.peak_inference),
                             "saved_for_backward": None if m.saved_for_backward is None else
                             N.to_json(m.saved_for_backward),
                             "training": {k: N.to_json(v) for k, v in m.training.items()},
                             "not_modelled": m.unmodelled, "rules": list(RULES)}
        out.echo(json.dumps(doc, indent=2))
    elif fmt == "markdown":
        from archcalc.report.table import render_markdown

        text = render_markdown(summary, depth, extra)
        if chart:
            link = os.path.relpath(chart, os.path.dirname(os.path.abspath(output))) if output else chart
            text = f"![parameters and MACs per layer of {analysis.name}]({link})\n\n" + text
        out.echo(text, nl=False)
    elif fmt == "html":
        from archcalc.report.table import render_html

        out.echo(render_html(summary, depth), nl=False)
    else:
        from archcalc.report.table import render_table

        console = out.console()
        render_table(summary, console, depth, extra, dataset_size)
        if show_memory:
            from archcalc.engine.memory import RULES, lines, memory

            for line in lines(memory(analysis, dtype), analysis.batch):
                console.print(f"  {line}", highlight=False)
            for rule in RULES:
                console.print(f"  {rule}", style="dim", highlight=False)
    if chart:
        from archcalc.pictures.chart import layer_chart

        layer_chart(analysis, chart, depth)
    out.close()


@main.command("import", epilog="This imports MODULE and runs CALLABLE and the model's forward pass: it executes that "
                               "Python code with your permissions, so run it only on code you trust. It is the one "
                               "command that runs model code on purpose (with check --against); specs never run code.")
@click.argument("target", metavar="MODULE:CALLABLE")
@click.option("--input", "input_dims", required=True, metavar="DIMS",
              help="The input of one sample, batch left out: 3,224,224; names are symbolic (3,H,W; T for a "
                   "sequence) and are traced at --set NAME=VALUE (default 224).")
@click.option("--dtype", type=click.Choice(("float", "index")), default=None,
              help="index: token ids (the default when the model has an nn.Embedding).")
@click.option("--name", default=None, help="The spec's name (default: the callable's).")
@set_option
@click.option("--no-verify", is_flag=True, help="Write the spec without checking it against the model.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False, path_type=str),
              help="Write the spec to this file (atomically); the report goes to standard output.")
@debug_option
@handles_errors
def import_(target: str, input_dims: str, dtype: str | None, name: str | None, sets: tuple[str, ...],
            no_verify: bool, fmt: str, output: str | None) -> None:
    """Write a spec from PyTorch model code (this RUNS that code: see below). MODULE:CALLABLE (or
    path/to/file.py:CALLABLE) returns the nn.Module. Leaf modules become layers, `+` and torch.cat become add and concat merges;
    unsupported modules and functions are named with their source line. The spec is then verified
    against the model (output shape, parameters, buffers, FLOPs, every parameterised layer):
    exit 1 if they differ. Without -o the spec goes to standard output and the report to stderr."""
    import warnings

    from archcalc.torch_backend.importing import import_model, verify_import

    sizes = _parse_sets(sets)
    for key, value in sizes.items():
        if not value.isdigit() or int(value) < 1:
            raise SpecError(f"--set {key}={value}: a traced size must be a positive integer", Location("--set"),
                            code="usage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imported = import_model(target, input_dims, dtype=dtype, sizes=sizes, name=name)
        results = [] if no_verify else verify_import(imported, target)[0]
    ok = all(r.ok for r in results)
    if output:
        from archcalc.textio import write_atomic

        write_atomic(output, imported.text)
    report = [f"imported {target} with {imported.method}" + (f" → {output}" if output else "")]
    report += [f"  note: {n}" for n in imported.notes]
    report += [f"  {'ok  ' if r.ok else 'FAIL'} {r.message()}" + (f" ({r.derivation})" if r.derivation else "")
               for r in results]
    if no_verify:
        report.append("  not verified (--no-verify)")
    if fmt == "json":
        click.echo(json.dumps({"target": target, "method": imported.method, "file": output,
                               "spec": None if output else imported.text, "notes": imported.notes,
                               "verified": None if no_verify else ok,
                               "checks": [{"name": r.name, "ok": r.ok, "expected": r.expected, "found": r.found}
                                          for r in results]}, indent=2))
    else:
        if not output:
            click.echo(imported.text, nl=False)
        click.echo("\n".join(report), err=not output)
    if not ok:
        sys.exit(1)


@main.command("compare-conventions")
@click.argument("spec", required=False)
@set_option
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--format", "fmt", type=click.Choice(("table", "json", "markdown")), default="table",
              show_default=True)
@variant_option
@output_option
@debug_option
@handles_errors
def compare_conventions(spec: str | None, sets: tuple[str, ...], batch: int, fmt: str, variant: str | None,
                        output: str | None) -> None:
    """What torchinfo, fvcore, ptflops, thop and torch's FlopCounterMode print for SPEC, and why
    each differs from archcalc's exact MACs, rule by rule, in numbers."""
    from archcalc.conventions import compare
    from archcalc.engine.analyze import analyze
    from archcalc.report import compare_report
    from archcalc.spec import load_spec

    analysis = analyze(load_spec(spec or DEFAULT_SPEC), _parse_sets(sets), batch, variant)
    comparisons = compare(analysis)
    out = Out(output)
    if fmt == "json":
        out.echo(json.dumps(compare_report.to_json(analysis, comparisons), indent=2))
    elif fmt == "markdown":
        out.echo(compare_report.markdown(analysis, comparisons), nl=False)
    else:
        from archcalc.printable import printable

        out.echo(printable("\n".join(compare_report.lines(analysis, comparisons))))
    out.close()


@main.command()
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
def kinds(fmt: str) -> None:
    """List the layer kinds and their arguments."""
    from archcalc.layers.registry import kinds as registry

    reg = registry()
    if fmt == "json":
        click.echo(json.dumps({name: {"family": k.family, "doc": k.doc,
                                      "imports": {"modules": list(k.torch_classes), "functions": list(k.torch_functions)},
                                      "args": {
            a.name: {"type": a.type.describe, "required": a.required,
                     **({} if a.required else {"default": a.default})} for a in k.args}}
            for name, k in sorted(reg.items())}, indent=2, default=str))
        return
    for name, k in sorted(reg.items()):
        args = ", ".join(a.name if a.required else f"{a.name}={a.default}" for a in k.args)
        click.echo(f"{name:22} {k.doc}")
        if args:
            click.echo(f"{'':22}   ({args})")


def _spec_files(paths: tuple[str, ...]) -> list[Path]:
    """Files as given; folders expanded to every *.yaml under them, sorted."""
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(path.rglob("*.yaml")) + sorted(path.rglob("*.yml"))
            if not found:
                raise SpecError(f"no *.yaml specs under {p}", Location(p), code="file-not-found")
            files.extend(found)
        else:
            files.append(path)
    return files


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--device", default="meta", show_default=True,
              help="meta (shapes only, no memory), cpu, or cuda[:N].")
@set_option
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Check a symbolic spec at N random sizes (default: at its dims defaults).")
@click.option("--max-memory", default=None, metavar="SIZE",
              help="Memory budget for a real-device run (e.g. 2GB); above it, meta is used. "
                   "Default: half of the free memory.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--variant", default=None, help="Select one of the spec's variants ('all': every variant too).")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
@debug_option
@handles_errors
def verify(paths: tuple[str, ...], device: str, sets: tuple[str, ...], samples: int | None,
           max_memory: str | None, batch: int, variant: str | None, fmt: str) -> None:
    """Build each spec as a torch module, run it, and compare every layer with the engine.

    PATHS are spec files or folders (default: the embedded AlexNet). Exit 0 when every
    layer agrees on output shape, params, buffers and FLOPs; 1 otherwise; 2 for invalid input.
    """
    from archcalc.torch_backend import require_torch

    require_torch()
    import torch
    from rich.console import Console

    from archcalc.report.verify_report import verify_document
    from archcalc.torch_backend.verify import parse_size

    overrides = _parse_sets(sets)
    budget = parse_size(max_memory) if max_memory else None
    files = _spec_files(paths) if paths else [DEFAULT_SPEC]
    console = Console(width=None if sys.stdout.isatty() else 132)
    status = Console(stderr=True)
    results, errors = [], []
    interrupted = False
    try:
        _verify_files(files, fmt, status, console, overrides, device, samples, budget, batch, variant, results,
                      errors, torch.__version__)
    except KeyboardInterrupt:  # Ctrl-C: report what was verified so far, then stop cleanly
        interrupted = True
    if fmt == "json":
        doc = verify_document(results, errors, torch.__version__)
        doc["interrupted"] = interrupted
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    elif len(files) > 1 or interrupted:
        agreeing = sum(v.agree for v in results)
        console.print(f"{agreeing} of {len(results)} verification(s) agree; {len(errors)} spec(s) invalid",
                      highlight=False)
    if interrupted:
        click.echo(f"interrupted: stopped after {len(results)} verification(s) of {len(files)} spec file(s)",
                   err=True)
        sys.exit(130)
    if errors:
        sys.exit(2)
    sys.exit(0 if all(v.agree for v in results) else 1)


def _verify_files(files, fmt, status, console, overrides, device, samples, budget, batch, variant, results,
                  errors, torch_version) -> None:
    from archcalc.report.verify_report import render_verification
    from archcalc.spec import load_spec
    from archcalc.torch_backend.verify import verify_spec

    for i, file in enumerate(files, 1):
        if len(files) > 1 and fmt == "table":
            status.print(f"[dim]({i}/{len(files)}) {file}[/dim]", highlight=False)
        try:
            spec = load_spec(file)
            chosen = [None, *spec.variants] if variant == "all" else [variant]
            found = [v for name in chosen for v in verify_spec(spec, overrides, device, samples, budget, batch, name)]
        except SpecError as err:
            if len(files) == 1:
                raise
            errors.append(err)
            if fmt == "table":
                click.echo(err.render(), err=True)
            continue
        results.extend(found)
        if fmt == "table":
            for v in found:
                render_verification(v, console, torch_version)


@main.command(epilog="--against imports and runs the named Python code (its factory and a forward pass on "
                     "the meta device): use it only on code you trust.")
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
@debug_option
@handles_errors
def check(paths: tuple[str, ...], strict: bool, run_verify: bool, against: str | None, variant: str | None,
          sets: tuple[str, ...], max_params: str | None, max_macs: str | None, max_activation_memory: str | None,
          fmt: str, output: str | None) -> None:
    """Check specs for CI: valid, their `expect:` figures and budgets hold, and optionally
    torch and the real model code agree. PATHS are files or folders (default: specs/).

    Exit 0 when everything holds, 1 when a check fails, 2 when a spec is invalid."""
    from archcalc.check.budget import parse_limit
    from archcalc.check.run import check_file
    from archcalc.report import check_report

    limits = {}
    for key, value in (("params", max_params), ("macs", max_macs), ("activation_memory", max_activation_memory)):
        if value is not None:
            limits[key] = (parse_limit(value, key, Location(f"--max-{key.replace('_', '-')}")), None, value)
    if run_verify or against:
        from archcalc.torch_backend import require_torch

        require_torch()
    files = _spec_files(paths or ("specs",))
    reports = [check_file(f, strict=strict, verify=run_verify, against=against, variant=variant, limits=limits,
                          overrides=_parse_sets(sets)) for f in files]
    out = Out(output)
    if fmt == "json":
        out.echo(check_report.render_json(reports))
    elif fmt == "github":
        out.echo(check_report.render_github(reports))
    elif fmt == "junit":
        out.echo(check_report.render_junit(reports))
    else:
        check_report.render_text(reports, out.console())
    out.close()
    sys.exit(max((r.exit_code for r in reports), default=0))


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
@debug_option
@handles_errors
def explain(spec: str, path: str | None, sets: tuple[str, ...], variant: str | None, fmt: str,
            output: str | None) -> None:
    """Derive every number of layer PATH (default: every layer) of SPEC, step by step:
    formula → values → result, in the course's symbols."""
    from archcalc.engine.analyze import analyze
    from archcalc.report import explain as report
    from archcalc.spec import load_spec

    analysis = analyze(load_spec(spec), _parse_sets(sets), variant=variant)
    render = {"text": report.render_text, "markdown": report.render_markdown, "latex": report.render_latex}[fmt]
    out = Out(output)
    out.echo(render(analysis, path), nl=False)
    out.close()


@main.command()
@click.argument("answers", type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(("text", "json", "gradescope")), default="text",
              show_default=True)
@output_option
@debug_option
@handles_errors
def grade(answers: str, fmt: str, output: str | None) -> None:
    """Grade an ANSWERS file (YAML naming its spec): ✓/✗ per answer, the right value, its
    derivation, and the likely mistake. Exit 0 when every answer is right, 1 otherwise."""
    from archcalc.grading.grade import grade as run_grade
    from archcalc.report import grade_report

    report = run_grade(answers)
    out = Out(output)
    if fmt == "json":
        out.echo(grade_report.render_json(report))
    elif fmt == "gradescope":
        out.echo(grade_report.render_gradescope(report))
    else:
        grade_report.render_text(report, out.console())
    out.close()
    sys.exit(0 if report.all_correct else 1)


@main.command()
@click.argument("spec", type=click.Path(path_type=str))
@click.option("--for", "wanted", multiple=True, metavar="NAME",
              help="The open quantity to find (an argument written \"?\", e.g. padding, or a symbolic size).")
@click.option("--exact", is_flag=True, help="Also require every division to be exact (no flooring).")
@click.option("--smallest", is_flag=True, help="Stop at the smallest solution.")
@click.option("--max", "maximum", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Upper end of the search for unbounded quantities.")
@set_option
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@debug_option
@handles_errors
def solve(spec: str, wanted: tuple[str, ...], exact: bool, smallest: bool, maximum: int, sets: tuple[str, ...],
          fmt: str) -> None:
    """Find the integer values of what SPEC leaves open ("?" arguments, symbolic sizes) that
    make its expect: values hold. Exit 0 with one solution, 1 with none or several."""
    from archcalc.engine.solve import solve as run_solve
    from archcalc.spec import load_spec

    result = run_solve(load_spec(spec), list(wanted), exact=exact, smallest=smallest, maximum=maximum,
                       overrides=_parse_sets(sets))
    found = result.solutions
    if fmt == "json":
        click.echo(json.dumps({"unknowns": result.unknowns, "solutions": found, "method": result.method,
                               "constraints": result.constraints, "complete": result.complete}, indent=2))
    else:
        click.echo("constraints: " + "; ".join(result.constraints))
        click.echo(f"method: {result.method}")
        if not found:
            click.echo("no integer solution" + ("" if result.method == "sympy" else " in the searched range"))
        elif len(found) == 1:
            label = "smallest solution" if not result.complete else "solution"
            click.echo(f"{label}: " + ", ".join(f"{k} = {v}" for k, v in found[0].items()))
        else:
            click.echo(f"{len(found)} solutions:")
            for s in found[:20]:
                click.echo("  " + ", ".join(f"{k} = {v}" for k, v in s.items()))
            if len(found) > 20:
                click.echo(f"  … and {len(found) - 20} more")
    sys.exit(0 if len(found) == 1 else 1)


@main.command(name="run")
@click.argument("spec", type=click.Path(path_type=str))
@click.option("--all", "every", is_flag=True, help="Print every layer's output, not only the last.")
@set_option
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@debug_option
@handles_errors
def run_command(spec: str, every: bool, sets: tuple[str, ...], fmt: str) -> None:
    """Run a numeric exercise: SPEC's input `values:` (and layers' `weights:`) through the
    torch backend, in float64, and print the output tensor."""
    from archcalc.torch_backend import require_torch

    require_torch()
    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec
    from archcalc.torch_backend.run import number_text, run_values

    outputs = run_values(analyze(load_spec(spec), _parse_sets(sets)))
    shown = outputs if every else outputs[-1:]
    if fmt == "json":
        click.echo(json.dumps({path: values for path, values in shown}, indent=2))
    else:
        for path, values in shown:
            click.echo(f"{path}: {number_text(values)}")


@main.command()
@click.argument("spec", type=click.Path(path_type=str))
@click.option("--over", "over", multiple=True, required=True, metavar="NAME=START:STOP[:STEP]",
              help="A swept size or var (stop included); repeat for a grid. Also NAME=V1,V2,...")
@set_option
@variant_option
@click.option("--format", "fmt", type=click.Choice(("table", "csv", "json")), default="table", show_default=True)
@output_option
@debug_option
@handles_errors
def sweep(spec: str, over: tuple[str, ...], sets: tuple[str, ...], variant: str | None, fmt: str,
          output: str | None) -> None:
    """Totals (params, MACs, FLOPs, activation memory) over a grid of sizes, from SPEC's
    formulas compiled once: e.g. --over H=32:1024:32 --over W=32:1024:32."""
    from archcalc.engine.sweep import QUANTITIES, parse_over
    from archcalc.engine.sweep import sweep as run_sweep
    from archcalc.spec import load_spec

    result = run_sweep(load_spec(spec), [parse_over(o) for o in over], _parse_sets(sets), variant)
    out = Out(output)
    columns = result.names + list(QUANTITIES) + ["valid"]

    def row(i: int) -> list:
        return [result.grid[n][i] for n in result.names] + [result.values[q][i] for q in QUANTITIES] + \
            [result.valid[i]]

    if fmt == "json":
        out.echo(json.dumps({"columns": columns, "method": result.method,
                             "rows": [row(i) for i in range(result.points)]}))
    elif fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for i in range(result.points):
            writer.writerow(row(i))
        out.echo(buffer.getvalue(), nl=False)
    else:
        from rich.table import Table

        table = Table(title=f"{result.points:,} points ({result.method}); activation memory in bytes (float32)",
                      title_justify="left")
        for c in columns:
            table.add_column(c, justify="right")
        shown = range(result.points) if result.points <= 60 else list(range(30)) + list(range(result.points - 30,
                                                                                               result.points))
        for i in shown:
            table.add_row(*(f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v).lower()
                            for v in row(i)))
        console = out.console()
        console.print(table)
        if result.points > 60:
            console.print(f"(first and last 30 of {result.points:,} points; --format csv gives all)")
    out.close()


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
@debug_option
@handles_errors
def plot(spec: str, output: str, sweeps: tuple[str, ...], depth: int | None, log: bool, sets: tuple[str, ...],
         variant: str | None) -> None:
    """Chart SPEC: params and MACs per layer side by side with their shares, or (--sweep)
    totals against an input size. Needs matplotlib: pip install "archcalc[plot]"."""
    from archcalc.pictures import chart
    from archcalc.spec import load_spec

    loaded = load_spec(spec)
    if sweeps:
        from archcalc.engine.sweep import parse_over
        from archcalc.engine.sweep import sweep as run_sweep

        result = run_sweep(loaded, [parse_over(s) for s in sweeps], _parse_sets(sets), variant)
        fixed = ", ".join(f"{k}={v}" for k, v in _parse_sets(sets).items())
        path = chart.sweep_chart(result, loaded.name, output, fixed)
    else:
        from archcalc.engine.analyze import analyze

        path = chart.layer_chart(analyze(loaded, _parse_sets(sets), variant=variant), output, depth, log)
    click.echo(f"wrote {path}")


@main.command()
@click.argument("spec", type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(("svg", "dot")), default="svg", show_default=True)
@click.option("--depth", type=click.IntRange(min=0), default=None, help="Fold blocks deeper than this.")
@set_option
@variant_option
@output_option
@debug_option
@handles_errors
def diagram(spec: str, fmt: str, depth: int | None, sets: tuple[str, ...], variant: str | None,
            output: str | None) -> None:
    """A block diagram of SPEC: boxes sized by output shape, blocks as frames, branches side
    by side. SVG (no browser needed) or Graphviz DOT."""
    from archcalc.engine.analyze import analyze
    from archcalc.pictures import diagram as draw
    from archcalc.spec import load_spec

    analysis = analyze(load_spec(spec), _parse_sets(sets), variant=variant)
    out = Out(output)
    out.echo(draw.svg(analysis, depth) if fmt == "svg" else draw.dot(analysis, depth), nl=False)
    out.close()
