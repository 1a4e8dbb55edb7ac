"""`repeat: n` copies analysed once and copied (engine/analyze.py, _Clone) give the Analysis a
walk of every copy gives: every row's every field, the tree's links, warnings, totals, the
messages that name a layer after the repeat, and the row limit."""
from __future__ import annotations

from dataclasses import fields

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.engine import analyze as engine
from archcalc.engine.analysis import Row
from archcalc.spec.errors import SpecError
from conftest import SPECS, analyze_file, analyze_text

TRANSFORMER = """archcalc: 1
name: tiny_transformer
input: [16, 32]
vars: {E: 32, depth: 6}
blocks:
  layer:
    layers:
      - add:
          branches:
            attention:
              - layer_norm: {normalized_shape: E}
              - multihead_attention: {num_heads: 4}
            identity: []
      - add:
          branches:
            identity: []
            mlp:
              - layer_norm: {normalized_shape: E}
              - linear: {name: up, out_features: 64}
              - silu
              - linear: {name: down, out_features: E}
layers:
  - layer: {name: layers, repeat: depth}
  - layer_norm: {normalized_shape: E}
"""

# tied weights: to a layer before the repeat, to one inside the first copy, and after the
# repeat to a layer of its last copy (share: looks leaves up by path)
SHARED = """archcalc: 1
input: [16]
blocks:
  tied:
    layers:
      - linear: {name: fc, out_features: 16}
      - relu
      - linear: {name: again, out_features: 16, share: stem}
      - linear: {name: first, out_features: 16, share: body.1.fc}
layers:
  - linear: {name: stem, out_features: 16}
  - tied: {name: body, repeat: 5}
  - linear: {name: head, out_features: 16, share: body.5.fc}
"""

# when: inside a repeated block, a repeat nested in a repeat, a repeat in a merge branch, a
# repeated single layer, a warning in every copy (dropout2d on [C, L]), and --set of a var
NESTED = """archcalc: 1
input: [8, 20]
vars: {gate: true, inner: 3, outer: 4}
blocks:
  unit:
    params: {wide: false}
    layers:
      - conv1d: {out_channels: 8, kernel_size: 1, when: "not wide"}
      - conv1d: {out_channels: 8, kernel_size: 1, groups: 2, when: wide}
      - batch_norm1d: {when: gate}
      - dropout2d
      - relu: {repeat: inner}
  stage:
    layers:
      - unit: {name: u, repeat: inner}
      - add:
          branches:
            main: [{unit: {wide: true, repeat: 2}}]
            skip: []
layers:
  - stage: {name: stages, repeat: outer}
  - relu: {repeat: 3}
  - concat:
      dim: 0
      branches:
        left: [{unit: {repeat: 2}}]
        right: []
"""


def _walked(monkeypatch, run):
    with monkeypatch.context() as m:
        m.setattr(engine._Walker, "clone_repeats", False)
        return run()


def _cloned(monkeypatch, run):
    """The run with copies cloned, and how many copies were."""
    made = []
    copy = engine._Clone.copy

    def counted(self, walker, new):
        made.append(new)
        return copy(self, walker, new)

    with monkeypatch.context() as m:
        m.setattr(engine._Clone, "copy", counted)
        return run(), len(made)


def _value(row: Row, name: str, value):
    """A field as compared: links between rows by the rows' paths, arguments by their values."""
    if name == "children":
        return [c.path for c in value]
    if name == "branches":
        return [(b.name, [r.path for r in b.rows], b.input) for b in value]
    if name == "owner":
        return value.path if value is not None else None
    if name == "args":
        return (dict(value.items()), value._locs) if value is not None else None
    return value


def assert_same(walked, cloned):
    assert [r.path for r in cloned.rows] == [r.path for r in walked.rows]
    for w, c in zip(walked.rows, cloned.rows):
        assert type(c) is type(w)
        for f in fields(Row):
            assert _value(c, f.name, getattr(c, f.name)) == _value(w, f.name, getattr(w, f.name)), (c.path, f.name)
        if c.owner is not None:  # the owner is that analysis's own row, as a walk links it
            assert cloned.row(c.owner.path) is c.owner
    for a in (walked, cloned):  # no row, and no list a row holds, is another row's
        assert len({id(r) for r in a.rows}) == len(a.rows)
        assert len({id(r.steps) for r in a.rows}) == len(a.rows)
        assert len({id(r.own) for r in a.rows if r.own is not None}) == sum(r.own is not None for r in a.rows)
    assert [(x.path, x.code, x.message, x.loc) for x in cloned.warnings] == \
           [(x.path, x.code, x.message, x.loc) for x in walked.warnings]
    for name in ("totals", "input", "output", "bindings", "symbols", "batch", "variant", "name"):
        assert getattr(cloned, name) == getattr(walked, name), name


