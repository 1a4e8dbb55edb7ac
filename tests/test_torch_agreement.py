"""Property tests: every layer kind against torch computing the same layer, over random settings.

The cases come from tests/kinds.py, one row per kind. Each draws an input and arguments,
builds the torch module there (not through archcalc), runs it on a random batch and
compares: both refuse the settings, or both accept them and agree on output shape,
parameters, buffers and FlopCounterMode FLOPs (of the batch: the engine's at the same batch).
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

from archcalc.spec.errors import SpecError
from kinds import BATCH, TABLE, engine, measured

SETTINGS = settings(max_examples=int(os.environ.get("ARCHCALC_EXAMPLES", "60")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def agree(case, shape, args):
    ours, theirs = engine(shape, [(case, args)], case.dtype, BATCH), measured(case, shape, args)
    if theirs is None or isinstance(ours, SpecError):
        assert isinstance(ours, SpecError) and theirs is None, (
            f"{case.kind} {list(shape)} {args}\narchcalc: {getattr(ours, 'render', lambda: 'accepts')()}\n"
            f"torch: {'refuses' if theirs is None else 'accepts'}")
        return None
    out, params, buffers, flops = theirs[1]
    assert ours.output == out, (ours.output, out)
    assert (ours.totals["params"], ours.totals["buffers"], ours.totals["flops"]) == (params, buffers, flops)
    return ours


@pytest.mark.parametrize("kind", sorted(TABLE))
def test_each_kind_matches_torch(kind):
    case = TABLE[kind]

    @SETTINGS
    @given(case.example())
    def check(example):
        agree(case, *example)

    check()


def test_linear_after_conv_reads_the_last_axis_and_a_whole_sample_in_features_is_refused():
    """torch's Linear acts on the last axis of any rank (ConvNeXt's on [H, W, C]); written
    in_features that are the whole image are the forgotten flatten, refused with its hint."""
    ours = engine((256, 6, 6), [(TABLE["linear"], dict(out_features=10))])
    assert ours.output == (256, 6, 10) and ours.totals["macs"] == 256 * 6 * 6 * 10
    err = engine((256, 6, 6), [(TABLE["linear"], dict(out_features=10, in_features=9216))])
    assert isinstance(err, SpecError) and "insert '- flatten'" in err.hint


def test_circular_padding_limits_are_torchs_on_every_small_axis():
    """Where torch can build a circular padding that crops the other side (at::_pad_circular
    copies slices, and refuses lengths that disagree): archcalc's rule against torch itself,
    every axis of 1 to 7 and every padding, at a batch of 2. At batch 1 torch also refuses a
    wrapped part that partly overlaps its own source (its overlap check sees a dense slice only
    then): a limit of one batch size, not of the layer, which archcalc counts per sample."""
    import torch
    import torch.nn.functional as F

    from archcalc.layers.padding import circular_copies_fit

    disagree = []
    for n in range(1, 8):
        for left in range(-n, n + 1):
            for right in range(-n, n + 1):
                if n + left + right < 1:
                    continue
                try:
                    F.pad(torch.zeros(2, 1, n), (left, right), mode="circular")
                    builds = True
                except RuntimeError:
                    builds = False
                if builds != circular_copies_fit(n, left, right):
                    disagree.append((n, left, right, builds))
    assert disagree == []
