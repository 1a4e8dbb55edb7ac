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
    from archcalc.spec.loader import MAX_FILE_BYTES

    name = str(path)
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"no such spec file: {name}", Location(name), code="file-not-found",
                        hint="check the path; specs usually live in specs/")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise SpecError(f"file is larger than {MAX_FILE_BYTES:,} bytes", Location(name), code="limit")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"file is not UTF-8 text (byte {exc.start})", Location(name), code="invalid-yaml") from None
    except OSError as exc:
        raise SpecError(f"cannot read the file: {exc.strerror}", Location(name), code="file-not-found") from None
    return load_spec_text(text, name)


__all__ = ["load_spec", "load_spec_text", "Spec", "SpecError", "Location"]
