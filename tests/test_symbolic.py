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


# A layer whose output depends on a condition over symbolic sizes that the engine can't
# decide is refused (needs-concrete-size): before, squeeze dropped a symbolic axis (its
# `!= 1` undecided read as false) and unflatten, reshape and a merge's split accepted sizes
# that hold the axis only for some values of the symbols.

SQUEEZE = "archcalc: 1\ninput: [D1, 1, 1]\nlayers:\n  - squeeze{args}\n"


def _refused(spec: str, match: str) -> SpecError:
    with pytest.raises(SpecError, match=match) as info:
        analyze_text(spec)
    assert info.value.code == "needs-concrete-size"
    assert info.value.loc is not None and info.value.loc.line >= 3  # at the layer, not the file
    return info.value


def test_squeeze_without_dim_refuses_a_symbolic_axis_that_may_be_1():
    error = _refused(SQUEEZE.format(args=""), r"squeeze without dim can't tell whether axis 0 \(D1\) is 1")
    assert "dim: 2, then dim: 1" in error.hint and "D1" in error.hint


@pytest.mark.parametrize("d1", [1, 2, 64])
def test_squeeze_at_each_bound_size_is_torchs(d1):
    torch = pytest.importorskip("torch")
    expected = tuple(torch.zeros(2, d1, 1, 1).squeeze((1, 2, 3)).shape[1:])  # every size-1 axis but the batch
    assert analyze_text(SQUEEZE.format(args=""), {"D1": str(d1)}).output == expected
    one = tuple(torch.zeros(2, d1, 1, 1).squeeze(2).shape[1:])
    assert analyze_text(SQUEEZE.format(args=": {dim: 1}"), {"D1": str(d1)}).output == one


def test_squeeze_keeps_a_symbolic_axis_known_not_to_be_1_and_removes_a_named_one():
    assert analyze_text(SQUEEZE.format(args=": {dim: 1}")).output[1:] == (1,)  # dim 1 only; D1 not looked at
    kept = analyze_text('archcalc: 1\ninput: ["D1 + 1", 1, 1]\nlayers:\n  - squeeze\n').output
    assert len(kept) == 1 and N.to_json(kept[0]) == "D1 + 1"  # a positive D1: D1 + 1 >= 2
    _refused(SQUEEZE.format(args=": {dim: 0}"), r"squeeze can't tell whether axis 0 \(D1\) is 1")


SIZES = "archcalc: 1\ndims: {{H1: {{}}, W1: {{}}}}\ninput: [D1, x]\nlayers:\n  - {layer}\n"


@pytest.mark.parametrize("layer", ["unflatten: {dim: 1, unflattened_size: [H1, W1]}",
                                   "reshape: {shape: [D1, H1, W1]}"])
def test_sizes_that_hold_the_axis_only_for_some_values_are_refused(layer):
    spec = SIZES.format(layer=layer)
    _refused(spec, "depends on the symbols' values")  # before: [D1, H1, W1], x = H1·W1 unchecked
    torch = pytest.importorskip("torch")
    for x, fits in ((12, True), (13, False)):
        values = {"D1": "2", "x": str(x), "H1": "3", "W1": "4"}
        try:
            expected = tuple(torch.zeros(5, 2, x).reshape(5, 2, 3, 4).shape[1:])
        except RuntimeError:
            expected = None
        assert (expected is not None) == fits
        if fits:
            assert analyze_text(spec, values).output == expected
        else:
            with pytest.raises(SpecError) as info:
                analyze_text(spec, values)
            assert info.value.code == "shape-mismatch"


@pytest.mark.parametrize("layer", ["unflatten: {dim: 1, unflattened_size: [H1, -1]}",
                                   "reshape: {shape: [D1, H1, -1]}"])
def test_a_size_minus_1_assumes_only_that_the_rest_divide(layer):
    """H1 dividing x is a divisibility, assumed as a head count dividing the width is; exact
    wherever torch accepts the sizes, and refused at sizes where it doesn't."""
    spec = SIZES.format(layer=layer)
    assert N.to_json(analyze_text(spec).output[-1]) == "floor(x/H1)"
    torch = pytest.importorskip("torch")
    assert analyze_text(spec, {"D1": "2", "x": "12", "H1": "3"}).output == \
        tuple(torch.zeros(5, 2, 12).reshape(5, 2, 3, -1).shape[1:])
    with pytest.raises(RuntimeError):
        torch.zeros(5, 2, 13).reshape(5, 2, 3, -1)
    with pytest.raises(SpecError) as info:
        analyze_text(spec, {"D1": "2", "x": "13", "H1": "3"})
    assert info.value.code == "shape-mismatch"


def test_an_unflatten_size_0_is_a_located_error_not_a_modulo_by_zero():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch.nn.Unflatten(2, (0, -1))(torch.zeros(2, 4, 6))
    with pytest.raises(SpecError, match="does not hold axis 1's 6 elements"):  # before: ZeroDivisionError
        analyze_text("archcalc: 1\ninput: [4, 6]\nlayers:\n  - unflatten: {dim: 1, unflattened_size: [0, -1]}\n")


