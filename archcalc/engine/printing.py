"""Text for symbolic expressions, in Python syntax (the JSON contract's form)."""
from __future__ import annotations

from sympy import floor, together
from sympy.printing.str import StrPrinter


class _Printer(StrPrinter):
    def _print_floor(self, expr):
        return f"floor({self._print(together(expr.args[0]))})"

    def _print_ceiling(self, expr):
        return f"ceil({self._print(together(expr.args[0]))})"


_PRINTER = _Printer()


def expression_string(expr) -> str:
    return _PRINTER.doprint(expr)


__all__ = ["expression_string", "floor"]
