"""User text as a terminal, an editor or a browser may get it: the one place that decides.

Characters that change what the text around them looks like, or that cannot be seen, are
shown as escapes (\\xNN, \\uNNNN, \\UNNNNNNNN), never sent raw:
- control characters (terminal escapes, carriage returns, C1 controls), tab and newline kept;
- bidirectional controls: U+061C, U+200E/F, the embeddings and overrides U+202A–U+202E,
  the isolates U+2066–U+2069 (a right-to-left override turns "gnp.exe" round);
- zero-width and invisible characters: U+200B–U+200D, U+2060–U+2064, U+FEFF, the soft
  hyphen U+00AD, U+180E, the Hangul fillers, line and paragraph separators U+2028/9,
  interlinear annotations U+FFF9–U+FFFB, tag characters U+E0000–U+E007F;
- lone surrogates.

printable() is applied to every name, doc, path and message a report prints (and again to
whatever a report writes, in archcalc/report/output.py, as a net); html() escapes for HTML and
makes the same characters visible; dumps() writes JSON whose strings keep the characters,
JSON-escaped (\\u202e), so that no raw one reaches a terminal that shows the file.
"""
from __future__ import annotations

import json
import re

_INVISIBLE = ("\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069"
              "\u3164\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e007f")
_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f"
_ESCAPED = re.compile(f"[{_CONTROL}{_INVISIBLE}\ud800-\udfff]")
_ESCAPED_BUT_ESC = re.compile(f"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f{_INVISIBLE}\ud800-\udfff]")
_INVISIBLE_ONLY = re.compile(f"[{_INVISIBLE}\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    return _ESCAPED.sub(_escape, text)


def one_line(text: str) -> str:
    """A file name or a name on one line: a newline, tab or carriage return in it escaped too
    (a file named "a", newline, "b.yaml" prints as a\\x0ab.yaml), so that it cannot start a forged
    line of a report."""
    return printable(text).replace("\t", "\\x09").replace("\r", "\\x0d").replace("\n", "\\x0a")


def printable_keeping_styles(text: str) -> str:
    """For a terminal that rich colours: its own ESC sequences kept (user text was escaped
    before rich styled it), every other escaped character as printable() does."""
    return _ESCAPED_BUT_ESC.sub(_escape, text)


def html(text: str) -> str:
    """User text in HTML: <, >, &, quotes escaped, and the characters above made visible."""
    from html import escape

    return escape(printable(str(text)))


def _json_escape(match: re.Match) -> str:
    code = ord(match.group(0))
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xd800 + (code >> 10):04x}\\u{0xdc00 + (code & 0x3ff):04x}"


def xml_references(text: str) -> str:
    """XML with the same text, every invisible or direction-changing character written as a
    character reference (&#x202e;): the reader gets it as written, a terminal never raw."""
    return _INVISIBLE_ONLY.sub(lambda m: f"&#x{ord(m.group(0)):x};", text)


def dumps(doc, **kwargs) -> str:
    """JSON with non-ASCII text as written (×, é, 中), but every invisible or direction-changing
    character JSON-escaped: the same strings to a JSON reader, nothing raw to a terminal."""
    return _INVISIBLE_ONLY.sub(_json_escape, json.dumps(doc, ensure_ascii=False, **kwargs))
