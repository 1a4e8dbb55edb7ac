"""An instructor's answer key: the spec, its bindings, the questions, their points and
tolerances, and the course's conventions. The key is trusted; the submissions it grades are
not (they hold values only: archcalc/grading/submission.py).

    spec: alexnet.yaml                  # relative to the key
    set: {classes: 1000}                # optional bindings; variant: NAME optional
    variants: {seed: 2026, draw: {W: {range: [32, 256]}, F: [3, 5]}}   # optional: each student's own numbers
    points: 1                           # optional default for every question
    tolerance: exact                    # optional default: exact, "1%", {rel: 0.01} or {abs: 1000}
    partial: {bias-missing: 0.5}        # optional: a share of the points where that mistake explains the answer
    follow_through: false               # optional: full points where the answer follows from an earlier mistake
    conventions:                        # optional, each with its default
      shape_order: C×H×W                # how students write [C, H, W]: W×H×D (the lecture), H×W×C (Keras)
      biases: true                      # params count the biases (false: weights only)
      neurons: weighted                 # output elements of layers with weights; `every` for every layer's
      stride_must_fit: false            # true: a stride that does not divide makes "invalid" the answer
    questions:                          # LAYER.QUANTITY (total. for the network), or a ratio A / B
      q1: {answer: conv1.output, points: 1}
      q2: {answer: conv1.params, points: 2, text: "How many parameters does conv1 have?"}
      q4: {answer: total.params, points: 1, tolerance: "1%"}

A question's tolerance is centred on the right value: how precisely a student writes a
number never widens it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from archcalc.engine import numbers as N
from archcalc.grading.answers import QUANTITIES, _bindings, _number, _variant
from archcalc.grading.draw import Draw, parse_draw
from archcalc.spec.errors import Location, SpecError, did_you_mean
from archcalc.spec.loader import YMap, YNode, YScalar, load_yaml

KEY_KEYS = ("spec", "set", "variant", "variants", "points", "tolerance", "partial", "follow_through", "conventions",
            "questions", "name", "doc")
QUESTION_KEYS = ("answer", "points", "tolerance", "text", "partial", "follow_through")
# weights: the parameters without the biases; rf: the receptive field per spatial axis; *_memory: bytes (float32)
# values: the layer's output numbers in a numeric exercise (the spec's input values:, as `archcalc run` computes them)
KEY_QUANTITIES = (*QUANTITIES, "weights", "rf", "weights_memory", "activations_memory", "values")
MEMORY = ("weights_memory", "activations_memory")
# each quantity in words, for question texts, sheets and exports
QUANTITY_WORDS = {
    "output": "the output volume", "input": "the input volume", "output_width": "the output width",
    "output_height": "the output height", "output_depth": "the output depth",
    "output_channels": "the number of output channels", "params": "the number of parameters",
    "weights": "the number of weights (the parameters without the biases)", "buffers": "the number of buffer elements",
    "neurons": "the number of neurons", "activations": "the number of activations (output elements)",
    "macs": "the number of multiply-accumulates (MACs)", "flops": "the number of floating-point operations (FLOPs)",
    "rf": "the receptive field", "weights_memory": "the memory of the weights in bytes (float32)",
    "activations_memory": "the memory of the activations in bytes (float32)",
    "values": "the output numbers on the given input",
}
SHAPE_ORDERS = {"CHW": "C×H×W (torch's [C, H, W])", "WHC": "W×H×D (width × height × depth, as the lecture writes it)",
                "HWC": "H×W×C (Keras' channels last)"}
NEURONS = ("weighted", "every")
MAX_QUESTIONS = 1000


@dataclass(frozen=True)
class Tolerance:
    """How far from the right value an answer may be: exact, or within rel·|right| or abs."""

    rel: Fraction | None = None
    abs: Fraction | None = None

    @property
    def exact(self) -> bool:
        return not self.rel and not self.abs

    def allowed(self, right: Fraction) -> Fraction:
        return max(abs(right) * self.rel if self.rel else Fraction(0), self.abs or Fraction(0))

    def describe(self) -> str:
        if self.exact:
            return "exact"
        parts = ([f"{float(self.rel * 100):g}%"] if self.rel else []) + ([f"{_plain(self.abs)}"] if self.abs else [])
        return "± " + " or ± ".join(parts)


@dataclass(frozen=True)
class Conventions:
    shape_order: str = "CHW"
    biases: bool = True
    neurons: str = "weighted"
    stride_must_fit: bool = False


@dataclass
class Question:
    id: str
    path: str  # a layer path, or "total"
    quantity: str
    points: Fraction
    tolerance: Tolerance
    loc: Location
    text: str | None = None
    over: tuple[str, str] | None = None  # a ratio's denominator (path, quantity): conv1.params / fc6.params
    partial: dict[str, Fraction] = field(default_factory=dict)  # diagnosis code -> share of the points
    follow_through: bool = False  # full points for a number that follows from the student's own earlier mistake

    @property
    def answer(self) -> str:
        return f"{self.path}.{self.quantity}" + (f" / {self.over[0]}.{self.over[1]}" if self.over else "")


@dataclass
class Key:
    file: str
    spec_path: Path
    spec_loc: Location
    bindings: dict[str, str] = field(default_factory=dict)
    variant: str | None = None
    conventions: Conventions = field(default_factory=Conventions)
    questions: list[Question] = field(default_factory=list)
    name: str | None = None
    draw: Draw | None = None  # variants: each student's own numbers (archcalc/grading/draw.py)

    @property
    def max_score(self) -> Fraction:
        return sum((q.points for q in self.questions), Fraction(0))


def _plain(x: Fraction) -> str:
    return N.int_text(int(x), grouped=True) if x.denominator == 1 else N.float_text(x)


def _err(message: str, loc: Location, **kw) -> SpecError:
    return SpecError(message, loc, code="invalid-key", **kw)


_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")


def parse_tolerance(node: YNode | None, default: Tolerance = Tolerance()) -> Tolerance:
    """`exact`, `"1%"`, `{rel: 0.01}`, `{abs: 1000}` or both (the wider applies)."""
    if node is None:
        return default
    if isinstance(node, YScalar) and isinstance(node.value, str):
        if node.value.strip().lower() == "exact":
            return Tolerance()
        m = _PERCENT.match(node.value)
        if m:
            return Tolerance(rel=Fraction(m.group(1)) / 100)
    if isinstance(node, YScalar) and node.value == 0 and not isinstance(node.value, bool):
        return Tolerance()
    if isinstance(node, YMap) and node.entries and set(node.entries) <= {"rel", "abs"}:
        rel, abs_ = (node.get(k) for k in ("rel", "abs"))
        return Tolerance(Fraction(str(_number(rel, "rel"))) if rel is not None else None,
                         Fraction(str(_number(abs_, "abs"))) if abs_ is not None else None)
    raise _err("a tolerance is exact, a percentage or {rel: R} / {abs: A}", node.loc,
               expected='e.g. tolerance: "1%", tolerance: {abs: 1000}')


def _shape_order(node: YNode) -> str:
    """Letters of C, H, W (D for depth = C) in the order students write a [C, H, W] shape."""
    text = node.value if isinstance(node, YScalar) and isinstance(node.value, str) else ""
    letters = re.sub(r"[\s×x*,\[\]()]", "", text.upper()).replace("D", "C")
    if sorted(letters) != ["C", "H", "W"]:
        raise _err(f"shape_order must order C, H and W, not {text or node.value!r}", node.loc,
                   expected="C×H×W (torch, the default), W×H×D (the lecture), H×W×C (Keras)")
    return letters


def _conventions(node: YNode | None) -> Conventions:
    if node is None:
        return Conventions()
    if not isinstance(node, YMap):
        raise _err("'conventions' is a mapping", node.loc, expected="conventions: {shape_order: W×H×D}")
    names = ("shape_order", "biases", "neurons", "stride_must_fit")
    values: dict = {}
    for key, (kloc, value) in node.entries.items():
        if key not in names:
            raise _err(f"unknown convention '{key}'", kloc, expected=", ".join(names), hint=did_you_mean(key, names))
        if key == "shape_order":
            values[key] = _shape_order(value)
        elif key == "neurons":
            if not isinstance(value, YScalar) or value.value not in NEURONS:
                raise _err("neurons is `weighted` (output elements of layers with weights) or `every` "
                           "(every layer's output elements)", value.loc)
            values[key] = value.value
        else:
            if not isinstance(value, YScalar) or not isinstance(value.value, bool):
                raise _err(f"{key} is true or false", value.loc)
            values[key] = value.value
    return Conventions(**values)


def _entries(qid: str, node: YNode) -> tuple[YNode | None, YMap | None]:
    """(the answer's node, the question's mapping or None for `q1: conv1.params`)."""
    if isinstance(node, YScalar) and isinstance(node.value, str):
        return node, None
    if not isinstance(node, YMap):
        raise _err(f"question '{qid}' is {{answer: LAYER.QUANTITY, points: N}}", node.loc,
                   expected="q1: {answer: conv1.params, points: 2}")
    for k, (ekloc, _) in node.entries.items():
        if k not in QUESTION_KEYS:
            raise _err(f"unknown key '{k}' in question '{qid}'", ekloc, expected=", ".join(QUESTION_KEYS),
                       hint=did_you_mean(k, QUESTION_KEYS))
    return node.get("answer"), node


def parse_partial(node: YNode | None, default: dict | None = None) -> dict[str, Fraction]:
    """`{bias-missing: 0.5, input-224: 1/2}`: a diagnosis code and the share of the points it earns."""
    from archcalc.grading.diagnose import CODES

    if node is None:
        return dict(default or {})
    if not isinstance(node, YMap):
        raise _err("'partial' maps mistakes to shares of the points", node.loc, expected="partial: {bias-missing: 0.5}")
    shares = {}
    for code, (kloc, value) in node.entries.items():
        if code not in CODES:
            raise _err(f"unknown mistake '{code}' in partial", kloc, expected=", ".join(CODES),
                       hint=did_you_mean(str(code), CODES))
        share = _share(value)
        if share is None:
            raise _err(f"partial.{code} is a share of the points between 0 and 1", value.loc, expected="0.5 or 1/2")
        shares[str(code)] = share
    return shares


def _share(node: YNode) -> Fraction | None:
    value = node.value if isinstance(node, YScalar) else None
    try:
        share = Fraction(str(value)) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None
    except (ValueError, ZeroDivisionError):
        return None
    return share if share is not None and 0 <= share <= 1 else None


def _flag(node: YNode | None, name: str, default: bool) -> bool:
    if node is None:
        return default
    if not isinstance(node, YScalar) or not isinstance(node.value, bool):
        raise _err(f"{name} is true or false", node.loc)
    return node.value


def _question(qid: str, kloc: Location, node: YNode, points: Fraction, tolerance: Tolerance,
              defaults: tuple[dict, bool] = ({}, False)) -> Question:
    node_answer, entries = _entries(qid, node)
    if not isinstance(node_answer, YScalar) or not isinstance(node_answer.value, str):
        raise _err(f"question '{qid}' needs an answer: LAYER.QUANTITY", getattr(node_answer, "loc", None) or kloc,
                   expected="answer: conv1.params, or total.params for the network")
    terms = [_term(qid, part, node_answer.loc) for part in node_answer.value.split("/")]
    if len(terms) > 2 or (len(terms) == 2 and any(t[1] in ("output", "input", "rf", "values") for t in terms)):
        raise _err(f"question '{qid}': an answer is one quantity, or the ratio of two numbers", node_answer.loc,
                   expected="conv1.params, or conv1.params / fc6.params")
    (path, quantity), over = terms[0], (terms[1] if len(terms) == 2 else None)
    if entries and entries.get("points") is not None:
        points = Fraction(str(_number(entries.get("points"), "points")))
    tolerance = parse_tolerance(entries.get("tolerance") if entries else None, tolerance)
    text = entries.get("text") if entries else None
    return Question(qid, path, quantity, points, tolerance, kloc,
                    text.value if isinstance(text, YScalar) and isinstance(text.value, str) else None, over,
                    parse_partial(entries.get("partial") if entries else None, defaults[0]),
                    _flag(entries.get("follow_through") if entries else None, "follow_through", defaults[1]))


def _term(qid: str, text: str, loc: Location) -> tuple[str, str]:
    """`conv1.params` as (path, quantity)."""
    path, dot, quantity = text.strip().rpartition(".")
    if not dot or not path:
        raise _err(f"question '{qid}': '{text.strip()}' needs a layer path and a quantity", loc,
                   expected="e.g. conv1.params or total.params")
    if quantity not in KEY_QUANTITIES:
        raise _err(f"question '{qid}': unknown quantity '{quantity}'", loc,
                   expected=", ".join(KEY_QUANTITIES), hint=did_you_mean(quantity, KEY_QUANTITIES))
    return path, quantity


def load_key(path: str | Path) -> Key:
    """The key, or a located SpecError (the instructor's file: exit 2)."""
    from archcalc.textio import read_text

    p = Path(path)
    root = load_yaml(read_text(p, "key"), str(path))
    if not isinstance(root, YMap):
        raise _err("a key is a mapping", root.loc, expected="spec: ..., questions: {...}")
    for key, (kloc, _) in root.entries.items():
        if key not in KEY_KEYS:
            hint = did_you_mean(key, KEY_KEYS)
            if key == "answers":
                hint = "a key lists questions: {q1: {answer: conv1.params, points: 1}}; answers are the students'"
            raise _err(f"unknown key '{key}' in an answer key", kloc, expected=", ".join(KEY_KEYS), hint=hint)
    spec_node = root.get("spec")
    if not isinstance(spec_node, YScalar) or not isinstance(spec_node.value, str):
        raise _err("a key names its spec", spec_node.loc if spec_node else root.loc,
                   expected="spec: path/to/spec.yaml (relative to the key)")
    key = Key(str(path), p.parent / spec_node.value, spec_node.loc, _bindings(root.get("set")),
              _variant(root.get("variant")), _conventions(root.get("conventions")))
    points = Fraction(str(_number(root.get("points"), "points"))) if root.get("points") is not None else Fraction(1)
    tolerance = parse_tolerance(root.get("tolerance"))
    questions = root.get("questions")
    if not isinstance(questions, YMap) or not questions.entries:
        raise _err("'questions' maps question ids to {answer: LAYER.QUANTITY, points: N}",
                   questions.loc if questions else root.loc,
                   expected="questions: {q1: {answer: conv1.params, points: 1}}")
    if len(questions.entries) > MAX_QUESTIONS:
        raise _err(f"{len(questions.entries):,} questions, over the limit of {MAX_QUESTIONS:,}", questions.loc)
    defaults = parse_partial(root.get("partial")), _flag(root.get("follow_through"), "follow_through", False)
    key.questions = [_question(str(qid), kloc, node, points, tolerance, defaults)
                     for qid, (kloc, node) in questions.entries.items()]
    name = root.get("name")
    key.name = name.value if isinstance(name, YScalar) and isinstance(name.value, str) else None
    if root.get("variants") is not None:
        key.draw = parse_draw(root.get("variants"), key.bindings)
    return key
