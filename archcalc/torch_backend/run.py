"""`archcalc run`: numeric exercises. A spec with `values:` on its input (and optionally
`weights:` on layers) is built with the torch backend in float64 and run on those values,
so a slide's worked example (pooling, a small convolution) can be checked number by number."""
from __future__ import annotations

import torch

from archcalc.engine.analysis import Analysis
from archcalc.spec.errors import SpecError
from archcalc.torch_backend.build import build_from_analysis
from archcalc.torch_backend.recording import recording


def _shape_of(values) -> tuple:
    shape = []
    while isinstance(values, list):
        shape.append(len(values))
        values = values[0] if values else None
    return tuple(shape)


def run_values(analysis: Analysis) -> list[tuple[str, list]]:
    """[(row path, output as nested lists)] for every leaf, in order."""
    spec = analysis.spec
    if spec.input_values is None:
        raise SpecError("this spec gives no input values to run on", spec.input_loc,
                        hint="write input: {shape: [1, 4, 4], values: [[[2, 8, 9, 4], ...]]}", code="usage")
    given = _shape_of(spec.input_values)
    if given != tuple(analysis.input):
        raise SpecError("the input values do not have the input's shape", spec.input_values_loc,
                        expected=str(list(analysis.input)), found=str(list(given)), code="shape-mismatch")
    net = build_from_analysis(analysis, "cpu").double()
    for row in analysis.rows:
        for name, (loc, values) in (row.weights or {}).items():
            module = net.get_submodule(row.path)
            params = dict(module.named_parameters())
            if name not in params:
                raise SpecError(f"'{row.path}' has no parameter '{name}'", loc,
                                expected=", ".join(params) or "a layer with parameters", code="invalid-layer")
            tensor = torch.tensor(values, dtype=torch.float64)
            if tuple(tensor.shape) != tuple(params[name].shape):
                raise SpecError(f"weights.{name} of '{row.path}' has the wrong shape", loc,
                                expected=str(list(params[name].shape)), found=str(list(tensor.shape)),
                                code="shape-mismatch")
            with torch.no_grad():
                params[name].copy_(tensor)
    dtype = torch.long if spec.input_dtype == "index" else torch.float64
    x = torch.tensor([spec.input_values], dtype=dtype)
    outputs: list[tuple[str, list]] = []
    leaves = {r.path: net.get_submodule(r.path) for r in analysis.leaves()}
    with recording(leaves, lambda path, _m, _i, out: outputs.append((path, out[0].tolist()))), torch.no_grad():
        net(x)
    return outputs
