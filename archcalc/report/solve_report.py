"""`archcalc solve`: the constraints, the method, and the solution(s) found.

Text lists a few solutions, or summarises those of one unknown as its residue class
(W ≡ 3 (mod 4), 11 ≤ W ≤ 1023); when the unknowns fall into independent parts, each part's
solutions are given apart (the solutions are all their combinations). JSON gives the count,
the first LISTED solutions, and each part whole: its solutions, or its class and the first
LISTED of them."""
from __future__ import annotations

import json

from archcalc.engine.solve import LISTED

SHOWN = 20  # solutions (or values of one unknown) the text lists
ENDS = 3  # values shown at each end beside a class


def _binding(s: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in s.items())


def _class_line(part) -> str:
    c = part.residue
    values = [s[c.unknown] for s in part.solutions]
    shown = ", ".join(map(str, values[:ENDS])) + (", …, " + str(values[-1]) if len(values) > ENDS else "")
    return f"{c.text} ({c.count} values: {shown})"


def _part_lines(part) -> list[str]:
    """One part's solutions as lines: its class, its values, or its bindings."""
    found = part.solutions
    if part.residue is not None:
        return [_class_line(part)]
    if len(part.unknowns) == 1:
        name = part.unknowns[0]
        values = ", ".join(str(s[name]) for s in found[:SHOWN])
        more = f", … and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
        return [f"{name} = {values}{more}" if len(found) == 1 else f"{name} ∈ {{{values}{more}}}"]
    lines = [f"{len(found)} solutions of {', '.join(part.unknowns)}:"]
    lines += ["  " + _binding(s) for s in found[:SHOWN]]
    if len(found) > SHOWN:
        lines.append(f"  … and {len(found) - SHOWN} more")
    return lines


def _reasons(result) -> list[str]:
    """Why there is no solution: the constraints nothing can meet, or each part with none."""
    if result.impossible:
        return result.impossible
    out = []
    for p in result.parts:
        if p.solutions:
            continue
        names = ", ".join(f"{n} in {lo}..{hi}" if n in p.ranges else n
                          for n, (lo, hi) in ((n, p.ranges.get(n, (0, 0))) for n in p.unknowns))
        several = len(p.unknowns) > 1
        meets = (" meet " if several else " meets ") + " and ".join(p.constraints) if p.constraints else " is valid"
        out.append(f"no value{'s' if several else ''} of {names}{meets}")
    return out


def render_text(result, out) -> None:
    out.echo("constraints: " + "; ".join(result.constraints))
    if result.impossible:
        out.echo("no integer solution: " + "; ".join(result.impossible))
        return
    if len(result.parts) == 1:
        out.echo(f"method: {result.method}")
    else:
        out.echo(f"method: {len(result.parts)} independent parts, each solved apart")
        for p in result.parts:
            out.echo(f"  {', '.join(p.unknowns)}: {p.method}")
    if result.note:
        out.echo(f"note: {result.note}")
    count = result.count
    if count == 0:
        searched = all(p.method == "sympy" for p in result.parts if not p.solutions)
        out.echo("no integer solution" + ("" if searched else " in the searched range") + ": "
                 + "; ".join(_reasons(result)))
    elif count == 1:
        label = "smallest solution" if not result.complete else "solution"
        out.echo(f"{label}: " + _binding(result.first(1)[0]))
    elif len(result.parts) == 1:
        part = result.parts[0]
        label = f"{count} solutions" if result.complete else f"{count} smallest solutions"
        if part.residue is not None:
            out.echo(f"{label}: {_class_line(part)}")
        elif len(part.unknowns) == 1:
            out.echo(f"{label}: {_part_lines(part)[0]}")
        else:
            out.echo(f"{label}:")
            for s in part.solutions[:SHOWN]:
                out.echo("  " + _binding(s))
            if count > SHOWN:
                out.echo(f"  … and {count - SHOWN} more")
    else:
        sizes = " × ".join(str(len(p.solutions)) for p in result.parts)
        out.echo(f"{count} solutions ({sizes}: every combination of the parts'):")
        for p in result.parts:
            for line in _part_lines(p):
                out.echo("  " + line)


def _part_json(part) -> dict:
    return {"unknowns": part.unknowns, "method": part.method,
            "ranges": {k: list(v) for k, v in part.ranges.items()}, "constraints": part.constraints,
            "count": len(part.solutions), "complete": part.complete,
            "class": part.residue.to_json() if part.residue else None,
            "solutions": part.solutions[:LISTED] if part.residue else part.solutions}


def render_json(result, out) -> None:
    listed = result.first(LISTED)
    payload = {"unknowns": result.unknowns, "count": result.count, "solutions": listed,
               "listed_all": len(listed) == result.count, "method": result.method,
               "constraints": result.constraints, "complete": result.complete,
               "parts": [_part_json(p) for p in result.parts], "note": result.note,
               "reasons": _reasons(result) if result.count == 0 else []}
    out.echo(json.dumps(payload, indent=2))


RENDERERS = {"text": render_text, "json": render_json}
