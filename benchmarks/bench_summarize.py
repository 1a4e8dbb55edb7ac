"""Speed of `archcalc summarize`, printed as ratios measured in one run.

    python benchmarks/bench_summarize.py [--repeat 5]

1. Cold start: the whole CLI on specs/alexnet.yaml vs `python -c "import torch"` (the floor
   of every torch-based peer). Target (issue 9): at most 0.3x.
2. Scale: generated conv/bn/relu chains of 500..4000 layers, concrete and symbolic (H x W):
   each doubling should cost at most ~2.3x.
3. The largest zoo spec: resnet152 (a variant of specs/resnet50.yaml, 500+ rows), concrete
   and symbolic, as a ratio to AlexNet, in-process and through the CLI.
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


def in_process(text: str, variant: str | None = None) -> float:
    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec_text

    start = time.perf_counter()
    analyze(load_spec_text(text, "chain.yaml"), variant=variant)
    return time.perf_counter() - start


def zoo(repeat: int) -> None:
    py = sys.executable
    alexnet = (REPO / "specs" / "alexnet.yaml").read_text()
    resnet = (REPO / "specs" / "resnet50.yaml").read_text()
    sym = {"alexnet": alexnet.replace("input: [3, 227, 227]", "input: [3, H, W]"),
           "resnet": resnet.replace("input: [3, 224, 224]", "input: [3, H, W]")}
    for label, a_text, r_text in (("concrete", alexnet, resnet), ("symbolic", sym["alexnet"], sym["resnet"])):
        t_a = min(in_process(a_text) for _ in range(repeat))
        t_r = min(in_process(r_text, "resnet152") for _ in range(repeat))
        print(f"{label:9} in-process  alexnet {t_a * 1000:7.1f} ms  resnet152 {t_r * 1000:7.1f} ms  "
              f"ratio {t_r / t_a:5.1f}x")
    cli_a = wall([py, "-m", "archcalc", "summarize", "specs/alexnet.yaml"], repeat)
    cli_r = wall([py, "-m", "archcalc", "summarize", "specs/resnet50.yaml", "--variant", "resnet152"], repeat)
    print(f"CLI       summarize   alexnet {cli_a * 1000:7.1f} ms  resnet152 {cli_r * 1000:7.1f} ms  "
          f"ratio {cli_r / cli_a:5.1f}x")


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
    zoo(args.repeat)
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
