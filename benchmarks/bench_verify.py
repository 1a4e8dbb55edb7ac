"""`archcalc verify` on the meta device vs a real CPU forward pass, printed as ratios.

    python benchmarks/bench_verify.py

For AlexNet (227x227) and a generated 1,000-layer conv/bn/relu chain: wall time of
verify on meta (build + shape propagation + FlopCounterMode), of verify on CPU, and of a
bare torch forward pass of the same module, all measured in this one run.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from archcalc.engine.analyze import analyze
from archcalc.spec import load_spec, load_spec_text
from archcalc.torch_backend.build import build_from_analysis
from archcalc.torch_backend.verify import verify_spec

REPO = Path(__file__).resolve().parent.parent


def chain(n_layers: int) -> str:
    body = []
    for _ in range(n_layers // 3):
        body += ["  - conv2d: {out_channels: 16, kernel_size: 3, padding: 1, bias: false}",
                 "  - batch_norm2d", "  - relu"]
    return "archcalc: 1\nname: chain\ninput: [16, 32, 32]\nlayers:\n" + "\n".join(body) + "\n"


def best(fn, repeat=3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cases = {"alexnet": load_spec(REPO / "specs" / "alexnet.yaml"), "chain-999": load_spec_text(chain(1000))}
    for name, spec in cases.items():
        net = build_from_analysis(analyze(spec), "cpu")
        x = torch.randn(1, *analyze(spec).input)

        def forward():
            with torch.no_grad():
                net(x)

        engine = best(lambda: analyze(spec))
        meta = best(lambda: verify_spec(spec, device="meta"))
        cpu = best(lambda: verify_spec(spec, device="cpu"))
        fwd = best(forward)
        print(f"{name:10} engine {engine * 1000:8.1f} ms | verify meta {meta * 1000:8.1f} ms | verify cpu "
              f"{cpu * 1000:8.1f} ms | bare cpu forward {fwd * 1000:8.1f} ms | meta/cpu-verify {meta / cpu:.2f}x "
              f"| engine/forward {engine / fwd:.2f}x")


if __name__ == "__main__":
    main()
