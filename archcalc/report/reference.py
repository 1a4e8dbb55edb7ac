"""The language reference, generated from the layer registry so that it cannot drift from it
(`archcalc kinds --format markdown`; the documentation site's reference pages).

For every kind: its arguments (type, default, meaning), the torch class it stands for, and
its formulas. The formulas are not written here: each kind is analysed, as a one-layer spec
whose sizes are the course's symbols ([D1, H1, W1], K filters, F×F field, S stride, P
padding; a sequence [T, x] with h hidden units), by the same engine every command uses, and
the page shows the derivation steps the kind itself writes (`explain`'s) and the symbolic
counts they come to. Each peer tool's rule for the kind, and what that rule counts on the
example, come from the conventions' tables. The example of a kind whose default does not
fit is in archcalc/data/reference_examples.yaml; a kind that still cannot be analysed is
shown with the reason, never left out.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from archcalc.engine import numbers as N

DATA = Path(__file__).resolve().parent.parent / "data"
SYMBOLS = {"out_channels": "K", "kernel_size": "F", "stride": "S", "padding": "P", "hidden_size": "h",
           "out_features": "D2", "num_embeddings": "V", "embedding_dim": "E"}
SYMBOLIC_OPTIONAL = ("stride", "padding")  # written as S and P even though they have defaults
SEQUENCE_FAMILIES = ("recurrent", "attention", "transformer", "position", "embedding")
IMAGE_INPUTS = (["D1", "H1", "W1"], ["D1", "W1"], ["D1", "T1", "H1", "W1"], ["x"])
SEQUENCE_INPUTS = (["T", "x"], ["x"])
LEGEND = ("Sizes are the course's symbols: an input W1×H1×D1 is written [D1, H1, W1] (channels first, as in "
          "PyTorch; [D1, W1] a 1-D signal, [D1, T1, H1, W1] a clip), F×F the receptive field (kernel_size), S "
          "the stride, P the zero padding, K the filters (out_channels), W2×H2×D2 the output; a sequence is [T, x], "
          "T steps of x features, with h hidden units and G gate blocks; E an embedding width, h the heads of an "
          "attention, d the head size, M the length of the memory (the source) a decoder attends to; a name no "
          "legend gives is the example's own (n, g, r: a size, groups, a factor). Formulas are the kind's own "
          "derivation steps (as `archcalc explain` prints them); the symbolic results are the engine's, in Python "
          "syntax (`floor((H1 - F + 2*P)/S) + 1`), as the JSON output writes them.")


@dataclass
class Example:
    """A kind analysed: the spec text, the analysis and its row named `layer` (None with the reason)."""

    text: str
    analysis: Any = None
    row: Any = None
    error: str | None = None


def _curated() -> dict:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load((DATA / "reference_examples.yaml").read_text(encoding="utf-8")) or {}


def _names(shape) -> list[str]:
    return [d for d in shape if isinstance(d, str) and d.isidentifier()]


def _spec(name: str, kind, input_, args: dict, merge_layers: dict | None = None, before: list | None = None) -> str:
    """The one-layer spec, as text: every symbol of its input and arguments declared a dim."""
    item = {"name": "layer", **args, **(merge_layers or {})}
    if kind.merge and "branches" not in item:
        item["branches"] = {"a": ["identity"], "b": ["identity"]}
    symbols = []
    shapes = input_.values() if isinstance(input_, dict) and "shape" not in input_ else [input_]
    for shape in shapes:
        symbols += _names(shape["shape"] if isinstance(shape, dict) else shape)
    for value in args.values():
        symbols += _names(value if isinstance(value, list) else [value])
    spec = {"archcalc": 1, "name": name}
    spec["inputs" if isinstance(input_, dict) and "shape" not in input_ else "input"] = input_
    dims = list(dict.fromkeys(symbols))
    if dims:
        spec["dims"] = {d: {} for d in dims}
    spec["layers"] = [*(before or []), {name: item}]
    return _yaml(spec)


def _yaml(spec: dict) -> str:
    """The spec as a reader would write it: flow style below the top level."""
    lines = []
    for key, value in spec.items():
        if key == "layers":
            lines.append("layers:")
            lines += [f"  - {json.dumps(item, ensure_ascii=False)}" for item in value]
        else:
            lines.append(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines).replace('"', "") + "\n"  # the text analysed: a quote it needed would fail there


def _analysed(text: str, name: str) -> Example:
    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec_text
    from archcalc.spec.errors import SpecError

    try:
        analysis = analyze(load_spec_text(text, f"<{name} example>"), {}, 1)
        return Example(text, analysis, analysis.row("layer"))
    except SpecError as exc:
        return Example(text, error=exc.message if hasattr(exc, "message") else str(exc))


def _default_inputs(kind) -> list:
    if kind.accepts_index:
        return [{"shape": ["T"], "dtype": "index"}]
    if kind.family in SEQUENCE_FAMILIES:
        return [*SEQUENCE_INPUTS, *IMAGE_INPUTS]
    return [*IMAGE_INPUTS, *SEQUENCE_INPUTS]


def _default_args(kind) -> dict | None:
    """The required arguments as the course's symbols (S and P too); None when one has none."""
    args = {}
    for arg in kind.args:
        if arg.name in SYMBOLS and (arg.required or arg.name in SYMBOLIC_OPTIONAL):
            args[arg.name] = SYMBOLS[arg.name]
        elif arg.required:
            return None
    return args