def check(monkeypatch, run, clones: bool):
    walked = _walked(monkeypatch, run)
    cloned, made = _cloned(monkeypatch, run)
    assert_same(walked, cloned)
    assert (made > 0) == clones  # whether a copy was cloned at all: the test tests something
    return cloned, made


@pytest.mark.parametrize("variant", [None, "resnet101", "resnet152", "resnet50_v1"])
def test_resnet50_and_its_variants(monkeypatch, variant):
    # every 3x3 convolution widens the receptive field: each copy's input differs, none is cloned
    check(monkeypatch, lambda: analyze_file("resnet50.yaml", variant=variant), clones=False)


def test_resnet50_symbolic_input(monkeypatch):
    text = (SPECS / "resnet50.yaml").read_text().replace("[3, 224, 224]", "[3, H, W]")
    check(monkeypatch, lambda: analyze_text(text, variant="resnet152"), clones=False)


@pytest.mark.parametrize("spec", ["efficientnet_v2_s.yaml", "char_rnn.yaml"])
def test_zoo_specs(monkeypatch, spec):
    check(monkeypatch, lambda: analyze_file(spec), clones=False)


@pytest.mark.parametrize("variant", [None, "vit_l_16"])
def test_vit(monkeypatch, variant):
    # the tokens reach the encoder after layers with weights and without a receptive field:
    # copy 1 hands on what it was given, every later copy is a clone of it
    _, made = check(monkeypatch, lambda: analyze_file("vit_b_16.yaml", variant=variant), clones=True)
    assert made == (12 if variant is None else 24) - 1


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("tokens", ["16", "T"])
def test_transformer_concrete_and_symbolic(monkeypatch, tokens, batch):
    text = TRANSFORMER.replace("[16, 32]", f"[{tokens}, 32]")
    a, made = check(monkeypatch, lambda: analyze_text(text, batch=batch), clones=True)
    assert made == 4 and a.symbolic == (tokens == "T")


def test_a_copy_given_no_gradient_is_walked_apart(monkeypatch):
    # copy 1's input needs no gradient (nothing before it has weights), copy 2's does: copy 2
    # is walked too, and copies 3 to 5 are clones of it
    text = "archcalc: 1\ninput: [16]\nlayers:\n  - linear: {name: fc, out_features: 16, repeat: 5}\n"
    a, made = check(monkeypatch, lambda: analyze_text(text), clones=True)
    assert made == 3
    assert a.row("fc.1").backward_macs == 256 and a.row("fc.2").backward_macs == a.row("fc.5").backward_macs == 512


def test_shared_weights_inside_a_repeated_block(monkeypatch):
    a, made = check(monkeypatch, lambda: analyze_text(SHARED), clones=True)
    assert made == 4
    assert [a.row(f"body.{i}.again").shares for i in (1, 5)] == ["stem", "stem"]
    assert [a.row(f"body.{i}.first").shares for i in (1, 5)] == ["body.1.fc", "body.1.fc"]
    assert a.row("head").shares == "body.5.fc" and a.row("head").owner is a.row("body.5.fc")
    assert a.totals["params"] == 6 * (16 * 16 + 16)  # stem and each copy's fc


CROSS = """
archcalc: 1
inputs: {x: [4, 16], m: [5, 16]}
blocks:
  blk:
    layers:
      - linear: {name: a, out_features: 16}
      - multihead_attention: {name: att, num_heads: 2, memory: m}
layers:
  - blk: {name: body, repeat: 4}
  - linear: {name: head, from: body.3.a, out_features: 3}
"""


def test_a_layer_inside_a_cloned_copy_can_be_read(monkeypatch):
    """`from:` a layer inside the third copy, which is cloned, not walked: the same rows as a
    walk, and the head reads that copy's [4, 16] (16·3 + 3 parameters, 4·16·3 MACs)."""
    a, made = check(monkeypatch, lambda: analyze_text(CROSS), clones=True)
    assert made == 2 and a.row("head").reads == "body.3.a"  # copies 3 and 4 cloned (2 walked: the first has no gradient)
    assert (a.row("head").params, a.row("head").macs) == (16 * 3 + 3, 4 * 16 * 3)


