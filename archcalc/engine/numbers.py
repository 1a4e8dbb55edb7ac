"""Int-or-sympy arithmetic: one code path for concrete and symbolic sizes.

Sizes are Python ints when known and sympy expressions when they depend on symbols.
sympy is imported only when a symbolic value actually appears, so a concrete spec never
pays for it. Counts stay exact: no floats ever enter a size or a count.
"""
from __future__ import annotations

from fractions import Fraction
from functools import reduce
from typing import Any, Iterable

Number = Any  # int | Fraction | sympy.Expr


_SYMBOLIC_TYPE: dict[type, bool] = {int: False, bool: False, Fraction: False, float: False}


def is_symbolic(x: Number) -> bool:
    """Not an int, Fraction or float. Answered once per type: the isinstance check of an
    expression against Fraction (an ABC) would cost more than the arithmetic it guards."""
    symbolic = _SYMBOLIC_TYPE.get(type(x))
    if symbolic is None:
        symbolic = _SYMBOLIC_TYPE[type(x)] = not isinstance(x, (int, Fraction, float))
    return symbolic


_SYMPY = None


def sympy_module():
    global _SYMPY
    if _SYMPY is None:
        import sympy  # imported lazily: ~0.8 s that concrete specs never pay

        _SYMPY = sympy
    return _SYMPY


def to_sympy(x: Number):
    sp = sympy_module()
    if type(x) is int:
        return sp.Integer(x)  # what sympify makes of an int, without its dispatch
    if isinstance(x, Fraction):
        return sp.Rational(x.numerator, x.denominator)
    return sp.sympify(x) if isinstance(x, int) else x  # ints only: never a string


def normalize(x: Number) -> Number:
    """Collapse a value to an int where it is one (Fraction 4/1, sympy Integer 4)."""
    kind = type(x)
    if kind is int or kind is bool:
        return x  # bool: a condition's value (block parameters such as project: true)
    if not is_symbolic(x):
        return (x.numerator if x.denominator == 1 else x) if isinstance(x, Fraction) else x
    if getattr(x, "is_Integer", False):
        return int(x)
    if getattr(x, "is_Rational", False):
        return Fraction(int(x.p), int(x.q))
    return x


# --- bounds on the size of a value (SECURITY.md) -------------------------------------------
# Every exact number archcalc keeps has at most MAX_BITS bits (an int; a Fraction's numerator and
# denominator), and every symbolic expression at most MAX_EXPR_NODES nodes with no number in it
# past MAX_BITS: a value that squares itself line after line stops at the limit instead of
# doubling its size (and its time and memory) with every line. 4,096 bits is the bound `**`
# always had, about 1,233 decimal digits: well inside Python's 4,300-digit int-to-text limit,
# so every value prints (int_text prints any int all the same).
MAX_BITS = 4096
MAX_DIGITS = 1234  # the decimal digits of the largest MAX_BITS-bit int
MAX_EXPR_NODES = 10_000
MAX_EXPR_DEPTH = 60  # sympy prints and compares by recursion: a deeper expression would exhaust Python's stack


class TooLarge(ArithmeticError):
    """A value past MAX_BITS or MAX_EXPR_NODES; `what` says which limit, for a located message."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


_NODES: dict = {}  # expression -> (tree nodes, largest number's bits, depth), each distinct subtree measured once


def _expr_measure(x) -> tuple[int, int, int]:
    """The tree size of a sympy expression, the bits of its largest number and its depth, in time
    linear in its distinct subexpressions (a tree that repeats a subtree 2^k times is measured in
    k steps)."""
    found = _NODES.get(x)
    if found is not None:
        return found
    if len(_NODES) > 200_000:  # a cache, not a leak
        _NODES.clear()
    stack = [(x, False)]
    while stack:  # depth first, iterative (a deep expression must not exhaust Python's recursion)
        e, ready = stack.pop()
        if e in _NODES:
            continue
        if not ready:  # its arguments first, each distinct one once
            stack.append((e, True))
            stack.extend((a, False) for a in e.args if a not in _NODES)
            continue
        nodes, bits, depth = 1, 0, 0
        if e.is_Rational:
            bits = max(int(e.p).bit_length(), int(e.q).bit_length())
        for a in e.args:
            n, b, d = _NODES[a]
            nodes, bits, depth = nodes + n, max(bits, b), max(depth, d)
        _NODES[e] = (nodes, bits, depth + 1)
    return _NODES[x]


def expr_depth(x) -> int:
    """How deep a symbolic value's expression tree nests (1 for a number)."""
    return _expr_measure(x)[2] if is_symbolic(x) else 1


