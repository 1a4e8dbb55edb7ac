"""`archcalc check` output: coloured text, JSON, GitHub annotations, JUnit XML."""
from __future__ import annotations

from xml.etree import ElementTree as ET

from archcalc import __version__
from archcalc.printable import dumps
from archcalc.report.summary import safe_markup
from archcalc.textio import notes

SHOWN_WARNINGS = 3


def _loc_text(loc) -> str:
    return f"{loc}" if loc else ""


def render_text(reports, console) -> None:
    from archcalc.printable import one_line

    for rep in reports:
        file = one_line(rep.file)
        checks = len(rep.results)
        if rep.errors:
            console.print(f"[red]✗ {safe_markup(file)}: invalid[/red]", highlight=False)
            for err in rep.errors:
                console.print(safe_markup(err.render()), highlight=False)
        elif rep.failures:
            console.print(f"[red]✗ {safe_markup(file)}: {len(rep.failures)} of {checks} check(s) fail[/red]",
                          highlight=False)
        else:
            console.print(f"[green]✓ {safe_markup(file)}: {checks} check(s) hold[/green]", highlight=False)
        for r in rep.failures:
            where = f"{_loc_text(r.loc)}: " if r.loc else ""
            console.print(f"  {safe_markup(where)}[red]fail[/red]: {safe_markup(r.message())}", highlight=False)
            if r.derivation:
                console.print(f"      derived: {safe_markup(r.derivation)}", highlight=False, style="dim")
        for variant, w in rep.warnings[:SHOWN_WARNINGS]:
            tag = f" ({variant})" if variant else ""
            console.print(f"  [yellow]warning[/yellow]{safe_markup(tag)}: {safe_markup(f'{w.loc}: [{w.code}] {w.path}: {w.message}')}",
                          highlight=False)
        if len(rep.warnings) > SHOWN_WARNINGS:
            codes = sorted({w.code for _, w in rep.warnings})
            console.print(f"  [yellow]… and {len(rep.warnings) - SHOWN_WARNINGS} more warnings[/yellow] "
                          f"({', '.join(codes)}; --format json lists all; --strict makes inexact divisions errors)",
                          highlight=False)
    console.print(summary_line(reports), highlight=False)


def summary_line(reports) -> str:
    ok = sum(r.exit_code == 0 for r in reports)
    failed = sum(r.exit_code == 1 for r in reports)
    invalid = sum(r.exit_code == 2 for r in reports)
    checks = sum(len(r.results) for r in reports)
    failing = sum(len(r.failures) for r in reports)
    return (f"{len(reports)} spec(s): {ok} pass, {failed} fail, {invalid} invalid; "
            f"{checks} check(s), {failing} failed")


def _result_json(r) -> dict:
    return {"name": r.name, "kind": r.kind, "ok": r.ok, "variant": r.variant, "expected": r.expected,
            "found": r.found, "derivation": r.derivation, "file": r.loc.file if r.loc else None,
            "line": r.loc.line if r.loc else None, "column": r.loc.column if r.loc else None}


def render_json(reports) -> str:
    doc = {"archcalc": __version__, "ok": all(r.exit_code == 0 for r in reports), "summary": summary_line(reports),
           "specs": [{"spec": rep.file, "name": rep.name, "exit": rep.exit_code,
                      "results": [_result_json(r) for r in rep.results],
                      "errors": [e.to_json() for err in rep.errors for e in err.errors],
                      "warnings": [{"variant": v, "path": w.path, "code": w.code, "message": w.message,
                                    "line": w.loc.line if w.loc else None} for v, w in rep.warnings]}
                     for rep in reports],
           "notes": notes()}  # what was said on standard error: a folder's special files skipped
    return dumps(doc, indent=2)


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _gh(level: str, loc, message: str, title: str | None = None) -> str:
    props = []
    if loc is not None:
        props.append(f"file={_gh_escape(loc.file, True)}")
        if loc.line is not None:
            props.append(f"line={loc.line}")
        if loc.column is not None:
            props.append(f"col={loc.column}")
    if title:
        props.append(f"title={_gh_escape(title, True)}")
    return f"::{level} {','.join(props)}::{_gh_escape(message)}" if props else f"::{level}::{_gh_escape(message)}"


def render_github(reports) -> str:
    lines = []
    for rep in reports:
        for err in rep.errors:
            for e in err.errors:
                detail = "\n".join(x for x in (e.message, e.expected and f"expected: {e.expected}",
                                               e.found and f"found: {e.found}", e.hint and f"hint: {e.hint}",
                                               *e.context) if x)
                lines.append(_gh("error", e.loc, detail, "archcalc: invalid spec"))
        for r in rep.failures:
            detail = r.message() + (f"\nderived: {r.derivation}" if r.derivation else "")
            from archcalc.spec.errors import Location

            lines.append(_gh("error", r.loc or Location(rep.file), detail, f"archcalc: {r.kind} failed"))
        for _, w in rep.warnings:
            lines.append(_gh("warning", w.loc, f"[{w.code}] {w.path}: {w.message}", "archcalc"))
    from archcalc.spec.errors import Location

    lines += [_gh("notice", Location(n["file"]), n["message"], "archcalc: note") for n in notes()]
    lines.append(summary_line(reports))
    return "\n".join(lines)


def render_junit(reports) -> str:
    suites = ET.Element("testsuites", name="archcalc check")
    for rep in reports:
        cases = 1 + len(rep.results)
        suite = ET.SubElement(suites, "testsuite", name=rep.file, tests=str(cases),
                              failures=str(len(rep.failures)), errors=str(1 if rep.errors else 0))
        valid = ET.SubElement(suite, "testcase", classname=rep.file, name="spec is valid")
        if rep.errors:
            err = ET.SubElement(valid, "error", message=rep.errors[0].message, type=rep.errors[0].code)
            err.text = "\n".join(e.render() for e in rep.errors)
        for r in rep.results:
            name = r.name + (f" [{r.variant}]" if r.variant else "")
            case = ET.SubElement(suite, "testcase", classname=rep.file, name=name)
            if not r.ok:
                fail = ET.SubElement(case, "failure", message=r.message(), type=r.kind)
                fail.text = "\n".join(x for x in (f"at {r.loc}" if r.loc else "", r.derivation or "") if x)
    if skipped := notes():  # a folder's special files: a skipped test case each, with the note
        suite = ET.SubElement(suites, "testsuite", name="skipped files", tests=str(len(skipped)), failures="0",
                              errors="0", skipped=str(len(skipped)))
        for n in skipped:
            case = ET.SubElement(suite, "testcase", classname=n["file"], name="spec is valid")
            ET.SubElement(case, "skipped", message=n["message"])
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


RENDERERS = {
    "text": lambda reports, out: render_text(reports, out.console()),
    "json": lambda reports, out: out.echo(render_json(reports)),
    "github": lambda reports, out: out.echo(render_github(reports)),
    "junit": lambda reports, out: out.echo(render_junit(reports)),
}