def test_sizes_provably_holding_the_axis_are_accepted():
    spec = ("archcalc: 1\ninput: [D1, H1, W1]\nlayers:\n  - flatten: {start_dim: 1}\n"
            "  - unflatten: {dim: 1, unflattened_size: [H1, W1]}\n  - flatten: {start_dim: 1}\n"
            "  - unflatten: {dim: 1, unflattened_size: [H1, -1]}\n  - reshape: {shape: [D1, \"H1*W1\"]}\n"
            "  - reshape: {shape: [\"(D1 + 1)*(H1 + 1) - D1 - H1 - 1\", W1]}\n  - reshape: {shape: [-1]}\n")
    a = analyze_text(spec)
    shapes = [[N.to_json(d) for d in r.output] for r in a.rows]
    assert shapes[1] == shapes[3] == ["D1", "H1", "W1"] and shapes[4] == ["D1", "H1*W1"]
    # (D1 + 1)(H1 + 1) − D1 − H1 − 1 is D1·H1 only after simplification: sympy's assumptions alone can't tell
    first, d1_h1 = a.rows[5].output[0], N.mul(a.rows[3].output[0], a.rows[3].output[1])
    assert N.compare(first, "==", d1_h1) is None and N.decide(first, "==", d1_h1) is True
    assert N.decide(N.product(a.rows[-1].output), "==", N.product(a.rows[4].output)) is True


MERGE = ("archcalc: 1\ndims: {{A: {{}}, B: {{}}}}\ninput: [{axis}, H, W]\nlayers:\n  - concat:\n"
         "      split: {split}\n      branches:\n        a: [identity]\n        b: [identity]\n")


def test_split_sizes_that_add_up_only_for_some_values_are_refused():
    _refused(MERGE.format(axis="C", split="[A, B]"), "depends on the symbols' values")  # before: A + B out of C
    assert N.to_json(analyze_text(MERGE.format(axis='"A + B"', split="[A, B]")).output[0]) == "A + B"
    torch = pytest.importorskip("torch")
    pieces = torch.zeros(1, 5, 2, 2).split([2, 3], 1)
    bound = {"C": "5", "A": "2", "B": "3", "H": "2", "W": "2"}
    assert analyze_text(MERGE.format(axis="C", split="[A, B]"), bound).output == tuple(torch.cat(pieces, 1).shape[1:])
    with pytest.raises(SpecError) as info:
        analyze_text(MERGE.format(axis="C", split="[A, B]"), {"C": "5", "A": "2", "B": "2"})
    assert info.value.code == "shape-mismatch"


def test_an_equal_split_assumes_the_axis_divides():
    assert N.to_json(analyze_text(MERGE.format(axis="C", split="equal")).output[0]) == "2*floor(C/2)"
    with pytest.raises(SpecError) as info:  # torch.chunk(5, 2) gives unequal pieces [3, 2]: refused
        analyze_text(MERGE.format(axis="C", split="equal"), {"C": "5"})
    assert info.value.code == "shape-mismatch"
    assert analyze_text(MERGE.format(axis="C", split="equal"), {"C": "6"}).output[0] == 6


@pytest.mark.parametrize("layer, match", [
    ("conv2d: {in_channels: D, out_channels: 8, kernel_size: 3}", "in_channels=D: whether D = C"),
    ("linear: {in_features: D, out_features: 8}", "in_features=D: whether D = W"),
    ("batch_norm2d: {num_features: D}", "num_features=D: whether D = C"),
    ("layer_norm: {normalized_shape: [D]}", r"normalized_shape \[D\]: whether W = D"),
    ("add: {branches: {a: [identity], b: [{conv2d: {out_channels: D, kernel_size: 1}}]}}",
     "the branches' shapes: whether D = C"),
])
def test_a_written_size_equal_to_the_input_s_only_for_some_values_is_refused(layer, match):
    """Before, each was accepted and counted in one of the two (conv2d's params 72·C + 8 for an
    in_channels D; layer_norm's 2·D for a last axis W)."""
    spec = f"archcalc: 1\ndims: {{D: {{}}}}\ninput: [C, H, W]\nlayers:\n  - {layer}\n"
    _refused(spec, match)
    assert analyze_text(spec, {"D": "3", "C": "3", "H": "9", "W": "3"}).output[0] in (3, 8)  # bound equal: as ever
    with pytest.raises(SpecError) as info:
        analyze_text(spec, {"D": "4", "C": "3", "H": "9", "W": "3"})
    assert info.value.code == "shape-mismatch"


def test_written_sizes_provably_the_input_s_are_accepted():
    spec = ("archcalc: 1\ninput: [C, H, W]\nlayers:\n  - conv2d: {in_channels: C, out_channels: C, kernel_size: 1}\n"
            "  - add: {branches: {a: [identity], b: [{conv2d: {out_channels: C, kernel_size: 1}}]}}\n"
            "  - layer_norm: {normalized_shape: [H, W]}\n  - flatten\n"
            "  - linear: {in_features: \"(C + 1)*H*W - H*W\", out_features: 4}\n")
    assert analyze_text(spec).output == (4,)


def test_solve_still_assumes_what_it_confirms_with_the_sizes_bound():
    """solve's symbolic walk assumes an undecided condition (its unknowns make most of them
    undecided) and confirms each solution by a concrete analysis: an unflatten whose first
    size is "?" is solved, not refused."""
    from archcalc.engine.solve import solve
    from archcalc.spec import load_spec_text

    spec = ("archcalc: 1\ninput: [512]\nlayers:\n"
            "  - unflatten: {name: u, dim: 0, unflattened_size: [\"?\", 16]}\n"
            "expect:\n  output: [32, 16]\n")
    with pytest.raises(SpecError) as info:
        analyze_text(spec)  # the analysis itself refuses: whether ?·16 = 512 depends on the value
    assert info.value.code == "needs-concrete-size"
    result = solve(load_spec_text(spec, "s.yaml"))
    assert [s for p in result.parts for s in p.solutions] == [{"u.unflattened_size[0]": 32}]
