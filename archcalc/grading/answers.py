"""Answers files: a student's numbers for a spec, keyed by layer path and quantity.

    spec: ../../specs/alexnet.yaml       # relative to this file
    set: {classes: 1000}                 # optional bindings; variant: NAME optional
    tolerance: {rel: 0.01}               # optional, for every answer
    points: 1                            # optional, per answer
    answers:
      conv1.output: [96, 55, 55]
      conv1.params: 34944
      fc6.params: 37.75M                 # a figure: its written precision is its tolerance
      total.params: {value: 60M, points: 2}
      conv1.output_width: "(227 - 11)/4 + 1"

Values go through the same safe loader and expression parser as specs: an answers file
never executes code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from archcalc.spec.expect import Expected, ExpectParser
from archcalc.spec.errors import Location, SpecError, did_you_mean
from archcalc.spec.loader import YMap, YNode, YScalar, load_yaml

TOP_KEYS = ("spec", "set", "variant", "tolerance", "points", "answers", "doc", "name")
QUANTITIES = ("output", "input", "params", "buffers", "neurons", "activations", "macs", "flops",
              "output_width", "output_height", "output_depth", "output_channels")


@dataclass
class Answer:
    key: str
    path: str  # "total" for the whole network
    quantity: str
    node: YNode  # the written value (parsed once the spec's names are known)
    loc: Location
    points: Fraction = Fraction(1)
    rel: float | None = None
    abs: float | None = None


@dataclass
class AnswersFile:
    file: str
    spec_path: Path
    spec_loc: Location
    bindings: dict[str, str] = field(default_factory=dict)
    variant: str | None = None
    answers: list[Answer] = field(default_factory=list)
    name: str | None = None


def _number(node: YNode, what: str) -> float:
    if not isinstance(node, YScalar) or isinstance(node.value, bool) or not isinstance(node.value, (int, float)) \
            or node.value < 0:
        raise SpecError(f"{what} must be a non-negative number", node.loc, code="invalid-answers")
    return node.value


def _tolerance(node: YNode | None) -> tuple[float | None, float | None]:
    if node is None:
        return None, None
    if not isinstance(node, YMap) or not set(node.entries) <= {"rel", "abs"} or not node.entries:
        raise SpecError("a tolerance is {rel: R} or {abs: A}", node.loc, expected="e.g. tolerance: {rel: 0.01}",
                        code="invalid-answers")
    rel = _number(node.get("rel"), "rel") if node.get("rel") is not None else None
    abs_ = _number(node.get("abs"), "abs") if node.get("abs") is not None else None
    return rel, abs_


def load_answers(path: str | Path) -> AnswersFile:
    from archcalc.textio import read_text

    p = Path(path)
    root = load_yaml(read_text(p, "answers"), str(path))
    if not isinstance(root, YMap):
        raise SpecError("an answers file is a mapping", root.loc, expected="spec: ..., answers: {...}",
                        code="invalid-answers")
    for key, (kloc, _) in root.entries.items():
        if key not in TOP_KEYS:
            raise SpecError(f"unknown key '{key}' in an answers file", kloc, expected=", ".join(TOP_KEYS),
                            hint=did_you_mean(key, TOP_KEYS), code="invalid-answers")
    spec_node = root.get("spec")
    if not isinstance(spec_node, YScalar) or not isinstance(spec_node.value, str):
        raise SpecError("an answers file names its spec", spec_node.loc if spec_node else root.loc,
                        expected="spec: path/to/spec.yaml (relative to the answers file)", code="invalid-answers")
    result = AnswersFile(str(path), (p.parent / spec_node.value), spec_node.loc, _bindings(root.get("set")),
                         _variant(root.get("variant")))
    rel, abs_ = _tolerance(root.get("tolerance"))
    points = Fraction(str(_number(root.get("points"), "points"))) if root.get("points") is not None else Fraction(1)
    answers = root.get("answers")
    if not isinstance(answers, YMap) or not answers.entries:
        raise SpecError("'answers' maps layer.quantity keys to values", answers.loc if answers else root.loc,
                        expected="answers: {conv1.params: 34944, total.params: 60M}", code="invalid-answers")
    result.answers = [_answer(key, kloc, node, points, rel, abs_) for key, (kloc, node) in answers.entries.items()]
    result.name = root.get("name").value if isinstance(root.get("name"), YScalar) else None
    return result


def _bindings(sets: YNode | None) -> dict[str, str]:
    """`set: {classes: 1000}` as --set values."""
    if sets is None:
        return {}
    if not isinstance(sets, YMap):
        raise SpecError("'set' maps names to values", sets.loc, code="invalid-answers")
    out = {}
    for k, (_, v) in sets.entries.items():
        if not isinstance(v, YScalar) or v.value is None or isinstance(v.value, float):
            raise SpecError(f"set.{k} must be a whole number or true/false", v.loc, code="invalid-answers")
        out[k] = ("true" if v.value else "false") if isinstance(v.value, bool) else str(v.value)
    return out


def _variant(node: YNode | None) -> str | None:
    if node is None:
        return None
    if not isinstance(node, YScalar) or not isinstance(node.value, str):
        raise SpecError("'variant' is a variant's name", node.loc, code="invalid-answers")
    return node.value


def _answer(key: str, kloc: Location, node: YNode, points: Fraction, rel, abs_) -> Answer:
    """One answer: `layer.quantity: value`, or `{value: ..., points: ..., rel: ..., abs: ...}`."""
    path, dot, quantity = key.rpartition(".")
    if not dot or not path:
        raise SpecError(f"answer key '{key}' needs a layer path and a quantity", kloc,
                        expected="e.g. conv1.params or total.params", code="invalid-answers")
    if quantity not in QUANTITIES:
        raise SpecError(f"unknown quantity '{quantity}' in '{key}'", kloc, expected=", ".join(QUANTITIES),
                        hint=did_you_mean(quantity, QUANTITIES), code="invalid-answers")
    answer = Answer(key, path, quantity, node, node.loc, points, rel, abs_)
    if not (isinstance(node, YMap) and "value" in node.entries):
        return answer
    for k, (ekloc, _) in node.entries.items():
        if k not in ("value", "points", "rel", "abs"):
            raise SpecError(f"unknown key '{k}' in answer '{key}'", ekloc, expected="value, points, rel, abs",
                            code="invalid-answers")
    answer.node = node.get("value")
    if node.get("points") is not None:
        answer.points = Fraction(str(_number(node.get("points"), "points")))
    if node.get("rel") is not None or node.get("abs") is not None:
        answer.rel = _number(node.get("rel"), "rel") if node.get("rel") is not None else None
        answer.abs = _number(node.get("abs"), "abs") if node.get("abs") is not None else None
    return answer


def parse_value(answer: Answer, env: dict[str, Any]) -> Expected:
    shape = answer.quantity in ("output", "input")
    expected = ExpectParser(env, "").value(answer.node, shape=shape)
    if (answer.rel or answer.abs) and not shape:
        base = expected.exact if expected.exact is not None else (
            expected.figure.value if expected.figure is not None else expected.approx[0])
        expected = Expected(expected.text, expected.loc, approx=(base, answer.rel, answer.abs),
                            figure=expected.figure)
    if answer.node is not None and isinstance(getattr(answer.node, "value", None), str):
        expected.text = answer.node.value
    return expected
