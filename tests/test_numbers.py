"""engine/numbers.py's fast paths (ints added without sympy, types answered once, ints made
sympy Integers directly) give what the plain definitions give: the same value, of the same
type, for ints, bools, Fractions and sympy numbers and expressions mixed."""
from __future__ import annotations

from fractions import Fraction
from functools import reduce

import sympy
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from archcalc.engine import numbers as N
from archcalc.engine import printing

H, W = sympy.symbols("H W", integer=True, positive=True)


# the definitions the fast paths stand for
def is_symbolic(x):
    return not isinstance(x, (int, Fraction, float))


def to_sympy(x):
    if isinstance(x, Fraction):
        return sympy.Rational(x.numerator, x.denominator)
    return sympy.sympify(x) if isinstance(x, int) else x


def normalize(x):
    if isinstance(x, bool):
        return x
    if isinstance(x, Fraction):
        return x.numerator if x.denominator == 1 else x
    if is_symbolic(x) and getattr(x, "is_Integer", False):
        return int(x)
    if is_symbolic(x) and getattr(x, "is_Rational", False):
        return Fraction(int(x.p), int(x.q))
    return x


def arithmetic(op):
    def apply(a, b):
        if is_symbolic(a) or is_symbolic(b):
            a, b = to_sympy(a), to_sympy(b)
        return normalize(op(a, b))

    return apply


def total(xs):
    xs = list(xs)
    if not any(is_symbolic(x) for x in xs):
        return reduce(arithmetic(lambda a, b: a + b), xs, 0)
    return normalize(sympy.Add(*[to_sympy(x) for x in xs]))


def same(x, y) -> bool:
    return type(x) is type(y) and x == y


def sensible(xs) -> bool:
    """A bool (a condition's value) meets only numbers: sympy refuses it beside an expression."""
    return not (any(isinstance(x, bool) for x in xs) and any(is_symbolic(x) for x in xs))


ints = st.one_of(st.integers(-20, 20), st.integers(-(10**30), 10**30))
values = st.one_of(
    ints, st.booleans(),
    st.fractions(max_denominator=12),
    ints.map(sympy.Integer), st.fractions(max_denominator=12).map(lambda f: sympy.Rational(f.numerator, f.denominator)),
    st.sampled_from([H, W, H * W, sympy.floor((H - 11) / 4) + 1, H / 2, H - H, (H + 1) - H]))


@settings(max_examples=400, deadline=None)
@given(values, values)
def test_arithmetic_equals_its_definition(a, b):
    assume(sensible([a, b]))
    for fast, op in ((N.add, lambda x, y: x + y), (N.sub, lambda x, y: x - y), (N.mul, lambda x, y: x * y)):
        assert same(fast(a, b), arithmetic(op)(a, b)), (fast.__name__, a, b)
    assert N.is_symbolic(a) == is_symbolic(a) and N.is_symbolic(b) == is_symbolic(b)
    assert same(N.normalize(a), normalize(a))
    if isinstance(a, int):
        assert same(N.to_sympy(a), to_sympy(a))


@settings(max_examples=200, deadline=None)
@given(st.lists(values, max_size=8))
def test_total_equals_its_definition(xs):
    assume(sensible(xs))
    assert same(N.total(xs), total(xs))
    assert same(N.product(xs), reduce(arithmetic(lambda x, y: x * y), xs, 1))


def test_the_type_answer_is_kept_per_type():
    assert [N.is_symbolic(x) for x in (3, True, Fraction(1, 2), 2.5, H, sympy.Integer(3), H + 1)] == \
           [False, False, False, False, True, True, True]
    assert N.add(True, 2) == 3 and type(N.add(True, 2)) is int  # a bool is no int on the fast path
    assert N.mul(2**70, 2**70) == 2**140 and N.sub(5, 7) == -2


def test_printing_cached_floors_print_as_uncached():
    """A floor printed inside one expression prints the same inside another: the cached
    together() is keyed by the floor's argument alone."""
    inner = sympy.floor((H - 11) / 4) + 1
    exprs = [inner, 96 * inner**2, sympy.floor((inner - 3) / 2) + 1, inner * W + H / 3, sympy.ceiling((H - 1) / 3) * 5]
    printing.clear_caches()
    cold = [printing.expression_string(e) for e in exprs]
    printing.clear_caches()
    warm = [printing.expression_string(e) for e in reversed(exprs)][::-1]
    reference = printing._Printer()
    reference._print_floor = lambda e: f"floor({reference._print(sympy.together(e.args[0]))})"
    reference._print_ceiling = lambda e: f"ceil({reference._print(sympy.together(e.args[0]))})"
    assert cold == warm == [reference.doprint(e) for e in exprs]
    assert cold[0] == "floor((H - 11)/4) + 1" and cold[4] == "5*ceil((H - 1)/3)"
