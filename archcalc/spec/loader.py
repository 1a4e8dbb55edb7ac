"""Safe YAML 1.2 loading that keeps file:line:col for every node.

Built on ruamel.yaml's event parser, not its constructor: nothing in a spec is ever
constructed from a tag, so no YAML feature can run code. Anchors, aliases, merge keys,
tags, duplicate keys and several documents are rejected as they are met (the billion-laughs
document fails at its first anchor), and size, depth and node count are bounded.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from archcalc.spec.errors import Location, SpecError

MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 40
MAX_NODES = 50_000  # was 200,000: ruamel's scanner takes about 50 µs a node (SECURITY.md)
MAX_SCALAR_CHARS = 10_000
MAX_INT_DIGITS = 100


@dataclass
class YNode:
    loc: Location


@dataclass
class YScalar(YNode):
    value: Any  # str | int | float | bool | None
    quoted: bool = False


@dataclass
class YSeq(YNode):
    items: list[YNode] = field(default_factory=list)


@dataclass
class YMap(YNode):
    # key -> (location of the key, value node); insertion order kept
    entries: dict[str, tuple[Location, YNode]] = field(default_factory=dict)

    def get(self, key: str) -> YNode | None:
        hit = self.entries.get(key)
        return hit[1] if hit else None

    def key_loc(self, key: str) -> Location:
        return self.entries[key][0]


def plain(node: YNode) -> Any:
    """The node as plain Python data (for messages and simple values)."""
    if isinstance(node, YScalar):
        return node.value
    if isinstance(node, YSeq):
        return [plain(i) for i in node.items]
    assert isinstance(node, YMap)
    return {k: plain(v) for k, (_, v) in node.entries.items()}


# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution)
_SURROGATE = re.compile("[\ud800-\udfff]")
_NULL = re.compile(r"^(~|null|Null|NULL|)$")
_BOOL_TRUE = re.compile(r"^(true|True|TRUE)$")
_BOOL_FALSE = re.compile(r"^(false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(inf|Inf|INF)$")
_NAN = re.compile(r"^\.(nan|NaN|NAN)$")


def _resolve_plain(text: str, loc: Location) -> Any:
    if _NULL.match(text):
        return None
    if _BOOL_TRUE.match(text):
        return True
    if _BOOL_FALSE.match(text):
        return False
    for pattern, base, start in ((_INT10, 10, 0), (_INT8, 8, 2), (_INT16, 16, 2)):
        if pattern.match(text):
            digits = text[start:].lstrip("+-")
            if len(digits) > MAX_INT_DIGITS:
                raise SpecError(f"integer literal has {len(digits)} digits", loc,
                                expected=f"at most {MAX_INT_DIGITS} digits", code="limit")
            return int(text[start:], base)
    if _FLOAT.match(text):
        value = float(text)
        if not abs(value) < 1e30:
            raise SpecError(f"'{text}' is too large for a number here", loc, expected="a finite number below 1e30",
                            code="limit")
        return value
    if _INF.match(text) or _NAN.match(text):
        raise SpecError(f"'{text}' is not a finite number", loc, expected="a finite number")
    return text


def _loc(filename: str, event) -> Location:
    mark = event.start_mark
    return Location(filename, mark.line + 1, mark.column + 1)


def load_yaml(text: str, filename: str) -> YNode:
    """Parse one YAML 1.2 document into located nodes, refusing every unsafe feature."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise SpecError(f"file is larger than {MAX_FILE_BYTES:,} bytes", Location(filename),
                        hint="a spec describes one network; split very large ones", code="limit")
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    builder = _Builder(filename)
    try:
        for event in YAML(typ="safe", pure=True).parse(text):  # the round-trip scanner gathers comments: twice the time
            builder.event(event)
    except ReaderError as exc:  # a character YAML cannot hold (NUL, other controls): located all the same
        raise _unacceptable(text, exc, filename) from None
    except MarkedYAMLError as exc:
        raise _marked(exc, filename) from None
    except YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", Location(filename), code="invalid-yaml") from None
    if builder.root is None:
        raise SpecError("the file is empty", Location(filename, 1, 1),
                        expected="a mapping starting with 'archcalc: 1'", code="invalid-spec")
    return builder.root


_OPENED = {"while parsing a flow mapping": ("{", "}"), "while parsing a flow sequence": ("[", "]"),
           "while scanning a quoted scalar": ("quote", "")}


def _marked(exc, filename: str) -> SpecError:
    """ruamel's error, at the place to fix: where an unclosed `{`, `[` or quote opens (ruamel
    marks where it gave up, often the end of the file), with where it gave up said too."""
    problem, context = exc.problem or exc.context or "invalid YAML", exc.context
    start, end = exc.context_mark, exc.problem_mark
    if context in _OPENED and start is not None and end is not None:
        opener, closer = _OPENED[context]
        what = "the quote" if opener == "quote" else f"'{opener}'"
        got = problem.replace("'<stream end>'", "the end of the file").replace("found unexpected end of stream",
                                                                                 "the end of the file")
        kind = "mapping" if opener == "{" else "list"
        return SpecError(f"invalid YAML: {what} opened here is not closed", Location(filename, start.line + 1,
                                                                                     start.column + 1),
                         found=f"{got}, after line {end.line}" if got != problem and end.column == 0 and end.line
                         else f"{got}, at line {end.line + 1}, column {end.column + 1}",
                         hint=f"add the missing {closer} where the {kind} ends" if opener != "quote"
                         else "close the string with the same quote", code="invalid-yaml")
    mark = end or start
    loc = Location(filename, mark.line + 1, mark.column + 1) if mark else Location(filename)
    return SpecError(f"invalid YAML: {problem}", loc, code="invalid-yaml")


