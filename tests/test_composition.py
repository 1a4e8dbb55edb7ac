"""Blocks, add/concat, repeat, when and variants: paths, subtotals, errors and torch names."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.spec.errors import SpecError
from archcalc.torch_backend import build_module, verify_spec
from archcalc.spec import load_spec
from conftest import SPECS, analyze_file, analyze_text

RESIDUAL = """archcalc: 1
input: [8, 16, 16]
vars: {n: 2}
blocks:
  unit:
    params: {width: required, stride: 1, project: false}
    layers:
      - add:
          branches:
            main:
              - conv2d: {out_channels: width, kernel_size: 3, stride: stride, padding: 1, bias: false}
              - batch_norm2d
            shortcut:
              - conv2d: {out_channels: width, kernel_size: 1, stride: stride, bias: false, when: project}
      - relu
layers:
  - unit: {name: a, width: 8}
  - unit: {name: b, width: 16, stride: 2, project: true}
  - unit: {name: c, width: 16, repeat: n}
  - concat:
      dim: 0
      branches: [[{conv2d: {out_channels: 4, kernel_size: 1}}], [{max_pool2d: {kernel_size: 3, stride: 1, padding: 1}}]]
"""


def test_paths_subtotals_and_shapes():
    a = analyze_text(RESIDUAL)
    paths = [r.path for r in a.rows]
    assert paths[:6] == ["a", "a.add_1", "a.add_1.main.conv2d_1", "a.add_1.main.batch_norm2d_1", "a.relu_1", "b"]
    assert "b.add_1.shortcut.conv2d_1" in paths and "a.add_1.shortcut.conv2d_1" not in paths  # when: project
    assert ["c", "c.1", "c.2"] == [p for p in paths if p in ("c", "c.1", "c.2")]
    assert a.row("c").kind == "unit ×2" and a.row("c.2").kind == "unit"
    concat = a.row("concat_1")
    assert concat.output == (20, 8, 8) and concat.kind == "concat"
    leaves = [r for r in a.rows if r.leaf]
    assert a.totals["params"] == sum(r.params for r in leaves)
    block_b = a.row("b")
    inside = [r for r in leaves if r.path.startswith("b.")]
    assert block_b.params == sum(r.params for r in inside) == 16 * 8 * 9 + 32 + 16 * 8
    assert block_b.output == (16, 8, 8) and not block_b.leaf


def test_repeat_var_and_variants():
    a = analyze_text(RESIDUAL, {"n": "0"})
    assert not any(r.path == "c" or r.path.startswith("c.") for r in a.rows)
    assert a.row("concat_1").input == (16, 8, 8)
    b = analyze_text(RESIDUAL, {"n": "3"})
    assert b.row("c.3").output == (16, 8, 8)


def test_torch_module_names_equal_spec_paths():
    spec = load_spec(SPECS / "resnet50.yaml")
    net = build_module(spec, device="meta")
    a = analyze_file("resnet50.yaml")
    for row in a.rows:
        module = net.get_submodule(row.path)  # raises if a path were missing
        if row.leaf:
            assert sum(p.numel() for p in module.parameters()) == row.params
    assert type(net.get_submodule("layer1.first.add_1")).__name__ == "Merge"
    small = build_module(load_spec_text_file(RESIDUAL))
    assert small(torch.randn(2, 8, 16, 16)).shape == (2, 20, 8, 8)


def load_spec_text_file(text):
    from archcalc.spec import load_spec_text

    return load_spec_text(text, "residual.yaml")


@pytest.mark.parametrize("spec,variant", [("vgg16.yaml", "vgg11"), ("vgg16.yaml", "vgg19"), ("vgg16.yaml", "vgg16_bn"),
                                          ("resnet18.yaml", "resnet34"), ("resnet50.yaml", "resnet101"),
                                          ("resnet50.yaml", "resnet152"), ("resnet50.yaml", "resnet50_v1"),
                                          ("googlenet.yaml", "googlenet_paper")])
def test_variants_verify_on_meta(spec, variant):
    [v] = verify_spec(load_spec(SPECS / spec), device="meta", variant=variant)
    assert v.agree, v.disagreements()[:3]
    assert v.name == variant


def test_small_residual_verifies_on_cpu():
    [v] = verify_spec(load_spec_text_file(RESIDUAL), device="cpu")
    assert v.agree


def error_of(text: str) -> SpecError:
    with pytest.raises(SpecError) as err:
        analyze_text(text)
    return err.value


def test_add_with_mismatched_branches_prints_every_shape_and_line():
    err = error_of(RESIDUAL.replace("  - unit: {name: b, width: 16, stride: 2, project: true}",
                                    "  - unit: {name: b, width: 16, stride: 2}"))
    assert "add 'b.add_1': the branches' shapes differ" in err.message
    assert err.found == "main: [16, 8, 8] (line 10); shortcut: [8, 16, 16] (line 13)"
    assert err.loc.line == 8


def test_concat_mismatch_and_dim_range():
    text = """archcalc: 1
