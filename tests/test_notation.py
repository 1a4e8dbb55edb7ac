"""archcalc.grading.notation: one student's answer read as written.

The table gives raw values (as YAML hands them over) and the reading each must give; the
properties check the notations against independent sources (Python's own formatting of
integers, decimal.Decimal for figures and scientific notation, sympy for formulas) and that no
text, however odd, raises or takes long."""
from __future__ import annotations

import time
from decimal import Decimal
from fractions import Fraction

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from archcalc.grading.notation import MAX_CHARS, Reading, read_answer
from archcalc.spec.loader import load_yaml, plain

KINDS = {"number", "shape", "expression", "invalid", "blank", "unreadable"}
K, C, H, W = (sympy.Symbol(n, integer=True, positive=True) for n in "KCHW")
F = Fraction

# raw, keyword arguments, kind, value, precision, approximate
TABLE = [
    # numbers
    (34944, {}, "number", 34944, None, False),
    ("34944", {}, "number", 34944, None, False),
    ("34,944", {}, "number", 34944, None, False),
    ("34 944", {}, "number", 34944, None, False),
    ("34\u00a0944", {}, "number", 34944, None, False),  # no-break space
    ("34\u2009944", {}, "number", 34944, None, False),  # thin space
    ("34\u202f944", {}, "number", 34944, None, False),  # narrow no-break space
    ("34_944", {}, "number", 34944, None, False),
    ("1,234,567", {}, "number", 1234567, None, False),
    ("1,234.5", {}, "number", F(2469, 2), None, False),
    (55.0, {}, "number", 55, None, False),
    ("55.0", {}, "number", 55, None, False),
    (55.5, {}, "number", F(111, 2), None, False),
    ("55.", {}, "number", 55, None, False),
    (34.944, {}, "number", F(34944, 1000), None, False),  # '.' is the decimal point, always
    ("-5", {}, "number", -5, None, False),
    ("−5", {}, "number", -5, None, False),  # U+2212 minus
    ("  34944  ", {}, "number", 34944, None, False),
    (F(3, 2), {}, "number", F(3, 2), None, False),
    # scientific notation, at the precision written
    ("1.2e8", {}, "number", 120000000, 5000000, False),
    ("1.2E8", {}, "number", 120000000, 5000000, False),
    ("1.20e8", {}, "number", 120000000, 500000, False),
    ("12e7", {}, "number", 120000000, 5000000, False),
    ("1e8", {}, "number", 100000000, 50000000, False),
    ("1.2 × 10^8", {}, "number", 120000000, 5000000, False),
    ("1.2 x 10^8", {}, "number", 120000000, 5000000, False),
    ("1.2*10**8", {}, "number", 120000000, 5000000, False),
    ("1.2*10^8", {}, "number", 120000000, 5000000, False),
    ("1.2·10⁸", {}, "number", 120000000, 5000000, False),
    ("2 x 10^3", {"shape": True}, "number", 2000, 500, False),  # never the shape (2, 1000)
    ("1.5e-3", {}, "number", F(3, 2000), F(1, 20000), False),
    (1e20, {}, "number", 10**20, 5 * 10**19, False),  # repr '1e+20': written in scientific form
    (1.2e8, {}, "number", 120000000, None, False),  # repr '120000000.0': YAML lost the written form
    # figures
    ("35K", {}, "number", 35000, 500, False),
    ("35k", {}, "number", 35000, 500, False),
    ("35 K", {}, "number", 35000, 500, False),
    ("~35K", {}, "number", 35000, 500, True),
    ("~ 35K", {}, "number", 35000, 500, True),
    ("≈35K", {}, "number", 35000, 500, True),
    ("about 35K", {}, "number", 35000, 500, True),
    ("approx. 35K", {}, "number", 35000, 500, True),
    ("roughly 35000", {}, "number", 35000, None, True),
    ("2.3M", {}, "number", 2300000, 50000, False),
    ("2.3m", {}, "number", 2300000, 50000, False),
    ("37.75M", {}, "number", 37750000, 5000, False),
    ("1.5G", {}, "number", 1500000000, 50000000, False),
    ("1.5B", {}, "number", 1500000000, 50000000, False),
    ("1.5bn", {}, "number", 1500000000, 50000000, False),
    ("1.5 billion", {}, "number", 1500000000, 50000000, False),
    ("120 million", {}, "number", 120000000, 500000, False),
    ("60 thousand", {}, "number", 60000, 500, False),
    ("2T", {}, "number", 2 * 10**12, 5 * 10**11, False),
    ("1,200K", {}, "number", 1200000, 500, False),
    ("-35K", {}, "number", -35000, 500, False),
    # count words, ignored
    ("35K params", {}, "number", 35000, 500, False),
    ("60M parameters", {}, "number", 60000000, 500000, False),
    ("34944 weights", {}, "number", 34944, None, False),
    ("1.5GFLOPs", {}, "number", 1500000000, 50000000, False),
    ("1.5 GFLOPS", {}, "number", 1500000000, 50000000, False),
    ("724M MACs", {}, "number", 724000000, 500000, False),
    ("290400 neurons", {}, "number", 290400, None, False),
    ("~ 35K activations", {}, "number", 35000, 500, True),
    # arithmetic on numbers: the number it makes
    ("55*55*96", {}, "number", 290400, None, False),
    ("(227 - 11)/4 + 1", {}, "number", 55, None, False),
    ("floor((227 - 11)/4) + 1", {}, "number", 55, None, False),
    ("10^8", {}, "number", 10**8, None, False),
    ("(96)", {}, "number", 96, None, False),
    ("3*3*96 + 96", {}, "number", 960, None, False),
    # shapes
    ([96, 55, 55], {}, "shape", (96, 55, 55), None, False),
    ((96, 55, 55), {}, "shape", (96, 55, 55), None, False),
    ([96.0, "55", "55"], {}, "shape", (96, 55, 55), None, False),
    ("[96, 55, 55]", {}, "shape", (96, 55, 55), None, False),
    ("[96,55,55]", {}, "shape", (96, 55, 55), None, False),
    ("(96, 55, 55)", {}, "shape", (96, 55, 55), None, False),
    ("(96,55,55)", {}, "shape", (96, 55, 55), None, False),
    ("(96,)", {}, "shape", (96,), None, False),
    ("[96]", {}, "shape", (96,), None, False),
    ("55x55x96", {}, "shape", (55, 55, 96), None, False),
    ("55X55X96", {}, "shape", (55, 55, 96), None, False),
    ("55 x 55 x 96", {}, "shape", (55, 55, 96), None, False),
    ("55×55×96", {}, "shape", (55, 55, 96), None, False),
    ("55 by 55 by 96", {}, "shape", (55, 55, 96), None, False),
    ("55*55*96", {"shape": True}, "shape", (55, 55, 96), None, False),
    ("96,55,55", {"shape": True}, "shape", (96, 55, 55), None, False),
    ("96, 55, 55", {}, "shape", (96, 55, 55), None, False),
    ("96, 55, 55", {"shape": True}, "shape", (96, 55, 55), None, False),
    ("1,024 x 1,024", {}, "shape", (1024, 1024), None, False),
    ("3 × 3", {}, "shape", (3, 3), None, False),
    ("55x55x96 activations", {}, "shape", (55, 55, 96), None, False),
    (["K", "H-2", "W - 2"], {"names": "KHW"}, "shape", (K, H - 2, W - 2), None, False),
    ("K x (H-2) x (W-2)", {"names": "KHW"}, "shape", (K, H - 2, W - 2), None, False),
    ("[K, H//2, W//2]", {"names": "KHW"}, "shape", (K, sympy.floor(H / 2), sympy.floor(W / 2)), None, False),
    ("[(227-11)/4+1, 96]", {}, "shape", (55, 96), None, False),
    # formulas
    ("27*K", {"names": ["K"]}, "expression", 27 * K, None, False),
    ("27·K", {"names": ["K"]}, "expression", 27 * K, None, False),
    ("27 * K", {"names": ["K"]}, "expression", 27 * K, None, False),
    ("2K + 1", {"names": ["K"]}, "expression", 2 * K + 1, None, False),
    ("27*C**2", {"names": ["C"]}, "expression", 27 * C**2, None, False),
    ("27*C^2", {"names": ["C"]}, "expression", 27 * C**2, None, False),
    ("27C²", {"names": ["C"]}, "expression", 27 * C**2, None, False),
    ("C²", {"names": ["C"]}, "expression", C**2, None, False),
    ("2*(K+1)", {"names": ["K"]}, "expression", 2 * (K + 1), None, False),
    ("2(K+1)", {"names": ["K"]}, "expression", 2 * (K + 1), None, False),
    ("K(C+1)", {"names": ["K", "C"]}, "expression", K * (C + 1), None, False),
    ("(K*C*9 + K)", {"names": ["K", "C"]}, "expression", 9 * K * C + K, None, False),
    ("max(K, 3)", {"names": ["K"]}, "expression", sympy.Max(K, 3), None, False),
    ("2C", {"names": ["C"]}, "expression", 2 * C, None, False),  # C is no scale: 2 times C
    ("~27*K", {"names": ["K"]}, "expression", 27 * K, None, True),
    ("K - K + 5", {"names": ["K"]}, "number", 5, None, False),
    ("27*K params", {"names": ["K"]}, "expression", 27 * K, None, False),
    # blank
    (None, {}, "blank", None, None, False),
    ("", {}, "blank", None, None, False),
    ("   ", {}, "blank", None, None, False),
    ("\u00a0", {}, "blank", None, None, False),
    ("-", {}, "blank", None, None, False),
    ("?", {}, "blank", None, None, False),
    ("???", {}, "blank", None, None, False),
    ("—", {}, "blank", None, None, False),
    ("…", {}, "blank", None, None, False),
    ("TBD", {}, "blank", None, None, False),
    ([], {}, "blank", None, None, False),
    ("[]", {}, "blank", None, None, False),
    # invalid
    ("invalid", {}, "invalid", None, None, False),
    ("Invalid.", {}, "invalid", None, None, False),
    ("INVALID!", {}, "invalid", None, None, False),
    ("doesn't fit", {}, "invalid", None, None, False),
    ("doesn’t fit", {}, "invalid", None, None, False),  # a typographic apostrophe
    ("does not fit", {}, "invalid", None, None, False),
    ("Does  not   fit", {}, "invalid", None, None, False),
    ("not an integer", {}, "invalid", None, None, False),
    ("impossible", {}, "invalid", None, None, False),
    ("N/A", {}, "invalid", None, None, False),
    ("n/a", {}, "invalid", None, None, False),
    ("undefined", {}, "invalid", None, None, False),
    ("invalid: (13 - 5)/2 is not whole", {}, "invalid", None, None, False),
    ("invalid (stride does not divide)", {}, "invalid", None, None, False),
    ("does not fit - kernel larger than input", {}, "invalid", None, None, False),
    ("invalid", {"shape": True}, "invalid", None, None, False),
]


