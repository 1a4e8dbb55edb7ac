"""Speed of `archcalc summarize`, printed as ratios measured in one run.

    python benchmarks/bench_summarize.py [--repeat 5]

1. Cold start: the whole CLI on specs/alexnet.yaml vs `python -c "import torch"` (the floor
   of every torch-based peer). Target (issue 9): at most 0.3x.
2. Scale: generated conv/bn/relu chains of 500..4000 layers, concrete and symbolic (H x W):
   each doubling should cost at most ~2.3x.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def wall(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def chain_spec(n_layers: int, symbolic: bool) -> str:
    size = "[16, H, W]" if symbolic else "[16, 64, 64]"
    body = []
    for i in range(n_layers // 3):
        body += ["  - conv2d: {out_channels: 16, kernel_size: 3, padding: 1, bias: false}",
                 "  - batch_norm2d", "  - relu"]
    return f"archcalc: 1\nname: chain{n_layers}\ninput: {size}\nlayers:\n" + "\n".join(body) + "\n"


def in_process(text: str) -> float:
    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec_text

    start = time.perf_counter()
    analyze(load_spec_text(text, "chain.yaml"))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    py = sys.executable
    torch_import = wall([py, "-c", "import torch"], args.repeat)
    cli = wall([py, "-m", "archcalc", "summarize", "specs/alexnet.yaml"], args.repeat)
    python_floor = wall([py, "-c", "pass"], args.repeat)
    print(f"python startup            {python_floor * 1000:8.1f} ms")
    print(f"import torch              {torch_import * 1000:8.1f} ms")
    print(f"archcalc summarize alexnet{cli * 1000:8.1f} ms   ratio to import torch: {cli / torch_import:.2f}x")

    in_process(chain_spec(30, True))  # warm sympy's caches and imports out of the timing
    for symbolic in (False, True):
        label = "symbolic H×W" if symbolic else "concrete 64×64"
        previous = None
        for n in (500, 1000, 2000, 4000):
            t = min(in_process(chain_spec(n, symbolic)) for _ in range(2))
            ratio = f"  ×{t / previous:.2f} vs half" if previous else ""
            print(f"{label:15} {n:5} layers  {t * 1000:9.1f} ms{ratio}")
            previous = t


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
