"""archcalc: exact shapes, parameters, neurons and FLOPs of neural networks, from a spec.

Public API (torch is imported only by the functions that need it):
    load_spec(path) -> Spec
    analyze(spec, overrides=None, batch=1) -> Analysis
    build_module(spec, *, device="cpu", **bindings) -> torch.nn.Module
    verify(spec, overrides=None, device="meta", samples=None) -> list[Verification]
"""
__version__ = "0.1.0"


def load_spec(path):
    from archcalc.spec import load_spec as _load

    return _load(path)


def analyze(spec, overrides=None, batch=1):
    from archcalc.engine.analyze import analyze as _analyze

    return _analyze(spec, overrides, batch)


def build_module(spec, *, device="cpu", **bindings):
    from archcalc.torch_backend import build_module as _build

    return _build(spec, device=device, **bindings)


def verify(spec, overrides=None, device="meta", samples=None, max_memory=None, batch=1):
    from archcalc.torch_backend import verify_spec

    if not hasattr(spec, "layers"):
        spec = load_spec(spec)
    return verify_spec(spec, overrides, device, samples, max_memory, batch)


__all__ = ["__version__", "load_spec", "analyze", "build_module", "verify"]
