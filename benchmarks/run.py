"""All of archcalc's performance figures, measured in one run and printed as one table.

    python benchmarks/run.py            # about two minutes here
    python benchmarks/run.py repeats    # one part (the functions called at the bottom)

Ratios are taken within this run on this machine; nothing here is asserted as a test.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
rows: list[tuple[str, str, str]] = []


def report(what: str, value: str, note: str = "") -> None:
    rows.append((what, value, note))
    print(f"{what:58} {value:>16}  {note}", flush=True)


def wall(cmd: list[str], repeat: int = 5, env: dict | None = None) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb(args: list[str]) -> float:
    """The peak resident memory of one archcalc run, reported by that process itself."""
    code = ("import resource, runpy, sys; sys.argv = ['archcalc'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('archcalc', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))")
    proc = subprocess.run([PY, "-c", code, *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False)
    return int(proc.stderr.strip().splitlines()[-1]) / 1024  # Linux reports KiB


def memory() -> None:
    """First, while this process is small: Linux keeps a parent's peak RSS in a forked child's."""
    for label, args in (("summarize resnet152 (the largest zoo spec)",
                         ["summarize", "specs/resnet50.yaml", "--variant", "resnet152"]),
                        ("summarize alexnet", ["summarize", "specs/alexnet.yaml"])):
        report(f"peak RSS, {label}", f"{peak_rss_mb(args):.0f} MB", "target < 150 MB")


def cold_start() -> None:
    torch_import = wall([PY, "-c", "import torch"])
    report("python -c 'import torch'", f"{torch_import * 1000:.0f} ms", "the floor of every torch-based peer")
    for label, cmd in (
        ("summarize specs/alexnet.yaml", ["summarize", "specs/alexnet.yaml"]),
        ("check specs/alexnet.yaml", ["check", "specs/alexnet.yaml"]),
        ("explain specs/alexnet.yaml conv1", ["explain", "specs/alexnet.yaml", "conv1"]),
        ("grade examples/homework/student_mistakes.yaml", ["grade", "examples/homework/student_mistakes.yaml"]),
        ("compare-conventions specs/alexnet_torchvision.yaml (5 tools' figures)",
         ["compare-conventions", "specs/alexnet_torchvision.yaml"]),
    ):
        t = wall([PY, "-m", "archcalc", *cmd])
        report(f"cold start: {label}", f"{t * 1000:.0f} ms", f"{t / torch_import:.2f}x import torch (target <= 0.3x)")


def chain(n: int, symbolic: bool) -> str:
    body = ["  - conv2d: {out_channels: 16, kernel_size: 3, padding: 1, stride: 1, bias: false}",
            "  - batch_norm2d", "  - relu"] * (n // 3)
    size = "[16, H, W]" if symbolic else "[16, 64, 64]"
    return f"archcalc: 1\ninput: {size}\nlayers:\n" + "\n".join(body) + "\n"


def strided_chain(n: int) -> str:
    """Downsampling every 30 layers, so sizes are nested floors."""
    body = []
    for i in range(n // 3):
        stride = 2 if i % 10 == 9 else 1
        body += [f"  - conv2d: {{out_channels: 16, kernel_size: 3, padding: 1, stride: {stride}, bias: false}}",
                 "  - batch_norm2d", "  - relu"]
    return "archcalc: 1\ninput: [16, H, W]\nlayers:\n" + "\n".join(body) + "\n"


def scale() -> None:
    from archcalc.engine import numbers as N
    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec_text

    def timed(text: str) -> tuple[float, object]:
        best, result = None, None
        for _ in range(3):
            start = time.perf_counter()
            result = analyze(load_spec_text(text, "chain.yaml"))
            t = time.perf_counter() - start
            best = t if best is None else min(best, t)
        return best, result

    timed(chain(30, True))
    for label, make in (("concrete 64x64", lambda n: chain(n, False)), ("symbolic HxW", lambda n: chain(n, True)),
                        ("symbolic HxW, stride 2 every 30", strided_chain)):
        previous = None
        for n in (500, 1000, 2000, 4000):
            t, a = timed(make(n))
            largest = max((len(N.expr_text(d)) for r in a.rows for d in r.output if N.is_symbolic(d)), default=0)
            note = f"x{t / previous:.2f} per doubling" if previous else ""
            if largest:
                note += f"; largest size expression {largest} chars"
            report(f"scale: {label}, {n} layers", f"{t * 1000:.0f} ms", note)
            previous = t


def zoo() -> None:
    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec_text

    alexnet = (REPO / "specs" / "alexnet.yaml").read_text()
    resnet = (REPO / "specs" / "resnet50.yaml").read_text()
    for label, a_text, r_text in (
            ("concrete", alexnet, resnet),
            ("symbolic", alexnet.replace("[3, 227, 227]", "[3, H, W]"), resnet.replace("[3, 224, 224]", "[3, H, W]"))):
        from archcalc.engine import printing

        printing.clear_caches()
        start = time.perf_counter()
        analyze(load_spec_text(a_text, "a.yaml"))
        t_a = time.perf_counter() - start
        printing.clear_caches()
        start = time.perf_counter()
        a = analyze(load_spec_text(r_text, "r.yaml"), variant="resnet152")
        t_r = time.perf_counter() - start
        report(f"zoo ({label}, cold caches): resnet152, {len(a.rows)} rows", f"{t_r * 1000:.0f} ms",
               f"{t_r / t_a:.1f}x alexnet ({t_a * 1000:.0f} ms)")
    cli_a = wall([PY, "-m", "archcalc", "summarize", "specs/alexnet.yaml"], 3)
    cli_r = wall([PY, "-m", "archcalc", "summarize", "specs/resnet50.yaml", "--variant", "resnet152"], 3)
    report("CLI summarize resnet152 (table of 570 rows)", f"{cli_r * 1000:.0f} ms", f"{cli_r / cli_a:.1f}x alexnet")


def transformer(n: int, tokens: str) -> str:
    """Llama-2-70B's sizes in the language's kinds: n pre-norm layers of self-attention and
    an MLP (linear, silu, linear), each in a residual add; tokens [T, E]."""
    return f"""archcalc: 1