def _call(raw, kwargs):
    return read_answer(raw, **kwargs)


@pytest.mark.parametrize("raw,kwargs,kind,value,precision,approximate", TABLE,
                         ids=[f"{i}:{r!r}"[:40] for i, (r, *_) in enumerate(TABLE)])
def test_each_notation_reads_as_written(raw, kwargs, kind, value, precision, approximate):
    got = _call(raw, kwargs)
    assert (got.kind, got.reason) == (kind, ""), got
    if kind == "expression" or (kind == "shape" and any(isinstance(v, sympy.Basic) for v in value)):
        assert len(value if kind == "shape" else [value]) == len(got.value if kind == "shape" else [got.value])
        pairs = zip(value, got.value) if kind == "shape" else [(value, got.value)]
        assert all(sympy.simplify(sympy.sympify(a) - b) == 0 for a, b in pairs), got
    else:
        assert got.value == value and type(got.value) is type(value), got
    if kind == "number":  # exact: never a float
        assert isinstance(got.value, (int, Fraction)) and not isinstance(got.value, bool)
        assert isinstance(got.value, int) or got.value.denominator != 1
    assert got.precision == precision and (precision is None or isinstance(got.precision, Fraction)), got
    assert got.approximate is approximate


# raw, keyword arguments, the words the reason must contain
UNREADABLE = [
    ("29O,400", {}, ["'O' at position 3", "letter, not a zero"]),
    ("1O", {}, ["'O' at position 2"]),
    ("3l", {}, ["'l' at position 2", "not a one"]),
    ("2O48", {}, ["'O' at position 2"]),
    ("96,55,55", {}, ["',' at position 3", "2 digits, not 3", "[96, 55, 55]"]),
    ("1,2,3", {}, ["',' at position 2", "[1, 2, 3]"]),
    ("1,5", {}, ["1.5"]),  # a decimal comma
    ("1234,567", {}, ["4 digits before the ',' at position 5"]),
    ("(96 55 55)", {}, ["the space at position 4 is followed by 2 digits"]),
    ("[96; 55; 55]", {}, ["';' at position 4", "separate"]),
    ("34,944 000", {}, ["mixes"]),
    ("55 55 96", {}, ["the space at position 3"]),
    ("128,256", {"shape": True}, ["the number 128256 or a shape", "[128, 256]"]),
    ("224 224", {"shape": True}, ["the number 224224 or a shape"]),
    ("1.234.567", {}, ["second '.' at position 6", "decimal point"]),
    ("12abc", {}, ["'abc' at position 3", "not a scale"]),
    ("3.5 MB", {}, ["'MB' at position 5", "unit"]),
    ("224px", {}, ["'px'", "unit"]),
    ("2GB", {}, ["'GB'", "unit"]),
    ("50%", {}, ["'%' at position 3"]),
    ("= 5", {}, ["'='"]),
    ("27K", {"names": ["K"]}, ["ambiguous", "27*K", "27000"]),
    ("27 K", {"names": ["K"]}, ["ambiguous", "27*K"]),
    ("1.5M", {"names": ["M", "K"]}, ["ambiguous", "1500000"]),
    ("X", {"names": ["K", "C"]}, ["unknown name 'X' at position 1", "names are C, K"]),
    ("27*k", {"names": ["K"]}, ["unknown name 'k'", "K"]),
    ("2K + 1", {}, ["'K' at position 2", "only after a lone number"]),
    ("KC", {"names": ["K", "C"]}, ["unknown name 'KC'"]),
    ("27*", {"names": ["K"]}, ["ends with '*' at position 3"]),
    ("(K+1", {"names": ["K"]}, ["'(' at position 1 is never closed"]),
    ("K+1)", {"names": ["K"]}, ["')' at position 4 closes nothing"]),
    ("1e999999", {}, ["too large"]),
    ("1.2 x 10^999", {}, ["too large"]),
    (1e300, {}, ["too large"]),
    (float("inf"), {}, ["not a finite number"]),
    (float("nan"), {}, ["not a finite number"]),
    ("2**64**64", {}, ["exponent"]),
    ("9" * 150 + "**64", {}, ["bits"]),
    ("9" * 101, {}, ["more than 100 digits"]),
    ("999999**64*999999**64", {}, ["more than 100 digits"]),  # each power within expr.py's bound
    ("999999**64*K", {"names": ["K"]}, ["more than 100 digits"]),
    ("1e100*" * 33 + "1", {}, ["too large"]),
    ("[1, " + "9" * 101 + "]", {}, ["size 2", "more than 100 digits"]),
    (10**101, {}, ["more than 100 digits"]),
    ("(" * 25 + "1" + ")" * 25, {}, ["nested"]),
    ("1/0", {}, ["division by zero"]),
    ("x" * (MAX_CHARS + 1), {}, ["too long"]),
    (True, {}, ["truth value"]),
    (False, {}, ["truth value"]),
    ("none", {}, ["ambiguous", "0", "invalid"]),
    ({"value": 3}, {}, ["mapping"]),
    ([96, [55, 55]], {}, ["size 2", "one whole number"]),
    ([96, None], {}, ["size 2", "empty"]),
    ([96, 55.5], {}, ["size 2", "111/2 is not a whole number"]),
    ([96, True], {}, ["size 2"]),
    ([96, "35K"], {}, ["size 2", "exact whole number"]),
    (["K"], {}, ["size 1", "'K'"]),
    (list(range(1, 40)), {}, ["39 sizes"]),
    ("55x", {}, ["size 2 of the shape is missing"]),
    ("55x55.5", {}, ["size 2", "111/2 is not a whole number"]),
    ("[1,024]", {}, ["starts with 0", "1024"]),
    ("~55x55x96", {}, ["a shape is exact"]),
    ("55 x 55, 96", {}, ["'x' at position 4"]),
    ("~ params", {}, ["no number"]),
    ("params", {}, ["'params' at position 1 is not a number"]),
    ("2 3.5", {}, ["position 2"]),
    ("٣٤", {}, ["position 1"]),  # Arabic-Indic digits
    ("34\u200b944", {}, ["two numbers with nothing between them"]),  # a zero-width space
    ("1–2", {}, ["dash at position 2"]),
]


