"""Hostile specs: nothing executes, nothing hangs, nothing exhausts memory."""
from __future__ import annotations

import time

import pytest

from archcalc.spec import load_spec_text
from archcalc.spec.errors import SpecError
from archcalc.spec.expr import parse_expr
from archcalc.spec.loader import MAX_DEPTH, load_yaml, plain
from conftest import analyze_text, one_layer

BILLION_LAUGHS = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)])


def test_billion_laughs_fails_fast():
    start = time.perf_counter()
    with pytest.raises(SpecError, match="anchors"):
        load_yaml(BILLION_LAUGHS, "bomb.yaml")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("text", [
    "a: !!python/object/apply:os.system ['ls']",
    "a: !!python/name:os.system",
    "a: !custom 1",
    "a: !!str 1",
    "!!map {a: 1}",
])
def test_every_tag_is_refused(text):
    with pytest.raises(SpecError, match="tags are not allowed") as err:
        load_yaml(text, "t.yaml")
    assert err.value.loc.line == 1


def test_aliases_merge_keys_and_several_documents():
    with pytest.raises(SpecError, match="anchors"):
        load_yaml("a: &x 1\nb: *x\n", "t.yaml")
    with pytest.raises(SpecError, match="merge keys"):
        load_yaml("a: {b: 1}\nc: {<<: {d: 1}}\n", "t.yaml")
    with pytest.raises(SpecError, match="more than one YAML document"):
        load_yaml("a: 1\n---\nb: 2\n", "t.yaml")


def test_yaml_1_2_scalars():
    doc = plain(load_yaml("a: 1e-4\nb: no\nc: 0o17\nd: yes\ne: 'true'\nf: ~\ng: 1_000\n", "t.yaml"))
    assert doc == {"a": 1e-4, "b": "no", "c": 15, "d": "yes", "e": "true", "f": None, "g": "1_000"}


def test_depth_and_size_bounds():
    deep = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    with pytest.raises(SpecError, match="nesting deeper"):
        load_yaml(deep, "t.yaml")
    with pytest.raises(SpecError, match="larger than"):
        load_yaml("a: " + "x" * 2_000_000, "t.yaml")
    with pytest.raises(SpecError, match="digits"):
        load_yaml("a: " + "9" * 500, "t.yaml")


@pytest.mark.parametrize("text,fragment", [
    ("__import__('os')", "only floor, ceil, min and max may be called"),
    ("().__class__", "attribute is not allowed"),
    ("x[0]", "subscript is not allowed"),
    ("lambda: 1", "lambda is not allowed"),
    ("[i for i in x]", "listcomp is not allowed"),
    ("f'{x}'", "joinedstr is not allowed"),
    ("'abc'", "only numbers may be written literally"),
    ("max(x=1)", "functions take plain arguments"),
    ("a if b else c", "ifexp is not allowed"),
    ("9**9**9", "exponent must be an integer from 0 to 64"),
    ("2**64**2", "exponent must be an integer from 0 to 64"),
    ("(" * 50 + "1" + ")" * 50, "nested deeper than"),
    ("1+" * 400 + "1", "longer than"),
    ("a < b", "compare is not allowed"),
])
def test_expression_whitelist(text, fragment):
    with pytest.raises(SpecError) as err:
        parse_expr(text).evaluate({"x": 1, "a": 1, "b": 2, "c": 3})
    assert fragment in err.value.render()


def test_expressions_evaluate_exactly():
    assert parse_expr("(227 - 11)//4 + 1").evaluate({}) == 55
    assert parse_expr("10**12").evaluate({}) == 10**12
    assert parse_expr("max(3, min(7, 5)) + ceil(7/2) + floor(7/2)").evaluate({}) == 12
    assert parse_expr("stride == 1 and not project", condition=True).evaluate({"stride": 1, "project": False})


def test_huge_but_legitimate_layer_is_exact():
    a = analyze_text(one_layer([1_000_000], "linear: {out_features: 1000000, bias: false}"))
    assert a.totals["params"] == 10**12 and isinstance(a.totals["params"], int)


def test_spec_text_cannot_reach_python(tmp_path):
    marker = tmp_path / "pwned"
    text = f"archcalc: 1\ninput: [3, 8, 8]\nvars: {{x: \"__import__('os').system('touch {marker}')\"}}\nlayers:\n  - relu\n"
    with pytest.raises(SpecError):
        load_spec_text(text)
    assert not marker.exists()


def test_a_runaway_simplification_falls_back_with_a_note():
    from archcalc.engine import numbers as N

    sp = N.sympy_module()
    x = sp.Symbol("x")
    heavy = sum(sp.sin(x) ** k * sp.cos(x) ** (30 - k) for k in range(30))
    start = time.perf_counter()
    _, note = N.simplify_bounded(heavy, seconds=0.05)
    assert time.perf_counter() - start < 5
    assert note == "simplification stopped after 0.05 s; compared the expanded form"
