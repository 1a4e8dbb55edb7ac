"""`archcalc solve`: the constraints, the method, and the solution(s) found."""
from __future__ import annotations

import json

SHOWN = 20


def render_text(result, out) -> None:
    found = result.solutions
    out.echo("constraints: " + "; ".join(result.constraints))
    out.echo(f"method: {result.method}")
    if not found:
        out.echo("no integer solution" + ("" if result.method == "sympy" else " in the searched range"))
    elif len(found) == 1:
        label = "smallest solution" if not result.complete else "solution"
        out.echo(f"{label}: " + ", ".join(f"{k} = {v}" for k, v in found[0].items()))
    else:
        out.echo(f"{len(found)} solutions:")
        for s in found[:SHOWN]:
            out.echo("  " + ", ".join(f"{k} = {v}" for k, v in s.items()))
        if len(found) > SHOWN:
            out.echo(f"  … and {len(found) - SHOWN} more")


def render_json(result, out) -> None:
    out.echo(json.dumps({"unknowns": result.unknowns, "solutions": result.solutions, "method": result.method,
                         "constraints": result.constraints, "complete": result.complete}, indent=2))


RENDERERS = {"text": render_text, "json": render_json}