@pytest.mark.parametrize("raw,kwargs,words", UNREADABLE,
                         ids=[f"{i}:{r!r}"[:40] for i, (r, *_) in enumerate(UNREADABLE)])
def test_unreadable_answers_say_why(raw, kwargs, words):
    got = _call(raw, kwargs)
    assert got.kind == "unreadable" and got.value is None and got.reason, got
    for word in words:
        assert word in got.reason, got.reason


def test_the_reason_points_at_the_character_as_written():
    """Positions count from 1 in `text`, the answer as written without surrounding spaces."""
    got = read_answer("  ~ 29O,400 params ")
    assert got.text == "~ 29O,400 params"
    assert "position 5" in got.reason and got.text[4] == "O"


def test_a_scale_letter_is_a_name_inside_a_formula_and_a_scale_after_a_lone_number():
    assert read_answer("27K").value == 27000
    assert read_answer("27K", names=["C"]).value == 27000  # K is not a name of this question
    assert read_answer("27K", names=["K"]).kind == "unreadable"
    assert read_answer("27*K", names=["K"]).value == 27 * K
    assert read_answer("27K + 1", names=["K"]).value == 27 * K + 1
    assert read_answer("1.5 thousand", names=["K"]).value == 1500  # a word is never a name's letter


def test_commas_without_spaces_depend_on_the_question():
    assert read_answer("128,256").value == 128256
    assert read_answer("128,256", shape=True).kind == "unreadable"
    assert read_answer("128, 256").value == (128, 256)
    assert read_answer("[128,256]").value == (128, 256)
    assert read_answer("96,55,55").kind == "unreadable"
    assert read_answer("96,55,55", shape=True).value == (96, 55, 55)


