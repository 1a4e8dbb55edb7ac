"""The spec language: YAML text → a validated, located Spec."""
from __future__ import annotations

from pathlib import Path

from archcalc.spec.errors import Location, SpecError
from archcalc.spec.model import Spec


def load_spec_text(text: str, filename: str = "<spec>") -> Spec:
    from archcalc.spec.loader import load_yaml
    from archcalc.spec.parse import parse_spec

    return parse_spec(load_yaml(text, filename), filename)


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file; every problem is a located SpecError."""
    from archcalc.textio import read_text

    return load_spec_text(read_text(path, "spec"), str(path))


__all__ = ["load_spec", "load_spec_text", "Spec", "SpecError", "Location"]
