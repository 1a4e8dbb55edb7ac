"""`archcalc run`: a numeric exercise's outputs, layer by layer or the last one."""
from __future__ import annotations

import json


def number_text(x) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(number_text(v) for v in x) + "]"
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def render_text(outputs: list, out) -> None:
    for path, values in outputs:
        out.echo(f"{path}: {number_text(values)}")


def render_json(outputs: list, out) -> None:
    out.echo(json.dumps({path: values for path, values in outputs}, indent=2))


RENDERERS = {"text": render_text, "json": render_json}
