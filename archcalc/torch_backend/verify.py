"""Engine vs torch, per layer and per quantity, with the reason for each disagreement.

Symbolic specs are checked at concrete sizes (dims defaults, --set, or --samples N drawn
at random): the engine's formulas are substituted at each size and compared with what
torch measures there. Before a run on a real device, a memory estimate decides whether it
fits; if not, the run happens on the meta device instead, and the result says so.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any

import torch

from archcalc.engine import numbers as N
from archcalc.engine.analysis import Analysis
from archcalc.engine.analyze import analyze
from archcalc.spec import Spec
from archcalc.spec.errors import Location, SpecError
from archcalc.torch_backend.build import build_from_analysis
from archcalc.torch_backend.prepare import (MAX_VERIFY_LAYERS, check_layer_count, exit_code,  # noqa: F401
                                            parse_size)
from archcalc.torch_backend.measure import measure

QUANTITIES = ("output", "params", "buffers", "flops")
BYTES_PER_ELEMENT = 4  # float32
DEFAULT_MEMORY_FRACTION = 0.5


@dataclass
class Check:
    quantity: str
    engine: Any
    torch: Any
    agree: bool
    reason: str | None = None


@dataclass
class LayerChecks:
    path: str
    kind: str
    checks: dict[str, Check]

    @property
    def agree(self) -> bool:
        return all(c.agree for c in self.checks.values())


@dataclass
class Verification:
    spec: Spec
    device: str  # asked for
    ran_on: str  # used (meta when the memory guard stepped in)
    bindings: dict[str, int]
    layers: list[LayerChecks] = field(default_factory=list)
    note: str | None = None
    estimated_bytes: int = 0
    name: str = ""  # the spec's name, or the variant's

    @property
    def agree(self) -> bool:
        return all(layer.agree for layer in self.layers)

    def disagreements(self) -> list[tuple[str, Check]]:
        return [(layer.path, c) for layer in self.layers for c in layer.checks.values() if not c.agree]


def available_memory(device: str) -> int:
    if device.startswith("cuda"):
        return torch.cuda.mem_get_info(torch.device(device))[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def estimate_bytes(analysis: Analysis) -> int:
    """Weights + buffers + the input and the two largest activations (a forward pass without
    gradients holds about one layer's input and output at a time)."""
    t = analysis.totals
    largest = sorted((int(r.activations) for r in analysis.rows), reverse=True)[:2]
    inputs = int(N.product(analysis.input)) * analysis.batch
    return BYTES_PER_ELEMENT * (int(t["params"]) + int(t["buffers"]) + inputs + sum(largest))


def check_device(device: str) -> str:
    if device == "meta" or device == "cpu":
        return device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SpecError("--device cuda: no CUDA device is available here", Location("--device"),
                            hint="use --device cpu or meta", code="usage")
        return device
    raise SpecError(f"--device {device}: unknown device", Location("--device"), expected="meta, cpu or cuda",
                    code="usage")


def sample_bindings(spec: Spec, analysis: Analysis, overrides: dict, samples: int | None,
                    seed: int = 0, variant: str | None = None) -> list[dict[str, int]]:
    """Concrete sizes at which to check a symbolic analysis."""
    symbols = analysis.symbols
    if not symbols:
        return [{}]
    if not samples:
        missing = [s for s in symbols if not (spec.dims.get(s) and spec.dims[s].default)]
        if missing:
            raise SpecError("symbolic dimension(s) " + ", ".join(missing) + " have no default size to verify at",
                            Location(spec.file), hint="use --set " + " --set ".join(f"{m}=..." for m in missing)
                            + ", --samples N, or dims: {NAME: {default: N}}", code="needs-concrete-size")
        return [{s: spec.dims[s].default for s in symbols}]
    rng = random.Random(seed)
    found: list[dict[str, int]] = []
    for _ in range(samples * 50):
        if len(found) == samples:
            break
        pick = {s: rng.randint(*_sample_range(spec.dims.get(s))) for s in symbols}
        try:
            analyze(spec, {**overrides, **{k: str(v) for k, v in pick.items()}}, analysis.batch, variant)
        except SpecError:
            continue  # a size the network can't take (e.g. smaller than a kernel)
        found.append(pick)
    if not found:
        raise SpecError("no valid sample sizes found for " + ", ".join(symbols), Location(spec.file),
                        hint="declare dims bounds (min) or pass --set", code="needs-concrete-size")
    return found


def _sample_range(decl) -> tuple[int, int]:
    """A dimension's bounds, or 1 to four times its default (64 without one)."""
    lo = decl.min if decl and decl.min else 1
    hi = decl.max if decl and decl.max else max(4 * (decl.default if decl and decl.default else 64), lo)
    return lo, hi


def _shape_reason(engine: tuple, measured: tuple) -> str:
    return f"engine {list(engine)}, torch {list(measured)}"


def _count_reason(name: str, engine: int, measured: int) -> str:
    diff = measured - engine
    return f"engine {engine:,}, torch {measured:,} (torch has {abs(diff):,} {'more' if diff > 0 else 'fewer'})"


def verify_spec(spec: Spec, overrides: dict | None = None, device: str = "meta", samples: int | None = None,
                max_memory: int | None = None, batch: int = 1, variant: str | None = None,
                symbolic: Analysis | None = None) -> list[Verification]:
    """`symbolic`: the spec's analysis with these overrides, batch and variant, when the caller
    has it already (the CLI validates every spec before importing torch): not redone."""
    overrides = dict(overrides or {})
    device = check_device(device)
    symbolic = symbolic or analyze(spec, overrides, batch, variant)
    check_layer_count(symbolic)
    results = []
    for binding in sample_bindings(spec, symbolic, overrides, samples, variant=variant):
        concrete = (analyze(spec, {**overrides, **{k: str(v) for k, v in binding.items()}}, batch, variant)
                    if binding else symbolic)  # no open size: the analysis is already concrete
        results.append(_verify_at(spec, symbolic, concrete, binding, device, max_memory))
    return results


def more_inputs(analysis: Analysis) -> tuple:
    """(shape, dtype) of each of the spec's inputs after the first, in order."""
    return tuple((analysis.more_inputs[i.name], i.dtype) for i in analysis.spec.more_inputs)


def _verify_at(spec: Spec, symbolic: Analysis, concrete: Analysis, binding: dict[str, int], device: str,
               max_memory: int | None) -> Verification:
    estimated = estimate_bytes(concrete)
    ran_on, notes = _device_for(device, estimated, max_memory)
    notes += list(dict.fromkeys(r.layer.verify_note for r in concrete.leaves() if r.layer.verify_note))
    try:
        net = build_from_analysis(concrete, ran_on)
        measured = measure(net, concrete.input, [r.path for r in concrete.leaves()], concrete.batch, ran_on,
                           spec.input_dtype, more_inputs(concrete))
    except SpecError:
        raise
    except Exception as exc:  # a failure inside torch: check what can be checked, layer by layer
        from archcalc.torch_backend.measure import measure_each

        measured = measure_each(concrete, "meta")
        notes.append(f"the whole-network run failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                     "each layer was then run alone on meta")
        ran_on = "meta (layer by layer)"
    result = Verification(spec, device, ran_on, binding, note="; ".join(notes) or None, estimated_bytes=estimated,
                          name=concrete.name)
    result.layers = [_layer_checks(row, measured[row.path], binding, concrete.row(row.path).loc)
                     for row in symbolic.leaves()]
    return result


def _device_for(device: str, estimated: int, max_memory: int | None) -> tuple[str, list[str]]:
    """The device to run on (meta when the estimate is over the memory budget), and why."""
    if device == "meta":
        return device, []
    budget = max_memory if max_memory is not None else int(available_memory(device) * DEFAULT_MEMORY_FRACTION)
    if estimated <= budget:
        return device, []
    return "meta", [f"needs about {estimated / 1e9:.1f} GB on {device}, over the budget of {budget / 1e9:.1f} GB: "
                    "checked on the meta device instead (raise it with --max-memory)"]


def _layer_checks(row, m, binding: dict[str, int], loc) -> LayerChecks:
    """One layer's engine figures (at these sizes) against torch's."""
    if m.error:
        reason = f"torch failed on this layer ({loc}): {m.error}"
        return LayerChecks(row.path, row.kind, {q: Check(q, None, None, False, reason) for q in QUANTITIES})
    engine_out = tuple(N.substitute(d, binding) for d in row.output)
    checks = {"output": Check("output", engine_out, m.output, engine_out == m.output,
                              None if engine_out == m.output else _shape_reason(engine_out, m.output))}
    for q in ("params", "buffers", "flops"):
        e = N.substitute(getattr(row, q), binding)
        t = getattr(m, q)
        checks[q] = Check(q, e, t, e == t, None if e == t else _count_reason(q, e, t))
    return LayerChecks(row.path, row.kind, checks)


def verify_files(files: list, view, overrides: dict, device: str, samples: int | None, max_memory: int | None,
                 batch: int, variant: str | None, alone: bool | None = None, analysed: dict | None = None
                 ) -> tuple[list[Verification], list[SpecError], bool]:
    """Every spec file (and with variant "all", every variant of each), reported to `view` as
    each is done; an invalid spec is reported and the next one verified, unless it is the only
    one given (`alone`; then its error is raised). `analysed`: file → its analyses (one per
    variant), already made by the validation. Ctrl-C stops cleanly: (results, errors, interrupted)."""
    from archcalc.spec import load_spec

    results: list[Verification] = []
    errors: list[SpecError] = []
    try:
        for i, file in enumerate(files, 1):
            view.start(i, file)
            try:
                found = [v for a in (analysed or {}).get(file) or _analyses(load_spec(file), overrides, batch, variant)
                         for v in verify_spec(a.spec, overrides, device, samples, max_memory, batch, a.variant, a)]
            except SpecError as err:
                if (len(files) == 1) if alone is None else alone:
                    raise
                errors.append(err)
                view.invalid(err)
                continue
            results.extend(found)
            for v in found:
                view.done(v)
    except KeyboardInterrupt:  # report what was verified so far, then stop cleanly
        return results, errors, True
    return results, errors, False


def _analyses(spec: Spec, overrides: dict, batch: int, variant: str | None) -> list[Analysis]:
    """The spec's analysis, or with variant "all" one per variant (the spec itself first)."""
    return [analyze(spec, overrides, batch, name) for name in ([None, *spec.variants] if variant == "all" else [variant])]
