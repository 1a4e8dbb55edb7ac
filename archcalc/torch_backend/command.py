"""`archcalc verify`'s driver, torch-free until a spec is known to be valid.

Every spec given is loaded and analysed (each variant with "all") and its layer count
checked before torch is imported: the invalid ones are reported, located, first; torch is
imported only when at least one spec is left to verify, so a run whose specs are all
invalid fails as fast as `summarize` and never imports torch."""
from __future__ import annotations

from archcalc.torch_backend.prepare import exit_code, load_torch, parse_size, require_torch, torch_version, validate


def run_verify(files: list, out, fmt: str, sets: dict, device: str, samples: int | None, max_memory: str | None,
               batch: int, variant: str | None) -> int:
    """Validate every file, report the invalid ones, then (only if any is left) import torch
    and verify the rest; one exit code for all."""
    from archcalc.report.verify_report import VIEWS

    require_torch()
    budget = parse_size(max_memory) if max_memory else None
    valid, invalid = validate(files, sets, batch, variant)
    if not valid:
        view = VIEWS[fmt](out, len(files), torch_version())
        for err in invalid:
            view.invalid(err)
        view.finish([], invalid, False)
        return exit_code([], invalid, False, len(files))
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