def test_names_may_be_given_as_symbols():
    k = sympy.Symbol("K")  # the caller's own assumptions
    got = read_answer("27*K", names={"K": k})
    assert got.value == 27 * k and got.value != 27 * K


def test_a_reading_is_a_frozen_value():
    got = read_answer("35K")
    assert got == Reading("number", 35000, "35K", False, "", Fraction(500))
    with pytest.raises(AttributeError):
        got.kind = "blank"


# ---- through the YAML a student writes ------------------------------------------------------

SUBMISSION = """\
conv1.params: 34,944
conv1.output: [96, 55, 55]
pool1.output: 27x27x96
conv2.params: ~307K
fc6.params: 37.75M
total.params: 1.2e8
total.macs: "1.2e8"
conv1.output_width: (227 - 11)/4 + 1
conv3.params: 34 944
conv4.params: 55.0
conv5.output: invalid
fc7.params:
fc8.params: "?"
sym.params: 27*C^2*K
"""
EXPECTED = {
    "conv1.params": ("number", 34944, None),
    "conv1.output": ("shape", (96, 55, 55), None),
    "pool1.output": ("shape", (27, 27, 96), None),
    "conv2.params": ("number", 307000, 500),
    "fc6.params": ("number", 37750000, 5000),
    "total.params": ("number", 120000000, None),  # YAML's float: the written form is lost
    "total.macs": ("number", 120000000, 5000000),  # quoted, it keeps its precision
    "conv1.output_width": ("number", 55, None),
    "conv3.params": ("number", 34944, None),
    "conv4.params": ("number", 55, None),
    "conv5.output": ("invalid", None, None),
    "fc7.params": ("blank", None, None),
    "fc8.params": ("blank", None, None),
    "sym.params": ("expression", 27 * C**2 * K, None),
}


