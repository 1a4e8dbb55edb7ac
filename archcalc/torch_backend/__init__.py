"""The torch backend: build a spec as an nn.Module, run it, and compare with the engine.

torch is imported here and only here, when a command needs it."""
from __future__ import annotations

from archcalc.spec.errors import Location, SpecError

# How to install torch, in one place: every command that needs it says these words when it is
# missing, the README states them (tests/test_package.py checks), the Gradescope autograder's
# setup installs from the same CPU index. PyPI's torch wheels carry CUDA (GBs); the CPU index's
# are a fifth of that, and pip prefers their `+cpu` local version over PyPI's same release.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
INSTALL_TORCH_CPU = f"pip install 'archcalc[torch]' --extra-index-url {TORCH_CPU_INDEX}"
INSTALL_TORCH_CUDA = "pip install 'archcalc[torch]'"
INSTALL_TORCH = f"CPU only: {INSTALL_TORCH_CPU} · with CUDA: {INSTALL_TORCH_CUDA}"


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


def validated(files: list, sets: dict, batch: int = 1, variant: str | None = None) -> list:
    """`files`, once torch is found (not imported) and a lone spec is loaded and analysed (each
    variant with variant "all"): an invalid spec raises its located error before the caller
    imports torch (seconds, 200 MB), as fast as summarize fails. Of several files, each invalid
    one is reported in turn by the caller, among the others."""
    require_torch()
    if len(files) == 1:
        from archcalc.engine.analyze import analyze
        from archcalc.spec import load_spec

        spec = load_spec(files[0])
        for name in ([None, *spec.variants] if variant == "all" else [variant]):
            analyze(spec, sets, batch, name)
    return files


def build_module(spec, *, device="cpu", variant=None, **bindings):
    require_torch()
    from archcalc.torch_backend.build import build_module as _build

    return _build(spec, device=device, variant=variant, **bindings)


def verify_spec(spec, overrides=None, device="meta", samples=None, max_memory=None, batch=1, variant=None):
    require_torch()
    from archcalc.torch_backend.verify import verify_spec as _verify

    return _verify(spec, overrides, device, samples, max_memory, batch, variant)
