"""Reading user files and writing reports: one place each.

- read_bytes / read_text: every user file (spec, answers, key, submission, roster, variants)
  is read here and nowhere else. Only regular files are read: a character or block device
  (/dev/zero), a FIFO, a socket is refused with its own message, decided by os.stat before
  the file is opened, and the open itself is non-blocking, so a FIFO swapped in between
  cannot hang it (the opened file is checked again with fstat). At most the limit plus one
  byte is ever read, whatever stat reported, so a file that grows while it is read, or a
  /proc file that reports size 0, is bounded too. A missing file, a directory, an oversized
  file, non-UTF-8 bytes each get their own located message; a UTF-8 byte-order mark is
  accepted, as are Windows line endings.
- spec_files / regular_files: a folder's files, its special files (and links to them)
  skipped with a note on standard error, never read.
- write_atomic: a report goes to a temporary file in the same folder, then is renamed over
  the target, so an interrupted run never leaves a half-written file.

Printing user text safely is archcalc/printable.py.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from archcalc.spec.errors import Location, SpecError

MAX_FILE_BYTES = 1_000_000
CHUNK = 1 << 16


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


def special_kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    for test, words in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                        (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return words
    return "not a regular file"


def _printable_name(name: str) -> str:
    from archcalc.printable import one_line

    return one_line(name)


def _refuse_special(name: str, kind: str, what: str) -> SpecError:
    return SpecError(f"{name} is {kind}, not a regular {what} file: it is not read", Location(name),
                     code="not-a-file", hint="give a file saved on disk (devices, FIFOs and sockets are "
                                             "refused: they may never end)")


def refuse_special(path: str | Path, what: str) -> None:
    """A device, FIFO or socket (or a link to one) is refused; anything else passes (a missing
    file or a folder is the caller's to report). For files archcalc does not read itself:
    the Python file of --against and import."""
    try:
        kind = special_kind(os.stat(path).st_mode)
    except (OSError, ValueError):
        return
    if kind and kind != "a directory":
        raise _refuse_special(str(path), kind, what)


def read_bytes(path: str | Path, what: str = "spec") -> bytes:
    """At most the file-size limit of a regular file's bytes, or a SpecError saying why not."""
    name = str(path)
    try:
        mode = os.stat(path).st_mode  # follows links: a link to /dev/zero is a device
    except FileNotFoundError:
        raise SpecError(f"no such {what} file: {name}", Location(name), code="file-not-found",
                        hint="check the path" + ("; specs usually live in specs/" if what == "spec" else "")) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise SpecError(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}", Location(name),
                        code="file-not-found") from None
    if stat.S_ISDIR(mode):
        raise SpecError(f"{name} is a directory, not a {what} file", Location(name), code="file-not-found",
                        hint=f"give a {what} file" + (" (archcalc check and verify also take folders)"
                                                     if what == "spec" else ""))
    kind = special_kind(mode)
    if kind:
        raise _refuse_special(name, kind, what)
    max_bytes = limit("MAX_FILE_BYTES", MAX_FILE_BYTES)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)  # non-blocking: a FIFO swapped in after the stat cannot hang the open
    except OSError as exc:
        raise SpecError(f"cannot read {name}: {exc.strerror}", Location(name), code="file-not-found") from None
    try:
        opened = os.fstat(fd)
        kind = special_kind(opened.st_mode)
        if kind:  # replaced between the stat and the open
            raise _refuse_special(name, kind, what)
        if opened.st_size > max_bytes:
            raise _too_big(name, f"{opened.st_size:,} bytes", max_bytes, what)
        chunks: list[bytes] = []
        budget = max_bytes + 1  # never more than this, whatever stat says
        while budget > 0:
            chunk = os.read(fd, min(budget, CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            budget -= len(chunk)
        if budget <= 0:
            raise _too_big(name, f"at least {max_bytes + 1:,} bytes (it grew while it was read)", max_bytes, what)
        return b"".join(chunks)
    except BlockingIOError:
        raise _refuse_special(name, "not a regular file", what) from None
    except OSError as exc:
        raise SpecError(f"cannot read {name}: {exc.strerror}", Location(name), code="file-not-found") from None
    finally:
        os.close(fd)


def _too_big(name: str, size: str, max_bytes: int, what: str) -> SpecError:
    return SpecError(f"the file is {size}, over the limit of {max_bytes:,} bytes", Location(name),
                     hint=f"a {what} describes one network: split it, or raise ARCHCALC_MAX_FILE_BYTES"
                     if what == "spec" else "raise ARCHCALC_MAX_FILE_BYTES if it is really this large",
                     code="limit")


def read_text(path: str | Path, what: str = "spec") -> str:
    name = str(path)
    data = read_bytes(path, what)
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


_NOTES: list[dict] = []  # this command's notes, for the machine formats (reset by the CLI per command)


def note_skipped(path: str | Path, kind: str) -> None:
    """A folder's special file is skipped, not read and not an error: said on standard error,
    and kept for the reports that machines read (check's JSON, JUnit and GitHub formats,
    verify's JSON), which list it under "notes"."""
    import click

    message = f"skipped, {kind} is not a regular file"
    _NOTES.append({"file": str(path), "message": message})
    click.echo(_printable_name(f"{path}: note: {message}"), err=True)


def notes() -> list[dict]:
    """The notes said on standard error so far ({"file", "message"} each)."""
    return list(_NOTES)


def clear_notes() -> None:
    _NOTES.clear()


def regular_files(found) -> list[Path]:
    """The regular files (or links to them) among a folder's files; each device, FIFO or socket
    (or link to one) skipped with a note, a subfolder silently. A path that cannot be
    stat'ed (a dangling link) is kept, so that reading it says why."""
    out: list[Path] = []
    for f in found:
        try:
            mode = os.stat(f).st_mode
        except OSError:
            out.append(f)
            continue
        if stat.S_ISDIR(mode):
            continue
        kind = special_kind(mode)
        if kind:
            note_skipped(f, f"a link to {kind}" if os.path.islink(f) else kind)
        else:
            out.append(f)
    return out


def spec_files(paths: tuple[str, ...]) -> list[Path]:
    """Files as given; folders expanded to every regular *.yaml under them, sorted."""
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = regular_files(sorted(path.rglob("*.yaml")) + sorted(path.rglob("*.yml")))
            if not found:
                raise SpecError(f"no *.yaml specs under {p}", Location(p), code="file-not-found")
            files.extend(found)
        else:
            files.append(path)
    return files