@lru_cache(maxsize=None)
def example(name: str) -> Example:
    """The kind analysed on its curated example, else on the first default input it takes."""
    from archcalc.layers.registry import kinds

    kind = kinds()[name]
    curated = _curated().get(name)
    if curated is not None:
        input_ = curated.get("inputs") or curated["input"]
        return _analysed(_spec(name, kind, input_, curated.get("args", {}), curated.get("layers"),
                               curated.get("before")), name)
    args = _default_args(kind)
    if args is None:
        return Example("", error="no example: an argument it requires has no symbol in the course and no entry in "
                                 "archcalc/data/reference_examples.yaml")
    tried = None
    for input_ in _default_inputs(kind):
        tried = _analysed(_spec(name, kind, input_, args), name)
        if tried.row is not None:
            return tried
    return tried


@lru_cache(maxsize=None)
def archcalc_classes() -> frozenset[str]:
    """The module classes archcalc writes itself (torch_backend/modules.py), read without torch."""
    path = Path(__file__).resolve().parent.parent / "torch_backend" / "modules.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(n.name for n in tree.body if isinstance(n, ast.ClassDef))


def torch_text(kind) -> str:
    """What the kind stands for in torch, and what `archcalc import` reads as it."""
    names = []
    for cls in kind.torch_classes:
        if "." in cls:
            names.append(f"`{cls}`")
        elif cls in archcalc_classes():
            names.append(f"`{cls}` (archcalc's own module, archcalc/torch_backend/modules.py: torch has none)")
        else:
            names.append(f"`torch.nn.{cls}`")
    parts = []
    if names:
        parts.append("modules " + ", ".join(names))
    if kind.torch_functions:
        parts.append("functions and methods " + ", ".join(f"`{f}`" for f in kind.torch_functions))
    if kind.merge and not names:
        parts.append("no module: the branches' tensors combined (" + kind.doc + ")")
    return "; ".join(parts) or "no torch class"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`" if text else ""


def args_table(kind) -> list[str]:
    if not kind.args:
        return ["No arguments."]
    lines = ["| argument | type | default | meaning |", "| --- | --- | --- | --- |"]
    for arg in kind.args:
        default = "required" if arg.required else _code(json.dumps(arg.type.written(arg.default)
                                                                    if arg.default is not None else None,
                                                                    default=str))
        note = " (inferred from the input; checked when written)" if arg.name == kind.in_arg and "inferred" not in \
            arg.doc else ""
        lines.append(f"| `{arg.name}` | {_cell(arg.type.describe)} | {_cell(default)} | {_cell(arg.doc + note)} |")
    return lines


def formula_lines(ex: Example) -> list[str]:
    from archcalc.report.explain import no_steps_text

    row = ex.row
    lines = ["| quantity | formula | on this example |", "| --- | --- | --- |"]
    for step in row.steps:
        lines.append(f"| {_cell(step.quantity)} | {_cell(step.formula)} | {_code(N.fmt(step.result))} |")
    if not row.steps:
        lines = [f"Steps: {no_steps_text(row)}.", ""] + lines[:2]
    shape = "[" + ", ".join(N.fmt(d) for d in row.output) + "]"
    lines.append(f"| output shape | | {_code(shape)} |")
    for key, label in (("params", "params"), ("buffers", "buffers"), ("neurons", "neurons"), ("macs", "MACs"),
                       ("flops", "FLOPs")):
        value = getattr(row, key)
        lines.append(f"| **{label}** | | {_code(N.fmt(value)) if value is not None else '–'} |")
    return lines


def _counted(conv, ex: Example):
    """(the tool's figure for the example's layer or None, its count as text)."""
    from archcalc.conventions import figures
    from archcalc.spec.errors import SpecError

    if ex.row is None:
        return None, ""
    try:
        figure = next(f for f in figures(ex.analysis, conv.name).rows if f.path == "layer")
    except SpecError as exc:
        return None, f"needs concrete sizes ({_cell(exc.args[0] if exc.args else exc)})"
    except (TypeError, ValueError) as exc:  # a rule's term that takes only numbers: said, not hidden
        return None, f"needs concrete sizes ({type(exc).__name__}: {_cell(exc)})"
    value = N.mul(2, figure.value) if conv.unit == "FLOPs" else figure.value  # figures count multiply-adds
    return figure, f"{_code(N.fmt(value))} {conv.unit}"


def _rule_words(rule, figure) -> str:
    if rule is None:
        return "not modelled" + (f": {figure.reason}" if figure is not None and figure.reason else "")
    terms = " + ".join((f"{c}·" if c != 1 else "") + t for t, c in rule.terms) or "0"
    return f"{rule.words} ({_code(terms)})"


def peer_lines(kind, ex: Example) -> list[str]:
    """Each tool's rule for the kind (its reason in words, the terms it adds) and its count on the example."""
    from archcalc.conventions import CONVENTIONS

    lines = ["| tool | its rule for this kind | counts on this example |", "| --- | --- | --- |"]
    for conv in CONVENTIONS.values():
        figure, counted = _counted(conv, ex)
        rule = figure.rule if figure is not None else conv.rule_for(kind, has_macs=kind.weighted)
        lines.append(f"| {conv.tool} | {_cell(_rule_words(rule, figure))} | {counted} |")
        for variant in kind.torch_variants:
            extra = conv.rules.get(f"{kind.kind}:{variant}")
            if extra is not None:
                lines.append(f"| {conv.tool}, {variant} | {_cell(_rule_words(extra, None))} | |")
    return lines


def kind_section(name: str) -> list[str]:
    from archcalc.layers.registry import kinds

    kind = kinds()[name]
    ex = example(name)
    lines = [f"## `{name}`", "", kind.doc or "", "", f"**In torch:** {torch_text(kind)}.", "",
             "**Arguments**", "", *args_table(kind), ""]
    if ex.row is None:
        lines += [f"**Formulas:** none derived here ({ex.error}).", ""]
        if ex.text:
            lines += ["The example tried:", "", "```yaml", ex.text.rstrip(), "```", ""]
        return lines
    lines += ["**Example** (analysed when this page is generated):", "", "```yaml", ex.text.rstrip(), "```", "",
              "**Formulas**", "", *formula_lines(ex), "", "**What each tool counts** (its MACs or FLOPs; a "
              "multiply-add is 1 in MACs, 2 in FLOPs)", "", *peer_lines(kind, ex), ""]
    return lines


def pages() -> dict[str, str]:
    """The reference as Markdown pages: `index.md` (every kind, by family) and one page a family."""
    from archcalc.layers.registry import families

    groups = {family or "other": sorted(k.kind for k in members) for family, members in families().items()}
    index = ["# Layer kinds", "", "Generated from the layer registry when the documentation is built (also "
             "`archcalc kinds --format markdown`): every kind this version has, "
             f"{sum(len(v) for v in groups.values())} in {len(groups)} families.", "", LEGEND, "",
             "| kind | family | what it is |", "| --- | --- | --- |"]
    out = {}
    for family, names in sorted(groups.items()):
        from archcalc.layers.registry import kinds

        for name in names:
            index.append(f"| [`{name}`]({family}.md#{name}) | {family} | {_cell(kinds()[name].doc)} |")
        body = [f"# {family.capitalize()} kinds", "", LEGEND, ""]
        for name in names:
            body += kind_section(name)
        out[f"{family}.md"] = "\n".join(body)
    out["index.md"] = "\n".join(index) + "\n"
    return out


def render_markdown(registry: dict, out) -> None:
    """`archcalc kinds --format markdown`: the reference pages, one after the other."""
    generated = pages()
    out.echo(generated.pop("index.md"))
    for _, text in sorted(generated.items()):
        out.echo(text.replace("\n# ", "\n## ").replace("\n## `", "\n### `"))
