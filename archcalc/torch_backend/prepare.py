"""What a command that needs torch does before importing it (seconds, 200 MB of memory, 0.6 to
3.3 GB of address space): find torch, read its options, load and analyse every spec and
check verify's layer limit. Nothing here imports torch but load_torch, which turns a torch
that cannot be loaded into a located error."""
from __future__ import annotations

import re

from archcalc.spec.errors import Location, SpecError

# How to install torch, in one place: every command that needs it says these words when it is
# missing, the README states them (tests/test_package.py checks), the Gradescope autograder's
# setup installs from the same CPU index. PyPI's torch wheels carry CUDA (GBs); the CPU index's
# are a fifth of that, and pip prefers their `+cpu` local version over PyPI's same release.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
INSTALL_TORCH_CPU = f"pip install 'archcalc[torch]' --extra-index-url {TORCH_CPU_INDEX}"
INSTALL_TORCH_CUDA = "pip install 'archcalc[torch]'"
INSTALL_TORCH = f"CPU only: {INSTALL_TORCH_CPU} · with CUDA: {INSTALL_TORCH_CUDA}"

MAX_VERIFY_LAYERS = 2_000  # llama2_70b, 80 decoder layers, has 1,603
SECONDS_PER_LAYER = 0.002  # measured (SECURITY.md): about 1 ms of CPU a layer in torch on meta, 1 ms to print it


def parse_size(text: str) -> int:
    """'2GB', '512MiB', '1e9' → bytes."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([kmgt]?i?b?)\s*", text.lower())
    if not m:
        raise SpecError(f"--max-memory {text}: not a size", Location("--max-memory"),
                        expected="e.g. 2GB, 512MiB or a number of bytes", code="usage")
    unit = m.group(2).rstrip("b")
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
             "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}[unit]
    try:
        return int(float(m.group(1)) * scale)
    except OverflowError:  # '1e999GB'
        raise SpecError(f"--max-memory {text}: too large a size", Location("--max-memory"),
                        expected="e.g. 2GB, 512MiB or a number of bytes", code="usage") from None


def check_layer_count(analysis) -> None:
    """verify builds and runs one torch module per layer, a few milliseconds each even on meta
    (torch's dispatch and FlopCounterMode): above the limit it refuses rather than run for minutes."""
    from archcalc.textio import limit

    most = limit("MAX_VERIFY_LAYERS", MAX_VERIFY_LAYERS)
    layers = sum(1 for _ in analysis.leaves())
    if layers > most:
        raise SpecError(f"the spec has {layers:,} layers to build and run, above verify's limit of {most:,}",
                        Location(analysis.spec.file),
                        hint=f"torch takes about {SECONDS_PER_LAYER * 1000:g} ms a layer even on meta (about "
                             f"{layers * SECONDS_PER_LAYER:,.0f} s here); raise ARCHCALC_MAX_VERIFY_LAYERS if this "
                             "is meant, or verify a smaller repeat count: the engine's figures scale with it",
                        code="limit")


def validate(files: list, sets: dict, batch: int = 1, variant: str | None = None) -> tuple[dict, list[SpecError]]:
    """({file: its analyses, one per variant} for the files that load, analyse and fit verify's
    layer limit; the errors of the others). A lone file's error is raised, as every command
    raises it. The analyses are handed on to the verification, which does not redo them."""
    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec

    valid, errors = {}, []
    for file in files:
        try:
            spec = load_spec(file)
            analyses = [analyze(spec, sets, batch, name)
                        for name in ([None, *spec.variants] if variant == "all" else [variant])]
            for analysis in analyses:
                check_layer_count(analysis)
        except SpecError as err:
            if len(files) == 1:
                raise
            errors.append(err)
            continue
        valid[file] = analyses
    return valid, errors


def torch_version() -> str:
    """torch's version without importing it (for a report whose specs are all invalid)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return "unknown"


def exit_code(results: list, errors: list[SpecError], interrupted: bool, files: int) -> int:
    """verify's exit: 130 when interrupted (said on stderr), 2 after an invalid spec, 1 when a layer disagrees."""
    if interrupted:
        import click

        click.echo(f"interrupted: stopped after {len(results)} verification(s) of {files} spec file(s)", err=True)
        return 130
    if errors:
        return 2
    return 0 if all(v.agree for v in results) else 1


def require_torch():
    """PyTorch is installed, or a located error. It is found, not imported: a command validates
    its spec first, so that an invalid spec fails before torch's import (seconds, 200 MB)."""
    import importlib.util

    try:
        found = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a broken or blocked installation
        found = False
    if not found:
        raise SpecError("this command needs PyTorch, which is not installed", Location("archcalc"),
                        hint=INSTALL_TORCH, code="missing-dependency")


def load_torch():
    """torch, imported, or a located error. Its shared libraries can fail to load: under an
    address-space limit (`ulimit -v`; the CUDA build maps about 3.3 GB of virtual memory as it
    is imported, the CPU build about 0.6 GB) or in a broken installation."""
    require_torch()
    try:
        import torch
    except (ImportError, OSError, MemoryError) as exc:
        first = (str(exc).splitlines() or [""])[0][:300]
        raise SpecError(f"PyTorch is installed but could not be loaded ({type(exc).__name__}: {first})",
                        Location("archcalc"),
                        hint="under a memory limit (ulimit -v), allow more virtual memory or install the CPU build of "
                             f"torch ({INSTALL_TORCH_CPU}); otherwise reinstall torch", code="missing-dependency") from None
    return torch