input: [3, 8, 8]
layers:
  - concat:
      branches:
        a: [{conv2d: {out_channels: 2, kernel_size: 3}}]
        b: [{conv2d: {out_channels: 2, kernel_size: 1}}]
"""
    err = error_of(text)
    assert "differ off dim 0" in err.message and "a: [2, 6, 6] (line 6); b: [2, 8, 8] (line 7)" == err.found
    err = error_of(text.replace("  - concat:\n", "  - concat:\n      dim: 3\n"))
    assert "dim=3 is out of range" in err.message


def test_recursion_is_refused():
    text = """archcalc: 1
input: [3, 8, 8]
blocks:
  ping: {layers: [{pong: {}}]}
  pong: {layers: [{relu: null}, {ping: {}}]}
layers:
  - ping
"""
    err = error_of(text)
    assert "blocks call themselves: ping → pong → ping" in err.render()


def test_unbounded_expansion_is_refused():
    nested = """archcalc: 1
input: [4]
blocks:
  b1: {layers: [{relu: {repeat: 1000}}]}
  b2: {layers: [{b1: {repeat: 1000}}]}
layers:
  - b2
"""
    err = error_of(nested)
    assert "expands to more than 20,000 rows" in err.message and err.code == "limit"
    err = error_of("archcalc: 1\ninput: [4]\nlayers:\n  - relu: {repeat: 100000}\n")
    assert "above the limit of 10,000" in err.message


def test_block_call_errors_are_reported_together():
    text = """archcalc: 1
input: [3, 8, 8]
blocks:
  unit:
    params: {width: required}
    layers:
      - conv2d: {out_channels: widht, kernel_size: 3}
layers:
  - unit: {with: 3}
  - unti: {width: 3}