def expr_nodes(x) -> int:
    """The number of nodes of a symbolic value's expression tree (1 for a number)."""
    return _expr_measure(x)[0] if is_symbolic(x) else 1


def number_bits(x) -> int:
    """The bits of the largest number in a symbolic value's expression."""
    return _expr_measure(x)[1] if is_symbolic(x) else 0


def oversize(x: Number) -> str | None:
    """Why x is past the bounds on a value's size (MAX_BITS, MAX_EXPR_NODES), or None."""
    kind = type(x)
    if kind is int or kind is bool:
        return _too_many_bits(x.bit_length())
    if kind is Fraction:
        return _too_many_bits(max(x.numerator.bit_length(), x.denominator.bit_length()))
    if kind is float or not is_symbolic(x):
        return None
    if not hasattr(x, "args"):
        return None
    nodes, bits, depth = _expr_measure(x)
    if nodes > MAX_EXPR_NODES:
        return f"its expression has {nodes:,} nodes, more than the limit of {MAX_EXPR_NODES:,}"
    if depth > MAX_EXPR_DEPTH:
        return f"its expression nests {depth:,} deep, more than the limit of {MAX_EXPR_DEPTH:,}"
    return _too_many_bits(bits)


def _too_many_bits(bits: int) -> str | None:
    if bits <= MAX_BITS:
        return None
    return f"it has {bits:,} bits (about {int(bits * 0.30103) + 1:,} digits), more than the limit of {MAX_BITS:,} bits"


def bounded(x: Number) -> Number:
    """x itself, or TooLarge where it is past the bounds on a value's size."""
    why = oversize(x)
    if why is not None:
        raise TooLarge(why)
    return x


def _mixed(a: Number, b: Number):
    if is_symbolic(a) or is_symbolic(b):
        return to_sympy(a), to_sympy(b), True
    return a, b, False


def add(a: Number, b: Number) -> Number:
    if type(a) is int and type(b) is int:
        return a + b
    a, b, _ = _mixed(a, b)
    return normalize(a + b)


def sub(a: Number, b: Number) -> Number:
    if type(a) is int and type(b) is int:
        return a - b
    a, b, _ = _mixed(a, b)
    return normalize(a - b)


def mul(a: Number, b: Number) -> Number:
    if type(a) is int and type(b) is int:
        return a * b
    a, b, _ = _mixed(a, b)
    return normalize(a * b)


def true_div(a: Number, b: Number) -> Number:
    """Exact division: an int when it divides, else a Fraction (or sympy Rational form)."""
    a, b, sym = _mixed(a, b)
    if sym:
        return normalize(a / b)
    return normalize(Fraction(a) / Fraction(b))


