"""Budgets: ceilings a deployment allows (params, MACs, activation memory), from the
command line or a spec's `budget:` section; a failure names the largest contributors."""
from __future__ import annotations

from fractions import Fraction

from archcalc.check.expect import top_contributors
from archcalc.outcome import Outcome
from archcalc.spec.figures import parse_figure
from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis
from archcalc.spec.errors import Location, SpecError, did_you_mean
from archcalc.spec.loader import YMap, YNode, YScalar

BYTES_PER_ACTIVATION = 4  # float32
BUDGETS = {"params": "params", "macs": "macs", "activation_memory": "activations"}


def parse_limit(text: str | int, what: str, loc: Location) -> Fraction:
    """'25M', '4G', '200MB', '1e9' or an integer → the limit (bytes for activation_memory)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return Fraction(text)
    figure = parse_figure(str(text), bytes_ok=what == "activation_memory")
    if figure is not None:
        return figure.value
    try:
        return Fraction(str(text).replace(",", "").replace("_", ""))
    except (ValueError, ZeroDivisionError):
        raise SpecError(f"{what} budget '{text}' is not a number", loc,
                        expected="e.g. 25M, 4G, 200MB or a plain number", code="usage") from None


def command_line_limits(**given: str | None) -> dict[str, tuple[Fraction, None, str]]:
    """--max-params 30M, --max-macs 5G, --max-activation-memory 200MB: the limits given."""
    return {key: (parse_limit(value, key, Location(f"--max-{key.replace('_', '-')}")), None, value)
            for key, value in given.items() if value is not None}


def spec_budget(node: YNode | None) -> dict[str, tuple[Fraction, Location, str]]:
    out: dict[str, tuple[Fraction, Location, str]] = {}
    if node is None:
        return out
    if not isinstance(node, YMap):
        raise SpecError("'budget' must be a mapping", node.loc, expected="budget: {params: 30M, macs: 5G}",
                        code="invalid-spec")
    for key, (kloc, value) in node.entries.items():
        if key not in BUDGETS:
            raise SpecError(f"unknown budget '{key}'", kloc, expected="params, macs or activation_memory",
                            hint=did_you_mean(key, BUDGETS), code="invalid-spec")
        if not isinstance(value, YScalar) or isinstance(value.value, (bool, type(None), float)):
            raise SpecError(f"budget {key} must be a number or a figure such as 30M", value.loc, code="invalid-spec")
        out[key] = (parse_limit(value.value, key, value.loc), value.loc, str(value.value))
    return out


def check_budgets(analysis: Analysis, limits: dict[str, tuple[Fraction, Location | None, str]],
                  variant: str | None = None) -> list[Outcome]:
    results = []
    for key, (limit, loc, text) in limits.items():
        quantity = BUDGETS[key]
        found = analysis.totals[quantity]
        if key == "activation_memory":
            found = N.mul(found, BYTES_PER_ACTIVATION)
        if N.is_symbolic(found):
            results.append(Outcome(f"budget.{key}", False, f"at most {text}", f"{N.fmt(found)} (a formula: bind its "
                                  "sizes with --set)", loc, None, variant, kind="budget"))
            continue
        ok = Fraction(found) <= limit
        top = top_contributors(analysis, quantity, 5)
        scale = BYTES_PER_ACTIVATION if key == "activation_memory" else 1
        unit = " bytes" if key == "activation_memory" else ""
        derivation = "largest: " + ", ".join(
            f"{r.path} {N.fmt(N.mul(getattr(r, quantity), scale))}{unit}" for r in top)
        if key == "activation_memory":
            derivation = f"4 bytes (float32) × {N.fmt(analysis.totals['activations'])} activations; " + derivation
        results.append(Outcome(f"budget.{key}", ok, f"at most {text} ({N.fmt(int(limit))}{unit})",
                              f"{N.fmt(found)}{unit}", loc, derivation, variant, kind="budget"))
    return results
