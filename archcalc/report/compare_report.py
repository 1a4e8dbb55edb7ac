"""`compare-conventions`: one row per tool (its figure as it prints it, the difference from
archcalc's MACs) and, under it, each difference in words and numbers."""
from __future__ import annotations

from archcalc.engine import numbers as N
from archcalc.report.summary import header_lines


def _signed(x) -> str:
    text = N.fmt(x)
    return text if text.startswith("-") or text.startswith("−") else "+" + text


def lines(analysis, comparisons) -> list[str]:
    """Plain text, one tool per paragraph (the table format and Markdown both use it)."""
    base = analysis.totals["macs"]
    out = [" · ".join(header_lines(analysis)), ""]
    table = [("tool", "prints", "figure", "− archcalc MACs")]
    for c in comparisons:
        conv = c.convention
        if c.unavailable:
            table.append((conv.tool, conv.reports.split(" (")[0], "?", "see below"))
            continue
        table.append((conv.tool, conv.reports.split(" (")[0] + ("" if conv.per_batch else ", per sample"),
                      N.fmt(c.figure), "" if conv.name == "archcalc" else _signed(N.sub(c.figure, base))))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for r in table:
        out.append(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}".rstrip())
    out += ["", "Why, rule by rule:", ""]
    for c in comparisons:
        conv = c.convention
        if conv.name == "archcalc":
            continue
        if c.unavailable:
            out += [f"{conv.tool}: no figure: {c.unavailable}", ""]
            continue
        unit = "FLOPs" if conv.unit == "FLOPs" else "MAC-like"
        out.append(f"{conv.tool}: {N.fmt(c.figure)} ('{conv.reports}', {unit}; "
                   f"{'whole batch' if conv.per_batch else 'per sample'}) = archcalc {_signed(N.sub(c.figure, base))}")
        for d in c.differences:
            out.append(f"  {_signed(d.amount):>16}  {d.words}")
            for kind, words in d.rules.items():
                out.append(f"  {'':>16}    {kind}: {words}")
        if not c.differences:
            out.append(f"  {'':>16}  the same figure")
        for note in conv.notes:
            out.append(f"  {'':>16}  note: {note}")
        out.append("")
    return out


def to_json(analysis, comparisons) -> dict:
    from archcalc.report.json_report import convention_json

    return {
        "spec": analysis.spec.file, "name": analysis.name, "batch": analysis.batch,
        "macs": N.to_json(analysis.totals["macs"]),
        "conventions": [{
            **convention_json(c.convention, analysis),
            "figure": None if c.unavailable else N.to_json(c.figure),
            "macs_equivalent": None if c.unavailable else N.to_json(c.macs_equivalent),
            "difference": None if c.unavailable else N.to_json(N.sub(c.figure, analysis.totals["macs"])),
            "unavailable": c.unavailable,
            "differences": [{"words": d.words, "amount": N.to_json(d.amount), "rules": d.rules}
                            for d in c.differences],
            "not_modelled": [{"path": f.path, "kind": f.kind, "reason": f.reason} for f in c.not_modelled],
        } for c in comparisons],
    }


def markdown(analysis, comparisons) -> str:
    base = analysis.totals["macs"]
    out = ["**" + " · ".join(header_lines(analysis)) + "**", "",
           "| tool | prints | figure | − archcalc MACs |", "|---|---|---:|---:|"]
    for c in comparisons:
        if c.unavailable:
            out.append(f"| {c.convention.tool} | {c.convention.reports} | ? | {c.unavailable} |")
            continue
        out.append(f"| {c.convention.tool} | {c.convention.reports} | {N.fmt(c.figure)} | "
                   f"{_signed(N.sub(c.figure, base))} |")
    out.append("")
    for c in comparisons:
        for d in c.differences:
            kinds = ", ".join(f"{k} ({w})" for k, w in d.rules.items())
            out.append(f"- {c.convention.name}: {d.words}: **{_signed(d.amount)}** — {kinds}")
    out += ["", "Each tool's rule for the layer kinds of this spec:", "",
            "| kind | " + " | ".join(c.convention.tool for c in comparisons) + " |",
            "|---|" + "---|" * len(comparisons)]
    for kind in dict.fromkeys(r.layer for r in analysis.leaves()):
        cells = []
        for c in comparisons:
            rule = c.convention.rule_for(kind)
            cells.append("not modelled" if rule is None else rule.words.replace("|", "\\|"))
        out.append(f"| {kind.kind} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def _table(analysis, comparisons, out) -> None:
    from archcalc.printable import printable

    out.echo(printable("\n".join(lines(analysis, comparisons))))


def _json(analysis, comparisons, out) -> None:
    import json

    out.echo(json.dumps(to_json(analysis, comparisons), indent=2))


def _markdown(analysis, comparisons, out) -> None:
    out.echo(markdown(analysis, comparisons), nl=False)


RENDERERS = {"table": _table, "json": _json, "markdown": _markdown}
