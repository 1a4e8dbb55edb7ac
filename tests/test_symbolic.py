"""Symbolic sizes: formulas in H, W that agree with the concrete engine at every size."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SPECS, analyze_text
from archcalc.engine import numbers as N
from archcalc.spec.errors import SpecError

ALEXNET = (SPECS / "alexnet.yaml").read_text()
SYMBOLIC = ALEXNET.replace("input: [3, 227, 227]", "input: [3, H, W]\ndims: {H: {min: 67}, W: {min: 67}}")


def test_alexnet_conv1_height_formula():
    a = analyze_text(SYMBOLIC)
    assert a.symbols == ["H", "W"]
    assert N.to_json(a.row("conv1").output[1]) == "floor((H - 11)/4) + 1"
    assert N.to_json(a.row("pool1").output[1]) == "floor((H - 19)/8) + 1"  # floors of floors folded
    assert a.row("conv1").params == 34_944  # params don't depend on the image size


def test_set_binds_a_dimension():
    a = analyze_text(SYMBOLIC, {"H": "227", "W": "227"})
    assert not a.symbolic and a.totals["params"] == 60_965_224


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(st.integers(67, 400), st.integers(67, 400))
def test_symbolic_formulas_equal_concrete_analysis(h, w):
    sym = analyze_text(SYMBOLIC)
    conc = analyze_text(ALEXNET.replace("[3, 227, 227]", f"[3, {h}, {w}]"))
    import sympy

    subs = {sympy.Symbol(n, integer=True, positive=True): v for n, v in (("H", h), ("W", w))}
    for srow, crow in zip(sym.rows, conc.rows):
        for q in ("params", "macs", "flops", "activations"):
            value = getattr(srow, q)
            assert (int(value.subs(subs)) if N.is_symbolic(value) else value) == getattr(crow, q), (srow.path, q)
        assert tuple(int(d.subs(subs)) if N.is_symbolic(d) else d for d in srow.output) == crow.output


def test_concrete_spec_never_imports_sympy_objects():
    a = analyze_text(ALEXNET)
    assert all(isinstance(getattr(r, q), int) for r in a.rows for q in ("params", "macs", "flops"))


def test_symbolic_ceil_mode_needs_a_size_only_when_undecidable():
    spec = "archcalc: 1\ninput: [3, H, W]\nlayers:\n  - max_pool2d: {kernel_size: 3, stride: 2, ceil_mode: true}\n"
    a = analyze_text(spec)  # padding 0, stride <= kernel: the last window always starts inside
    assert N.to_json(a.output[1]) == "ceil((H - 3)/2) + 1"
    padded = spec.replace("kernel_size: 3, stride: 2, ceil_mode: true",
                          "kernel_size: 2, stride: 2, ceil_mode: true, padding: 1")  # p + s > kernel
    with pytest.raises(SpecError, match="can't be decided for a symbolic size"):
        analyze_text(padded)
    # torch: MaxPool2d(2, 2, padding=1, ceil_mode=True) on 7x7 gives 4x4 (the 5th window
    # would start in the right padding, so it is dropped)
    assert analyze_text(padded, {"H": "7", "W": "7"}).output == (3, 4, 4)