def test_a_submission_file_read_by_archcalcs_yaml_loader():
    values = plain(load_yaml(SUBMISSION, "submission.yaml"))
    # names go with the questions whose answer is a formula: elsewhere 307K is a figure
    got = {key: read_answer(raw, names=["C", "K"] if key.startswith("sym.") else (), shape=key.endswith(".output"))
           for key, raw in values.items()}
    assert {k: (r.kind, r.value, r.precision) for k, r in got.items()} == EXPECTED


# ---- properties -----------------------------------------------------------------------------

SEPARATORS = [",", "_", " ", "\u00a0", "\u2009", "\u202f"]


@given(st.integers(min_value=0, max_value=10**30), st.sampled_from(SEPARATORS), st.booleans())
def test_any_integer_grouped_in_threes_reads_back(n, sep, negative):
    text = format(n, ",").replace(",", sep)  # Python's own grouping
    if negative:
        text = "-" + text
    got = read_answer(text)
    assert (got.kind, got.value, got.precision) == ("number", -n if negative else n, None), (text, got)


@given(st.integers(min_value=1000, max_value=10**12), st.sampled_from(SEPARATORS))
def test_a_wrong_grouping_is_never_read_as_a_number(n, sep):
    digits = str(n)
    cut = len(digits) - 2  # the last group two digits long: 1234,56
    text = digits[:cut] + sep + digits[cut:]
    assert read_answer(text).kind == "unreadable"


