"""`archcalc explain`: every number of a layer as formula → substituted values → result,
in the course's symbols, for terminals (unicode), Markdown and LaTeX."""
from __future__ import annotations

import re

from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis, Row
from archcalc.report.summary import shape_text
from archcalc.spec.errors import Location, SpecError, did_you_mean_path

LEGEND = ("W1×H1×D1 input (width, height, depth), F×F receptive field, S stride, P zero padding, "
          "K filters, W2×H2×D2 output; for recurrent layers x inputs, h hidden units, T steps, G gate blocks")


def explained_rows(analysis: Analysis, path: str | None) -> list[Row]:
    """The layers (and merges) under `path`, or of the whole network, in the order they compute:
    a merge after its branches."""
    if path is None:
        return [r for root in analysis.roots for r in _in_order(root)]
    try:
        row = analysis.row(path)
    except KeyError:
        paths = [r.path for r in analysis.rows]
        raise SpecError(f"no layer has the path '{path}'", Location(analysis.spec.file),
                        hint=did_you_mean_path(path, paths) or "archcalc summarize lists every path", code="usage") from None
    return _in_order(row)


def _in_order(row: Row) -> list[Row]:
    inner = [r for child in row.children + [r for b in row.branches for r in b.rows] for r in _in_order(child)]
    return inner + ([row] if row.layer is not None else [])


def heading(row: Row) -> str:
    return f"{row.path} ({row.kind}, line {row.loc.line}): {_io(row)}"


def _io(row: Row) -> str:
    """"input 13×13×256 → output 6×6×256", naming a tensor the row reads by `from:` and any
    memory it attends to: "input (T)×512 from 'tgt', memory 'encoder' (S)×512 → …"."""
    source = f" from '{row.reads}'" if row.reads else ""
    refs = "".join(f", {arg.name} '{getattr(row.args, arg.name)}' {shape_text(getattr(row.args, arg.name).shape)}"
                   for arg in row.layer.args if row.layer.is_tensor_arg(arg) and getattr(row.args, arg.name))
    return f"input {shape_text(row.input)}{source}{refs} → output {shape_text(row.output)}"


def no_steps_text(row: Row) -> str:
    same = tuple(row.input) == tuple(row.output)
    return ("no parameters and no multiply-accumulates" + ("; the shape is unchanged" if same else "")
            + (f"; buffers {N.fmt(row.buffers)}" if row.buffers else ""))


def render_text(analysis: Analysis, path: str | None) -> str:
    lines = [f"{analysis.name}: {LEGEND}", ""]
    for row in explained_rows(analysis, path):
        lines.append(heading(row))
        steps = row.steps
        lines += [f"  {s.text()}" for s in steps] or [f"  {no_steps_text(row)}"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_markdown(analysis: Analysis, path: str | None) -> str:
    lines = [f"## {analysis.name}", "", f"*{LEGEND}*", ""]
    for row in explained_rows(analysis, path):
        lines.append(f"### `{row.path}` ({row.kind})")
        lines.append("")
        lines.append(_io(row))
        lines.append("")
        steps = row.steps
        for s in steps:
            parts = [s.quantity, s.formula] + ([s.substituted] if s.substituted and s.substituted != s.formula else [])
            lines.append(f"- {' = '.join(parts)} = **{N.fmt(s.result)}**")
        if not steps:
            lines.append(f"- {no_steps_text(row)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_LATEX = [("·", r" \cdot "), ("−", "-"), ("×", r" \times "), ("⌊", r"\lfloor "), ("⌋", r"\rfloor "),
          ("⌈", r"\lceil "), ("⌉", r"\rceil "), ("Σ", r"\Sigma "), ("σ", r"\sigma "), ("…", r"\ldots ")]


def latex_math(text: str) -> str:
    """A step's unicode text as LaTeX math: words in \\text{}, W2 as W_2, · as \\cdot."""
    text = re.sub(r"(?<=\d),(?=\d{3})", "{,}", text)
    text = re.sub(r"[A-Za-z]{2,}(?: [A-Za-z]{2,})*", lambda m: rf"\text{{{m.group(0)}}}", text)
    for a, b in _LATEX:
        text = text.replace(a, b)
    return re.sub(r"\b([WHDL])([12])\b", r"\1_\2", text).replace("*", r" \cdot ")


def _latex_text(text: str) -> str:
    return text.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("&", r"\&").replace("%", r"\%") \
        .replace("#", r"\#").replace("×", r"$\times$").replace("→", r"$\to$")


def render_latex(analysis: Analysis, path: str | None) -> str:
    lines = [f"% archcalc explain: {analysis.name}", rf"\section*{{{_latex_text(analysis.name)}}}",
             _latex_text(LEGEND) + ".", ""]
    for row in explained_rows(analysis, path):
        lines.append(rf"\paragraph{{{_latex_text(row.path)} ({_latex_text(row.kind)})}} "
                     + _latex_text(_io(row)))
        steps = row.steps
        if not steps:
            lines.append(_latex_text(no_steps_text(row)) + ".")
            lines.append("")
            continue
        lines.append(r"\begin{align*}")
        for s in steps:
            parts = [latex_math(s.formula)] + ([latex_math(s.substituted)] if s.substituted and
                                                s.substituted != s.formula else [])
            lines.append(latex_math(s.quantity) + " &= " + " = ".join(parts + [latex_math(N.fmt(s.result))])
                         + r" \\")
        lines.append(r"\end{align*}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "latex": render_latex}  # (analysis, path) → text
