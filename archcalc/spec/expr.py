"""Safe arithmetic expressions: an `ast` whitelist evaluated by hand, never `eval`.

Grammar (docs/language.md): integer and decimal literals, names, `+ - * / // % **` (small integer
exponents), parentheses, `floor ceil min max`; conditions add comparisons and
`and or not`. Results are ints, exact Fractions, or sympy expressions when a name is
bound to a symbol. Text, nesting, node count and exponent size are all bounded, so a
hostile expression is refused before it can cost time or memory.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping

from archcalc.engine import numbers as N
from archcalc.spec.errors import Location, SpecError, did_you_mean

MAX_CHARS = 500
MAX_NESTING = 20
MAX_NODES = 200
MAX_EXPONENT = 64
MAX_RESULT_BITS = N.MAX_BITS

FUNCTIONS = {"floor": 1, "ceil": 1, "min": None, "max": None}
_ARITH = {ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow}
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


@dataclass(frozen=True)
class Expr:
    """A parsed, validated expression and where it was written."""

    text: str
    loc: Location | None
    tree: ast.AST
    names: frozenset[str]
    condition: bool = False

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return _Evaluator(self, env).visit(self.tree)


class Unknown:
    """A value a spec leaves open (`padding: "?"`), to be found by `archcalc solve`.

    It is named after its layer and argument (`conv2.padding`) and is a non-negative integer
    symbol until --set or solve binds it."""

    def __init__(self, loc: Location | None):
        self.loc = loc
        self.name = "?"

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return env[self.name]

    @property
    def names(self) -> frozenset[str]:
        return frozenset()

    text = "?"


def _reject(text: str, loc: Location | None, what: str, snippet: str | None = None,
            hint: str | None = None) -> SpecError:
    return SpecError(f"expression '{text}': {what}", loc, found=snippet,
                     expected="arithmetic on numbers and names: + - * / // % **, floor ceil min max",
                     hint=hint, code="invalid-expression")


def parse_expr(text: str, loc: Location | None = None, *, condition: bool = False) -> Expr:
    """Parse and validate; raises SpecError naming the offending part."""
    if len(text) > MAX_CHARS:
        raise _reject(text[:40] + "…", loc, f"longer than {MAX_CHARS} characters")
    depth = 0
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth > MAX_NESTING:
            raise _reject(text, loc, f"nested deeper than {MAX_NESTING} parentheses")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise _reject(text, loc, "not a valid expression",
                      hint="check parentheses and operators; names must be dims, vars or block parameters") from None
    names: set[str] = set()
    count = 0
    for node in ast.walk(tree):
        count += 1
        if count > MAX_NODES:
            raise _reject(text, loc, f"more than {MAX_NODES} terms")
        _check_node(node, text, loc, condition, names)
    return Expr(text, loc, tree.body, frozenset(names), condition)


def _segment(text: str, node: ast.AST) -> str:
    return ast.get_source_segment(text.strip(), node) or type(node).__name__


def _check_node(node: ast.AST, text: str, loc, condition: bool, names: set[str]) -> None:
    """Refuse any node outside the grammar, naming the offending part; collect the names."""
    if isinstance(node, (ast.Expression, ast.Load)) or type(node) in _ARITH or isinstance(node, (ast.UAdd, ast.USub)):
        return
    if condition and isinstance(node, (ast.Not, ast.And, ast.Or, ast.Compare, ast.BoolOp)) or \
            (condition and type(node) in _COMPARE):
        return
    check = _CHECKS.get(type(node))
    if check is None:
        raise _reject(text, loc, f"{type(node).__name__.lower()} is not allowed", _segment(text, node))
    check(node, text, loc, condition, names)


def _check_binop(node: ast.BinOp, text, loc, condition, names) -> None:
    if type(node.op) not in _ARITH:
        raise _reject(text, loc, "operator not allowed", _segment(text, node))


def _check_unary(node: ast.UnaryOp, text, loc, condition, names) -> None:
    if not (isinstance(node.op, (ast.UAdd, ast.USub)) or (condition and isinstance(node.op, ast.Not))):
        raise _reject(text, loc, "operator not allowed", _segment(text, node))


def _check_constant(node: ast.Constant, text, loc, condition, names) -> None:
    if isinstance(node.value, float) and not (abs(node.value) < 1e30):  # inf, nan, absurd
        raise _reject(text, loc, "a number literal is too large (or not finite)", _segment(text, node))
    if isinstance(node.value, bool) and condition:
        return
    if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
        raise _reject(text, loc, "only numbers may be written literally", _segment(text, node),
                      hint="names of dims and vars are written bare, without quotes")


def _check_name(node: ast.Name, text, loc, condition, names) -> None:
    if node.id.startswith("__"):
        raise _reject(text, loc, "names may not start with '__'", node.id)
    if node.id not in FUNCTIONS:
        names.add(node.id)


def _check_call(node: ast.Call, text, loc, condition, names) -> None:
    fn = node.func
    if not isinstance(fn, ast.Name) or fn.id not in FUNCTIONS:
        raise _reject(text, loc, "only floor, ceil, min and max may be called", _segment(text, node))
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        raise _reject(text, loc, "functions take plain arguments", _segment(text, node))
    arity = FUNCTIONS[fn.id]
    if (arity is not None and len(node.args) != arity) or (arity is None and len(node.args) < 2):
        raise _reject(text, loc, f"{fn.id} takes {arity or 'two or more'} argument(s)", _segment(text, node))


_CHECKS = {ast.BinOp: _check_binop, ast.UnaryOp: _check_unary, ast.Constant: _check_constant, ast.Name: _check_name,
           ast.Call: _check_call}


class _Evaluator:
    def __init__(self, expr: Expr, env: Mapping[str, Any]):
        self.expr = expr
        self.env = env

    def fail(self, what: str, hint: str | None = None) -> SpecError:
        return SpecError(f"expression '{self.expr.text}': {what}", self.expr.loc, hint=hint,
                         code="invalid-expression")

    def visit(self, node: ast.AST) -> Any:
        visit = getattr(self, f"_{type(node).__name__}", None)
        if visit is None:
            raise self.fail(f"cannot evaluate {type(node).__name__}")  # unreachable after validation
        return visit(node)

    def operand(self, node: ast.AST) -> Any:
        """A value arithmetic or a comparison uses: not a list (a block parameter [1, 7] is passed
        on whole, as `kernel_size: kernel`, never computed with)."""
        value = self.visit(node)
        if isinstance(value, list):
            raise self.fail(f"'{ast.unparse(node)}' is a list: a list can be passed on as an argument, not computed "
                            "with", "write each size as its own parameter to compute with it")
        return value

    def _Constant(self, node: ast.Constant) -> Any:
        v = node.value
        return Fraction(repr(v)) if isinstance(v, float) else v

    def _Name(self, node: ast.Name) -> Any:
        if node.id not in self.env:
            known = sorted(k for k in self.env if not k.startswith("_"))
            hint = did_you_mean(node.id, known) or (
                f"known names: {', '.join(known)}" if known else "declare it under vars: or dims:")
            raise self.fail(f"unknown name '{node.id}'", hint)
        return self.env[node.id]

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        v = self.operand(node.operand)
        if isinstance(node.op, ast.Not):
            return not self._truth(v)
        return v if isinstance(node.op, ast.UAdd) else N.neg(v)

    def _BinOp(self, node: ast.BinOp) -> Any:
        return self.bounded(self._binop(node), node)

    def _Call(self, node: ast.Call) -> Any:
        args = [self.operand(a) for a in node.args]
        return self.bounded({"floor": lambda: N.floor(args[0]), "ceil": lambda: N.ceil(args[0]),
                             "min": lambda: N.minimum(*args), "max": lambda: N.maximum(*args)}[node.func.id](), node)

    def bounded(self, value: Any, node: ast.AST) -> Any:
        """Every value an operation builds is checked at once (N.MAX_BITS, N.MAX_EXPR_NODES): its
        operands were, so it is at most twice their size, and nothing larger is ever built on it."""
        why = N.oversize(value)
        if why is not None:
            part = ast.unparse(node)
            raise self.fail(f"the value of '{part if len(part) <= 60 else part[:57] + '...'}' is too large: {why}",
                            "a size or count no network reaches; check the expression (vars that multiply "
                            "each other grow with every line)")
        return value

    def _BoolOp(self, node: ast.BoolOp) -> Any:
        values = (self._truth(self.operand(v)) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)

    def _Compare(self, node: ast.Compare) -> Any:
        left = self.operand(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            right = self.operand(right_node)
            result = N.compare(left, _COMPARE[type(op)], right)
            if result is None:
                raise self.fail("the comparison depends on a symbolic size", "bind the symbol with --set NAME=VALUE")
            if not result:
                return False
            left = right
        return True

    def _truth(self, v: Any) -> bool:
        if isinstance(v, bool):
            return v
        result = N.compare(v, "!=", 0)
        if result is None:
            raise self.fail("the condition depends on a symbolic size", "bind the symbol with --set NAME=VALUE")
        return result

    def _binop(self, node: ast.BinOp) -> Any:
        a, b = self.operand(node.left), self.operand(node.right)
        op = type(node.op)
        if op in (ast.Div, ast.FloorDiv, ast.Mod) and not N.is_symbolic(b) and b == 0:
            raise self.fail("division by zero")
        if op is ast.Add:
            return N.add(a, b)
        if op is ast.Sub:
            return N.sub(a, b)
        if op is ast.Mult:
            return N.mul(a, b)
        if op is ast.Div:
            return N.true_div(a, b)
        if op is ast.FloorDiv:
            return N.floordiv(a, b)
        if op is ast.Mod:
            return N.mod(a, b)
        # ** : small non-negative integer exponents only, and a bounded result
        if not isinstance(b, int) or b < 0 or b > MAX_EXPONENT:
            raise self.fail(f"exponent must be an integer from 0 to {MAX_EXPONENT}")
        if not N.is_symbolic(a):
            base = Fraction(a)
            bits = max(abs(base.numerator).bit_length(), base.denominator.bit_length()) * b
            if bits > MAX_RESULT_BITS:
                raise self.fail(f"result would exceed {MAX_RESULT_BITS} bits")
            return N.normalize(base ** b)
        # a symbolic base: sympy multiplies out its numbers ((2**4000*x)**64 holds 2**256000) and
        # repeats the base b times where it expands, so both are bounded before it is built
        nodes, bits = N.expr_nodes(a), N.number_bits(a)
        if bits * b > MAX_RESULT_BITS or nodes * b > N.MAX_EXPR_NODES:
            raise self.fail(f"result would exceed {MAX_RESULT_BITS} bits or {N.MAX_EXPR_NODES:,} expression nodes")
        return N.normalize(N.to_sympy(a) ** b)
