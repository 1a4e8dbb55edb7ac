"""archcalc: exact shapes, parameters, neurons and FLOPs of neural networks, from a spec.

Public API (torch is imported only by the functions that need it):
    load_spec(path) -> Spec
    analyze(spec, overrides=None, batch=1) -> Analysis
    build_module(spec, *, device="cpu", **bindings) -> torch.nn.Module
    verify(spec, overrides=None, device="meta", samples=None) -> list[Verification]
    summary(model_or_spec, input=None, ...) -> Summary    (notebooks: renders as the table)
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # names for the signatures only: importing archcalc stays light
    from archcalc.engine.analysis import Analysis
    from archcalc.report.display import Summary
    from archcalc.spec.model import Spec

__version__ = "0.1.0"  # the one source: pyproject.toml reads it, `archcalc --version` prints it


def load_spec(path: str | os.PathLike) -> Spec:
    """Read and validate a spec file (YAML, `archcalc: 1`).

    Args:
        path: the spec's path.

    Returns:
        The parsed Spec. Every problem of the file is a located SpecError (file, line,
            what was expected, how to fix it); nothing in a spec is executed.
    """
    from archcalc.spec import load_spec as _load

    return _load(path)


def analyze(spec: Spec, overrides: dict[str, str] | None = None, batch: int = 1) -> Analysis:
    """Every layer's shape, params, buffers, neurons, MACs and FLOPs, exactly.

    Args:
        spec: a Spec from load_spec.
        overrides: values of the spec's vars and dims by name, as text ({"classes": "10"}),
            as `--set` gives them; sizes left open stay symbols.
        batch: samples per pass (multiplies activations, MACs and FLOPs, never params).

    Returns:
        An Analysis: `.rows` (depth first), `.row(path)`, `.totals`, `.output`,
            `.warnings`.
    """
    from archcalc.engine.analyze import analyze as _analyze

    return _analyze(spec, overrides, batch)


def build_module(spec: Spec | str | os.PathLike, *, device: str = "cpu", **bindings: Any) -> Any:
    """The spec as a torch.nn.Module whose submodules are named by the layer paths (needs torch).

    Args:
        spec: a Spec or a spec's path.
        device: where the parameters are made ("meta" allocates nothing).
        **bindings: values of the spec's vars and dims (classes=10, H=224).
    """
    from archcalc.torch_backend import build_module as _build

    return _build(spec, device=device, **bindings)


def verify(spec: Spec | str | os.PathLike, overrides: dict[str, str] | None = None, device: str = "meta",
           samples: int | None = None, max_memory: int | None = None, batch: int = 1) -> list:
    """Build the spec with torch, run it once and compare, layer by layer, the output shape,
    params, buffers and FlopCounterMode FLOPs with the engine's (needs torch).

    Args:
        spec: a Spec or a spec's path.
        overrides: values of vars and dims by name, as text.
        device: "meta" (nothing allocated) or a real device.
        samples: also check this many random sizes of a symbolic spec.
        max_memory: bytes a real-device run may take before it moves to the meta device.
        batch: samples per pass.

    Returns:
        One Verification per size checked (the spec's defaults, or each of `samples`),
            with its per-layer results.
    """
    from archcalc.torch_backend import verify_spec

    if not hasattr(spec, "layers"):
        spec = load_spec(spec)
    return verify_spec(spec, overrides, device, samples, max_memory, batch)


def summary(model_or_spec: Any, input: Any = None, *, batch: int = 1, convention: str | None = None,
            variant: str | None = None, dtype: str | None = None, verify: bool = True, **bindings: Any) -> Summary:
    """The summary of a spec (a path, a Spec) or of a torch.nn.Module, as `archcalc summarize`
    and `archcalc import` compute it (its .analysis, .totals, .row(path)); in Jupyter and rich
    it renders as the per-layer table.

    For a module, `input` is one sample's shape, batch left out: (3, 224, 224), or with names
    for symbolic dimensions (3, "H", "W"), traced at the sizes given as keywords (H=224). The
    module is imported as `archcalc import` does and, unless verify=False, the spec is checked
    against it (output, parameters, buffers, FLOPs, every parameterised layer); a difference
    raises SpecError. `convention` counts MACs/FLOPs as torchinfo, fvcore, ptflops, thop or
    torch do (see `archcalc compare-conventions`).
    """
    from archcalc.spec.errors import Location, SpecError

    overrides = {k: str(v) for k, v in bindings.items()}
    if hasattr(model_or_spec, "forward") and hasattr(model_or_spec, "parameters"):  # a torch module
        import warnings

        from archcalc.spec import load_spec_text
        from archcalc.torch_backend.importing import import_model, verify_import

        if input is None:
            raise SpecError("summary(module) needs input=, one sample's shape (batch left out), e.g. (3, 224, 224)",
                            Location("summary"), code="usage")
        dims = input if isinstance(input, str) else ",".join(str(d) for d in input)
        label = type(model_or_spec).__name__
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imported = import_model(label, dims, dtype=dtype, sizes=bindings, model=model_or_spec)
            if verify:
                failed = [r for r in verify_import(imported, label)[0] if not r.ok]
                if failed:
                    raise SpecError(f"the spec imported from {label} does not match it: "
                                    + "; ".join(r.message() for r in failed), Location("summary"),
                                    code="import-mismatch")
        spec = load_spec_text(imported.text, f"<imported {label}>")
    elif hasattr(model_or_spec, "layers"):
        spec = model_or_spec
    else:
        spec = load_spec(model_or_spec)
    from archcalc.engine.analyze import analyze as _analyze
    from archcalc.report.display import Summary

    result = _analyze(spec, overrides, batch, variant)
    if convention:
        from archcalc.conventions import apply, get

        return Summary(apply(result, convention), get(convention))
    return Summary(result)


__all__ = ["__version__", "load_spec", "analyze", "build_module", "verify", "summary"]