name: transformer_{n}
input: [{tokens}, 8192]
vars: {{E: 8192, heads: 64, hidden: 28672, depth: {n}}}
blocks:
  layer:
    layers:
      - add:
          branches:
            attention:
              - layer_norm: {{normalized_shape: E}}
              - multihead_attention: {{num_heads: heads}}
            identity: []
      - add:
          branches:
            identity: []
            mlp:
              - layer_norm: {{normalized_shape: E}}
              - linear: {{out_features: hidden}}
              - silu
              - linear: {{out_features: E}}
layers:
  - layer: {{name: layers, repeat: depth}}
  - layer_norm: {{normalized_shape: E}}
  - linear: {{name: head, out_features: 32000}}
"""


def repeats() -> None:
    """`repeat: N` of an identical block: the analysis of N = 80 against N = 8 (a copy that
    hands on what it was given is analysed once, the rest copied; the spec read before the
    clock starts, printing's caches cleared), and the whole command."""
    import tempfile

    from archcalc.engine import printing
    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec_text

    analyze(load_spec_text(transformer(2, "T"), "t.yaml"))  # sympy imported, kinds registered
    for label, tokens in (("concrete T = 128", "128"), ("symbolic T", "T")):
        times = {}
        for n in (8, 80):
            spec, runs = load_spec_text(transformer(n, tokens), "t.yaml"), []
            for _ in range(9):
                printing.clear_caches()
                start = time.perf_counter()
                analyze(spec)
                runs.append(time.perf_counter() - start)
            times[n] = statistics.median(runs)
            report(f"repeat: transformer layer x{n}, {label}, analysis", f"{times[n] * 1000:.1f} ms",
                   "" if n == 8 else f"x{times[80] / times[8]:.2f} the 8-layer analysis (72 copies cloned)")
    _repeat_commands()
    with tempfile.TemporaryDirectory() as tmp:
        # as this environment runs Python, and with a bytecode cache (an installed archcalc
        # has one; PYTHONDONTWRITEBYTECODE=1 compiles every module at every start)
        cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        for label, tokens, extra, target in (("concrete", "128", [], 0.3),
                                             ("symbolic T, --batch 8", "T", ["--batch", "8"], 1.0)):
            path = Path(tmp) / "transformer_80.yaml"
            path.write_text(transformer(80, tokens))
            cmd = [PY, "-m", "archcalc", "summarize", str(path), *extra]
            t = wall(cmd)
            subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, env=cached, check=False)  # writes the cache
            t_cached = wall(cmd, env=cached)
            report(f"CLI summarize, 80-layer transformer, {label}", f"{t * 1000:.0f} ms",
                   f"target < {target:g} s; {t_cached * 1000:.0f} ms with a bytecode cache"
                   + ("; --batch takes an integer only" if extra else ""))