def test_when_nested_repeats_merge_branches_and_warnings(monkeypatch):
    a, made = check(monkeypatch, lambda: analyze_text(NESTED), clones=True)
    assert made > 0 and len(a.warnings) == 4 * (3 + 2) + 2
    assert a.row("stages.4.u.3.relu_1.3").depth == 5 and a.row("concat_1.left.unit_1.2.dropout2d_1")
    check(monkeypatch, lambda: analyze_text(NESTED, {"gate": False, "inner": 5}), clones=True)
    check(monkeypatch, lambda: analyze_text(NESTED, {"inner": 1, "outer": 1}), clones=True)


def test_a_message_after_the_repeat_names_its_last_copy(monkeypatch):
    last = "  - layer_norm: {normalized_shape: E}\n"
    text = TRANSFORMER.removesuffix(last) + "  - conv2d: {out_channels: 3, kernel_size: 1}\n"  # wants [C, H, W]

    def error():
        with pytest.raises(SpecError) as err:
            analyze_text(text)
        return err.value.render()

    walked, cloned = _walked(monkeypatch, error), error()
    assert cloned == walked and "the output of 'layers.6.add_2', line 14" in cloned


@pytest.mark.parametrize("short", [1, 10, 20, 40])
def test_the_row_limit_counts_cloned_rows(monkeypatch, short):
    rows = len(analyze_text(TRANSFORMER).rows)
    monkeypatch.setenv("ARCHCALC_MAX_ROWS", str(rows))
    check(monkeypatch, lambda: analyze_text(TRANSFORMER), clones=True)
    monkeypatch.setenv("ARCHCALC_MAX_ROWS", str(rows - short))  # short by one row, a copy, ...: in copy 6, 5, 4, 2

    def error():
        with pytest.raises(SpecError, match=f"more than {rows - short:,} rows") as err:
            analyze_text(TRANSFORMER)
        return err.value.render()

    assert error() == _walked(monkeypatch, error)


@pytest.mark.parametrize("args", [["--format", "json"], ["--memory", "--columns", "train", "--unfold"]])
def test_reports_are_the_same(monkeypatch, args):
    def run():
        result = CliRunner().invoke(main, ["summarize", str(SPECS / "vit_b_16.yaml"), *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert run() == _walked(monkeypatch, run)


PASSED_ON = """archcalc: 1
input: [4, 20]
blocks:
  unit:
    layers:
      - conv1d: {out_channels: 8, kernel_size: 1}
      - dropout2d
layers:
  - unit: {name: b, repeat: 4}
"""


def test_a_source_from_an_earlier_copy_is_handed_on(monkeypatch):
    # copy 1's convolution makes [8, 20]; the later ones keep the shape but make the values (a
    # layer with weights is its output's maker), so a message after the repeat names copy 4's
    _, made = check(monkeypatch, lambda: analyze_text(PASSED_ON), clones=True)
    assert made == 2  # copy 1 changes the shape; copy 2 hands on what it was given

    def error():
        with pytest.raises(SpecError) as err:
            analyze_text(PASSED_ON + "  - conv2d: {out_channels: 3, kernel_size: 1}\n")
        return err.value.render()

    assert error() == _walked(monkeypatch, error) and "the output of 'b.4.conv1d_1', line 6" in error()


def test_a_warning_that_names_a_layer_is_never_cloned(monkeypatch):
    from archcalc.layers.base import Result
    from archcalc.layers.structure import Dropout2d

    def infer(cls, x, a, ctx):
        ctx.warn("test", f"after the {ctx.source}")  # names a layer of the repeat ('b.1.conv1d_1' in copy 1)
        return Result(tuple(x))

    monkeypatch.setattr(Dropout2d, "infer", classmethod(infer))
    a, _ = check(monkeypatch, lambda: analyze_text(PASSED_ON), clones=False)
    assert {w.message for w in a.warnings} == {f"after the output of 'b.{i}.conv1d_1', line 6" for i in (1, 2, 3, 4)}
    # a layer without weights that keeps the shape hands on copy 1's name: every copy says b.1, which no
    # renaming of a clone would say
    pooled = PASSED_ON.replace("conv1d: {out_channels: 8, kernel_size: 1}", "adaptive_avg_pool1d: {output_size: 5}")
    a, _ = check(monkeypatch, lambda: analyze_text(pooled), clones=False)
    assert {w.message for w in a.warnings} == {"after the output of 'b.1.adaptive_avg_pool1d_1', line 6"}