"""
    err = error_of(text)
    messages = [e.message for e in err.errors]
    assert "expression 'widht': unknown name 'widht'" in messages
    assert "block 'unit' has no parameter 'with'" in messages
    assert "unknown layer kind 'unti'" in messages
    assert any("did you mean 'width'" in (e.hint or "") for e in err.errors)


def test_unknown_variant_and_summarize_depth():
    runner = CliRunner()
    out = runner.invoke(main, ["summarize", str(SPECS / "vgg16.yaml"), "--variant", "vgg13"])
    assert out.exit_code == 2 and "did you mean" in out.stderr
    folded = runner.invoke(main, ["summarize", str(SPECS / "resnet50.yaml"), "--depth", "0", "--format", "json"])
    import json

    doc = json.loads(folded.stdout)
    assert [r["path"] for r in doc["layers"]][:6] == ["conv1", "bn1", "relu_1", "maxpool", "layer1", "layer2"]
    assert doc["layers"][4]["leaf"] is False and doc["layers"][4]["params"] == 215_808
    assert doc["totals"]["params"] == 25_557_032
    table = runner.invoke(main, ["summarize", str(SPECS / "vgg16.yaml"), "--variant", "vgg19", "--depth", "1"]).stdout
    assert "vgg19 (variant of vgg16)" in table and "143,667,240" in table


def test_block_parameters_may_be_lists():
    """A block parameter [1, 7] is passed on whole to an argument that takes one size per axis."""
    a = analyze_text("archcalc: 1\ninput: [8, 16, 16]\nblocks:\n  sep:\n    params: {kernel: [1, 7], padding: [0, 3]}\n"
                     "    layers:\n      - conv2d: {out_channels: 8, kernel_size: kernel, padding: padding}\n"
                     "layers:\n  - sep: {}\n  - sep: {kernel: [7, 1], padding: [3, 0]}\n")
    assert a.row("sep_1.conv2d_1").args.kernel_size == (1, 7) and a.row("sep_2.conv2d_1").args.kernel_size == (7, 1)
    assert a.output == (8, 16, 16) and a.totals["params"] == 2 * (8 * 8 * 7 + 8)
    with pytest.raises(SpecError, match="'kernel' is a list") as err:
        analyze_text("archcalc: 1\ninput: [8, 16, 16]\nblocks:\n  sep:\n    params: {kernel: [1, 7]}\n    layers:\n"
                     "      - conv2d: {out_channels: 4, kernel_size: \"kernel + 1\"}\nlayers:\n  - sep: {}\n")
    assert err.value.context == ["in block 'sep' called at test.yaml:9:5 (kernel=[1, 7])"]


SHUFFLE_UNIT = """archcalc: 1
input: [C, 8, 8]
layers:
  - concat:
      split: equal
      branches:
        keep: []
        mixed:
          - conv2d: {out_channels: 12, kernel_size: 1, bias: false}
          - conv2d: {out_channels: 12, kernel_size: 3, padding: 1, groups: 12, bias: false}
  - channel_shuffle: {groups: 2}
"""


def test_a_split_gives_each_branch_its_slice():
    """ShuffleNetV2's unit: half the channels pass, the other half is convolved; torch agrees."""
    a = analyze_text(SHUFFLE_UNIT.replace("[C, 8, 8]", "[24, 8, 8]"))
    assert a.row("concat_1.mixed.conv2d_1").input == (12, 8, 8) and a.output == (24, 8, 8)
    assert a.totals["params"] == 12 * 12 + 12 * 9
    [v] = verify_spec(load_spec_text_file(SHUFFLE_UNIT.replace("[C, 8, 8]", "[24, 8, 8]")), device="cpu")
    assert v.agree, v.disagreements()[:3]
    err = error_of(SHUFFLE_UNIT.replace("[C, 8, 8]", "[25, 8, 8]"))
    assert "split 'equal' does not divide axis 0 of the input among 2 branches" in err.message
    assert err.loc.line == 5  # the argument's line
    err = error_of(SHUFFLE_UNIT.replace("[C, 8, 8]", "[24, 8, 8]").replace("split: equal", "split: [12, 10]"))
    assert "split [12, 10] does not divide" in err.message and "adding up to 24" in err.expected


INDEXED = """archcalc: 1
input: [4]
vars: {n: 3}
blocks:
  unit:
    params: {width: required, p: 0}
    layers:
      - linear: {name: fc, out_features: width}
      - dropout: {name: drop, p: p}
layers:
  - linear: {name: fc, out_features: "4 + k", repeat: {times: n, index: k}}
  - unit: {name: u, width: 6, p: "k/10", repeat: {times: 3, index: k}}
  - dropout: {name: odd, p: "k/10", repeat: {times: 4, index: k}, when: "k % 2 == 1"}
  - add:
      name: m
      repeat: {times: 2, index: i}
      branches:
        main:
          - dropout: {name: d, p: "(10*i + j)/100", repeat: {times: "i + 1", index: j}}
        shortcut: []
  - relu: {repeat: {times: 2}}
"""


