"""`archcalc kinds`: every layer kind with its arguments, what it imports as, and its doc
(markdown: the whole language reference, report/reference.py)."""
from __future__ import annotations

import json


def render_table(registry: dict, out) -> None:
    for name, k in sorted(registry.items()):
        args = ", ".join(a.name if a.required else f"{a.name}={a.default}" for a in k.args)
        out.echo(f"{name:22} {k.doc}")
        if args:
            out.echo(f"{'':22}   ({args})")


def render_json(registry: dict, out) -> None:
    out.echo(json.dumps({name: {"family": k.family, "doc": k.doc,
                                "imports": {"modules": list(k.torch_classes), "functions": list(k.torch_functions)},
                                "args": {a.name: {"type": a.type.describe, "required": a.required,
                                                  **({} if a.required else {"default": a.default})} for a in k.args}}
                         for name, k in sorted(registry.items())}, indent=2, default=str))


def render_markdown(registry: dict, out) -> None:
    """The language reference (report/reference.py): formulas and each peer tool's rule."""
    from archcalc.report.reference import render_markdown as reference

    reference(registry, out)


RENDERERS = {"table": render_table, "json": render_json, "markdown": render_markdown}
