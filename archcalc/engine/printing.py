"""Text for symbolic expressions, in Python syntax (the JSON contract's form)."""
from __future__ import annotations

from functools import lru_cache

from sympy import floor, together
from sympy.printing.str import StrPrinter


class _Printer(StrPrinter):
    def _print_floor(self, expr):
        return f"floor({self._print(together(expr.args[0]))})"

    def _print_ceiling(self, expr):
        return f"ceil({self._print(together(expr.args[0]))})"


_PRINTER = _Printer()


@lru_cache(maxsize=8192)
def expression_string(expr) -> str:
    """Cached: a deep network prints the same few size expressions many times."""
    return _PRINTER.doprint(expr)


__all__ = ["expression_string", "floor"]
