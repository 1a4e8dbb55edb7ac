"""Reading user files and writing reports: one place each.

- read_text: a missing file, a directory, an oversized file, non-UTF-8 bytes each get their
  own located message; a UTF-8 byte-order mark is accepted, as are Windows line endings.
- write_atomic: a report goes to a temporary file in the same folder, then is renamed over
  the target, so an interrupted run never leaves a half-written file.

Printing user text safely is archcalc/printable.py.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from archcalc.spec.errors import Location, SpecError

MAX_FILE_BYTES = 1_000_000


def limit(name: str, default: int) -> int:
    """A resource limit that may legitimately be raised: ARCHCALC_<NAME> in the environment."""
    value = os.environ.get(f"ARCHCALC_{name}")
    if value is None:
        return default
    try:
        return max(1, int(value))
    except ValueError:
        raise SpecError(f"ARCHCALC_{name}={value!r} is not a whole number", Location(f"ARCHCALC_{name}"),
                        code="usage") from None


def read_text(path: str | Path, what: str = "spec") -> str:
    name = str(path)
    p = Path(path)
    if p.is_dir():
        raise SpecError(f"{name} is a directory, not a {what} file", Location(name), code="file-not-found",
                        hint=f"give a {what} file" + (" (archcalc check and verify also take folders)"
                                                     if what == "spec" else ""))
    if not p.exists():
        raise SpecError(f"no such {what} file: {name}", Location(name), code="file-not-found",
                        hint="check the path" + ("; specs usually live in specs/" if what == "spec" else ""))
    try:
        size = p.stat().st_size
        max_bytes = limit("MAX_FILE_BYTES", MAX_FILE_BYTES)
        if size > max_bytes:
            raise SpecError(f"the file is {size:,} bytes, over the limit of {max_bytes:,}", Location(name),
                            hint=f"a {what} describes one network: split it, or raise ARCHCALC_MAX_FILE_BYTES",
                            code="limit")
        data = p.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read {name}: {exc.strerror}", Location(name), code="file-not-found") from None
    if not data.strip():
        raise SpecError(f"the {what} file is empty", Location(name, 1, 1), code="invalid-spec",
                        expected="a mapping starting with 'archcalc: 1'" if what == "spec" else "spec: and answers:")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                        Location(name, line, column), hint="save it as UTF-8", code="invalid-yaml") from None


def write_atomic(path: str | Path, data: str | bytes) -> None:
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise SpecError(f"cannot write {target}: no folder {folder}", Location(str(target)), code="usage")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide reports from their readers
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def spec_files(paths: tuple[str, ...]) -> list[Path]:
    """Files as given; folders expanded to every *.yaml under them, sorted."""
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(path.rglob("*.yaml")) + sorted(path.rglob("*.yml"))
            if not found:
                raise SpecError(f"no *.yaml specs under {p}", Location(p), code="file-not-found")
            files.extend(found)
        else:
            files.append(path)
    return files
