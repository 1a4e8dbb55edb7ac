"""Run a built network once and record, per spec layer: output shape, own parameters and
buffers, and FLOPs as torch.utils.flop_counter.FlopCounterMode counts them."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from archcalc.torch_backend.build import ArchcalcNet
from archcalc.torch_backend.counting import flop_counter
from archcalc.torch_backend.recording import first_tensor, recording


@dataclass
class Measured:
    path: str
    output: tuple
    params: int
    buffers: int
    flops: int
    error: str | None = None  # torch refused this layer


def measure_each(analysis, device: str = "meta") -> dict[str, Measured]:
    """Every leaf alone, on an input of the shape the engine gives it: what still can be
    checked when the whole network fails somewhere (one layer's failure is that layer's)."""
    result: dict[str, Measured] = {}
    for row in analysis.leaves():
        try:
            with torch.device(device):
                module = row.layer.torch_module(row.args, tuple(int(d) for d in row.input))
            shape = (analysis.batch, *(int(d) for d in row.input))
            x = torch.zeros(shape, dtype=torch.long, device=device) if row.layer.accepts_index else \
                torch.empty(shape, device=device)
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                with flop_counter() as counter:
                    out = module(x)
            out = out[0] if isinstance(out, tuple) else out
            result[row.path] = Measured(row.path, tuple(out.shape[1:]), sum(p.numel() for p in module.parameters()),
                                        sum(b.numel() for b in module.buffers()), int(counter.get_total_flops()))
        except Exception as exc:  # torch's own failure, reported for this layer only
            result[row.path] = Measured(row.path, (), 0, 0, 0, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    return result


def measure(net: ArchcalcNet, input_shape: tuple, paths: list[str], batch: int = 1, device: str = "meta",
            dtype: str = "float") -> dict[str, Measured]:
    """`paths`: the spec rows to measure (qualified module names)."""
    shapes: dict[str, tuple] = {}
    modules = {path: net.get_submodule(path) for path in paths}

    def record(path, _module, _inputs, output):
        shapes[path] = tuple(first_tensor(output).shape[1:])  # per sample: drop the batch axis

    full = (batch, *(int(d) for d in input_shape))
    if dtype == "index":
        x = torch.zeros(full, dtype=torch.long, device=device)
    else:
        x = torch.empty(full, device=device) if device == "meta" else torch.randn(full, device=device)
    with recording(modules, record), warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch's flags() warns about a TF32 setting it restores
        with torch.backends.cudnn.flags(enabled=False), flop_counter() as counter:
            net(x)
    counts = counter.get_flop_counts()
    root = type(net).__name__
    result = {}
    seen: set[int] = set()  # a shared (tied) tensor counts at the first layer that has it
    for path, module in modules.items():
        flops = sum(counts.get(f"{root}.{path}", {}).values())
        params = sum(p.numel() for p in module.parameters() if id(p) not in seen)
        buffers = sum(b.numel() for b in module.buffers() if id(b) not in seen)
        seen.update(id(t) for t in list(module.parameters()) + list(module.buffers()))
        result[path] = Measured(path, shapes.get(path, ()), params, buffers, int(flops))
    return result
