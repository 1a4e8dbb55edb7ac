"""Every error a user can cause: a location, what was found, what was expected, a hint.

The CLI prints these without a traceback and exits 2; anything else that escapes is a bug.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Location:
    """A place in a spec file; line and column are 1-based as editors show them."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        from archcalc.printable import one_line  # a file name with a newline cannot forge a line

        parts = [one_line(str(self.file))]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class SpecError(Exception):
    """A problem in user input (spec file, option, answers file) with a located message."""

    def __init__(self, message: str, loc: Location | None = None, *, expected: str | None = None,
                 found: str | None = None, hint: str | None = None, code: str = "invalid-spec"):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.expected = expected
        self.found = found
        self.hint = hint
        self.code = code
        self.context: list[str] = []  # where it happened, innermost first: "in block 'unit' called at ..."

    exit_code = 2  # what the command line exits with (click's model: the exception carries it)

    @property
    def errors(self) -> list["SpecError"]:
        return [self]

    def add_context(self, text: str) -> "SpecError":
        """Say where the error happened, as seen from outside (a block's call site)."""
        for err in self.errors:
            err.context.append(text)
        return self

    def render(self) -> str:
        from archcalc.printable import one_line, printable  # user text never reaches the terminal raw

        message = one_line(self.message)  # a newline in a path or a name quoted in it cannot forge a line
        head = f"{self.loc}: error: {message}" if self.loc else f"error: {message}"
        lines = [head]
        for label, text in (("expected", self.expected), ("found", self.found), ("hint", self.hint)):
            if text:
                lines.append(f"{label:>10}: {text}")
        lines += [f"  {text}" for text in self.context]
        return printable("\n".join(lines))

    def to_json(self) -> dict:
        loc = self.loc
        return {
            "code": self.code,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "message": self.message,
            "expected": self.expected,
            "found": self.found,
            "hint": self.hint,
        } | ({"context": list(self.context)} if self.context else {})


class SpecErrors(SpecError):
    """Several independent errors of one file, reported together."""

    def __init__(self, errors: Iterable[SpecError]):
        flat: list[SpecError] = []
        for err in errors:
            flat.extend(err.errors)
        first = flat[0]
        super().__init__(first.message, first.loc, expected=first.expected, found=first.found,
                         hint=first.hint, code=first.code)
        self._errors = flat

    @property
    def errors(self) -> list[SpecError]:
        return self._errors

    def render(self) -> str:
        text = "\n".join(err.render() for err in self._errors)  # each already printable
        if len(self._errors) > 1:
            text += f"\n{len(self._errors)} errors"
        return text


class ErrorCollector:
    """Gathers errors so that every schema problem of a file is reported at once."""

    def __init__(self) -> None:
        self.errors: list[SpecError] = []

    def add(self, err: SpecError) -> None:
        self.errors.extend(err.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise SpecErrors(self.errors) if len(self.errors) > 1 else self.errors[0]


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a misspelt name, or None when nothing is close; a known name
    written with look-alike characters (a Cyrillic 'с') is named character by character."""
    from archcalc.spec.lookalike import lookalike, skeleton

    choices = list(choices)
    odd = lookalike(word, choices)
    if odd:
        return odd[1]
    plain = skeleton(word)
    close = difflib.get_close_matches(plain or word, choices, n=3, cutoff=0.6)
    if not close:
        return None
    odd = [f"'{c}' (U+{ord(c):04X})" for c in word if not c.isascii()] if plain and plain != word else []
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?" + (
        f" ({', '.join(odd)} {'is not a Latin letter' if len(odd) == 1 else 'are not Latin letters'})" if odd else "")


def did_you_mean_path(path: str, paths: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a layer path no layer has. Paths nest (`stage.2.conv`), so
    spelling distance alone misleads: a layer's own name (`conv`), a repeat counted from 0 as
    torch counts it (`stage.0.conv`), or an argument after the layer (`fc.out_features`) are
    far from the path meant. The path differing only in case comes first, then the one with
    the repeat counted from 1, then those ending in the same name (most alike first) or, when
    none does, the closest spellings and the longest layer the path starts with."""
    from archcalc.spec.lookalike import lookalike

    paths = list(paths)
    odd = lookalike(path, paths)
    if odd:
        return odd[1]
    parts = path.split(".")
    alike = lambda p: difflib.SequenceMatcher(None, path, p).ratio()  # noqa: E731
    same_leaf = sorted((p for p in paths if p.rsplit(".", 1)[-1] == parts[-1]), key=alike, reverse=True)
    prefixes = [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]
    inside = [p for p in prefixes if p in paths][:1]
    cased = [p for p in paths if p.lower() == path.lower()]
    close = difflib.get_close_matches(path, paths, n=3, cutoff=0.6)
    from_one = [p for p in (".".join(parts[:i] + ["1"] + parts[i + 1:]) for i, part in enumerate(parts) if part == "0")
                if p in paths]
    picks = list(dict.fromkeys(cased + from_one + (same_leaf if same_leaf else close + inside)))[:3]
    if not picks:
        return did_you_mean(path, paths)
    note = " (repeats are numbered from 1)" if from_one else ""
    return "did you mean " + " or ".join(f"'{c}'" for c in picks) + "?" + note
