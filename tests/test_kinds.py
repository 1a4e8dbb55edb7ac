"""Every registered kind is tested, and every peer table covers it: a kind without a row in
tests/kinds.py, or one a table has no rule for, fails here. The checks are shown to fail on
a deliberately incomplete kind."""
from __future__ import annotations

import dataclasses

import pytest

from archcalc import conventions as C
from archcalc.conventions.base import rule
from archcalc.layers.base import LayerKind, Result
from archcalc.layers.registry import REGISTRY, families, kinds
from kinds import TABLE


def kinds_without_rows() -> list[str]:
    return sorted(set(kinds()) - set(TABLE))


def test_every_kind_has_a_row_and_every_row_a_kind():
    assert kinds_without_rows() == []
    assert sorted(set(TABLE) - set(kinds())) == []


@pytest.mark.parametrize("name", C.NAMES)
def test_every_table_has_a_rule_for_every_kind(name):
    assert C.get(name).uncovered() == []


class _Doubling(LayerKind):
    """A kind someone registered and forgot to test: y = 2x."""

    kind = "doubling_for_the_test"
    family = "activation"

    @classmethod
    def infer(cls, x, a, ctx):
        return Result(tuple(x))


class _Projection(LayerKind):
    """A weighted kind in a new family that no table names."""

    kind = "projection_for_the_test"
    family = "projection_for_the_test"
    weighted = True

    @classmethod
    def infer(cls, x, a, ctx):
        return Result(tuple(x), params=1, macs=1)


def test_an_incomplete_kind_is_named(monkeypatch):
    monkeypatch.setitem(REGISTRY, _Doubling.kind, _Doubling)
    monkeypatch.setitem(REGISTRY, _Projection.kind, _Projection)
    assert kinds_without_rows() == [_Doubling.kind, _Projection.kind]
    for conv in C.CONVENTIONS.values():
        if not conv.every_kind:  # a weighted kind is always named; a new family needs its rule
            assert conv.uncovered() == [_Projection.kind], conv.name
    assert "projection_for_the_test" in families()


def test_a_table_with_a_key_that_is_no_kind_does_not_load():
    thop = C.get("thop")
    with pytest.raises(ValueError, match="'linaer', which is not a layer kind"):
        dataclasses.replace(thop, rules={**thop.rules, "linaer": rule("a typo")})
    with pytest.raises(ValueError, match="'lstm:textbook'"):
        dataclasses.replace(thop, rules={**thop.rules, "lstm:textbook": rule("no such variant")})
    with pytest.raises(ValueError, match="family 'activations'"):
        dataclasses.replace(thop, families={**thop.families, "activations": rule("a typo")})
