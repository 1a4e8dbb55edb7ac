"""A key's `variants:` (each student's own numbers): the ranges drawn from, the stable draw,
the variants file that records each student's numbers, and the student's ids in a Gradescope
upload. Drawing students' numbers that fit the spec, and the sheets: archcalc/grading/variants.py.

    variants:
      seed: 2026                    # optional (default 0); `archcalc variants --seed N` overrides
      draw:
        W: {range: [32, 256]}       # inclusive
        F: [3, 5, 7, 11]            # one of these
      must_fit: true                # keep only geometries where every division is exact (the default)

variants.yaml, written by `archcalc variants`, read by `archcalc grade --variants`:

    archcalc_variants: 1
    key: "../key.yaml"              # the key it was drawn from (a note)
    seed: 2026
    students:
      "ada": {W: 67, F: 7, S: 2, P: 1, K: 96}
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from archcalc.spec.errors import Location, SpecError, did_you_mean
from archcalc.spec.loader import YMap, YNode, YScalar, YSeq, load_yaml

if TYPE_CHECKING:
    from archcalc.grading.key import Key

VARIANTS_KEYS = ("seed", "draw", "must_fit")
FILE_KEYS = ("archcalc_variants", "key", "seed", "students")


def _err(message: str, loc: Location, code: str = "invalid-key", **kw) -> SpecError:
    return SpecError(message, loc, code=code, **kw)


# ---- what the key draws from ----------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One drawn name: a whole range (low..high, inclusive) or a list of values."""

    name: str
    loc: Location
    values: tuple = ()  # a list's values (whole numbers or true/false)
    low: int = 0
    high: int = -1

    @property
    def size(self) -> int:
        return len(self.values) if self.values else self.high - self.low + 1

    def pick(self, index: int):
        return self.values[index] if self.values else self.low + index

    def describe(self) -> str:
        if self.values:
            return f"{self.name} in [{', '.join(_plain(v) for v in self.values)}]"
        return f"{self.name} in {self.low}..{self.high}"


@dataclass
class Draw:
    choices: list[Choice]
    loc: Location
    seed: int | str | None = None
    must_fit: bool = True

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.choices]

    def describe(self) -> str:
        return ", ".join(c.describe() for c in self.choices)