def _repeat_commands() -> None:
    """The summarize command in process (spec read, analysed, table rendered; no interpreter
    start): what a user waits for, N = 80 against N = 8."""
    import tempfile

    from click.testing import CliRunner

    from archcalc.cli import main
    from archcalc.engine import printing

    runner = CliRunner()
    with tempfile.TemporaryDirectory() as tmp:
        for label, tokens, extra in (("concrete T = 128", "128", []), ("symbolic T, --batch 8", "T", ["--batch", "8"])):
            times = {}
            for n in (8, 80):
                path = Path(tmp) / f"t{n}.yaml"
                path.write_text(transformer(n, tokens))
                args = ["summarize", str(path), *extra]
                runner.invoke(main, args)
                runs = []
                for _ in range(9):
                    printing.clear_caches()
                    start = time.perf_counter()
                    runner.invoke(main, args)
                    runs.append(time.perf_counter() - start)
                times[n] = statistics.median(runs)
                report(f"repeat: summarize x{n} in process, {label}", f"{times[n] * 1000:.1f} ms",
                       "" if n == 8 else f"x{times[80] / times[8]:.2f} the 8-layer command (target about x1)")


def sweep_rate() -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from archcalc.engine.sweep import sweep
    from archcalc.spec import load_spec_text
    from archcalc.torch_backend.build import build_module

    text = (REPO / "specs" / "resnet50.yaml").read_text().replace("[3, 224, 224]", "[3, H, W]")
    spec = load_spec_text(text, "r.yaml")
    sizes = list(range(32, 1024 + 1))
    start = time.perf_counter()
    result = sweep(spec, [("H", sizes), ("W", sizes)])
    t = time.perf_counter() - start
    report(f"sweep resnet50 totals over {result.points:,} (H, W) points", f"{result.points / t:,.0f} pt/s",
           f"{t:.2f} s including the symbolic analysis")
    small = sweep(spec, [("H", list(range(224, 224 + 100))), ("W", [224])])
    start = time.perf_counter()
    sweep(spec, [("H", list(range(224, 224 + 100))), ("W", [224])])
    t_sweep = time.perf_counter() - start
    net = build_module(load_spec_text((REPO / "specs" / "resnet50.yaml").read_text(), "r.yaml"), device="meta")
    start = time.perf_counter()
    for h in range(224, 224 + 100):
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net(torch.empty(1, 3, h, 224, device="meta"))
        assert counter.get_total_flops() == small.values["flops"][h - 224]
    t_torch = time.perf_counter() - start
    report("100 sizes: one torch meta forward + FlopCounterMode each", f"{t_torch * 1000:.0f} ms",
           f"{t_torch / t_sweep:.0f}x the sweep ({t_sweep * 1000:.0f} ms); every point's FLOPs agreed")


