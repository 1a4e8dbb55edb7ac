"""Argument types: what each accepts, how it is written back (archcalc import), its schema."""
from __future__ import annotations

import jsonschema
import pytest

from archcalc.layers.args import ArgTypeError, Int, Ints, Nullable, PerAxis


def test_ints_is_a_shape_of_one_or_more_positive_sizes():
    shape = Ints()
    assert shape.check(64) == (64,) and shape.check([4, 4]) == (4, 4)
    for bad in ([], [4, 0], 2.5, "x", [True]):
        with pytest.raises(ArgTypeError):
            shape.check(bad)
    assert shape.written((64,)) == 64 and shape.written((4, 4)) == [4, 4]  # a list stays a list
    assert PerAxis(2, Int(1)).written((4, 4)) == 4  # where a scalar means every axis, equal ones fold
    assert Nullable(Ints()).written(None) is None and Nullable(Ints()).written((3, 5)) == [3, 5]


@pytest.mark.parametrize("value,valid", [(64, True), ([4, 4], True), ("2*c", True), ([], False), ([0], False)])
def test_ints_schema(value, valid):
    schema = Ints().json_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    assert jsonschema.Draft7Validator(schema).is_valid(value) == valid