SIZES = st.lists(st.integers(min_value=1, max_value=100000), min_size=2, max_size=6)


@given(SIZES, st.sampled_from(["[{}]", "({})", "x", " x ", "×", " × ", "X", " by ", ", ", "*", ","]))
def test_any_shape_in_each_notation_reads_back(sizes, notation):
    if "{}" in notation:
        text = notation.format(", ".join(map(str, sizes)))
    else:
        text = notation.join(map(str, sizes))
    got = read_answer(text, shape=True)
    if notation == ",":
        grouping = all(len(str(s)) == 3 for s in sizes[1:]) and len(str(sizes[0])) <= 3
        if grouping:  # 128,256: the number or the shape: the student is asked to say which
            assert got.kind == "unreadable" and "or a shape" in got.reason
            return
    assert (got.kind, got.value) == ("shape", tuple(sizes)), (text, got)
    assert read_answer(list(sizes)).value == tuple(sizes)


@given(st.integers(min_value=1, max_value=100000))
def test_a_one_size_shape_is_bracketed(n):
    for text in (f"[{n}]", f"({n},)", f"[{n},]"):
        assert read_answer(text).value == (n,), text
    assert read_answer(str(n), shape=True).value == n  # a lone number stays a number: the caller decides


SCALE_WORDS = {"K": 10**3, "k": 10**3, " thousand": 10**3, "M": 10**6, " million": 10**6, "G": 10**9, "B": 10**9,
               " billion": 10**9, "T": 10**12, " trillion": 10**12}


@given(st.integers(min_value=0, max_value=99999), st.integers(min_value=0, max_value=4),
       st.sampled_from(sorted(SCALE_WORDS)), st.sampled_from(["", "~", "about "]))
def test_a_figure_reads_at_its_written_precision(whole, decimals, word, approx):
    mantissa = str(whole) if decimals == 0 else f"{whole / 10 ** decimals:.{decimals}f}"
    got = read_answer(f"{approx}{mantissa}{word}")
    scale = SCALE_WORDS[word]
    assert got.kind == "number"
    assert got.value == Fraction(Decimal(mantissa) * scale)  # decimal, independently
    assert got.precision == Fraction(Decimal("0.5") * Decimal(10) ** -decimals * scale)
    assert got.approximate is bool(approx)


