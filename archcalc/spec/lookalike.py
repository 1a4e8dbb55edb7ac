"""Names written with look-alike characters: a Cyrillic 'с' in 'сonv2d', a Greek omicron, a
full-width 'ｌ' show as a known name but are not it. Each non-ASCII character stands for the
ASCII characters it looks like, found by rule: NFKC (full-width and mathematical forms),
Unicode's own confusables (UTS #39, confusables.py: 532 letters and digits of every script),
NFKD without its accents ('é' as 'e'); a short hand table adds the few resemblances those
miss (Cyrillic 'к', 'т', 'в', Greek 'κ', 'τ', 'ε'). A word is a look-alike of a known name
of its length when each character is that name's or looks like it; the error then says which
characters differ, what they are and where."""
from __future__ import annotations

import unicodedata
from typing import Iterable

# what the rules miss (each checked by tests/test_security.py: none of these is in the rules' answer)
HAND = {"в": "b", "ь": "b", "т": "t", "к": "k", "ε": "e", "κ": "k", "τ": "t", "χ": "x", "ȷ": "j", "І": "I",
        "Ι": "I", "ӏ": "l"}


def looks_like(char: str) -> str:
    """The ASCII characters `char` looks like ('' for none; itself when ASCII)."""
    if char.isascii():
        return char
    return "".join(dict.fromkeys(HAND.get(char, "") + by_rule(char)))


def by_rule(char: str) -> str:
    """What the rules say `char` looks like: Unicode's confusables, NFKC, NFKD without accents
    (each form, and the confusables of a form that is one character)."""
    from archcalc.spec.confusables import table

    found = table().get(char, "")
    for form in ("NFKC", "NFKD"):
        folded = "".join(c for c in unicodedata.normalize(form, char) if not unicodedata.combining(c))
        if len(folded) == 1:
            found += folded if folded.isascii() else table().get(folded, "")
    return found


def latin(char: str) -> str | None:
    """The ASCII character `char` looks like most (None for none)."""
    return looks_like(char)[:1] or None


def skeleton(word: str) -> str | None:
    """`word` in the ASCII characters it looks like most (None when some character looks like none)."""
    mapped = [latin(c) for c in word]
    return None if None in mapped else "".join(mapped)


def lookalike(word: str, choices: Iterable[str], column: int | None = None) -> tuple[str, str, int] | None:
    """(the known name, the explanation, the index of the first odd character) when `word` is a
    known name written with look-alike characters; None otherwise. `column` is the word's first
    character's column in the file, so the explanation can name each character's own."""
    if word.isascii() or len(word) > 200:
        return None
    candidates = [looks_like(c) for c in word]
    if "" in candidates:
        return None
    known = next((k for k in sorted(set(choices)) if len(k) == len(word)
                  and all(a in c for a, c in zip(k, candidates))), None)
    if known is None:
        return None
    odd = [i for i, c in enumerate(word) if not c.isascii()]
    parts = []
    for i in odd:
        name = unicodedata.name(word[i], f"U+{ord(word[i]):04X}")
        where = f"at column {column + i}" if column is not None else f"(character {i + 1} of the name)"
        parts.append(f"'{word[i]}' (U+{ord(word[i]):04X} {name}) {where} looks like Latin '{known[i]}'")
    return known, "; ".join(parts) + f": this is not '{known}' but a look-alike (retype it)", odd[0]
