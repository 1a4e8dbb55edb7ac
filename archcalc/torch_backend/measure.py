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
            x = example(row.input, "index" if row.layer.accepts_index else "float", analysis.batch, device)
            refs = [example(r.shape, r.dtype, analysis.batch, device) for r in row.layer.tensor_refs(row.args)]
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                with flop_counter() as counter:
                    out = module(x, *refs)
            out = out[0] if isinstance(out, tuple) else out
            result[row.path] = Measured(row.path, tuple(out.shape[1:]), sum(p.numel() for p in module.parameters()),
                                        sum(b.numel() for b in module.buffers()), int(counter.get_total_flops()))
        except Exception as exc:  # torch's own failure, reported for this layer only
            result[row.path] = Measured(row.path, (), 0, 0, 0, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    return result


def example(shape: tuple, dtype: str, batch: int, device: str):
    """An input of `batch` samples of `shape`: token ids 0 for dtype index, else random
    values (uninitialised on meta)."""
    full = (batch, *(int(d) for d in shape))
    if dtype == "index":
        return torch.zeros(full, dtype=torch.long, device=device)
    return torch.empty(full, device=device) if device == "meta" else torch.randn(full, device=device)


def measure(net: ArchcalcNet, input_shape: tuple, paths: list[str], batch: int = 1, device: str = "meta",
            dtype: str = "float", more: tuple = ()) -> dict[str, Measured]:
    """`paths`: the spec rows to measure (qualified module names); `more`: the shapes and
    dtypes of the spec's other inputs, in order."""
    shapes: dict[str, tuple] = {}
    modules = {path: net.get_submodule(path) for path in paths}

    def record(path, _module, _inputs, output):
        shapes[path] = tuple(first_tensor(output).shape[1:])  # per sample: drop the batch axis

    xs = [example(input_shape, dtype, batch, device), *(example(s, d, batch, device) for s, d in more)]
    with recording(modules, record), warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch's flags() warns about a TF32 setting it restores
        with torch.backends.cudnn.flags(enabled=False), flop_counter() as counter:
            net(*xs)
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