@given(st.integers(min_value=1, max_value=9999), st.integers(min_value=0, max_value=3),
       st.integers(min_value=-30, max_value=30),
       st.sampled_from(["{m}e{e}", "{m}E{e}", "{m} × 10^{e}", "{m}*10**{e}", "{m} x 10^{e}", "{m}·10^{e}"]))
def test_scientific_notation_reads_at_its_written_precision(digits, decimals, exponent, form):
    mantissa = str(digits) if decimals == 0 else f"{digits / 10 ** decimals:.{decimals}f}"
    got = read_answer(form.format(m=mantissa, e=exponent))
    assert got.kind == "number"
    assert got.value == Fraction(Decimal(f"{mantissa}e{exponent}"))
    assert got.precision == Fraction(Decimal(f"0.5e{exponent}") * Decimal(10) ** -decimals)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e90, max_value=1e90)
       .filter(lambda x: x == 0 or abs(x) > 1e-80))  # 100 digits either way
def test_any_finite_float_reads_as_its_decimal_value(x):
    got = read_answer(x)
    assert got.kind == "number" and got.value == Fraction(Decimal(repr(x)))
    assert not isinstance(got.value, Fraction) or got.value.denominator != 1


@given(st.lists(st.integers(min_value=-50, max_value=50), min_size=1, max_size=4),
       st.sampled_from(["K", "C", "H"]), st.sampled_from(["**", "^"]), st.booleans())
def test_a_polynomial_reads_as_sympy_builds_it(coefficients, name, power, implicit):
    times = "" if implicit else "*"
    terms = [f"({c}){times}{name}{power}{i}" for i, c in enumerate(coefficients)]
    got = read_answer(" + ".join(terms), names=["K", "C", "H"])
    s = {"K": K, "C": C, "H": H}[name]
    expected = sum(c * s**i for i, c in enumerate(coefficients))
    assert got.kind in ("expression", "number"), got
    assert sympy.expand(sympy.sympify(got.value) - expected) == 0


ALPHABET = st.sampled_from(list("0123456789,._ xX×*^()[]+-−/KkMmGBTOleE~≈?²³⁻\u00a0\u2009%=:'\"abcwy") +
                           ["by", "about", "invalid", "10^", "e-", "params"])
RAW = st.one_of(
    st.text(max_size=MAX_CHARS + 20),
    st.lists(ALPHABET, max_size=40).map("".join),
    st.lists(st.one_of(st.integers(), st.text(max_size=10), st.none(), st.floats(), st.booleans()), max_size=6),
    st.floats(), st.integers(), st.booleans(), st.none(),
)


@settings(max_examples=400)
@given(RAW, st.lists(st.sampled_from(["K", "C", "H", "W", "x", "e", "O"]), max_size=3), st.booleans())
def test_garbage_never_raises_and_is_read_fast(raw, names, shape):
    start = time.perf_counter()
    got = read_answer(raw, names=names, shape=shape)
    elapsed = time.perf_counter() - start
    assert got.kind in KINDS
    assert bool(got.reason) == (got.kind == "unreadable")
    assert got.reason != "this answer could not be read", (raw, got)  # the last guard is for bugs only
    assert got.kind not in ("blank", "invalid", "unreadable") or got.value is None
    assert got.kind != "number" or (isinstance(got.value, (int, Fraction)) and not isinstance(got.value, bool))
    assert got.precision is None or (got.kind == "number" and isinstance(got.precision, Fraction))
    assert elapsed < 0.5, (raw, elapsed)


@pytest.mark.parametrize("raw", ["9" * 200, "9" * 195 + "e100", "(" * 20 + "9" * 150 + ")" * 20,
                                 "*".join(["9" * 9] * 20), "99**64*" * 20 + "1", "1e100*" * 30 + "1",
                                 ", ".join(["9"] * 60), "x".join(["99999"] * 30), "K**64**64",
                                 "floor(" * 20 + "1" + ")" * 20])
def test_hostile_answers_are_refused_or_read_quickly(raw):
    start = time.perf_counter()
    got = read_answer(raw[:MAX_CHARS + 50], names=["K"])
    assert got.kind in KINDS
    assert time.perf_counter() - start < 0.5
