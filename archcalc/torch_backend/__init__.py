"""The torch backend: build a spec as an nn.Module, run it, and compare with the engine.

torch is imported here and only here, when a command needs it."""
from __future__ import annotations

from archcalc.spec.errors import Location, SpecError


def require_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SpecError("this command needs PyTorch, which is not installed", Location("archcalc"),
                        hint="pip install 'archcalc[torch]' (on a CPU-only machine: pip install torch --index-url "
                             "https://download.pytorch.org/whl/cpu)", code="missing-dependency") from None


def build_module(spec, *, device="cpu", variant=None, **bindings):
    require_torch()
    from archcalc.torch_backend.build import build_module as _build

    return _build(spec, device=device, variant=variant, **bindings)


def verify_spec(spec, overrides=None, device="meta", samples=None, max_memory=None, batch=1, variant=None):
    require_torch()
    from archcalc.torch_backend.verify import verify_spec as _verify

    return _verify(spec, overrides, device, samples, max_memory, batch, variant)
