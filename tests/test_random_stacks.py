"""Random layer stacks drawn from every kind's row (tests/kinds.py): the engine and torch
agree on every layer's shape and counts, or both refuse the stack.

The torch side is built here, layer by layer, from each row's own torch module on the shape
torch itself produced; then the backend's own `verify` must agree on the same stack too.
"""
from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings

from archcalc.spec import load_spec_text
from archcalc.spec.errors import SpecError
from archcalc.torch_backend import verify_spec
from kinds import BATCH, engine, measured, sample_input, spec_doc, stacks

EXAMPLES = int(os.environ.get("ARCHCALC_EXAMPLES", "40"))


def torch_rows(shape, layers):
    """Per layer (output shape, params, buffers, FLOPs of the batch) as torch runs them one
    after another, or None when torch refuses one."""
    x = sample_input(layers[0][0], shape, layers[0][1])
    rows = []
    for case, args in layers:
        result = measured(case, tuple(x.shape[1:]), args, x)
        if result is None:
            return None
        x, figures = result
        rows.append(figures)
    return rows


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_random_stacks_agree_with_torch(stack):
    shape, layers, dtype = stack
    analysis = engine(shape, layers, dtype, BATCH)
    rows = torch_rows(shape, layers)
    text = json.dumps(spec_doc(shape, layers, dtype))
    assert isinstance(analysis, SpecError) == (rows is None), text
    if rows is None:
        return
    for row, figures in zip(analysis.leaves(), rows):
        assert (row.output, row.params, row.buffers, row.flops) == figures, (row.path, text)
    # at the batch torch ran above: batch norm without running statistics needs two values a channel
    [v] = verify_spec(load_spec_text(text, "stack.yaml"), device="meta", batch=2)
    assert v.agree, v.disagreements()
