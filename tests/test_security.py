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


# --- runaway arithmetic, printing any number, torch imported last (issue 20) ----------------------
# Each hostile case runs the command line in a subprocess under 2.5 GB of address space and a
# 10-second clock: it ends with exit 0 or a located error (1 or 2), never a traceback.

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from fractions import Fraction  # noqa: E402

from archcalc.engine import numbers as N  # noqa: E402
from conftest import REPO  # noqa: E402

ADDRESS_SPACE = int(2.5 * 2**30)


def _limited():
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_hostile(tmp_path, text: str, *args: str, seconds: float = 10.0) -> subprocess.CompletedProcess:
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "archcalc", *args, str(path)], capture_output=True, text=True,
                          timeout=seconds, preexec_fn=_limited, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert time.perf_counter() - start < seconds
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    assert proc.returncode in (0, 1, 2), proc.stderr[-3000:]
    return proc


def _squares(lines: int) -> str:
    names = [f"v{i}" for i in range(lines)]
    pairs = [f'{names[0]}: "2**64"'] + [f'{b}: "{a}*{a}"' for a, b in zip(names, names[1:])]
    return "archcalc: 1\ninput: [3, 8, 8]\nvars: {" + ", ".join(pairs) + "}\nlayers:\n  - relu\n"


@pytest.mark.parametrize("lines", [9, 26, 60])
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_vars_that_square_each_other_stop_at_the_bit_limit(tmp_path, lines, fmt):
    proc = run_hostile(tmp_path, _squares(lines), "summarize", "--format", fmt)
    assert proc.returncode == 2
    text = proc.stdout + proc.stderr
    assert "more than the limit of 4,096 bits" in text and "in var 'v6'" in text  # 2**64 squared 6 times is 2**4096
    assert "'v7'" not in text  # the vars reading a failed one are not reported again


def test_check_of_squaring_vars_is_a_located_error(tmp_path):
    proc = run_hostile(tmp_path, _squares(26), "check")
    assert proc.returncode == 2 and "hostile.yaml:3:" in proc.stdout + proc.stderr


def test_a_symbolic_var_that_doubles_its_expression_stops_at_the_node_limit(tmp_path):
    pairs = ['a: "H + 1"'] + [f'v{i}: "{p}*{p} + {p}"' for i, p in enumerate(["a"] + [f"v{i}" for i in range(25)])]
    text = ("archcalc: 1\ndims: {H: null}\ninput: [3, H, H]\nvars: {" + ", ".join(pairs) + "}\nlayers:\n"
            "  - linear: {out_features: v25}\n")
    proc = run_hostile(tmp_path, text, "summarize")
    assert proc.returncode == 2 and f"nodes, more than the limit of {N.MAX_EXPR_NODES:,}" in proc.stderr


def test_a_layer_stack_whose_symbolic_size_nests_deeper_and_deeper_stops(tmp_path):
    text = """archcalc: 1
input: [1, H, H]
dims: {H: {min: 8}}
blocks:
  b:
    layers:
      - upsample: {scale_factor: 3}
      - conv2d: {out_channels: 1, kernel_size: 3, stride: 2, padding: 1}
layers:
  - b: {repeat: 5000}
"""
    proc = run_hostile(tmp_path, text, "summarize")
    assert proc.returncode == 2 and f"deep, more than the limit of {N.MAX_EXPR_DEPTH}" in proc.stderr
    assert "hostile.yaml:8:" in proc.stderr  # the layer that went past it


@pytest.mark.parametrize("text,fragment", [
    ("input: [1000000000000000000000000000000, 3]\nlayers:\n  - linear: {out_features: 4}\n",
     "the input: a size or count is too large: its size 1: 1,000,000,000,000,000,000,000,000,000,000 is more than "
     "torch's limit of 9,223,372,036,854,775,807 (2^63 - 1)"),
    ("input: [4611686018427387904]\nlayers:\n  - linear: {out_features: 4611686018427387904}\n",
     "linear 'linear_1': a size or count is too large: its params: 21,267,647,932,558,653,971,172,403,358,347,640,832 "
     "is more than the limit of 10^30"),
    ("input: [3, 100000, 100000]\nlayers:\n  - conv2d: {out_channels: 1000000000000, kernel_size: 1}\n",
     "its output element count: 10,000,000,000,000,000,000,000 is more than torch's limit"),
    ("vars: {n: \"2**64*2**64*2**64\"}\ninput: [3, n]\nlayers:\n  - relu\n", "the input: a size or count is too large"),
    ("input: [3, 8]\nlayers:\n  - linear: {out_features: \"(2**64)**63\"}\n", "its output size 2"),
])
def test_sizes_and_counts_past_what_any_network_has_are_located_errors(tmp_path, text, fragment):
    proc = run_hostile(tmp_path, "archcalc: 1\n" + text, "summarize", "--format", "json")
    assert proc.returncode == 2
    assert fragment in json.loads(proc.stdout)["error"]["message"] if proc.stdout.strip() else fragment in proc.stderr


def test_a_receptive_field_that_doubles_every_layer_is_dropped_with_a_warning(tmp_path):
    text = "archcalc: 1\ninput: [1, 1, 1]\nlayers:\n  - conv2d: {out_channels: 1, kernel_size: 1, stride: 2, repeat: 10000}\n"
    proc = run_hostile(tmp_path, text, "summarize")
    assert proc.returncode == 0 and "the receptive field is no longer followed" in proc.stdout


