"""`archcalc check`: everything a CI job asks of one spec file, gathered into a report."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archcalc.check.budget import check_budgets, spec_budget
from archcalc.check.expect import check_expect
from archcalc.outcome import Outcome
from archcalc.engine.analysis import Analysis, AnalysisWarning
from archcalc.engine.analyze import analyze
from archcalc.spec.errors import SpecError


@dataclass
class SpecReport:
    file: str
    name: str | None = None
    results: list[Outcome] = field(default_factory=list)
    errors: list[SpecError] = field(default_factory=list)
    warnings: list[tuple[str | None, AnalysisWarning]] = field(default_factory=list)  # (variant, warning)

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 2
        return 1 if any(not r.ok for r in self.results) else 0

    @property
    def failures(self) -> list[Outcome]:
        return [r for r in self.results if not r.ok]


def check_file(path: str | Path, *, strict: bool = False, verify: bool = False, against: str | None = None,
               variant: str | None = None, limits: dict | None = None, overrides: dict | None = None) -> SpecReport:
    from archcalc.spec import load_spec

    report = SpecReport(str(path))
    try:
        spec = load_spec(path)
    except SpecError as err:
        report.errors.append(err)
        return report
    report.name = spec.name
    try:
        budgets = {**spec_budget(getattr(spec, "budget", None)), **(limits or {})}
    except SpecError as err:
        report.errors.append(err)
        budgets = {}
    if variant is not None and variant not in spec.variants:
        try:
            analyze(spec, overrides, variant=variant)  # raises the located "did you mean" error
        except SpecError as err:
            report.errors.append(err)
            return report
    chosen = [variant] if variant is not None else [None, *spec.variants]
    for name in chosen:
        _check_variant(spec, name, report, strict=strict, verify=verify, budgets=budgets, overrides=overrides or {},
                       against=against if name == chosen[0] else None)
    return report


def _check_variant(spec, variant, report: SpecReport, *, strict, verify, budgets, overrides, against) -> None:
    try:
        analysis = analyze(spec, overrides, variant=variant)
    except SpecError as err:
        report.errors.append(err)
        return
    seen = {(w.loc, w.message) for _, w in report.warnings}
    for w in analysis.warnings:
        if (w.loc, w.message) in seen:
            continue  # the same arithmetic in another variant
        if strict and w.code == "inexact-division":
            report.errors.append(SpecError(f"'{w.path}': {w.message}", w.loc, code="inexact-division",
                                           hint="--strict refuses sizes that torch silently floors; "
                                                "adjust padding or the input size"))
        else:
            report.warnings.append((variant, w))
    expect = spec.variants[variant].expect if variant else spec.expect

    def reanalyze(bindings: dict[str, str]) -> Analysis:
        return analyze(spec, {**overrides, **bindings}, variant=variant)

    try:
        if expect is not None:
            report.results.extend(check_expect(expect, analysis, reanalyze, variant))
        if budgets:
            report.results.extend(check_budgets(analysis, budgets, variant))
        if verify and (unsized := _without_size(spec, analysis)):
            report.warnings.insert(0, (variant, _not_verified(spec, unsized)))
        elif verify:
            report.results.extend(_verify(spec, overrides, variant))
        if against:
            from archcalc.torch_backend.against import compare_with_model

            report.results.extend(compare_with_model(analysis, against))
    except SpecError as err:
        report.errors.append(err)


def _without_size(spec, analysis: Analysis) -> list[str]:
    """The symbolic dimensions (after --set) with no default to build the network at: torch
    needs concrete sizes."""
    return [s for s in analysis.symbols if not (spec.dims.get(s) and spec.dims[s].default)]


def _not_verified(spec, unsized: list[str]) -> AnalysisWarning:
    """--verify on a valid symbolic spec with no sizes to build it at: not verified, and said so
    (a warning, not an invalid spec: nothing that can be checked has failed; exit 0)."""
    from archcalc.spec.errors import Location

    names = ", ".join(unsized)
    how = " ".join(f"--set {n}=..." for n in unsized)
    return AnalysisWarning("--verify", "not-verified",
                           f"valid, but not run with torch: {names} {'has' if len(unsized) == 1 else 'have'} no size "
                           f"to build it at (give {how}, or dims: {{{unsized[0]}: {{default: N}}}})",
                           Location(spec.file))


def _verify(spec, overrides: dict[str, Any], variant) -> list[Outcome]:
    from archcalc.torch_backend import verify_spec

    results = []
    for v in verify_spec(spec, overrides, "meta", variant=variant):
        bad = v.disagreements()
        if not bad:
            results.append(Outcome("verify", True, "engine = torch", f"all {len(v.layers)} layers agree (meta)",
                                  None, None, variant, kind="verify"))
        for path, check in bad:
            row_loc = next((r.loc for r in spec.layers if r.name == path.split(".")[0]), None)
            results.append(Outcome(f"verify.{path}.{check.quantity}", False, f"engine {check.engine}",
                                  f"torch {check.torch}", row_loc, check.reason, variant, kind="verify"))
    return results
