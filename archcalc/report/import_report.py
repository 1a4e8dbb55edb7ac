"""`archcalc import`: the spec written, and the report of its verification against the model."""
from __future__ import annotations

import json

import click


def report_lines(imported, results, target: str, output: str | None, verified: bool) -> list[str]:
    lines = [f"imported {target} with {imported.method}" + (f" → {output}" if output else "")]
    lines += [f"  note: {n}" for n in imported.notes]
    lines += [f"  {'ok  ' if r.ok else 'FAIL'} {r.message()}" + (f" ({r.derivation})" if r.derivation else "")
              for r in results]
    if not verified:
        lines.append("  not verified (--no-verify)")
    return lines


def render_text(imported, results, target: str, output: str | None, verified: bool) -> None:
    """Without -o the spec goes to standard output and the report to standard error."""
    if not output:
        click.echo(imported.text, nl=False)
    click.echo("\n".join(report_lines(imported, results, target, output, verified)), err=not output)


def render_json(imported, results, target: str, output: str | None, verified: bool) -> None:
    click.echo(json.dumps({"target": target, "method": imported.method, "file": output,
                           "spec": None if output else imported.text, "notes": imported.notes,
                           "verified": all(r.ok for r in results) if verified else None,
                           "checks": [{"name": r.name, "ok": r.ok, "expected": r.expected, "found": r.found}
                                      for r in results]}, indent=2))


RENDERERS = {"text": render_text, "json": render_json}
