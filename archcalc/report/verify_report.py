"""Rendering of `archcalc verify`: per layer, engine vs torch, and a one-line verdict."""
from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from archcalc import __version__
from archcalc.printable import dumps
from archcalc.textio import notes
from archcalc.report.summary import safe_markup
from archcalc.engine import numbers as N

QUANTITIES = ("output", "params", "buffers", "flops")
HEADERS = {"output": "output", "params": "params", "buffers": "buffers", "flops": "FLOPs"}


def _value(quantity: str, v) -> str:
    if quantity == "output":
        return "×".join(N.fmt(d) for d in v)
    return N.fmt(v)


def _cell(check) -> str:
    if check.engine is None and check.torch is None:
        return "[red]✗ torch failed[/red]"
    if check.agree:
        return f"[green]✓[/green] {safe_markup(_value(check.quantity, check.engine))}"
    return (f"[red]✗ {safe_markup(_value(check.quantity, check.engine))} ≠ "
            f"{safe_markup(_value(check.quantity, check.torch))}[/red]")


def _where(v) -> str:
    sizes = ", ".join(f"{k}={n}" for k, n in v.bindings.items())
    return v.ran_on + (f" at {sizes}" if sizes else "")


def verdict_line(v, torch_version: str) -> str:
    quantities = "output shape, params, buffers and FLOPs"
    if v.agree:
        return (f"✓ {(v.name or v.spec.name)}: all {len(v.layers)} layers agree with torch on {quantities} "
                f"({_where(v)}, torch {torch_version})")
    bad = v.disagreements()
    listed = "; ".join(f"{path} {c.quantity}: {c.reason}" for path, c in bad[:3])
    more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
    return f"✗ {(v.name or v.spec.name)}: {len(bad)} disagreement(s) with torch ({_where(v)}): {listed}{more}"


def render_verification(v, console: Console, torch_version: str) -> None:
    title = safe_markup(f"{v.name or v.spec.name} ({v.spec.file}) on {_where(v)}")  # user text: escaped
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=title, title_justify="left")
    table.add_column("path")
    table.add_column("kind")
    for q in QUANTITIES:
        table.add_column(HEADERS[q] + (" (engine vs torch)" if q == "output" else ""),
                         justify="left" if q == "output" else "right")
    for layer in v.layers:
        table.add_row(layer.path, layer.kind, *(_cell(layer.checks[q]) for q in QUANTITIES))
    console.print(table)
    if v.note:
        console.print(f"[yellow]note:[/yellow] {safe_markup(v.note)}")
    line = verdict_line(v, torch_version)
    console.print(f"[{'green' if v.agree else 'red'}]{safe_markup(line)}[/]")


def _json_value(quantity: str, x):
    if x is None:
        return None
    if quantity == "output":
        return [N.to_json(d) for d in x]
    return N.to_json(x)


def verification_json(v, torch_version: str) -> dict:
    return {
        "spec": v.spec.file,
        "name": v.name or v.spec.name,
        "device": v.device,
        "ran_on": v.ran_on,
        "note": v.note,
        "bindings": v.bindings,
        "estimated_bytes": v.estimated_bytes,
        "agree": v.agree,
        "verdict": verdict_line(v, torch_version),
        "layers": [{"path": layer.path, "kind": layer.kind, "agree": layer.agree,
                    "checks": {q: {"engine": _json_value(q, c.engine), "torch": _json_value(q, c.torch),
                                   "agree": c.agree, "reason": c.reason}
                               for q, c in layer.checks.items()}} for layer in v.layers],
    }


def verify_document(results: list, errors: list, torch_version: str) -> dict:
    return {"archcalc": __version__, "torch": torch_version, "agree": all(v.agree for v in results) and not errors,
            "results": [verification_json(v, torch_version) for v in results],
            "errors": [e.to_json() for err in errors for e in err.errors],
            "notes": notes()}  # what was said on standard error: a folder's special files skipped


class TableView:
    """Each verification's table as it is done, progress on stderr, a count at the end."""

    def __init__(self, out, files: int, torch_version: str):
        from rich.console import Console

        self.console, self.status = out.console(), Console(stderr=True)
        self.files, self.torch_version = files, torch_version

    def start(self, i: int, file) -> None:
        if self.files > 1:
            self.status.print(f"[dim]({i}/{self.files}) {safe_markup(file)}[/dim]", highlight=False)

    def done(self, v) -> None:
        render_verification(v, self.console, self.torch_version)

    def invalid(self, err) -> None:
        import click

        click.echo(err.render(), err=True)

    def finish(self, results: list, errors: list, interrupted: bool) -> None:
        if self.files > 1 or interrupted:
            agreeing = sum(v.agree for v in results)
            self.console.print(f"{agreeing} of {len(results)} verification(s) agree; {len(errors)} spec(s) invalid",
                               highlight=False)


class JsonView:
    """One JSON document at the end: every verification and every invalid spec."""

    def __init__(self, out, files: int, torch_version: str):
        self.out, self.torch_version = out, torch_version

    def start(self, i: int, file) -> None:
        pass

    def done(self, v) -> None:
        pass

    def invalid(self, err) -> None:
        pass

    def finish(self, results: list, errors: list, interrupted: bool) -> None:
        doc = verify_document(results, errors, self.torch_version)
        doc["interrupted"] = interrupted
        self.out.echo(dumps(doc, indent=2))


VIEWS = {"table": TableView, "json": JsonView}
