"""One student's answer, read as it was written.

`read_answer(raw, names, shape)` takes the value a submission file holds for one question, as
YAML 1.2 hands it over (an int, a float, a str, a list, None or a bool), and says what the
student wrote: a number (exact, with the precision a figure such as "35K" is written to), a
shape, a formula over the question's names, a claim that the question has no answer
("invalid"), nothing at all ("blank"), or something it cannot read ("unreadable", with a
reason that points at the offending character). It judges nothing: whether the answer is
right, and how close is close enough, is the grader's business.

Nothing is ever executed: the text is split into tokens by hand, and a formula is rebuilt
from the tokens as plain arithmetic and read by archcalc's own expression parser
(archcalc/spec/expr.py), which bounds its size, its exponents and its results.

Notations read (docs/language.md, "Answers as students write them", lists them with examples):

* Numbers: ``34944``; digits grouped in threes by ``,`` (``34,944``), ``_`` (``34_944``) or a
  space (``34 944``; a no-break, thin, narrow or figure space too); one separator per number,
  the first group 1 to 3 digits and every other exactly 3. ``.`` is always the decimal point,
  never a thousands separator: ``34.944`` is thirty-four point nine four four (YAML hands it
  over as that float anyway), and ``1.234.567`` is unreadable. ``55.0`` is 55 exactly;
  ``55.5`` is Fraction(111, 2). No float ever enters a value.
* Figures, read at the precision written (`Reading.precision`, half a unit of the last
  written digit): a scale after a number, ``35K``/``35k``/``35 K``, ``2.3M``/``2.3m`` (m is
  million: a count has no thousandths), ``1.5G``/``1.5B``/``1.5bn`` (billion), ``T``, and the
  words thousand, million, billion, trillion. Scientific notation the same way: ``1.2e8``,
  ``1.2E8``, ``1.2 × 10^8``, ``1.2 x 10^8``, ``1.2*10**8``, ``1.2·10⁸`` (each 120000000 ±
  5000000). A plain number has no precision (None), decimals included.
* Approximate: a leading ``~``, ``≈``, ``about``, ``approx``/``approx.``, ``approximately``,
  ``around``, ``roughly`` sets `approximate`; the number keeps its own precision.
* A trailing count word is accepted and ignored: params, parameters, weights, neurons,
  activations, MACs, MAC, MAdds, mult-adds, multiply-adds, FLOPs, FLOP (any case), also glued
  to a scale (``1.5GFLOPs``, ``35KMACs``). The reader does not check that the word names the
  question's quantity: `text` keeps it for the grader. Units are not read: ``3.5 MB``,
  ``224px``, ``50%`` are unreadable, with the reason.
* Shapes, sizes in the order written: a YAML list ``[96, 55, 55]``; the text ``[96, 55, 55]``
  or ``(96, 55, 55)`` (``(96,)`` for one size); sizes separated by ``x``, ``X``, ``×`` or
  ``by`` (``55x55x96``, ``55 x 55 x 96``, ``55×55×96``, ``55 by 55 by 96``) or by ``, ``
  (a comma and a space: ``96, 55, 55``) are a shape whatever `shape` says. Only when
  `shape` is true: ``55*55*96`` (whole numbers joined by ``*`` alone; otherwise it is a
  product, a number) and ``96,55,55`` (commas without spaces that are not a thousands
  grouping). A size is a whole number or a formula over the names (``K x (H-2) x (W-2)``).
* Formulas over `names` only: ``27*K``, ``27·K``, ``27 K``, ``2K + 1``, ``27*C**2``,
  ``27*C^2`` (``^`` is a power), ``27C²`` (superscript digits), ``2*(K+1)``, ``2(K+1)``,
  ``floor``, ``ceil``, ``min``, ``max``; a number next to a name or a parenthesis
  multiplies it. Arithmetic on numbers alone (``(227 - 11)/4 + 1``, ``55*55*96``, ``10^8``)
  is worked out and read as the number it makes (kind "number", no precision).
* Blank: None, an empty or all-space string, ``-``, ``--``, ``—``, ``–``, ``?``, ``??``,
  ``???``, ``~``, ``...``, ``…``, ``TBD``, ``TODO``, an empty list, ``[]``, ``()``.
* Invalid (the student says the question has no answer: the geometry does not work), in any
  case, optionally followed by ``.`` or ``!`` or by an explanation after ``:``, ``;``, ``,``,
  ``(``, `` - ``, ``—``: invalid, not valid, doesn't fit, does not fit, doesnt fit, won't
  fit, will not fit, not an integer, non-integer, not integer, not a whole number,
  impossible, not possible, undefined, N/A, NA, error, does not work, doesn't work,
  mismatch, shape mismatch, fails, cannot be computed, can't be computed.

The ambiguous cases, and the rules this reader follows:

* ``27K`` where K is also one of the question's `names`: unreadable ("write 27*K for 27
  times K, or 27000"). Where K is not a name, ``27K`` is 27,000. A scale letter is a scale
  only right after a lone number (``35K``, ``35 K``, ``~35K params``); anywhere else in a
  formula a letter is a name (``2K + 1`` is 2·K + 1 when K is a name, and unreadable,
  "unknown name 'K'", when it is not).
* ``128,256`` or ``224 224`` (a valid thousands grouping by ``,`` or a space) when `shape`
  is true: unreadable, the number 128,256 or the shape [128, 256]; when `shape` is false it is
  the number. ``96,55,55`` (not a valid grouping): a shape when `shape` is true, unreadable
  (pointing at the short group) when it is false. Inside brackets a comma always separates.
* ``2 x 10^8`` (a number, ``x``/``×``/``*``, then 10 to a power) is scientific notation,
  never the shape (2, 100000000).
* ``none``: unreadable (0, or "invalid"?); ``true``/``false``: unreadable.
* A letter O, o, I or l standing alone next to a digit (``29O,400``, ``1l``) is reported as
  a letter where a digit was meant, unless it is one of the names.
* A float from YAML has lost its written form: it is read from its shortest repr, so 55.0 is
  55 and 1e+20 keeps the precision of its scientific form, but YAML's 1.2e8 arrives as
  120000000.0 and is read exactly, without a precision. Pass the scalar's source text (a str)
  to keep the precision of ``1.2e8``.
* A formula's symbols are ``sympy.Symbol(name, integer=True, positive=True)``, as
  archcalc's checks make them; when `names` is a mapping, its values are used as the
  symbols instead.

* ``x`` or ``by`` separates a shape's sizes unless it is one of the names; ``e`` after digits
  is always a power of ten (``2e3``), even when e is a name.

Bounds: 200 characters of text, 32 sizes in a shape, 100 digits in a number (its numerator and
its denominator: 1e-100 is the smallest), a power of ten up to 10^100 either way in scientific
notation, and expr.py's own limits in a formula (exponents up to 64, each power up to 4096
bits). Past them the answer is unreadable, quickly.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Mapping

MAX_CHARS = 200
MAX_SIZES = 32
MAX_INT_DIGITS = 100
MAX_TEN_POWER = 100

SCALES = {"k": 10**3, "thousand": 10**3, "m": 10**6, "million": 10**6, "g": 10**9, "b": 10**9, "bn": 10**9,
          "billion": 10**9, "t": 10**12, "trillion": 10**12}
UNITS = {"b", "kb", "mb", "gb", "tb", "kib", "mib", "gib", "tib", "byte", "bytes", "bit", "bits", "px", "pixels",
         "kbit", "mbit", "s", "ms", "sec", "seconds", "hz"}
FUNCTIONS = ("floor", "ceil", "min", "max")
BLANKS = {"", "-", "--", "---", "—", "–", "?", "??", "???", "~", "...", "…", "tbd", "todo", "[]", "()"}
INVALID_PHRASES = ("invalid", "not valid", "doesn't fit", "does not fit", "doesnt fit", "won't fit", "will not fit",
                   "not an integer", "non-integer", "not integer", "not a whole number", "impossible",
                   "not possible", "undefined", "n/a", "na", "error", "does not work", "doesn't work", "mismatch",
                   "shape mismatch", "fails", "cannot be computed", "can't be computed")
_INVALID = re.compile(r"^(?:%s)(?:[.!]*|\s*(?:[:;,(—]|\s-\s).*)$" % "|".join(
    re.escape(p) for p in sorted(INVALID_PHRASES, key=len, reverse=True)), re.S)
_APPROX = re.compile(r"^(?:~=?|≈|≃|∼|(?:approximately|approx\.?|about|around|roughly)(?=[\s\d.+\-−]))\s*", re.I)
_COUNT_WORD = re.compile(r"(?:(?<=[\s\d])|(?<=[kmgbtKMGBT]))(params|parameters|weights|neurons|activations|macs?|"
                         r"madds|mult-adds|multiply-adds|flops?)\.?$", re.I)
_SPACES = " \u00a0\u2009\u202f\u2007\u2008\u200a"  # a space, no-break, thin, narrow no-break, figure, punctuation, hair
_SEPARATOR_CLASS = {",": ",", "_": "_", **{c: " " for c in _SPACES}}
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_SUPERSCRIPTS = {"⁰": 0, "¹": 1, "²": 2, "³": 3, "⁴": 4, "⁵": 5, "⁶": 6, "⁷": 7, "⁸": 8, "⁹": 9}
_LOOKALIKES = {"O": "a zero", "o": "a zero", "I": "a one", "l": "a one"}
_OPERATORS = {"+": "+", "-": "-", "−": "-", "*": "*", "·": "*", "⋅": "*", "∙": "*", "/": "/", "÷": "/", "^": "**",
              "(": "(", ")": ")", "[": "[", "]": "]", ",": ","}


@dataclass(frozen=True)
class Reading:
    """What a student wrote for one question.

    kind: "number" | "shape" | "expression" | "invalid" | "blank" | "unreadable".
    value: number: an int or an exact fractions.Fraction; shape: a tuple of sizes in the order
    written (ints, or sympy expressions for sizes written over the names); expression: a sympy
    expression with at least one of the names; otherwise None.
    text: the answer as written (stripped), for feedback.
    approximate: written with ~, ≈, about, approx, approximately, around or roughly.
    reason: for "unreadable", why, pointing at the offending character (positions count from 1
    in `text`).
    precision: for a figure with a scale or in scientific notation, half a unit of its last
    written digit as an exact Fraction (35K: 500; 1.2e8: 5000000; 37.75M: 5000); else None.
    """

    kind: str
    value: object = None
    text: str = ""
    approximate: bool = False
    reason: str = ""
    precision: object = None


def read_answer(raw: Any, names: Iterable[str] = (), shape: bool = False) -> Reading:
    """Read one answer; never raises on any value a YAML file can hold (see the module's doc)."""
    symbols = _symbols(names)
    try:
        return _read(raw, symbols, shape)
    except Exception:  # a last guard, for a bug only: the tests make sure no answer reaches it
        return Reading("unreadable", text=_short(raw), reason="this answer could not be read")


def _symbols(names: Iterable[str]) -> dict[str, Any]:
    """name -> symbol, made lazily (a None until a formula needs it)."""
    if isinstance(names, Mapping):
        return dict(names)
    return {n: None for n in names}


def _short(raw: Any) -> str:
    text = raw if isinstance(raw, str) else repr(raw)
    return text if len(text) <= 60 else text[:57] + "…"


def _read(raw: Any, symbols: dict, shape: bool) -> Reading:
    if raw is None:
        return Reading("blank")
    if isinstance(raw, bool):
        return Reading("unreadable", text=str(raw).lower(),
                       reason=f"'{str(raw).lower()}' is a truth value, not a number")
    if isinstance(raw, int):
        return _read_int(raw)
    if isinstance(raw, Fraction):
        return Reading("number", raw.numerator if raw.denominator == 1 else raw, str(raw))
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return Reading("unreadable", text=repr(raw), reason=f"'{raw!r}' is not a finite number")
        return _read_text(repr(raw), symbols, shape)
    if isinstance(raw, (list, tuple)):
        return _read_list(raw, symbols)
    if isinstance(raw, str):
        return _read_text(raw, symbols, shape)
    what = "a mapping" if isinstance(raw, Mapping) else f"a {type(raw).__name__}"
    return Reading("unreadable", text=_short(raw),
                   reason=f"{what} is not an answer: write a number, a shape or a formula")


def _read_int(n: int) -> Reading:
    if n.bit_length() > MAX_INT_DIGITS * 10 // 3:
        return Reading("unreadable", text=f"an integer of {n.bit_length()} bits",
                       reason=f"the number is too large (more than {MAX_INT_DIGITS} digits)")
    return Reading("number", n, str(n))


# ---- lists: shapes from YAML ----------------------------------------------------------------


def _read_list(items, symbols: dict) -> Reading:
    text = _list_text(items)
    if not items:
        return Reading("blank", text=text)
    if len(items) > MAX_SIZES:
        return Reading("unreadable", text=text, reason=f"a shape of {len(items)} sizes (at most {MAX_SIZES})")
    sizes = []
    for i, item in enumerate(items, 1):
        size, problem = _list_size(item, symbols)
        if problem:
            return Reading("unreadable", text=text, reason=f"size {i} of the list ({_short(item)}): {problem}")
        sizes.append(size)
    return Reading("shape", tuple(sizes), text)


def _list_text(items) -> str:
    text = "[" + ", ".join(_short(i) if not isinstance(i, str) else i for i in items[:MAX_SIZES + 1]) + "]"
    return text if len(text) <= 200 else text[:199] + "…"


def _list_size(item: Any, symbols: dict) -> tuple[Any, str]:
    """One size of a YAML list: (size, "") or (None, the problem)."""
    if item is None:
        return None, "it is empty"
    if isinstance(item, (list, tuple, Mapping)) or isinstance(item, bool):
        return None, "a size is one whole number"
    if isinstance(item, float) and not math.isfinite(item):
        return None, "not a finite number"
    if isinstance(item, int):
        reading = _read_int(item)
    elif isinstance(item, (float, str)):
        reading = _read_text(repr(item) if isinstance(item, float) else item, symbols, False, size=True)
    else:
        return None, "a size is one whole number"
    return _size_of(reading)


def _size_of(reading: Reading) -> tuple[Any, str]:
    if reading.kind == "unreadable":
        return None, reading.reason
    if reading.kind == "expression":
        return reading.value, ""
    if reading.kind == "blank":
        return None, "it is empty"
    if reading.kind != "number" or reading.approximate or reading.precision is not None:
        return None, "a size is an exact whole number"
    if not isinstance(reading.value, int):
        return None, f"{_fmt(reading.value)} is not a whole number"
    return reading.value, ""


def _fmt(x: Any) -> str:
    return str(x) if not isinstance(x, Fraction) else f"{x.numerator}/{x.denominator}"


# ---- text -----------------------------------------------------------------------------------


class _Unreadable(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _read_text(raw: str, symbols: dict, shape: bool, *, size: bool = False) -> Reading:
    if len(raw) > MAX_CHARS:
        return Reading("unreadable", text=raw[:57] + "…",
                       reason=f"the answer is too long ({len(raw)} characters; at most {MAX_CHARS})")
    text = raw.strip(_SPACES + _INVISIBLE + "\t\n\r\v\f")
    folded = re.sub(r"\s+", " ", text.replace("’", "'")).lower()
    if folded in BLANKS:
        return Reading("blank", text=text)
    if not size and _INVALID.match(folded):
        return Reading("invalid", text=text)
    if folded == "none":
        return Reading("unreadable", text=text, reason="'none' is ambiguous: write 0 for nothing, or 'invalid' if "
                                                       "the question has no answer")
    try:
        return _read_body(text, symbols, shape, size)
    except _Unreadable as exc:
        return Reading("unreadable", text=text, reason=exc.reason)


def _read_body(text: str, symbols: dict, shape: bool, size: bool) -> Reading:
    approx = _APPROX.match(text)
    start = approx.end() if approx else 0
    end = len(text)
    word = _COUNT_WORD.search(text, start)
    if word and word.group(1) not in symbols:
        end = word.start()
    if not text[start:end].strip():
        raise _Unreadable("there is no number here" if start or end < len(text) else "this is not an answer")
    _check_lookalikes(text, start, end, symbols)
    tokens = _tokens(text, start, end, symbols, commas_separate=False)
    reading = _classify(text, tokens, symbols, shape, size)
    if reading.kind == "number":
        _check_magnitude(reading.value)
    if approx and reading.kind == "shape":
        raise _Unreadable(f"a shape is exact: remove '{approx.group(0).strip()}'")
    if approx:
        reading = Reading(reading.kind, reading.value, reading.text, True, reading.reason, reading.precision)
    return reading


def _check_lookalikes(text: str, start: int, end: int, symbols: dict) -> None:
    """A letter O, o, I or l alone next to a digit was meant as a digit."""
    for m in re.finditer(r"(?<![A-Za-z_])[OoIl](?![A-Za-z_])", text[start:end]):
        i = start + m.start()
        near = (i > 0 and text[i - 1].isdigit()) or (i + 1 < len(text) and text[i + 1].isdigit())
        if near and m.group(0) not in symbols:
            raise _Unreadable(f"'{m.group(0)}' at position {i + 1} is a letter, not {_LOOKALIKES[m.group(0)]}")


# ---- tokens ---------------------------------------------------------------------------------


@dataclass
class _Tok:
    kind: str  # "num" | "name" | "op" | "x" (a shape's separator) | "sup" (a superscript power)
    text: str
    pos: int  # 0-based in the answer's text
    value: Any = None  # num: _Num; sup: int
    glued: bool = False  # no space before it
    end: int = -1  # where it ends in the answer's text

    def __post_init__(self):
        if self.end < 0:
            self.end = self.pos + len(self.text)


@dataclass
class _Num:
    groups: list[str]  # the integer part's digit groups
    separator: str | None  # "," "_" " " or None
    fraction: str | None  # the digits after ".", or None when there is no "."
    exponent: int | None  # after e/E
    bad_group: str = ""  # why the grouping is not a thousands grouping, or ""
    groups_at: list[int] = field(default_factory=list)

    @property
    def digits(self) -> str:
        return "".join(self.groups)

    def exact(self) -> Fraction:
        value = Fraction(int(self.digits + (self.fraction or "")), 10 ** len(self.fraction or ""))
        return value * Fraction(10) ** self.exponent if self.exponent else value

    def last_digit(self) -> Fraction:
        """A unit of the last written digit of the mantissa."""
        return Fraction(1, 10 ** len(self.fraction or ""))


def _tokens(text: str, start: int, end: int, symbols: dict, *, commas_separate: bool) -> list[_Tok]:
    tokens: list[_Tok] = []
    i, depth = start, 0
    while i < end:
        if text[i].isspace() or text[i] in _INVISIBLE:
            i += 1
            continue
        glued = i > start and not (text[i - 1].isspace() or text[i - 1] in _INVISIBLE)
        tok, i = _token_at(text, i, end, symbols, tokens, commas_separate or depth > 0)
        if tok.kind == "op" and tok.text in ("(", "["):
            depth += 1
        elif tok.kind == "op" and tok.text in (")", "]"):
            depth -= 1
        tok.glued = glued
        tokens.append(tok)
    return tokens


def _token_at(text: str, i: int, end: int, symbols: dict, tokens: list[_Tok], commas_separate: bool):
    c = text[i]
    if c.isascii() and c.isdigit() or (c == "." and i + 1 < end and text[i + 1].isascii() and text[i + 1].isdigit()):
        return _number(text, i, end, commas_separate)
    if c.isascii() and (c.isalpha() or c == "_"):
        return _word(text, i, end, symbols, tokens)
    if c in _SUPERSCRIPTS or c == "⁻":
        return _superscript(text, i, end)
    if c == "×":
        return _Tok("x", c, i), i + 1
    if text[i:i + 2] in ("**", "//"):
        return _Tok("op", text[i:i + 2], i), i + 2
    if c in _OPERATORS:
        return _Tok("op", _OPERATORS[c], i, end=i + 1), i + 1
    raise _Unreadable(_stray(text, i))


def _stray(text: str, i: int) -> str:
    c = text[i]
    where = f"at position {i + 1}"
    if c == "=":
        return f"'=' {where}: write the answer alone, not an equation"
    if c in "~≈":
        return f"'{c}' {where}: '~' and '≈' go at the start of an answer"
    if c == "%":
        return f"'%' {where}: a percentage is not an answer here; write the number itself"
    if c in "–—":
        return f"a dash {where}: write '-' for minus"
    if c in "'\u2019":
        return f"''' {where}: group digits with ',' or a space, as in 34,944"
    if c == ".":
        return f"'.' {where} is not followed by a digit"
    if c == ";":
        return f"';' {where}: separate a shape's sizes with ',' or x, as in [96, 55, 55] or 96x55x55"
    if not c.isprintable() or c.isspace():
        return f"an invisible character (U+{ord(c):04X}) {where}"
    if c.isalpha():
        return f"'{c}' {where} is not a letter this reader takes (names are written in plain letters)"
    return f"'{c}' {where} is not part of a number or a formula"


_DIGITS = re.compile(r"[0-9]*")
_EXPONENT = re.compile(r"[eE]([+\-−]?)([0-9]+)(?![A-Za-z_])")


def _number(text: str, i: int, end: int, commas_separate: bool) -> tuple[_Tok, int]:
    """Digits, grouped or not, with a decimal part and a power of ten: 34,944 / 1.2e8 / .5"""
    start = i
    j = _DIGITS.match(text, i, end).end()
    groups, at, separators = [text[i:j]], [i], []
    while j + 1 < end and text[j] in _SEPARATOR_CLASS and text[j + 1].isascii() and text[j + 1].isdigit() \
            and not (text[j] == "," and commas_separate):
        separators.append(_SEPARATOR_CLASS[text[j]])
        k = _DIGITS.match(text, j + 1, end).end()
        groups.append(text[j + 1:k])
        at.append(j + 1)
        j = k
    fraction, exponent, j = _decimals(text, j, end)
    num = _Num(groups, None, fraction, exponent, groups_at=at)
    _check_grouping(num, separators, text, start)
    return _Tok("num", text[start:j], start, num), j


def _decimals(text: str, j: int, end: int) -> tuple[str | None, int | None, int]:
    """The digits after '.', the power after e, and where the number ends."""
    fraction = None
    if j < end and text[j] == ".":
        k = _DIGITS.match(text, j + 1, end).end()
        fraction, j = text[j + 1:k], k
        if j + 1 < end and text[j] == "." and text[j + 1].isdigit():
            raise _Unreadable(f"a second '.' at position {j + 1}: '.' is the decimal point; group thousands with "
                              "',' or a space, as in 1,234,567")
    exponent = None
    m = _EXPONENT.match(text, j, end)
    if m:
        exponent = _bounded_power(m.group(2), m.group(1), m.start() + 1)
        j = m.end()
    return fraction, exponent, j


def _bounded_power(digits: str, sign: str, pos: int) -> int:
    if len(digits) > 4 or int(digits) > MAX_TEN_POWER:
        raise _Unreadable(f"the power of ten at position {pos} is too large (at most {MAX_TEN_POWER})")
    return -int(digits) if sign in ("-", "−") else int(digits)


def _check_grouping(num: _Num, separators: list[str], text: str, start: int) -> None:
    if not separators:
        return
    kinds = sorted(set(separators))
    if len(kinds) > 1:
        shown = " and ".join("a space" if k == " " else f"'{k}'" for k in kinds)
        raise _Unreadable(f"'{text[start:num.groups_at[-1] + len(num.groups[-1])]}' mixes {shown} to group digits: "
                          "use one")
    num.separator = kinds[0]
    the = "the space" if num.separator == " " else f"the '{num.separator}'"
    if len(num.groups[0]) > 3:
        num.bad_group = (f"{len(num.groups[0])} digits before {the} at position {num.groups_at[1]}: digits are "
                         f"grouped in threes, as in 34,944")
        return
    for group, at in zip(num.groups[1:], num.groups_at[1:]):
        if len(group) != 3:
            num.bad_group = (f"{the} at position {at} is followed by {len(group)} digit"
                             f"{'s' if len(group) != 1 else ''}, not 3: digits are grouped in threes, as in 34,944")
            return


def _word(text: str, i: int, end: int, symbols: dict, tokens: list[_Tok]) -> tuple[_Tok, int]:
    m = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(text, i, end)
    word = m.group(0)
    after_operand = bool(tokens) and (tokens[-1].kind in ("num", "name", "sup") or tokens[-1].text in ")]")
    if after_operand and word not in symbols and word not in FUNCTIONS:
        if text[i] in "xX" and (len(word) == 1 or text[i + 1].isdigit()):
            return _Tok("x", text[i], i), i + 1  # 55x55x96: the x is a separator, the digits a size
        if word == "by":
            return _Tok("x", word, i), m.end()
    return _Tok("name", word, i), m.end()


def _superscript(text: str, i: int, end: int) -> tuple[_Tok, int]:
    j, sign = i, 1
    if text[j] == "⁻":
        sign, j = -1, j + 1
    k = j
    while k < end and text[k] in _SUPERSCRIPTS:
        k += 1
    if k == j:
        raise _Unreadable(f"'⁻' at position {i + 1} has no superscript digits after it")
    digits = "".join(str(_SUPERSCRIPTS[c]) for c in text[j:k])
    if len(digits) > 4:
        raise _Unreadable(f"the power at position {i + 1} is too large")
    return _Tok("sup", text[i:k], i, sign * int(digits)), k


# ---- what the tokens are --------------------------------------------------------------------


def _classify(text: str, tokens: list[_Tok], symbols: dict, shape: bool, size: bool) -> Reading:
    bracketed = _bracketed(tokens)
    if bracketed is not None and not size:
        return _shape(text, bracketed, symbols)
    if any(t.kind == "op" and t.text == "," for t in _top(tokens)) or _comma_shape(tokens, shape):
        if size:
            raise _Unreadable("a size is one whole number")
        return _shape(text, _split(_tokens(text, tokens[0].pos, _end(tokens), symbols, commas_separate=True), ","),
                      symbols)
    if any(t.kind == "x" for t in _top(tokens)):
        return _times(text, tokens, symbols, size)
    if shape and not size and len(tokens) >= 3 and _integers_joined_by_star(tokens):
        return _shape(text, _split(tokens, "*"), symbols)
    sci = _scientific(tokens)
    if sci is not None:
        return Reading(sci.kind, sci.value, text, precision=sci.precision)
    figure = _figure(text, tokens, symbols, shape and not size)
    if figure is not None:
        return figure
    return _formula(text, tokens, symbols)


def _end(tokens: list[_Tok]) -> int:
    return tokens[-1].end


def _top(tokens: list[_Tok]):
    """The tokens outside every bracket."""
    depth = 0
    for t in tokens:
        if t.kind == "op" and t.text in ")]":
            depth -= 1
        if depth == 0:
            yield t
        if t.kind == "op" and t.text in "([":
            depth += 1


def _bracketed(tokens: list[_Tok]) -> list[list[_Tok]] | None:
    """[a, b, c] or (a, b, c) or (a,): the sizes' tokens; else None."""
    if len(tokens) < 2 or (tokens[0].text, tokens[-1].text) not in (("[", "]"), ("(", ")")) \
            or tokens[0].kind != "op" or tokens[-1].kind != "op":
        return None
    inner = tokens[1:-1]
    depth = 0
    for t in inner:
        if t.kind == "op":
            depth += (t.text in "([") - (t.text in ")]")
        if depth < 0:
            return None  # (a) * (b): the first bracket closes early
    if tokens[0].text == "(" and not any(t.text == "," and t.kind == "op" for t in _top(inner)):
        return None  # (K+1): a formula in parentheses
    return _split(inner, ",", trailing=True)


def _comma_shape(tokens: list[_Tok], shape: bool) -> bool:
    """A lone number whose commas do not group thousands: a shape when the question asks for one."""
    if len(tokens) != 1 or tokens[0].kind != "num" or tokens[0].value.separator != ",":
        return False
    num = tokens[0].value
    if not shape:
        if num.bad_group:
            raise _Unreadable(f"'{tokens[0].text}' is not a number: {num.bad_group}"
                              + _decimal_comma_hint(tokens[0]) + f"; for a shape write [{', '.join(num.groups)}]")
        return False
    if num.bad_group and num.fraction is None and num.exponent is None:
        return True
    if not num.bad_group:
        raise _Unreadable(f"'{tokens[0].text}' could be the number {num.digits} or a shape: write a shape as "
                          f"[{', '.join(num.groups)}] or {'x'.join(num.groups)}, a number without separators")
    return False


def _decimal_comma_hint(tok: _Tok) -> str:
    num = tok.value
    if len(num.groups) == 2 and len(num.groups[1]) < 3:
        return f" (a decimal is written with '.', as in {num.groups[0]}.{num.groups[1]})"
    return ""


def _split(tokens: list[_Tok], sep: str, *, trailing: bool = False) -> list[list[_Tok]]:
    parts: list[list[_Tok]] = [[]]
    depth = 0
    for t in tokens:
        if t.kind == "op" and t.text in ")]":
            depth -= 1
        if depth == 0 and (t.kind == "x" if sep == "x" else (t.kind == "op" and t.text == sep)):
            parts.append([])
        else:
            parts[-1].append(t)
        if t.kind == "op" and t.text in "([":
            depth += 1
    if trailing and len(parts) == 2 and not parts[1]:
        parts.pop()  # (96,): a one-size shape
    return parts


def _integers_joined_by_star(tokens: list[_Tok]) -> bool:
    return len(tokens) % 2 == 1 and all(t.kind == "num" and t.value.fraction is None and t.value.exponent is None
                                        for t in tokens[::2]) \
        and all(t.kind == "op" and t.text == "*" for t in tokens[1::2])


def _shape(text: str, parts: list[list[_Tok]], symbols: dict) -> Reading:
    if parts == [[]]:
        return Reading("blank", text=text)
    if len(parts) > MAX_SIZES:
        raise _Unreadable(f"a shape of {len(parts)} sizes (at most {MAX_SIZES})")
    sizes = []
    for n, part in enumerate(parts, 1):
        if not part:
            raise _Unreadable(f"size {n} of the shape is missing")
        if len(part) == 1 and part[0].kind == "num" and len(part[0].text) > 1 and part[0].text[0] == "0" \
                and part[0].text[1].isdigit():
            raise _Unreadable(f"size {n} of the shape ('{part[0].text}') starts with 0: between brackets a ',' "
                              "separates sizes, so a size is written without one (1024, not 1,024)")
        try:
            reading = _classify(text, part, symbols, False, True)
            if reading.kind == "number":
                _check_magnitude(reading.value)
        except _Unreadable as exc:
            raise _Unreadable(f"size {n} of the shape ('{_span(text, part)}'): {exc.reason}") from None
        size, problem = _size_of(reading)
        if problem:
            raise _Unreadable(f"size {n} of the shape ('{_span(text, part)}'): {problem}")
        sizes.append(size)
    return Reading("shape", tuple(sizes), text)


def _span(text: str, tokens: list[_Tok]) -> str:
    return text[tokens[0].pos:_end(tokens)]


def _times(text: str, tokens: list[_Tok], symbols: dict, size: bool) -> Reading:
    """55x55x96 is a shape; 1.2 x 10^8 scientific notation."""
    parts = _split(tokens, "x")
    if len(parts) == 2 and len(parts[0]) == 1 and parts[0][0].kind == "num":
        sci = _scientific([parts[0][0], _Tok("op", "*", tokens[1].pos), *parts[1]])
        if sci is not None:
            return Reading(sci.kind, sci.value, text, precision=sci.precision)
    if size:
        sep = next(t for t in tokens if t.kind == "x")
        raise _Unreadable(f"'{sep.text}' at position {sep.pos + 1} inside a size: write * to multiply")
    return _shape(text, parts, symbols)


def _scientific(tokens: list[_Tok]) -> Reading | None:
    """1.2e8; 1.2*10^8, 1.2*10**8, 1.2·10⁸ (with an optional sign): a figure at its precision."""
    sign, tokens = _signed(tokens)
    if not tokens or tokens[0].kind != "num" or tokens[0].value.bad_group:
        return None
    num = tokens[0].value
    if len(tokens) == 1 and num.exponent is not None:
        power = num.exponent
    else:
        power = _times_ten_to(tokens[1:])
        if power is None or num.exponent is not None:
            return None
    value = num.exact() * Fraction(10) ** (power - (num.exponent or 0))
    precision = num.last_digit() * Fraction(10) ** power / 2
    return Reading("number", _exact(sign * value), "", precision=precision)


def _times_ten_to(tokens: list[_Tok]) -> int | None:
    """The power n of `* 10^n`, `* 10**n`, `* 10ⁿ`; else None."""
    if len(tokens) < 3 or not (tokens[0].kind == "op" and tokens[0].text == "*") or tokens[1].kind != "num" \
            or tokens[1].text != "10":
        return None
    rest = tokens[2:]
    if len(rest) == 1 and rest[0].kind == "sup":
        power = rest[0].value
    elif rest[0].kind == "op" and rest[0].text == "**":
        power = _written_power(rest[1:])
    else:
        return None
    if power is not None and abs(power) > MAX_TEN_POWER:
        raise _Unreadable(f"10 to the power {power} is too large (at most {MAX_TEN_POWER})")
    return power


def _written_power(tokens: list[_Tok]) -> int | None:
    """A whole number, with an optional sign, after ^ or **; else None."""
    sign, tokens = _signed(tokens)
    if len(tokens) != 1 or tokens[0].kind != "num":
        return None
    num = tokens[0].value
    if num.fraction is not None or num.exponent is not None or num.separator:
        return None
    return _bounded_power(num.digits, "-" if sign < 0 else "", tokens[0].pos + 1)


def _signed(tokens: list[_Tok]) -> tuple[int, list[_Tok]]:
    """A leading + or - taken off."""
    if tokens and tokens[0].kind == "op" and tokens[0].text in ("+", "-"):
        return (-1 if tokens[0].text == "-" else 1), tokens[1:]
    return 1, tokens


def _exact(x: Fraction) -> int | Fraction:
    return x.numerator if x.denominator == 1 else x


def _figure(text: str, tokens: list[_Tok], symbols: dict, shape: bool) -> Reading | None:
    """A number, alone or with a scale: 34944, 34,944, 55.5, 35K, 120 million; else None."""
    sign, tokens = _signed(tokens)
    if not tokens or tokens[0].kind != "num" or len(tokens) > 2 or (len(tokens) == 2 and tokens[1].kind != "name"):
        return None
    tok = tokens[0]
    num = tok.value
    if num.bad_group:
        raise _Unreadable(f"'{tok.text}' is not a number: {num.bad_group}" + _decimal_comma_hint(tok))
    if len(tokens) == 2:
        return _scaled(text, sign, tok, tokens[1], symbols)
    if shape and num.separator == " " and num.fraction is None:
        raise _Unreadable(f"'{tok.text}' could be the number {num.digits} or a shape: write a shape as "
                          f"[{', '.join(num.groups)}] or {'x'.join(num.groups)}, a number without spaces")
    return Reading("number", _exact(sign * num.exact()), text)


def _scaled(text: str, sign: int, tok: _Tok, word: _Tok, symbols: dict) -> Reading | None:
    """35K, 120 million: a figure at its precision; 2C (C a name): None, a product."""
    num = tok.value
    scale = SCALES.get(word.text.lower())
    if word.text in symbols:
        if scale is None:
            return None
        raise _Unreadable(f"'{tok.text}{' ' if not word.glued else ''}{word.text}' is ambiguous here: {word.text} is "
                          f"one of this question's names and also means {_scale_word(scale)}; write "
                          f"{tok.text}*{word.text} for {tok.text} times {word.text}, or {_plain(num.exact() * scale)}")
    if scale is None:
        raise _Unreadable(_not_a_scale(word, symbols))
    if num.exponent is not None:
        raise _Unreadable(f"'{word.text}' at position {word.pos + 1} after a power of ten: write one or the other")
    return Reading("number", _exact(sign * num.exact() * scale), text, precision=num.last_digit() * scale / 2)


def _scale_word(scale: int) -> str:
    return {10**3: "thousand", 10**6: "million", 10**9: "billion", 10**12: "trillion"}[scale]


def _plain(x: Fraction) -> str:
    from archcalc.engine import numbers as N

    return N.int_text(x.numerator) if x.denominator == 1 else N.float_text(x, "")


def _not_a_scale(word: _Tok, symbols: dict) -> str:
    where = f"'{word.text}' at position {word.pos + 1}"
    if word.text.lower() in UNITS:
        return f"{where} is a unit: write the number alone (units are not read here)"
    known = "K, M, G or B, T, thousand, million, billion, trillion"
    names = f"; this question's names are {', '.join(sorted(symbols))}" if symbols else ""
    return f"{where} after the number is not a scale ({known}){names}"


# ---- formulas -------------------------------------------------------------------------------


def _formula(text: str, tokens: list[_Tok], symbols: dict) -> Reading:
    """Arithmetic over numbers and the question's names, read by archcalc's expression parser."""
    from archcalc.engine import numbers as N
    from archcalc.spec.errors import SpecError, did_you_mean
    from archcalc.spec.expr import parse_expr

    _check_names(tokens, symbols, did_you_mean)
    _check_balance(tokens)
    source = _python(tokens)
    if len(source) > _MAX_SOURCE:
        raise _Unreadable(f"the numbers in this formula are too large (more than {MAX_INT_DIGITS} digits)")
    try:
        expr = parse_expr(source)
        value = N.normalize(expr.evaluate(_env(expr.names, symbols)))
    except SpecError as exc:
        raise _Unreadable(_plain_message(exc.message)) from None
    if isinstance(value, (int, Fraction)):
        _check_magnitude(value)
        return Reading("number", value, text)
    for atom in value.atoms(N.sympy_module().Rational):
        _check_magnitude(Fraction(int(atom.p), int(atom.q)))
    return Reading("expression", value, text)


_MAX_SOURCE = 500  # expr.py's own bound on a formula's text
_MAX_BITS = int(MAX_INT_DIGITS * 3.33) + 1


def _check_magnitude(x: int | Fraction) -> None:
    """A number of more than 100 digits (up or down) is no count a student works out."""
    x = Fraction(x)
    if x.numerator.bit_length() > _MAX_BITS or x.denominator.bit_length() > _MAX_BITS:
        raise _Unreadable(f"the number is too large to be an answer (more than {MAX_INT_DIGITS} digits)")


def _env(used: Iterable[str], symbols: dict) -> dict:
    from archcalc.engine import numbers as N

    env = {}
    for name in used:
        if symbols.get(name) is None:
            symbols[name] = N.sympy_module().Symbol(name, integer=True, positive=True)
        env[name] = symbols[name]
    return env


def _plain_message(message: str) -> str:
    """expr.py's message, about the text as written, not the rebuilt source."""
    what = message.split(": ", 1)[1] if message.startswith("expression '") and ": " in message else message
    return f"not a formula this reader can work out: {what}"


def _check_names(tokens: list[_Tok], symbols: dict, did_you_mean) -> None:
    for n, t in enumerate(tokens):
        if t.kind == "x":
            raise _Unreadable(f"'{t.text}' at position {t.pos + 1}: write * to multiply")
        if t.kind != "name" or t.text in symbols:
            continue
        if t.text in FUNCTIONS and n + 1 < len(tokens) and tokens[n + 1].text == "(":
            continue
        if t.text.lower() in UNITS:
            raise _Unreadable(f"'{t.text}' at position {t.pos + 1} is a unit: write the number alone (units are "
                              "not read here)")
        scale = f" (as a scale, {t.text} goes only after a lone number, as in 35{t.text})" \
            if t.text.lower() in SCALES else ""
        if not symbols:
            raise _Unreadable(f"'{t.text}' at position {t.pos + 1} is not a number{scale}: this question takes no "
                              "names, only a number")
        hint = did_you_mean(t.text, list(symbols))
        raise _Unreadable(f"unknown name '{t.text}' at position {t.pos + 1}{scale}; this question's names are "
                          f"{', '.join(sorted(symbols))}" + (f" ({hint})" if hint else ""))


def _check_balance(tokens: list[_Tok]) -> None:
    opened: list[_Tok] = []
    for t in tokens:
        if t.kind == "op" and t.text in "([":
            opened.append(t)
        elif t.kind == "op" and t.text in ")]":
            if not opened:
                raise _Unreadable(f"'{t.text}' at position {t.pos + 1} closes nothing")
            opened.pop()
    if opened:
        raise _Unreadable(f"'{opened[-1].text}' at position {opened[-1].pos + 1} is never closed")
    last = tokens[-1]
    if last.kind == "op" and last.text not in ")]":
        raise _Unreadable(f"the answer ends with '{last.text}' at position {last.pos + 1}")
    for a, b in zip(tokens, tokens[1:]):
        if a.kind == "num" and b.kind == "num":
            raise _Unreadable(f"two numbers with nothing between them at position {b.pos + 1}")


def _python(tokens: list[_Tok]) -> str:
    """Plain arithmetic for expr.py: exact numbers as integer ratios, implicit products made explicit."""
    out: list[str] = []
    prev: _Tok | None = None
    for t in tokens:
        if prev is not None and _operand_end(prev) and _operand_start(t) and \
                not (prev.kind == "name" and prev.text in FUNCTIONS):
            out.append("*")
        if t.kind == "num":
            if t.value.bad_group:
                raise _Unreadable(f"'{t.text}' is not a number: {t.value.bad_group}")
            v = t.value.exact()
            out.append(str(v.numerator) if v.denominator == 1 else f"({v.numerator}/{v.denominator})")
        elif t.kind == "sup":
            out.append(f"**({t.value})")
        elif t.text in "[]":
            out.append("(" if t.text == "[" else ")")
        else:
            out.append(t.text)
        prev = t
    return " ".join(out)


def _operand_end(t: _Tok) -> bool:
    return t.kind in ("num", "name", "sup") or (t.kind == "op" and t.text in ")]")


def _operand_start(t: _Tok) -> bool:
    return t.kind in ("num", "name") or (t.kind == "op" and t.text in "([")
