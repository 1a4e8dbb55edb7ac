"""Names written with look-alike characters: a Cyrillic 'с' in 'сonv2d', a Greek omicron, a
full-width 'ｌ' show as a known name but are not it. Each non-ASCII letter is mapped to the
Latin letter it looks like (a hand table of the common confusables, then NFKC for full-width
and mathematical forms, then NFKD without its accents); when the result is a known name, the
error says which characters differ, what they are and where."""
from __future__ import annotations

import unicodedata
from typing import Iterable

CONFUSABLES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ь": "b", "ո": "n", "т": "t", "к": "k",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "У": "Y",
    # Greek
    "α": "a", "ο": "o", "ε": "e", "ν": "v", "ρ": "p", "ι": "i", "κ": "k", "τ": "t", "υ": "u", "χ": "x",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Latin that is not ASCII
    "ı": "i", "ȷ": "j", "ɡ": "g", "ɑ": "a", "ℓ": "l", "ǀ": "l",
}


def latin(char: str) -> str | None:
    """The ASCII character `char` looks like, or None."""
    if char.isascii():
        return char
    if char in CONFUSABLES:
        return CONFUSABLES[char]
    folded = unicodedata.normalize("NFKC", char)
    if folded.isascii() and len(folded) == 1:
        return folded
    stripped = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))
    if stripped.isascii() and len(stripped) == 1:
        return stripped
    return CONFUSABLES.get(stripped)


def skeleton(word: str) -> str | None:
    """`word` in the ASCII letters it looks like (None when some character looks like none)."""
    mapped = [latin(c) for c in word]
    return None if None in mapped else "".join(mapped)


def lookalike(word: str, choices: Iterable[str], column: int | None = None) -> tuple[str, str, int] | None:
    """(the known name, the explanation, the index of the first odd character) when `word` is a
    known name written with look-alike characters; None otherwise. `column` is the word's first
    character's column in the file, so the explanation can name each character's own."""
    if word.isascii():
        return None
    mapped = [latin(c) for c in word]
    if None in mapped:
        return None
    skeleton = "".join(mapped)
    known = set(choices)
    if skeleton not in known:
        return None
    odd = [i for i, c in enumerate(word) if not c.isascii()]
    parts = []
    for i in odd:
        name = unicodedata.name(word[i], f"U+{ord(word[i]):04X}")
        where = f"at column {column + i}" if column is not None else f"(character {i + 1} of the name)"
        parts.append(f"'{word[i]}' (U+{ord(word[i]):04X} {name}) {where} looks like Latin '{mapped[i]}'")
    return skeleton, "; ".join(parts) + f": this is not '{skeleton}' but a look-alike (retype it)", odd[0]
