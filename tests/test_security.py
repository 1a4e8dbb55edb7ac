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


# Near the row limit (engine/analyze.py's MAX_EXPANDED_ROWS, 20,000): 1,050 copies of a block
# of 19 rows (the block, two repeat groups of 8 layers) are 19,951 rows; every command and
# format must end in 10 s under 2.5 GB of address space, with exit 0 or a located error.
NEAR_LIMIT = """archcalc: 1
name: near_limit
input: [{input}]
{dims}blocks:
  b:
    layers:
      - {layer}: {{{args}, repeat: 8}}
      - relu: {{repeat: 8}}
layers:
  - b: {{repeat: 1050}}
"""
NEAR_LIMIT_SPECS = {
    # copies identical: copied, not walked (the cheap rows; the reports carry the cost)
    "cloned": NEAR_LIMIT.format(input="8", dims="", layer="linear", args="out_features: 8"),
    # receptive fields that grow copy by copy: every copy walked (the analysis time limit ends it)
    "walked": NEAR_LIMIT.format(input="4, 32", dims="", layer="conv1d",
                                args="out_channels: 4, kernel_size: 3, padding: 1"),
    # symbolic sizes: every count a polynomial
    "symbolic": NEAR_LIMIT.format(input="C, L", dims="dims: {C: {default: 8}, L: {default: 32}}\n", layer="conv1d",
                                  args="out_channels: C, kernel_size: 1"),
}
NEAR_LIMIT_COMMANDS = {
    "check": ["check"], "table": ["summarize"], "json": ["summarize", "--format", "json"],
    "markdown": ["summarize", "--format", "markdown"], "html": ["summarize", "--format", "html"],
    "memory": ["summarize", "--memory"], "rf": ["summarize", "--columns", "rf"],
    "train": ["summarize", "--columns", "train"], "unfold": ["summarize", "--unfold", "--format", "markdown"],
    **{f"convention-{c}": ["summarize", "--convention", c] for c in ("torchinfo", "fvcore", "ptflops", "thop",
                                                                    "torch")},
    "explain": ["explain"], "svg": ["diagram"], "dot": ["diagram", "--format", "dot"],
    "compare-conventions": ["compare-conventions"],
}


def _bounded_run(args: list[str], seconds: float = 10, address_space: int = 2_500_000_000):
    """archcalc ARGS in a subprocess under an address-space limit and a timeout: (exit code, its output)."""
    import os
    import resource
    import subprocess
    import sys
    from pathlib import Path

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("ARCHCALC_MAX_ROWS", None)
    env.pop("ARCHCALC_MAX_ANALYSIS_SECONDS", None)
    done = subprocess.run([sys.executable, "-m", "archcalc", *args], capture_output=True, text=True,
                          timeout=seconds, preexec_fn=limit, env=env)
    return done.returncode, done.stdout + done.stderr


def test_the_near_limit_specs_are_near_the_limit():
    """The cloned and symbolic specs are accepted, within 100 rows of the limit."""
    from archcalc.engine.analyze import MAX_EXPANDED_ROWS

    for name in ("cloned", "symbolic"):
        rows = len(analyze_text(NEAR_LIMIT_SPECS[name]).rows)
        assert MAX_EXPANDED_ROWS - 100 < rows <= MAX_EXPANDED_ROWS, name


@pytest.mark.slow
@pytest.mark.parametrize("spec", sorted(NEAR_LIMIT_SPECS))
@pytest.mark.parametrize("command", sorted(NEAR_LIMIT_COMMANDS))
def test_a_near_limit_spec_ends_in_10_s_under_2_5_gb(tmp_path, spec, command):
    path = tmp_path / f"{spec}.yaml"
    path.write_text(NEAR_LIMIT_SPECS[spec])
    args = [*NEAR_LIMIT_COMMANDS[command], str(path)] + (["-o", str(tmp_path / "out")] if command != "check" else [])
    code, output = _bounded_run(args)
    assert "Traceback" not in output
    # a located error: file:line:col in text, the file and line in JSON's error object
    assert code == 0 or (code == 2 and (f"{path}:7:" in output or '"line": 7' in output)), output[-2000:]


def test_a_slow_analysis_stops_at_its_time_limit(monkeypatch):
    """Copies walked one by one (receptive fields that grow) past ARCHCALC_MAX_ANALYSIS_SECONDS:
    a located error naming the limit, at the layer reached."""
    from archcalc.engine import analyze as engine

    monkeypatch.setenv("ARCHCALC_MAX_ANALYSIS_SECONDS", "1")
    ticks = iter(range(10**9))
    monkeypatch.setattr(engine.time, "monotonic", lambda: next(ticks) / 1000)  # a millisecond per reading
    with pytest.raises(SpecError) as caught:
        analyze_text(NEAR_LIMIT_SPECS["walked"])
    err = caught.value
    assert err.code == "limit" and "takes more than 1 s" in err.message
    assert err.loc.line == 7 and "ARCHCALC_MAX_ANALYSIS_SECONDS" in err.hint


def test_verify_refuses_more_layers_than_its_limit(monkeypatch):
    pytest.importorskip("torch")
    from archcalc.spec import load_spec_text as load
    from archcalc.torch_backend.verify import verify_spec

    monkeypatch.setenv("ARCHCALC_MAX_VERIFY_LAYERS", "100")
    spec = load(NEAR_LIMIT_SPECS["cloned"].replace("repeat: 1050", "repeat: 7"), "near.yaml")  # 112 layers
    with pytest.raises(SpecError) as caught:
        verify_spec(spec)
    assert "112 layers to build and run, above verify's limit of 100" in caught.value.message
    assert "ARCHCALC_MAX_VERIFY_LAYERS" in caught.value.hint
    monkeypatch.setenv("ARCHCALC_MAX_VERIFY_LAYERS", "112")
    (result,) = verify_spec(spec)
    assert result.agree


def test_a_table_too_long_to_read_is_shown_to_a_depth_with_a_note(monkeypatch):
    """Copies that differ only in their receptive fields do not fold under --columns rf; past
    MAX_TABLE_ROWS the table stops at the deepest depth that fits and says so (JSON keeps all)."""
    from archcalc.report import summary
    from archcalc.report.fold import fold_note

    monkeypatch.setattr(summary, "MAX_TABLE_ROWS", 40)
    analysis = analyze_text(NEAR_LIMIT_SPECS["walked"].replace("repeat: 1050", "repeat: 30"))
    assert len(summary.visible_rows(analysis, None, rf=False)) < 40  # identical but for rf: folded
    shown = summary.visible_rows(analysis, None, rf=True)
    assert [r.depth for r in shown] == [0] + [1] * 30
    # each copy folded: itself, the conv group and its 8 convs (their fields differ), the relu group, 8 relus as one
    assert fold_note(shown).startswith("391 rows: shown down to depth 1, the deepest that keeps the table under 40 ")
    assert len(summary.visible_rows(analysis, None, unfold=True, rf=True)) == 30 * 19 + 1