def verify_vs_forward() -> None:
    import torch

    from archcalc.engine.analyze import analyze
    from archcalc.spec import load_spec
    from archcalc.torch_backend.build import build_from_analysis
    from archcalc.torch_backend.verify import verify_spec

    spec = load_spec(REPO / "specs" / "resnet50.yaml")
    start = time.perf_counter()
    [v] = verify_spec(spec, device="meta", variant="resnet152")
    t_meta = time.perf_counter() - start
    net = build_from_analysis(analyze(spec, variant="resnet152"), "cpu")
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        net(x)
        start = time.perf_counter()
        net(x)
    t_fwd = time.perf_counter() - start
    report("verify resnet152 on meta (build + run + compare)", f"{t_meta * 1000:.0f} ms",
           f"all agree: {v.agree}; one CPU forward pass: {t_fwd * 1000:.0f} ms ({t_meta / t_fwd:.1f}x)")


def import_vs_forward() -> None:
    """archcalc import of a torchvision-style ResNet-18 (trace, write, verify) against one
    CPU forward pass of the same model."""
    import warnings

    import torch

    sys.path.insert(0, str(REPO / "tests" / "models"))
    import import_models

    from archcalc.torch_backend.importing import import_model, verify_import

    model = import_models.resnet18().eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        model(x)
        start = time.perf_counter()
        model(x)
    t_fwd = time.perf_counter() - start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        import_model("resnet18", "3,224,224", model=model)
        t_first = time.perf_counter() - start  # includes torch's lazy imports for fx stack traces
        start = time.perf_counter()
        imported = import_model("resnet18", "3,224,224", model=model)
        t_import = time.perf_counter() - start
        verify_import(imported, "resnet18")
        t_total = time.perf_counter() - start
    report("import resnet18 (torch.fx trace + spec), warm", f"{t_import * 1000:.0f} ms",
           f"{t_import / t_fwd:.1f}x one CPU forward pass ({t_fwd * 1000:.0f} ms); first call {t_first * 1000:.0f} "
           f"ms; with verification {t_total * 1000:.0f} ms")


def near_limit() -> None:
    """The cloned near-limit spec of tests/test_security.py (19,951 rows, just under
    ARCHCALC_MAX_ROWS): each format's wall time and peak RSS, against AlexNet's table."""
    import tempfile

    sys.path.insert(0, str(REPO / "tests"))
    from test_security import NEAR_LIMIT_SPECS

    base = wall([PY, "-m", "archcalc", "summarize", "specs/alexnet.yaml"], repeat=3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "near.yaml"
        path.write_text(NEAR_LIMIT_SPECS["cloned"])
        for label, args in (("table", []), ("json", ["--format", "json"]), ("html", ["--format", "html"])):
            cmd = ["summarize", str(path), *args, "-o", str(Path(tmp) / "out")]
            t = wall([PY, "-m", "archcalc", *cmd], repeat=1)
            report(f"near-limit spec (19,951 rows): summarize {label}", f"{t * 1000:.0f} ms",
                   f"x{t / base:.1f} alexnet's table; peak {peak_rss_mb(cmd):.0f} MB (target < 10 s, < 1 GB)")
        t = wall([PY, "-m", "archcalc", "compare-conventions", str(path)], repeat=1)
        report("near-limit spec (19,951 rows): compare-conventions", f"{t * 1000:.0f} ms",
               f"x{t / base:.1f} alexnet's table (target < 10 s)")


if __name__ == "__main__":
    parts = (memory, cold_start, scale, zoo, repeats, sweep_rate, verify_vs_forward, import_vs_forward, near_limit)
    chosen = sys.argv[1:]
    unknown = set(chosen) - {p.__name__ for p in parts}
    if unknown:
        sys.exit(f"no such part: {', '.join(sorted(unknown))}; parts: {', '.join(p.__name__ for p in parts)}")
    for part in parts:
        if not chosen or part.__name__ in chosen:
            part()