def _plain(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _whole(node: YNode | None) -> bool:
    return isinstance(node, YScalar) and isinstance(node.value, int) and not isinstance(node.value, bool)


def _choice(name: str, node: YNode) -> Choice:
    expected = f"{name}: {{range: [32, 256]}} (inclusive), or a list of values: {name}: [3, 5, 7]"
    if isinstance(node, YSeq):
        values = tuple(i.value for i in node.items if isinstance(i, YScalar) and isinstance(i.value, int))
        if not node.items or len(values) != len(node.items):
            raise _err(f"draw.{name}: a list of whole numbers (or true/false)", node.loc, expected=expected)
        return Choice(name, node.loc, values=values)
    rng = node.get("range") if isinstance(node, YMap) and set(node.entries) == {"range"} else None
    if not isinstance(rng, YSeq) or len(rng.items) != 2 or not all(_whole(i) for i in rng.items):
        raise _err(f"draw.{name}: a range of two whole numbers or a list of values", node.loc, expected=expected)
    low, high = (i.value for i in rng.items)
    if low > high:
        raise _err(f"draw.{name}: the range [{low}, {high}] is empty", rng.loc, expected=f"range: [{high}, {low}]")
    return Choice(name, node.loc, low=low, high=high)


def parse_draw(node: YNode, bindings: dict[str, str]) -> Draw:
    """The key's `variants:` section (located errors: the instructor's file, exit 2)."""
    if not isinstance(node, YMap):
        raise _err("'variants' is a mapping with draw: (and optionally seed:, must_fit:)", node.loc,
                   expected="variants: {seed: 2026, draw: {W: {range: [32, 256]}, F: [3, 5, 7]}}")
    for key, (kloc, _) in node.entries.items():
        if key not in VARIANTS_KEYS:
            raise _err(f"unknown key '{key}' in variants", kloc, expected=", ".join(VARIANTS_KEYS),
                       hint=did_you_mean(key, VARIANTS_KEYS))
    draw = node.get("draw")
    if not isinstance(draw, YMap) or not draw.entries:
        raise _err("variants.draw maps the spec's vars (or dims) to the values to draw from",
                   draw.loc if draw else node.loc, expected="draw: {W: {range: [32, 256]}, F: [3, 5, 7, 11]}")
    choices = []
    for name, (kloc, value) in draw.entries.items():
        if name in bindings:
            raise _err(f"'{name}' is both set and drawn", kloc, hint=f"drop {name} from the key's set:")
        choices.append(_choice(name, value))
    seed, must_fit = node.get("seed"), node.get("must_fit")
    if seed is not None and not (isinstance(seed, YScalar) and isinstance(seed.value, (int, str))
                                 and not isinstance(seed.value, bool)):
        raise _err("variants.seed is a whole number (or a word)", seed.loc, expected="seed: 2026")
    if must_fit is not None and not (isinstance(must_fit, YScalar) and isinstance(must_fit.value, bool)):
        raise _err("variants.must_fit is true or false", must_fit.loc)
    return Draw(choices, node.loc, seed.value if seed is not None else None,
                must_fit.value if must_fit is not None else True)


# ---- drawing ------------------------------------------------------------------------------------


def draw_index(seed, student: str, name: str, attempt: int, size: int) -> int:
    """A stable pick among `size` values: sha256 of "SEED:ID:NAME" (":N" for the N-th redraw)."""
    text = f"{seed}:{student}:{name}" + (f":{attempt}" if attempt else "")
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") % size


def as_set(values: dict) -> dict[str, str]:
    """Drawn values as the engine's --set bindings."""
    return {name: _plain(v) for name, v in values.items()}


def check_names(names, spec, loc_of) -> None:
    """Every drawn (or bound) name is a var or dim of the spec."""
    from archcalc.engine.scope import dim_names

    known = list(spec.vars) + dim_names(spec)
    for name in names:
        if name not in known:
            raise _err(f"the spec has no var or dimension '{name}'", loc_of(name),
                       expected=", ".join(known) or "the spec declares no vars: add vars: {W: 32, ...}",
                       hint=did_you_mean(name, known))


# ---- variants.yaml: each id and its numbers ---------------------------------------------------------


def variants_text(key_path: str, seed, draw: Draw, values: dict[str, dict]) -> str:
    lines = [f"# Each student's numbers, drawn by `archcalc variants` from {Path(key_path).name} "
             f"({draw.describe()}{', each division exact' if draw.must_fit else ''}).",
             f"# Grade with: archcalc grade --key {Path(key_path).name} --variants variants.yaml SUBMISSIONS/",
             "archcalc_variants: 1", f"key: {json.dumps(key_path, ensure_ascii=False)}  # from this folder",
             f"seed: {json.dumps(seed, ensure_ascii=False)}", "students:"]
    for sid, numbers in values.items():
        lines.append(f"  {json.dumps(sid, ensure_ascii=False)}: {{"
                     + ", ".join(f"{k}: {_plain(v)}" for k, v in numbers.items()) + "}")
    return "\n".join(lines) + "\n"


def load_variants(path: str | Path, key: Key) -> dict[str, dict]:
    """variants.yaml as {id: {name: value}}; its names are the key's drawn names (the spec's vars)."""
    from archcalc.spec import load_spec
    from archcalc.textio import read_text

    root = load_yaml(read_text(path, "variants"), str(path))
    students = root.get("students") if isinstance(root, YMap) else None
    if not isinstance(students, YMap):
        raise _err("a variants file maps students: {ID: {NAME: VALUE, ...}}", (students or root).loc,
                   expected='students: {"ada": {W: 57, F: 5}} (archcalc variants writes it)')
    for k, (kloc, _) in root.entries.items():
        if k not in FILE_KEYS:
            raise _err(f"unknown key '{k}' in a variants file", kloc, expected=", ".join(FILE_KEYS))
    out: dict[str, dict] = {}
    where: dict[str, Location] = {}  # each name where it is first written
    for sid, (kloc, node) in students.entries.items():
        if not isinstance(node, YMap) or not all(isinstance(v, YScalar) and isinstance(v.value, int)
                                                 for _, v in node.entries.values()):
            raise _err(f"student '{sid}': their numbers are {{NAME: VALUE}} (whole numbers or true/false)",
                       node.loc)
        out[sid] = {name: v.value for name, (_, v) in node.entries.items()}
        if key.draw is not None and sorted(out[sid]) != sorted(key.draw.names):
            raise _err(f"student '{sid}' has numbers for {', '.join(out[sid]) or 'nothing'}, the key draws "
                       f"{', '.join(key.draw.names)}", kloc, hint="draw the variants again from this key")
        for name in out[sid]:
            where.setdefault(name, node.key_loc(name))
    check_names(where, load_spec(key.spec_path), where.get)
    return out


def gradescope_ids(upload: str | Path) -> list[str]:
    """The student's ids in Gradescope's /autograder/submission_metadata.json (beside the upload
    folder): users[0]'s sid (the roster's student id, where the course has one), then email."""
    p = Path(upload)
    meta = (p if p.is_dir() else p.parent).parent / "submission_metadata.json"
    from archcalc.textio import read_text

    try:
        doc = json.loads(read_text(meta, "submission metadata")) if meta.is_file() else {}
        user = doc.get("users", [{}])[0]
        return [str(user[k]).strip() for k in ("sid", "email") if isinstance(user.get(k), (str, int))
                and not isinstance(user.get(k), bool) and str(user[k]).strip()]
    except (SpecError, OSError, ValueError, AttributeError, IndexError, TypeError):
        return []  # no metadata (not Gradescope), or not as documented: the file's name is the id
