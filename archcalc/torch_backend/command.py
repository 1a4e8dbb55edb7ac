"""`archcalc verify`'s driver, torch-free until a spec is known to be valid.

Every spec given is loaded and analysed (each variant with "all") and its layer count
checked before torch is imported (seconds, 200 MB): the invalid ones are reported, located,
first; torch is imported only when at least one spec is left to verify, so a run whose
specs are all invalid fails as fast as `summarize` and never imports torch."""
from __future__ import annotations

import re

from archcalc.spec.errors import Location, SpecError

MAX_VERIFY_LAYERS = 2_000  # llama2_70b, 80 decoder layers, has 1,603
SECONDS_PER_LAYER = 0.003  # measured on meta (SECURITY.md): 2,000 layers in about 6 s on a loaded two-core machine


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


def run_verify(files: list, out, fmt: str, sets: dict, device: str, samples: int | None, max_memory: str | None,
               batch: int, variant: str | None) -> int:
    """Validate every file, report the invalid ones, then (only if any is left) import torch
    and verify the rest; one exit code for all."""
    from archcalc.report.verify_report import VIEWS
    from archcalc.torch_backend import require_torch

    require_torch()
    budget = parse_size(max_memory) if max_memory else None
    valid, invalid = validate(files, sets, batch, variant)
    if not valid:
        view = VIEWS[fmt](out, len(files), torch_version())
        for err in invalid:
            view.invalid(err)
        view.finish([], invalid, False)
        return exit_code([], invalid, False, len(files))
    from archcalc.torch_backend import load_torch

    torch = load_torch()
    from archcalc.torch_backend.verify import verify_files

    view = VIEWS[fmt](out, len(files), torch.__version__)
    for err in invalid:
        view.invalid(err)
    results, errors, interrupted = verify_files(list(valid), view, sets, device, samples, budget, batch, variant,
                                                alone=len(files) == 1, analysed=valid)
    errors = invalid + errors
    view.finish(results, errors, interrupted)
    return exit_code(results, errors, interrupted, len(files))
