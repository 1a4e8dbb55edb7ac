"""A student's question sheet (Markdown) and the instructor's answer table (CSV), for keys
whose students each draw their own numbers (archcalc/grading/variants.py).

The sheet describes the network with the student's numbers: the input and each layer with
the arguments the spec writes, never a shape or a count the layers compute (those are the
answers); then the questions, in the key's words (`{W}` in a question's text is the student's
W) or in a sentence made from what the question asks; then the file to submit.
"""
from __future__ import annotations

import csv
import io
import re
from fractions import Fraction

from archcalc.engine import numbers as N
from archcalc.grading.key import QUANTITY_WORDS

ORDER_WORDS = {"CHW": "channels × height × width", "WHC": "width × height × depth", "HWC": "height × width × channels"}
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def _md(text: str) -> str:
    """Roster text in Markdown: on one line, its markup characters escaped."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))


def _value(v) -> str:
    if isinstance(v, tuple):
        return " × ".join(_value(x) for x in v) if len(set(v)) > 1 else _value(v[0])
    if isinstance(v, bool):
        return "true" if v else "false"
    return N.fmt(v)


def _points(p: Fraction) -> str:
    shown = N.int_text(int(p)) if p.denominator == 1 else N.float_text(p)
    return f"{shown} point" + ("" if p == 1 else "s")


def _where(path: str) -> str:
    return "the whole network" if path == "total" else f"`{path}`"


def question_text(q, numbers: dict) -> str:
    """The key's text with {NAME} replaced by the student's number, or a sentence of what is asked."""
    if q.text:
        return re.sub(r"\{(\w+)\}", lambda m: _value(numbers[m.group(1)]) if m.group(1) in numbers else m.group(0),
                      q.text)
    asked = f"{QUANTITY_WORDS[q.quantity]} of {_where(q.path)}"
    if q.over:
        asked += f" divided by {QUANTITY_WORDS[q.over[1]]} of {_where(q.over[0])}"
    return f"What is {asked}?"


def _layers(analysis) -> list[str]:
    lines = []
    for row in analysis.rows:
        if row.layer is None:
            continue
        args = [f"{name} {_value(v)}" for name, v in row.args.items() if row.args.given(name) and v is not None]
        lines.append(f"{len(lines) + 1}. `{row.path}`: {row.kind}" + (f", {', '.join(args)}" if args else ""))
    return lines


def _input(analysis, order: str) -> str:
    from archcalc.grading.mark import _to_order

    shape = analysis.input
    if len(shape) == 3:
        return f"{' × '.join(N.fmt(d) for d in _to_order(shape, order))} ({ORDER_WORDS[order]})"
    return " × ".join(N.fmt(d) for d in shape)


def sheet_markdown(key, student, drawn: dict, marker) -> str:
    """One student's sheet: their numbers, the network, the questions, what to submit."""
    analysis = marker.analysis
    numbers = {**analysis.bindings, **drawn}
    who = " · ".join(x for x in (_md(student.name), _md(student.email)) if x)
    lines = [f"# {_md(key.name or analysis.name)}", "", f"Student: {who + ' · ' if who else ''}id `{student.id}`", "",
             "Your numbers: " + ", ".join(f"**{name} = {_value(v)}**" for name, v in drawn.items()) + ".", "",
             "## The network", "", f"Input: {_input(analysis, key.conventions.shape_order)}", "", *_layers(analysis),
             "", "## Questions", ""]
    lines += [f"{i}. **{q.id}** ({_points(q.points)}): {question_text(q, numbers)}"
              for i, q in enumerate(key.questions, 1)]
    lines += ["", "## Your answers", "", f"Submit one file named `{student.id}.yaml`, one answer a line:", "",
              "```yaml", *(f"{q.id}: " for q in key.questions), "```", ""]
    return "\n".join(lines)


def answers_csv(key, rows) -> str:
    """The instructor's table: each id, then each question's right value as the feedback shows it."""
    from archcalc.report.grade_report import _cell

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", *(q.id for q in key.questions)])
    for sid, marker in rows:
        writer.writerow([_cell(sid), *(_right(marker, marker.rights[q.id]) for q in key.questions)])
    return buf.getvalue()


def _right(marker, right) -> str:
    """A right value for a spreadsheet: whole numbers without separators, ratios to 6 digits,
    shapes and 'invalid' as the feedback shows them."""
    value = right.value
    if isinstance(value, tuple) or N.is_symbolic(value) or not isinstance(value, (int, Fraction)):
        return marker._shown(right)
    return N.int_text(int(value)) if Fraction(value).denominator == 1 else N.float_text(value, ".6g")
