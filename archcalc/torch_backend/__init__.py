"""The torch backend: build a spec as an nn.Module, run it, and compare with the engine.

torch is imported here and only here, when a command needs it."""
from __future__ import annotations

from archcalc.spec.errors import Location, SpecError


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
                        hint="pip install 'archcalc[torch]' (on a CPU-only machine: pip install torch --index-url "
                             "https://download.pytorch.org/whl/cpu)", code="missing-dependency")


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
                             "torch (pip install torch --index-url https://download.pytorch.org/whl/cpu); otherwise "
                             "reinstall torch", code="missing-dependency") from None
    return torch


def validated(files: list, sets: dict, batch: int = 1, variant: str | None = None) -> list:
    """`files`, once torch is found (not imported) and every spec is loaded and analysed (each
    variant with variant "all"): a lone invalid spec raises its located error before the
    caller imports torch; of several, only the valid ones are returned (torch_backend.command
    reports the others)."""
    from archcalc.torch_backend.command import validate

    require_torch()
    return list(validate(files, sets, batch, variant)[0])


def build_module(spec, *, device="cpu", variant=None, **bindings):
    load_torch()
    from archcalc.torch_backend.build import build_module as _build

    return _build(spec, device=device, variant=variant, **bindings)


def verify_spec(spec, overrides=None, device="meta", samples=None, max_memory=None, batch=1, variant=None):
    load_torch()
    from archcalc.torch_backend.verify import verify_spec as _verify

    return _verify(spec, overrides, device, samples, max_memory, batch, variant)
