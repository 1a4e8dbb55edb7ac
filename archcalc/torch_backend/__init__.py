"""The torch backend: build a spec as an nn.Module, run it, and compare with the engine.

torch is imported here and only here, when a command needs it."""
from __future__ import annotations

# the backend's entry points, and the one torch install advice (README, every command's error)
from archcalc.torch_backend.prepare import (  # noqa: F401
    INSTALL_TORCH, INSTALL_TORCH_CPU, INSTALL_TORCH_CUDA, TORCH_CPU_INDEX, load_torch, require_torch)


def validated(files: list, sets: dict, batch: int = 1, variant: str | None = None) -> list:
    """`files`, once torch is found (not imported) and every spec is loaded and analysed (each
    variant with variant "all"): a lone invalid spec raises its located error before the
    caller imports torch; of several, only the valid ones are returned (torch_backend.command
    reports the others)."""
    from archcalc.torch_backend.prepare import validate

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
