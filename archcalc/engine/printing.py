"""Text for symbolic expressions, in Python syntax (the JSON contract's form)."""
from __future__ import annotations

from functools import lru_cache

from sympy import floor, together
from sympy.printing.str import StrPrinter


@lru_cache(maxsize=8192)
def _over_one_denominator(expr):
    """together(expr), cached: the floors of a deep network's sizes recur inside every count
    printed after them (H2, neurons, MACs, the next layer's sizes), and together is slow."""
    return together(expr)


class _Printer(StrPrinter):
    def _print_floor(self, expr):
        return f"floor({self._print(_over_one_denominator(expr.args[0]))})"

    def _print_ceiling(self, expr):
        return f"ceil({self._print(_over_one_denominator(expr.args[0]))})"


_PRINTER = _Printer()


@lru_cache(maxsize=8192)
def expression_string(expr) -> str:
    """Cached: a deep network prints the same few size expressions many times."""
    return _PRINTER.doprint(expr)


def clear_caches() -> None:
    """Forget every printed expression (benchmarks measure a cold start with this)."""
    expression_string.cache_clear()
    _over_one_denominator.cache_clear()


__all__ = ["clear_caches", "expression_string", "floor"]