def test_the_largest_legitimate_counts_pass_the_bounds():
    a = analyze_text(one_layer([3, 100_000, 100_000], "conv2d: {out_channels: 1000000, kernel_size: 1}"))
    assert a.totals["macs"] == 3 * 10**16 and a.totals["activations"] == 10**16


def _nested(levels: int):
    sp = N.sympy_module()
    h, e = sp.Symbol("H"), sp.Symbol("H")
    for _ in range(levels):
        e = (e + 1) * h  # Mul(Add(e, 1), H): two levels deeper each time, nothing expands
    return e


@pytest.mark.parametrize("text,env,fragment", [
    ("x*x", {"x": 2**4000}, "more than the limit of 4,096 bits"),
    ("x + x", {"x": 2**4096 - 1}, "it has 4,097 bits"),
    ("x/y", {"x": 1, "y": 2**4096}, "more than the limit of 4,096 bits"),
    ("max(x, 1)*x", {"x": 2**3000}, "more than the limit of 4,096 bits"),
    ("(H*x)**2", {"x": 2**3000}, "result would exceed 4096 bits"),  # sympy would multiply 2**3000 out
    ("e + 1", {"e": _nested(N.MAX_EXPR_DEPTH // 2)}, "deep, more than the limit of"),
])
def test_every_operation_of_an_expression_is_bounded(text, env, fragment):
    env = {"H": N.sympy_module().Symbol("H"), **env}
    with pytest.raises(SpecError) as err:
        parse_expr(text).evaluate(env)
    assert fragment in err.value.render()


def test_measuring_an_expression_counts_shared_subtrees_in_linear_time():
    sp = N.sympy_module()
    e = sp.Symbol("x")
    for _ in range(60):
        e = e**2 + e  # a tree of about 4·10^18 nodes, 180 distinct ones
    start = time.perf_counter()
    assert N.expr_nodes(e) > 10**18 and "nodes, more than the limit" in N.oversize(e)
    assert time.perf_counter() - start < 1


LARGEST = 2**N.MAX_BITS - 1


@pytest.mark.parametrize("value", [LARGEST, -LARGEST, Fraction(LARGEST, 7), Fraction(1, 2**(N.MAX_BITS - 1)),
                                   Fraction(-3, 5**1700), 10**5000, -(2**60000), Fraction(10**5000 + 1, 7)],
                         ids=["largest", "-largest", "largest/7", "1/2^4095", "-3/5^1700", "10^5000", "-2^60000",
                              "(10^5000+1)/7"])
def test_any_exact_number_prints_in_every_format(value):
    """Python refuses str() of an int past 4,300 digits; archcalc's formatters never do."""
    texts = [N.fmt(value), N.decimal_text(value), json.dumps(N.to_json(value)), N.float_text(value)]
    sys.set_int_max_str_digits(0)
    try:
        if isinstance(value, int):
            assert texts[0] == f"{value:,}" and texts[1] == str(value)
            assert json.loads(texts[2]) in (value, str(value))
        else:
            assert N.to_json(value) == f"{value.numerator}/{value.denominator}"
            whole, _, places = texts[1].rstrip("…").partition(".")
            assert abs(Fraction(texts[1].rstrip("…")) - value) < Fraction(1, 10**4)
    finally:
        sys.set_int_max_str_digits(4300)


def test_fraction_text_is_exact_where_it_terminates():
    assert N.fraction_text(Fraction(217, 4)) == "54.25"
    assert N.fraction_text(Fraction(41, 3)) == "13.6667…"
    assert N.fraction_text(Fraction(-1, 8)) == "-0.125"
    assert N.fraction_text(Fraction(2**60 + 1, 2)) == f"{(2**60 + 1) // 2}.5"  # float would round it
    assert N.float_text(Fraction(3 * 10**400, 2)) == "1.5e+400"


MAX_VALUES = """archcalc: 1
input: [3, 8, 8]
vars: {a: "2**64", b: "a**63", big: "(b*2**63 - 1) + b*2**63", neg: "-big", seventh: "big/7", tiny: "1/(b*2**63)",
       tinyn: "-3/(5**64)**27"}
expect: {params: 0}
layers:
  - relu
"""


@pytest.mark.parametrize("args", [
    ("summarize",), ("summarize", "--format", "json"), ("summarize", "--format", "markdown"),
    ("summarize", "--format", "html"), ("explain",), ("explain", "--format", "markdown"),
    ("explain", "--format", "latex"), ("check",), ("check", "--format", "json"), ("check", "--format", "junit"),
    ("check", "--format", "github"), ("compare-conventions",), ("compare-conventions", "--format", "json"),
    ("diagram",),
])
def test_the_largest_values_allowed_print_in_every_format(tmp_path, args):
    proc = run_hostile(tmp_path, MAX_VALUES, *args)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("command", [("verify",), ("check", "--verify"), ("run",)])
def test_an_invalid_spec_fails_before_torch_is_imported(tmp_path, command):
    path = tmp_path / "bad.yaml"
    path.write_text("archcalc: 1\ninput: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 9}\n")
    script = (f"import sys\nfrom archcalc.cli import main\ntry:\n    main({[*command, str(path)]!r})\n"
              "except SystemExit as e:\n    print('exit', e.code)\nprint('torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.split()[-3:] == ["exit", "2", "False"], proc.stdout + proc.stderr
    assert "bad.yaml:4:" in proc.stdout + proc.stderr  # the located error, not a missing torch
