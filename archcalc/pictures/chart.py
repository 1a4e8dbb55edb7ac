"""Charts with matplotlib (optional: pip install "archcalc[plot]").

The per-layer chart shows, for each layer with weights (or each block at --depth), its
parameters and its MACs side by side, with every bar's share of the total: the course's
claim that convolutions hold most of the computation and fully connected layers most of
the parameters, visible for any spec. The sweep chart plots totals against one size.
"""
from __future__ import annotations

from pathlib import Path

from archcalc.engine.analysis import Analysis, Row
from archcalc.printable import printable
from archcalc.spec.errors import Location, SpecError

MAX_BARS = 40
FAMILY_COLOURS = {"conv": "#4C72B0", "linear": "#DD8452", "recurrent": "#55A868", "embedding": "#8172B3",
                  "norm": "#937860", "block": "#64B5CD", "repeat": "#64B5CD", "merge": "#64B5CD"}


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plt.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable, selectable
        plt.rcParams["svg.hashsalt"] = "archcalc"  # stable ids
        plt.rcParams["text.parse_math"] = False  # a "$" in a spec's name is a dollar, not TeX that fails to parse
    except ImportError:
        raise SpecError("charts need matplotlib, which is not installed", Location("archcalc plot"),
                        hint="pip install 'archcalc[plot]'", code="missing-dependency") from None
    return plt


def human(x: float) -> str:
    for scale, unit in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.0f}"


def bars(analysis: Analysis, depth: int | None) -> tuple[list[Row], int | None]:
    """The rows to draw: layers with weights, or blocks at `depth` when there are too many."""
    def weighted(r: Row) -> bool:
        return r.params not in (0, None) or r.macs not in (0, None)

    if depth is None:
        leaves = [r for r in analysis.rows if r.leaf and weighted(r)]
        if len(leaves) <= MAX_BARS:
            return leaves, None
        depth = 0
        while True:  # the deepest depth that still fits
            rows = _at_depth(analysis, depth + 1)
            if len(rows) > MAX_BARS or depth >= 8:
                break
            depth += 1
    return _at_depth(analysis, depth), depth


def _at_depth(analysis: Analysis, depth: int) -> list[Row]:
    rows = []
    for r in analysis.rows:
        if (r.depth == depth or (r.leaf and r.depth < depth)) and (r.params or r.macs):
            rows.append(r)
    return rows


def layer_chart(analysis: Analysis, output: str | Path, depth: int | None = None, log: bool = False) -> Path:
    path = Path(output)
    write_image(path, layer_chart_bytes(analysis, image_format(path), depth, log))
    return path


def layer_chart_bytes(analysis: Analysis, fmt: str, depth: int | None = None, log: bool = False) -> bytes:
    if analysis.symbolic:
        raise SpecError("a chart needs concrete sizes: " + ", ".join(analysis.symbols), Location(analysis.spec.file),
                        hint="bind them with --set, or plot a sweep (--sweep H=32:512:32)", code="needs-concrete-size")
    plt = _pyplot()
    rows, used_depth = bars(analysis, depth)
    if not rows:
        raise SpecError("nothing to chart: no layer has parameters or MACs", Location(analysis.spec.file),
                        code="usage")
    totals = analysis.totals
    labels = [r.path if len(r.path) <= 28 else "…" + r.path[-27:] for r in rows]
    colours = [FAMILY_COLOURS.get(r.family, "#999999") for r in rows]
    height = max(3.0, 0.32 * len(rows) + 1.8)
    fig, axes = plt.subplots(1, 2, figsize=(12, height), sharey=True)
    for ax, quantity, title in ((axes[0], "params", "parameters"), (axes[1], "macs", "multiply-accumulates")):
        _bars(plt, ax, [int(getattr(r, quantity) or 0) for r in rows], int(totals[quantity]) or 1, title, colours, log)
    axes[0].invert_yaxis()
    axes[0].set_yticks(list(range(len(rows))))
    axes[0].set_yticklabels(labels, fontsize=8)
    families = _family_lines(analysis)
    where = f" (blocks at depth {used_depth})" if used_depth is not None else ""
    # long names wrap (a name with no space breaks anywhere) instead of running off the figure's edges
    title = _wrapped(printable(f"{analysis.name}: {analysis.inputs_text()}{where}"), 100)
    fig.suptitle(title, fontsize=12)
    foot = _wrapped("  ·  ".join(families), 150) if families else ""  # "·": SVG text collapses bare spaces
    if foot:
        fig.text(0.01, 0.005, foot, fontsize=9, va="bottom")
    shown: dict[str, str] = {}  # legend label -> colour, blocks of every sort under one label
    for r in rows:
        label = r.family if r.leaf else "blocks"
        shown.setdefault(label, FAMILY_COLOURS.get(r.family, "#999999"))
    axes[1].legend([plt.Rectangle((0, 0), 1, 1, color=c) for c in shown.values()], list(shown),
                   loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)  # beside the panel:
    # inside it, the legend covered the last bars and their shares (seen in the browser test's screenshots)
    top, bottom = 0.1 + 0.22 * (title.count("\n") + 1), (0.05 + 0.17 * (foot.count("\n") + 1)) if foot else 0
    fig.set_figheight(height + top + bottom)
    fig.tight_layout(rect=(0, bottom / (height + top + bottom), 1, 1 - top / (height + top + bottom)))
    return _render(fig, plt, fmt)


