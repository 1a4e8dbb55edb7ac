"""archcalc: exact shapes, parameters, neurons and FLOPs of neural networks, from a spec.

Public API (torch is imported only by the functions that need it):
    load_spec(path) -> Spec
    analyze(spec, overrides=None, batch=1) -> Analysis
"""
__version__ = "0.1.0"


def load_spec(path):
    from archcalc.spec import load_spec as _load

    return _load(path)


def analyze(spec, overrides=None, batch=1):
    from archcalc.engine.analyze import analyze as _analyze

    return _analyze(spec, overrides, batch)


__all__ = ["__version__", "load_spec", "analyze"]
