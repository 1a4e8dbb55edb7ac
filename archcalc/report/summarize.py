"""`archcalc summarize`: the summary in each of its formats, with the extras a reader asked
for (receptive fields, training FLOPs, one epoch, memory, a chart link)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from archcalc.engine import numbers as N
from archcalc.report.display import Summary
from archcalc.report.output import Out
from archcalc.spec.errors import Location, SpecError


@dataclass(frozen=True)
class Options:
    depth: int | None = None  # fold blocks below this depth
    columns: tuple[str, ...] = ()  # "rf", "train"
    dataset_size: int | None = None  # also one epoch's training FLOPs
    memory: str | None = None  # the dtype of the memory section, when asked for
    chart: str | None = None  # a chart drawn beside the report (Markdown links it)
    output: str | None = None  # the report's file, for a relative link
    unfold: bool = False  # every copy of a repeat (else a run of identical copies is one row: report/fold.py)
    context: int | None = None  # tokens the memory section's KV cache is given for


def check_options(options: Options, convention: str | None) -> None:
    """The usage errors among summarize's options (exit 2 before any analysis)."""
    if convention and ("train" in options.columns or options.dataset_size):
        raise SpecError("--convention with training FLOPs: the backward pass is counted only by archcalc's rules",
                        Location("--convention"), hint="drop --columns train / --dataset-size, or --convention",
                        code="usage")
    if options.context and not options.memory:
        raise SpecError("--context gives the KV cache of --memory", Location("--context"), hint="add --memory",
                        code="usage")


def _memory(summary: Summary, dtype: str, options_context: int | None = None):
    from archcalc.engine.memory import memory

    return memory(summary.analysis, dtype, options_context)


def render_json(summary: Summary, options: Options, out: Out) -> None:
    from archcalc.report.json_report import summary_json

    train = "train" in options.columns or options.dataset_size is not None
    doc = summary_json(summary, options.depth, "rf" in options.columns, train)
    if options.dataset_size:
        doc["epoch_training_flops"] = N.to_json(summary.analysis.epoch_training_flops(options.dataset_size))
    if train:
        from archcalc.engine.training import rules_of_thumb
        from archcalc.report.training import rules_json

        rules = rules_of_thumb(summary.analysis)
        if rules is not None:
            doc["training_rules_of_thumb"] = rules_json(rules)
    if options.memory:
        from archcalc.report.memory import memory_json

        doc["memory"] = memory_json(_memory(summary, options.memory, options.context))
    out.echo(json.dumps(doc, indent=2))


def render_markdown(summary: Summary, options: Options, out: Out) -> None:
    from archcalc.report.table import render_markdown as markdown

    text = markdown(summary, options.depth, options.columns, options.unfold)
    if options.chart:
        link = os.path.relpath(options.chart, os.path.dirname(os.path.abspath(options.output))) \
            if options.output else options.chart
        text = f"![parameters and MACs per layer of {summary.name}]({link})\n\n" + text
    out.echo(text, nl=False)


def render_html(summary: Summary, options: Options, out: Out) -> None:
    from archcalc.report.table import render_html as html

    out.echo(html(summary, options.depth, options.unfold), nl=False)


def render_table(summary: Summary, options: Options, out: Out) -> None:
    from archcalc.report.table import render_table as table

    console = out.console()
    table(summary, console, options.depth, options.columns, options.dataset_size, options.unfold)
    if options.memory:
        from archcalc.report.memory import memory_lines, rules

        m = _memory(summary, options.memory, options.context)
        for line in memory_lines(m, summary.analysis.batch):
            console.print(f"  {line}", highlight=False)
        for rule in rules(m):
            console.print(f"  {rule}", style="dim", highlight=False)


RENDERERS = {"table": render_table, "json": render_json, "markdown": render_markdown, "html": render_html}