def _wrapped(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


def _bars(plt, ax, values: list[int], total: int, title: str, colours: list[str], log: bool) -> None:
    """One panel: a bar per row, each labelled with its share and the running share above it."""
    ax.barh(list(range(len(values))), values, color=colours)
    ax.set_title(f"{title}: {human(total)} in all", fontsize=11)
    if log:
        ax.set_xscale("log")
    running = 0
    for i, v in enumerate(values):
        running += v
        if v:  # the bar's share, and the running share of everything drawn above it
            share = f" {human(v)} ({100 * v / total:.1f}%, Σ {100 * running / total:.0f}%)"
            ax.text(v if not log else v * 1.05, i, share, va="center", fontsize=8, clip_on=False)
    peak = max(values) or 1
    ax.set_xlim(right=(peak * 1.6) if not log else peak * 60)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _p: human(x)))
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def _family_lines(analysis: Analysis) -> list[str]:
    from archcalc.report.summary import family_shares

    return family_shares(analysis)


def sweep_chart(result, name: str, output: str | Path, fixed: str = "") -> Path:
    path = Path(output)
    fmt = image_format(path)
    plt = _pyplot()
    axis = result.names[0]
    others = result.names[1:]
    fig, ax = plt.subplots(figsize=(8, 4.8))
    xs = result.grid[axis]
    keep = [i for i in range(result.points) if result.valid[i]]
    if others:  # several swept names: one line per value of the first, at the others' first values
        first = {n: result.grid[n][0] for n in others}
        keep = [i for i in keep if all(result.grid[n][i] == v for n, v in first.items())]
    for quantity, label in (("params", "parameters"), ("macs", "MACs"), ("activation_memory", "activation bytes")):
        ax.plot([xs[i] for i in keep], [result.values[quantity][i] for i in keep], marker="o", markersize=3,
                label=label)
    ax.set_yscale("log")
    ax.set_xlabel(axis + ("  (" + ", ".join(f"{n}={result.grid[n][0]}" for n in others) + ")" if others else ""))
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _p: human(y)))
    ax.set_title(_wrapped(printable(f"{name}: totals against {axis}" + (f" ({fixed})" if fixed else "")), 70))
    ax.grid(alpha=0.3, which="both")
    ax.legend(frameon=False)
    fig.tight_layout()
    write_image(path, _render(fig, plt, fmt))
    return path


def image_format(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        raise SpecError(f"-o {path}: charts are written as .png, .svg or .pdf", Location(str(path)), code="usage")
    return fmt


def _render(fig, plt, fmt: str) -> bytes:
    import io

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=fmt, dpi=120, metadata={"Date": None} if fmt == "svg" else None)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def write_image(path: Path, data: bytes) -> None:
    from archcalc.textio import write_atomic

    write_atomic(path, data)


def plot_command(spec: str, output: str, sweeps, depth: int | None, log: bool, sets: dict, variant: str | None) -> str:
    """`archcalc plot`: per-layer bars of SPEC, or (sweeps) totals against a size; says what it wrote."""
    from archcalc.report.output import wrote

    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec

    loaded = load_spec(spec)
    if sweeps:
        from archcalc.engine.sweep import parse_over
        from archcalc.engine.sweep import sweep as run_sweep

        result = run_sweep(loaded, [parse_over(s) for s in sweeps], sets, variant)
        path = sweep_chart(result, loaded.name, output, ", ".join(f"{k}={v}" for k, v in sets.items()))
        return wrote(path, result.points, "sizes")
    analysis = analyze(loaded, sets, variant=variant)
    path = layer_chart(analysis, output, depth, log)
    return wrote(path, len(bars(analysis, depth)[0]), "bars")