def test_repeat_index_is_each_copys_position():
    a = analyze_text(INDEXED)
    assert [a.row(f"fc.{c}").output for c in (1, 2, 3)] == [(4,), (5,), (6,)]
    assert a.row("fc").kind == "linear ×3" and a.row("fc").params == 4 * 4 + 4 + 4 * 5 + 5 + 5 * 6 + 6
    # a block argument: the block sees the value passed, not the index itself
    assert [a.row(f"u.{c}.drop").args.p for c in (1, 2, 3)] == [0, 0.1, 0.2]
    b = analyze_text(INDEXED, {"n": "5"})
    assert b.row("fc.5").output == (8,)


def test_repeat_index_with_when_keeps_copy_numbers():
    a = analyze_text(INDEXED)
    odd = [r.path for r in a.rows if r.path.startswith("odd")]
    assert odd == ["odd", "odd.2", "odd.4"] and a.row("odd").kind == "dropout ×2"
    assert [a.row(p).args.p for p in odd[1:]] == [0.1, 0.3]
    dropped = analyze_text(INDEXED.replace('when: "k % 2 == 1"', 'when: "k > 9"'))
    assert not any(r.path.startswith("odd") for r in dropped.rows)


def test_nested_repeats_see_both_indices():
    a = analyze_text(INDEXED)
    inner = [(r.path, r.args.p) for r in a.rows if r.leaf and r.path.startswith("m.")]
    assert inner == [("m.1.main.d.1", 0), ("m.2.main.d.1", 0.1), ("m.2.main.d.2", 0.11)]
    assert a.row("m").kind == "add ×2" and a.row("relu_1").kind == "relu ×2"


def test_repeat_index_verifies_against_torch():
    [v] = verify_spec(load_spec_text_file(INDEXED), device="cpu")
    assert v.agree, v.disagreements()[:3]


@pytest.mark.parametrize("repeat,message", [
    ("{times: n, index: n}", "repeat's index 'n' hides the var 'n'"),
    ("{times: 2, index: \"2k\"}", "repeat's index must be a name"),
    ("{times: 2, index: max}", "repeat's index 'max' is the name of a function of expressions"),
    ("{times: 2, index: [k]}", "repeat's index must be a name"),
    ("{time: 2, index: k}", "unknown key 'time' in repeat"),
    ("{index: k}", "repeat: missing 'times'"),
    ("{times: k, index: k}", "expression 'k': unknown name 'k'"),
    ("{times: -1, index: k}", "repeat must be a whole number >= 0"),
])
def test_repeat_index_errors(repeat, message):
    err = error_of(f"archcalc: 1\ninput: [4]\nvars: {{n: 2}}\nlayers:\n  - relu: {{repeat: {repeat}}}\n")
    assert message in [e.message for e in err.errors] and err.loc.line == 5


def test_repeat_index_hides_no_block_parameter_and_stays_in_its_item():
    text = """archcalc: 1
input: [4]
blocks:
  unit:
    params: {width: 4}
    layers:
      - linear: {out_features: width, repeat: {times: 2, index: width}}
layers:
  - relu: {repeat: {times: 2, index: k}}
  - linear: {out_features: "4 + k"}
  - unit
"""
    err = error_of(text)
    messages = {e.message: e.loc.line for e in err.errors}
    assert messages == {"repeat's index 'width' hides the parameter 'width' of block 'unit'": 7,
                        "expression '4 + k': unknown name 'k'": 10}


def test_rows_are_listed_depth_first():
    """Row.inside walks a stack; the order is the recursive one: a row, then its children's
    subtrees, or each branch's in turn."""
    def recursive(row):
        for r in row.children + [r for b in row.branches for r in b.rows]:
            yield r
            yield from recursive(r)

    for a in (analyze_text(RESIDUAL), analyze_file("inception_v3.yaml"), analyze_file("vit_b_16.yaml")):
        assert a.rows == [r for root in a.roots for r in (root, *recursive(root))]
        assert all(list(r.inside()) == list(recursive(r)) for r in a.rows)
