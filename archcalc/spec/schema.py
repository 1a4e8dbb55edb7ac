"""The JSON Schema (draft-07) of the spec language, generated from the layer registry, so
that editors' YAML language servers complete and check specs:

    # yaml-language-server: $schema=./archcalc.schema.json

It checks structure and argument types; what only the engine knows (shapes, block
parameters, names in expressions) stays `archcalc check`'s job.
"""
from __future__ import annotations

from archcalc import __version__
from archcalc.layers.registry import kinds
from archcalc.spec.parse import RESERVED_LAYER_KEYS

_REF_LAYERS = {"$ref": "#/definitions/layers"}
_POSITIVE = {"type": "integer", "minimum": 1}


def _reserved() -> dict:
    return {"name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}, "doc": {"type": "string"},
            "repeat": {"anyOf": [
                {"type": "integer", "minimum": 0}, {"type": "string"},
                {"type": "object", "required": ["times"], "additionalProperties": False,
                 "description": "times copies; index names a var that is 0 … times-1 in each copy's expressions",
                 "properties": {"times": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]},
                                "index": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}}}]},
            "when": {"anyOf": [{"type": "boolean"}, {"type": "string"}]},
            "share": {"type": "string", "description": "the path of an earlier layer whose weights this one reuses"},
            "from": {"type": "string", "description": "the input or earlier layer (its full path) the item reads instead "
                     "of the output before it"},
            "weights": {"type": "object", "description": "parameter values for archcalc run"},
            "call": {"enum": ["module", "function"], "description": "how the model calls the layer: its torch.nn "
                     "module (the default) or a function (F.relu, F.max_pool2d, torch.flatten)"}}


def _kind_item(name: str, kind) -> dict:
    props = {a.name: {**a.type.json_schema(), **({"description": a.doc} if a.doc else {})} for a in kind.args}
    props.update(_reserved())
    mapping = {"type": "object", "properties": props, "additionalProperties": False,
               "required": [a.name for a in kind.args if a.required]}
    body = [{"type": "null"}, mapping]
    first = kind.first_arg()
    if first is not None:
        body.append(first.type.json_schema())
    return {"type": "object", "properties": {name: {"anyOf": body, "description": kind.doc}},
            "required": [name], "additionalProperties": False}


def _merge_item(name: str, kind) -> dict:
    branches = {"anyOf": [
        {"type": "object", "additionalProperties": {"anyOf": [_REF_LAYERS, {"type": "array", "maxItems": 0},
                                                               {"type": "null"}]}},
        {"type": "array", "items": {"anyOf": [_REF_LAYERS, {"type": "array", "maxItems": 0}]}},
    ]}
    props = {"branches": branches, **{k: v for k, v in _reserved().items() if k != "call"}}
    props.update({a.name: {**a.type.json_schema(), **({"description": a.doc} if a.doc else {})} for a in kind.args})
    return {"type": "object", "required": [name], "additionalProperties": False,
            "properties": {name: {"type": "object", "properties": props, "required": ["branches"],
                                  "additionalProperties": False, "description": kind.doc}}}


def spec_schema() -> dict:
    registry = kinds()
    known = sorted(registry)
    block_call = {"type": "object", "minProperties": 1, "maxProperties": 1,
                  "propertyNames": {"not": {"enum": known}},
                  "additionalProperties": {"type": ["object", "null"]},
                  "description": "a call of a block defined under blocks:"}
    items = [{"type": "string", "description": "a kind or block without arguments"}]
    items += [(_merge_item if registry[name].merge else _kind_item)(name, registry[name]) for name in sorted(registry)]
    items.append(block_call)
    scalar = {"type": ["integer", "number", "boolean", "string"]}
    shape = {"type": "array", "minItems": 1, "items": {"anyOf": [_POSITIVE, {"type": "string"}]}}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": f"https://archcalc.invalid/schema/spec-1-{__version__}.json",
        "title": "archcalc spec (format archcalc: 1)",
        "type": "object",
        "required": ["archcalc", "layers"],
        "oneOf": [{"required": ["input"]}, {"required": ["inputs"]}],
        "additionalProperties": False,
        "properties": {
            "archcalc": {"const": 1},
            "name": {"type": "string"},
            "doc": {"type": "string"},
            "input": {"anyOf": [shape, {"type": "object", "required": ["shape"], "additionalProperties": False,
                                        "properties": {"shape": shape, "dtype": {"enum": ["float", "index"]}}}]},
            "inputs": {"type": "object", "minProperties": 1, "maxProperties": 8,
                       "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                       "description": "several inputs by name (the layers begin on the first)",
                       "additionalProperties": {"anyOf": [shape, {
                           "type": "object", "required": ["shape"], "additionalProperties": False,
                           "properties": {"shape": shape, "dtype": {"enum": ["float", "index"]}}}]}},
            "dims": {"type": "object", "additionalProperties": {"anyOf": [
                {"type": "null"},
                {"type": "object", "additionalProperties": False,
                 "properties": {"min": _POSITIVE, "max": _POSITIVE, "default": _POSITIVE}}]}},
            "vars": {"type": "object", "additionalProperties": scalar},
            "blocks": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["layers"], "additionalProperties": False,
                "properties": {"params": {"type": ["object", "null"], "additionalProperties": {
                    "anyOf": [scalar, {"type": "array", "items": scalar}]}},
                               "layers": _REF_LAYERS, "doc": {"type": "string"}}}},
            "layers": _REF_LAYERS,
            "variants": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False,
                "properties": {"vars": {"type": "object", "additionalProperties": scalar},
                               "doc": {"type": "string"}, "expect": {"type": "object"}}}},
            "expect": {"type": "object"},
            "budget": {"type": "object", "additionalProperties": False,
                       "properties": {k: {"type": ["integer", "string"]}
                                      for k in ("params", "macs", "activation_memory")}},
        },
        "definitions": {"layers": {"type": "array", "minItems": 1, "items": {"anyOf": items}}},
    }


__all__ = ["spec_schema", "RESERVED_LAYER_KEYS"]
