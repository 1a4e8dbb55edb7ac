"""`archcalc import` on torchvision's 78 CNNs against one warm CPU forward pass of each, and
`archcalc summarize` of each hand-written zoo spec; printed as ratios measured in this run.

    python benchmarks/bench_torchvision.py [MODEL ...]    # needs torchvision; ~10 minutes for all

Per model: one warm forward pass (no_grad, batch 1) and `import_model` on the warm model (the
fx graph recorded from one run, or fx's trace and shape propagation where recording cannot
give fx's graph; structure; the spec's text), taken in turn 9 times (5 where an import takes
0.2 s or more, 3 past 1 s), the median of each; and `verify_import` (the spec analysed and
checked against the model), once. Nothing is asserted.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "models"))
import torchvision_zoo  # noqa: E402

from archcalc.torch_backend.importing import import_model, parse_input, verify_import  # noqa: E402


def _median(run, n: int = 3) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _interleaved(runs: dict, n: int) -> dict[str, float]:
    """The median time of each run, the runs taken in turn n times: a drift of the machine's
    speed (this 2-core VM's timings wander by a third over seconds) touches each alike."""
    times: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(n):
        for label, run in runs.items():
            start = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in times.items()}


def import_ratios(names: list[str]) -> None:
    print(f"{'model':30} {'forward':>9} {'import':>9} {'ratio':>6} {'+verify':>9} {'ratio':>6}")
    worst = (0.0, "")
    for name in names:
        torch.manual_seed(0)
        model = torchvision_zoo.build(name).eval()
        x = torch.randn(1, *parse_input(torchvision_zoo.MODELS[name]))
        imported = []

        def forward():
            with torch.no_grad():
                model(x)

        def read():
            imported.append(import_model(name, torchvision_zoo.MODELS[name], model=model))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            forward()
            start = time.perf_counter()
            read()  # warm: torch's lazy imports
            warm = time.perf_counter() - start
            times = _interleaved({"forward": forward, "import": read}, 9 if warm < 0.2 else 5 if warm < 1 else 3)
            t_fwd, t_import = times["forward"], times["import"]
            start = time.perf_counter()
            results, _ = verify_import(imported[-1], name)
            t_verify = t_import + time.perf_counter() - start
        ok = "" if all(r.ok for r in results) else "  VERIFY FAILED"
        print(f"{name:30} {t_fwd * 1000:8.0f}ms {t_import * 1000:8.0f}ms {t_import / t_fwd:5.1f}x "
              f"{t_verify * 1000:8.0f}ms {t_verify / t_fwd:5.1f}x{ok}", flush=True)
        worst = max(worst, (t_import / t_fwd, name))
    print(f"largest import / forward ratio: {worst[0]:.1f}x ({worst[1]})")


def summarize_times() -> None:
    """The CLI, a fresh process each time (interpreter start included), for every spec; archcalc's
    bytecode compiled first, as pip compiles a package it installs (an editable checkout run with
    PYTHONDONTWRITEBYTECODE, as here, compiles its 49 modules on every start: +0.15 s)."""
    import compileall

    compileall.compile_dir(str(REPO / "archcalc"), quiet=1)
    slowest = (0.0, "")
    for spec in sorted((REPO / "specs").glob("*.yaml")):
        cmd = [sys.executable, "-m", "archcalc", "summarize", str(spec)]
        t = _median(lambda: subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True))
        print(f"summarize {spec.name:40} {t * 1000:6.0f} ms", flush=True)
        slowest = max(slowest, (t, spec.name))
    print(f"slowest summarize: {slowest[0] * 1000:.0f} ms ({slowest[1]})")


if __name__ == "__main__":
    chosen = sys.argv[1:] or list(torchvision_zoo.MODELS)
    import_ratios(chosen)
    if not sys.argv[1:]:
        summarize_times()
