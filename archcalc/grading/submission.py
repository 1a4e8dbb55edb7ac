"""A student's submission: values only, keyed by the key's question ids.

    q1: 55 × 55 × 96
    q2: 34,944
    q3:            # blank: unanswered

Submissions come from students, so nothing in one can fail the run: a file that cannot be
read (too large, not UTF-8, not YAML, not a mapping) is a submission with an error, graded
0 with that error as its feedback; every other answer stands alone (archcalc/grading/mark.py).
Nothing in a submission sets a spec, points or tolerances: those are the key's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from archcalc.spec.errors import Location, SpecError
from archcalc.spec.loader import YMap, YNode, YScalar, YSeq, load_yaml

MAPPING = object()  # an answer written as a mapping: unreadable (a submission holds values only)
NESTED = object()  # lists nested deeper than MAX_DEPTH, or with more than MAX_ELEMENTS numbers
MAX_ANSWERS = 5000
MAX_DEPTH = 4  # a numeric exercise's output as nested lists: [[8, 9], [5, 7]]
MAX_ELEMENTS = 10_000


@dataclass
class Submitted:
    raw: object  # what YAML gives: int, float, str, bool, None, (nested) lists of those, or MAPPING / NESTED
    loc: Location


@dataclass
class Submission:
    file: str
    id: str  # the student's id: the file name without its extension
    answers: dict[str, Submitted] = field(default_factory=dict)
    error: str | None = None  # the file as a whole could not be read
    aliases: list[str] = field(default_factory=list)  # other ids, tried first: Gradescope's sid and email


def _raw(node: YNode, depth: int = 0, budget: list | None = None):
    """What YAML gives, lists nested as written (within MAX_DEPTH and MAX_ELEMENTS)."""
    budget = [MAX_ELEMENTS] if budget is None else budget
    if isinstance(node, YScalar):
        budget[0] -= 1
        return node.value
    if isinstance(node, YSeq):
        if depth >= MAX_DEPTH or budget[0] < len(node.items):
            return NESTED
        return [_raw(i, depth + 1, budget) for i in node.items]
    return MAPPING


def load_submission(path: str | Path) -> Submission:
    from archcalc.textio import read_text

    p = Path(path)
    sub = Submission(str(path), p.stem)
    try:
        root = load_yaml(read_text(p, "submission"), str(path))
    except SpecError as err:
        if not err.message.endswith("file is empty"):  # an empty file: every question unanswered
            sub.error = err.render()
        return sub
    if isinstance(root, YScalar) and root.value is None:
        return sub  # an empty file: every question unanswered
    if not isinstance(root, YMap):
        sub.error = f"{root.loc}: a submission maps question ids to answers (q1: 34944), not a {type(root).__name__[1:].lower()}"
        return sub
    for key, (kloc, node) in list(root.entries.items())[:MAX_ANSWERS]:
        sub.answers[str(key)] = Submitted(_raw(node), kloc)
    return sub