def _unacceptable(text: str, exc, filename: str) -> SpecError:
    """ruamel's reader names a position in the text; a user needs its line and column."""
    import unicodedata

    position = getattr(exc, "position", None)
    if not isinstance(position, int) or not 0 <= position < len(text):
        return SpecError(f"invalid YAML: {exc}", Location(filename), code="invalid-yaml")
    char = text[position]
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    name = "NUL, a zero byte" if char == "\0" else unicodedata.name(char, None) or (
        "a noncharacter" if char in "\ufffe\uffff" else "a control character")
    return SpecError(f"invalid character U+{ord(char):04X} ({name}): YAML text cannot hold it",
                     Location(filename, line, column), code="invalid-yaml",
                     hint="remove it (an editor may show it as ^@ or not at all); inside a double-quoted string "
                          "it may be written as an escape such as \\x07")


class _Builder:
    """Located nodes from ruamel.yaml's parser events, one event at a time, within the limits."""

    def __init__(self, filename: str):
        self.filename = filename
        self.stack: list[tuple[YNode, Any]] = []  # (container, pending key for maps)
        self.root: YNode | None = None
        self.documents = 0
        self.nodes = 0

    def event(self, event) -> None:
        from ruamel.yaml import events as ev

        if isinstance(event, ev.AliasEvent):
            raise SpecError("YAML aliases (*name) are not allowed", _loc(self.filename, event),
                            hint="write the value out; use blocks for reuse", code="unsafe-yaml")
        if isinstance(event, (ev.StreamStartEvent, ev.StreamEndEvent, ev.DocumentEndEvent)):
            return
        if isinstance(event, ev.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise SpecError("more than one YAML document in a spec file", _loc(self.filename, event),
                                hint="put one network in each file", code="invalid-yaml")
            return
        loc = _loc(self.filename, event)
        _refuse_anchors_and_tags(event, loc)
        if isinstance(event, (ev.MappingEndEvent, ev.SequenceEndEvent)):
            self._close()
            return
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SpecError(f"more than {MAX_NODES:,} YAML nodes", loc, code="limit")
        if isinstance(event, (ev.MappingStartEvent, ev.SequenceStartEvent)):
            if len(self.stack) >= MAX_DEPTH:
                raise SpecError(f"nesting deeper than {MAX_DEPTH} levels", loc, code="limit",
                                hint="flatten the structure or use blocks")
            self.stack.append((YMap(loc) if isinstance(event, ev.MappingStartEvent) else YSeq(loc), None))
        elif isinstance(event, ev.ScalarEvent):
            self._scalar(event, loc)

    def _close(self) -> None:
        node, _ = self.stack.pop()
        if self.stack:
            _attach(self.stack, node, self.filename)
        else:
            self.root = node

    def _scalar(self, event, loc: Location) -> None:
        bad = _SURROGATE.search(event.value)
        if bad:
            raise SpecError(f"invalid character U+{ord(bad.group(0)):04X} (a lone UTF-16 surrogate)", loc,
                            hint="a \\u escape must name a whole character", code="invalid-yaml")
        if len(event.value) > MAX_SCALAR_CHARS:
            raise SpecError(f"a value longer than {MAX_SCALAR_CHARS:,} characters", loc, code="limit")
        is_plain = bool(event.implicit and event.implicit[0]) and event.style is None
        scalar = YScalar(loc, _resolve_plain(event.value, loc) if is_plain else event.value, quoted=not is_plain)
        if self.stack:
            _attach(self.stack, scalar, self.filename, raw_text=event.value)
        else:
            self.root = scalar


def _refuse_anchors_and_tags(event, loc: Location) -> None:
    if getattr(event, "anchor", None):
        raise SpecError(f"YAML anchors (&{event.anchor}) are not allowed", loc,
                        hint="write the value out; use blocks for reuse", code="unsafe-yaml")
    tag = getattr(event, "tag", None)
    if tag is not None:
        tag = str(tag).replace("tag:yaml.org,2002:", "!!")
        raise SpecError(f"YAML tags are not allowed: {tag}", loc, hint="remove the tag; specs hold plain data only",
                        code="unsafe-yaml")


def _attach(stack, node: YNode, filename: str, raw_text: str | None = None) -> None:
    parent, pending = stack[-1]
    if isinstance(parent, YSeq):
        parent.items.append(node)
        return
    assert isinstance(parent, YMap)
    if pending is None:  # this node is a key
        if not isinstance(node, YScalar):
            raise SpecError("a mapping key must be a plain name", node.loc, code="invalid-yaml")
        key = raw_text if raw_text is not None else str(node.value)
        if key == "<<" and not node.quoted:
            raise SpecError("YAML merge keys (<<) are not allowed", node.loc,
                            hint="write the keys out; use blocks for reuse", code="unsafe-yaml")
        if key in parent.entries:
            first = parent.entries[key][0]
            raise SpecError(f"duplicate key '{key}'", node.loc,
                            found=f"'{key}' first set at line {first.line}, column {first.column}",
                            hint="each key may appear once in a mapping", code="duplicate-key")
        stack[-1] = (parent, (key, node.loc))
        return
    key, key_loc = pending
    parent.entries[key] = (key_loc, node)
    stack[-1] = (parent, None)
