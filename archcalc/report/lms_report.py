"""A key's questions for a learning-management system: a Moodle XML question bank
(`archcalc export --format moodle`). Grades for Canvas are grade_report.py's (render_canvas).

Moodle XML follows Moodle's own exporter (question/format/xml, https://docs.moodle.org/en/Moodle_XML_format):
a <quiz> of <question type="numerical|shortanswer"> with name, questiontext, generalfeedback,
defaultgrade, penalty, hidden, idnumber, (usecase,) and <answer fraction="…"> elements. Texts
are HTML-escaped inside format="html" (the key's text is shown as written, never run as HTML),
and the XML is built by ElementTree, which escapes it again for XML.
"""
from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

from archcalc.printable import xml_references
from archcalc.report.grade_report import _num

# characters XML 1.0 cannot hold, even escaped: the C0 controls but tab, newline and return; U+FFFE, U+FFFF
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
MOODLE_PENALTY = "0.3333333"  # Moodle's default penalty for a retry (interactive modes only)


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _html(paragraphs: list[str]) -> str:
    """Plain paragraphs as HTML that shows them as written."""
    return "".join(f"<p>{html.escape(_xml_text(p), quote=False)}</p>" for p in paragraphs)


def _text(parent: ET.Element, tag: str, text: str, **attrs) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    ET.SubElement(element, "text").text = text
    return element


def _moodle_answer(parent: ET.Element, kind: str, answer) -> None:
    element = ET.SubElement(parent, "answer", {"fraction": str(answer.fraction), "format": "plain_text"})
    # a short answer's * is Moodle's wildcard: \* is a literal star
    text = _xml_text(answer.text).replace("*", "\\*") if kind == "shortanswer" else answer.text
    ET.SubElement(element, "text").text = text
    _text(element, "feedback", _html([answer.feedback]) if answer.feedback else "", format="html")
    if kind == "numerical":
        ET.SubElement(element, "tolerance").text = answer.tolerance


def render_moodle(export) -> str:
    """The questions as a Moodle XML question bank (Question bank → Import → Moodle XML format)."""
    quiz = ET.Element("quiz")
    for note in getattr(export, "notes", ()):  # what stderr says, the file says too (Moodle ignores comments)
        quiz.append(ET.Comment(" archcalc note: " + note.replace("--", "- -") + " "))
    for q in export.questions:
        question = ET.SubElement(quiz, "question", {"type": q.type})
        _text(question, "name", _xml_text(q.name)[:255])  # Moodle's limit
        _text(question, "questiontext", _html(q.text), format="html")
        _text(question, "generalfeedback", _html(q.feedback), format="html")
        ET.SubElement(question, "defaultgrade").text = str(_num(q.points))
        ET.SubElement(question, "penalty").text = MOODLE_PENALTY
        ET.SubElement(question, "hidden").text = "0"
        ET.SubElement(question, "idnumber").text = ""
        if q.type == "shortanswer":
            ET.SubElement(question, "usecase").text = "1" if q.usecase else "0"
        for answer in q.answers:
            _moodle_answer(question, q.type, answer)
    ET.indent(quiz)
    body = ET.tostring(quiz, encoding="unicode", short_empty_elements=False)  # <text></text>, as Moodle writes
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + xml_references(body) + "\n"  # U+202E as &#x202e;


RENDERERS = {
    "moodle": lambda export, out: out.echo(render_moodle(export), nl=False),
}
