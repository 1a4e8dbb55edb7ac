"""Specs written by archcalc itself (`archcalc import`): entries → the YAML text a person
would write, one flow mapping per layer, a merge's arguments and branches as a block."""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Entry:
    """One entry of a `layers:` list: a layer kind with its arguments, or a merge with its
    arguments and branches (name, entries)."""

    kind: str
    args: dict = field(default_factory=dict)
    name: str | None = None
    share: str | None = None  # the name of the layer whose weights this one reuses
    branches: list[tuple[str, list["Entry"]]] | None = None  # a merge's
    call: str | None = None  # "function": the model calls the layer as a function (F.relu), not its module
    reads: str | None = None  # `from:`: the input or earlier layer it reads instead of the entry before it


def _scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    text = str(value)
    return text if NAME.match(text) and text not in ("true", "false", "null") else '"' + text.replace('"', '\\"') + '"'


def _entry_lines(entry: Entry, indent: int) -> list[str]:
    pad = " " * indent
    if entry.branches is None:
        fields = ([f"name: {entry.name}"] if entry.name else []) + ([f"from: {_scalar(entry.reads)}"] if entry.reads
                                                                    else []) \
            + ([f"share: {entry.share}"] if entry.share else []) \
            + ([f"call: {entry.call}"] if entry.call else []) + [f"{k}: {_scalar(v)}" for k, v in entry.args.items()]
        return [f"{pad}- {entry.kind}" + (": {" + ", ".join(fields) + "}" if fields else "")]
    lines = [f"{pad}- {entry.kind}:", f"{pad}    name: {entry.name}"]
    if entry.reads:
        lines.append(f"{pad}    from: {_scalar(entry.reads)}")
    lines += [f"{pad}    {k}: {_scalar(v)}" for k, v in entry.args.items()]
    lines.append(f"{pad}    branches:")
    for name, entries in entry.branches:
        if not entries:
            lines.append(f"{pad}      {name}: []")
            continue
        lines.append(f"{pad}      {name}:")
        for sub in entries:
            lines.extend(_entry_lines(sub, indent + 8))
    return lines


def spec_text(name: str, doc: str, dims: list, dtype: str | list[str], defaults: dict, entries: list[Entry],
              inputs: dict[str, tuple[list, str]] | None = None) -> str:
    """A whole spec: its name, a doc saying where it came from, the input (symbolic sizes
    with their defaults under dims:; several `inputs`, by name with shape and dtype, where
    the model takes more than one) and the layers."""
    lines = ["archcalc: 1", f"name: {name}", "doc: >-"]
    lines += ["  " + line for line in (textwrap.wrap(doc, 92) or [""])]
    if inputs and len(inputs) > 1:
        lines.append("inputs:")
        lines += [f"  {key}: " + _input_text(shape, kind) for key, (shape, kind) in inputs.items()]
    else:
        lines.append("input: " + _input_text(dims, dtype if isinstance(dtype, str) else dtype[0]))
    if defaults:
        lines.append("dims: {" + ", ".join(f"{k}: {{default: {v}}}" for k, v in defaults.items()) + "}")
    lines.append("layers:")
    for entry in entries:
        lines.extend(_entry_lines(entry, 2))
    return "\n".join(lines) + "\n"


def _input_text(dims: list, dtype: str) -> str:
    shape = "[" + ", ".join(str(d) for d in dims) + "]"
    return f"{{shape: {shape}, dtype: index}}" if dtype == "index" else shape