def floor(x: Number) -> Number:
    if isinstance(x, int):
        return x
    if isinstance(x, (Fraction, float)):
        return int(x // 1)
    return normalize(sympy_module().floor(x))


def ceil(x: Number) -> Number:
    if is_symbolic(x):
        return normalize(sympy_module().ceiling(x))
    return neg(floor(neg(x)))


def ceildiv(a: Number, b: Number) -> Number:
    """ceil(a / b)."""
    if isinstance(a, int) and isinstance(b, int):
        return -((-a) // b)
    return ceil(true_div(a, b))


def neg(x: Number) -> Number:
    return normalize(-x)


def floordiv(a: Number, b: Number) -> Number:
    """floor(a / b), with floors of floors folded: floor((floor(y) + c)/n) = floor((y + c)/n).

    That identity holds for integer c and positive integer n, and it keeps the size
    expressions of deep symbolic networks from nesting one floor per layer.
    """
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    if not is_symbolic(a) and not is_symbolic(b):
        return floor(true_div(a, b))
    return normalize(sympy_module().floor(_div_folding(a, b)))


def _div_folding(a: Number, b: Number):
    sp = sympy_module()
    a, b = to_sympy(a), to_sympy(b)
    if b.is_Integer and b > 0:
        const, rest = a.as_coeff_Add()
        if isinstance(rest, sp.floor) and const.is_Integer:
            return (rest.args[0] + const) / b
    return a / b


def mod(a: Number, b: Number) -> Number:
    a, b, sym = _mixed(a, b)
    if sym:
        return normalize(sympy_module().Mod(a, b))
    return normalize(a % b)


def minimum(*xs: Number) -> Number:
    if any(is_symbolic(x) for x in xs):
        return normalize(sympy_module().Min(*[to_sympy(x) for x in xs]))
    return min(xs)


def maximum(*xs: Number) -> Number:
    if any(is_symbolic(x) for x in xs):
        return normalize(sympy_module().Max(*[to_sympy(x) for x in xs]))
    return max(xs)


def product(xs: Iterable[Number]) -> Number:
    return reduce(mul, xs, 1)


def total(xs: Iterable[Number]) -> Number:
    """A sum; symbolic terms are added in one sympy Add (pairwise sums would be quadratic)."""
    xs = list(xs)
    if all(type(x) is int for x in xs):
        return sum(xs)
    if not any(is_symbolic(x) for x in xs):
        return reduce(add, xs, 0)
    return normalize(sympy_module().Add(*[to_sympy(x) for x in xs]))


SIMPLIFY_SECONDS = 2.0


def simplify_bounded(expr, seconds: float = SIMPLIFY_SECONDS):
    """sympy.simplify, stopped after `seconds`; then the cheaper expand() is used instead.

    Returns (expression, note): note says when the full simplification ran out of time, so a
    caller can tell the user that the result is unsimplified rather than hang on it."""
    import signal
    import threading

    sp = sympy_module()
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return sp.expand(expr), None

    def stop(_signum, _frame):
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)  # once: a repeating alarm could fire again while it is caught
    try:
        return sp.simplify(expr), None
    except _OutOfTime:
        return sp.expand(expr), f"simplification stopped after {seconds:g} s; compared the expanded form"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _OutOfTime(BaseException):
    """simplify_bounded's alarm: a BaseException, so that no `except Exception` inside sympy
    catches it."""


def substitute(x: Number, values: dict[str, int]) -> Number:
    """Evaluate a symbolic value at concrete sizes ({'H': 224}); ints pass through."""
    if not is_symbolic(x):
        return x
    return normalize(x.subs({s: values[s.name] for s in x.free_symbols if s.name in values}))


def is_integer(x: Number) -> bool | None:
    """True/False when known; None when a symbolic value's integrality can't be decided."""
    if isinstance(x, int):
        return True
    if isinstance(x, (Fraction, float)):
        return x == int(x)
    return x.is_integer


def compare(x: Number, op: str, y: Number) -> bool | None:
    """x op y when decidable; None when it depends on symbols."""
    d = sub(x, y)
    if is_symbolic(d):
        sign = {"<": d.is_negative, "<=": d.is_nonpositive, ">": d.is_positive,
                ">=": d.is_nonnegative, "==": d.is_zero,
                "!=": None if d.is_zero is None else not d.is_zero}[op]
        return sign
    return {"<": d < 0, "<=": d <= 0, ">": d > 0, ">=": d >= 0, "==": d == 0, "!=": d != 0}[op]


def symbol_names(*xs: Number) -> str:
    """'H1, W1': the symbols the values depend on, sorted, for a message saying what to bind."""
    return ", ".join(sorted({str(s) for x in xs if is_symbolic(x) for s in to_sympy(x).free_symbols}))


def decide(x: Number, op: str, y: Number) -> bool | None:
    """compare(), and where that can't tell, compare() again on the simplified difference:
    (a + 1)·(b + 1) and a·b + a + b + 1 are equal, which sympy's assumptions alone don't see.
    None still when it depends on the symbols' values (a check that must not pass silently)."""
    known = compare(x, op, y)
    if known is not None or not is_symbolic(sub(x, y)):
        return known
    return compare(normalize(simplify_bounded(to_sympy(sub(x, y)))[0]), op, 0)


def int_text(n: int, grouped: bool = False) -> str:
    """Any int as decimal text, never ValueError: Python refuses str() of an int past 4,300
    digits (sys.get_int_max_str_digits, which an environment may set as low as 640); past that
    it is cut into 500-digit parts, halving by powers of ten. `grouped`: 1,234,567."""
    try:
        text = str(n)
    except ValueError:
        text = ("-" if n < 0 else "") + _long_digits(abs(n))
    if not grouped:
        return text
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    head = len(digits) % 3 or 3
    return sign + ",".join([digits[:head]] + [digits[i:i + 3] for i in range(head, len(digits), 3)])


_PART = 500  # digits str() always converts (below any limit Python allows)


def _long_digits(n: int, width: int = 0) -> str:
    """n >= 0 in decimal, zero-padded to `width`, without str() of more than _PART digits."""
    if n < 10**_PART:
        return str(n).zfill(width)
    half = _PART
    while 10 ** (2 * half) <= n:
        half *= 2
    high, low = divmod(n, 10**half)
    return _long_digits(high, max(width - half, 0)) + _long_digits(low, half)


def fraction_text(x: Fraction, places: int = 4) -> str:
    """A fraction's decimal text, exact when it terminates (54.25), else to `places` digits and an
    ellipsis (13.6666…), in integer arithmetic: no float to overflow or round."""
    q, twos, fives = x.denominator, 0, 0
    while q % 2 == 0:
        q, twos = q // 2, twos + 1
    while q % 5 == 0:
        q, fives = q // 5, fives + 1
    sign, x = ("-" if x < 0 else ""), abs(x)
    if q == 1:  # terminating: as many places as the denominator's factors of 2 and 5 need
        digits = max(twos, fives)
        scaled, tail = (x * 10**digits).numerator, ""
    else:
        digits, tail = places, "…"
        scaled = round(x * 10**places)
    whole, frac = divmod(scaled, 10**digits)
    return sign + int_text(whole) + ("." + int_text(frac).zfill(digits) if digits else "") + tail


def float_text(x, spec: str = "g") -> str:
    """format(float(x), spec) for an exact value, which float() cannot hold past about 10^308:
    then a %e-style text of its leading digits (1.5e+400), computed exactly."""
    try:
        return format(float(x), spec)
    except OverflowError:
        x = Fraction(x)
        sign, x = ("-" if x < 0 else ""), abs(x)
        exponent = len(int_text(x.numerator // x.denominator)) - 1
        mantissa = x / Fraction(10) ** exponent
        return f"{sign}{float(mantissa):.6g}e+{exponent}"


def decimal_text(x: Number) -> str:
    """A human rendering of an exact value: 54.25, 13.666…, 1,024, or an expression."""
    x = normalize(x)
    if isinstance(x, int):
        return int_text(x)
    if isinstance(x, Fraction):
        return fraction_text(x)
    if isinstance(x, float):
        return repr(x)
    return expr_text(x)


def expr_text(x) -> str:
    """Python-syntax text of a sympy expression, with each floor's argument over one
    denominator: floor((H - 11)/4) + 1 rather than floor(H/4 - 11/4) + 1."""
    from archcalc.engine.printing import expression_string

    return expression_string(x)


JSON_INT_BITS = 10_000  # about 3,010 digits: json.dumps prints an int this long (Python's limit is 4,300)


def to_json(x: Number):
    """A JSON value: an int when known, else a Python-syntax expression string."""
    x = normalize(x)
    if isinstance(x, int):
        return x if x.bit_length() <= JSON_INT_BITS else int_text(x)  # json.dumps raises past 4,300 digits
    if isinstance(x, Fraction):
        return int_text(x.numerator) + ("/" + int_text(x.denominator) if x.denominator != 1 else "")
    if isinstance(x, float):
        return x
    return expr_text(x)


def fmt(x: Number) -> str:
    """Thousands-separated ints for tables; expressions as text."""
    x = normalize(x)
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return int_text(x, grouped=True)
    return decimal_text(x)
