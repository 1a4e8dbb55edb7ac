"""Fuzzing `archcalc import`: random PyTorch models (tests/fuzz_import_models.py: chains,
residual adds, products, concatenations, convolutions 1d/2d/3d with random settings, linear,
norms, activations, pooling, reshaping, embedding, recurrent layers, attention, the functional
ops between them), some with an ingredient no spec can say mixed in. Each is written as a
Python file and imported from it as the command does (import_and_verify). The property:

- either it refuses with a SpecError, every error located at a line of the generated file,
  rendered without a traceback — and a model with an ingredient no spec can say is refused;
- or it writes a spec whose every check passes, and the spec, analysed on its own, describes
  THIS model: its parameters and buffers are the model's (sum of numel), its output shape the
  model's output's, and its FLOPs what torch's FlopCounterMode counts on the model's forward
  (docs/conventions.md: archcalc's FLOPs are FlopCounterMode's).

CI profile (ARCHCALC_FUZZ_EXAMPLES unset): 40 models, derandomized under CI=true. Long profile:

    ARCHCALC_FUZZ_EXAMPLES=2000 ARCHCALC_FUZZ_REPORT=fuzz_import.json python -m pytest tests/test_fuzz_import.py -q

ARCHCALC_FUZZ_REPORT: a JSON file that receives the figures (imported, refused by reason).
"""
from __future__ import annotations

import itertools
import json
import os
import re
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from archcalc.engine.analyze import analyze  # noqa: E402
from archcalc.spec import load_spec_text  # noqa: E402
from archcalc.spec.errors import SpecError  # noqa: E402
from archcalc.torch_backend.importing import import_and_verify  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from fuzz_import_models import UNSAYABLE, Model, models  # noqa: E402
from test_import_recorded import recorded_as_traced  # noqa: E402

EXAMPLES = int(os.environ.get("ARCHCALC_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
FIGURES: Counter = Counter()
COUNTER = itertools.count()

REASONS = [  # a refusal's category, from its first error's message
    ("no kind for a function", r"which no archcalc layer kind stands for"),
    ("no kind for a module", r"has no archcalc layer kind"),
    ("untraceable, hooks cannot follow", r"torch\.fx could not trace"),
    ("work whose result is dropped", r"the output the spec follows never reads it"),
    ("data flow a spec cannot say", r"used in two places|does not start from|combines|branch"),
    ("a tensor from nothing the input flows into", r"creates a tensor from nothing|could not follow"),
    ("indexing", r"indexes a tensor"),
    ("a setting a spec cannot say", r"."),
]


def _reason(err: SpecError) -> str:
    message = err.errors[0].message
    return next(name for name, pattern in REASONS if re.search(pattern, message))


def _first_tensor(value):
    while isinstance(value, (tuple, list, dict)):
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
    return value


def independent_counts(model, examples) -> tuple[list, int, int, int]:
    """(output shape per sample, parameters, buffers, FLOPs) of the model itself: numel sums and
    FlopCounterMode on its forward, on the paths docs/conventions.md names (FlopCounterMode
    reads 0 for torch's mkldnn LSTM op, MultiheadAttention's native fast path and the CPU's
    flash attention: mkldnn and the fast path off, attention's math kernel)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    params = sum(p.numel() for p in model.parameters())  # each shared tensor once, as torch lists them
    buffers = sum(b.numel() for b in model.buffers())
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False), sdpa_kernel(SDPBackend.MATH), \
                FlopCounterMode(display=False) as counter:
            out = _first_tensor(model(*examples))
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    return list(out.shape[1:]), params, buffers, counter.get_total_flops()


def check(model: Model, folder: Path) -> str:
    """Imports the generated model; asserts the property; → its outcome's category."""
    path = folder / f"fuzz_model_{next(COUNTER)}.py"
    path.write_text(model.source)
    lines = model.source.count("\n") + 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imported, results = import_and_verify(f"{path}:make", model.input, dtype=model.dtype)
    except SpecError as err:
        text = err.render()
        assert "Traceback" not in text, text
        for e in err.errors:  # the user's source line: in the generated file, within it
            assert e.loc is not None and e.loc.file == str(path) and e.loc.line and 1 <= e.loc.line <= lines, (
                text, model.source)
            assert f"{path}:{e.loc.line}" in text
        named = {e.loc.line for e in err.errors}
        if any(set(lines_) & named for lines_ in model.ingredients.values()):
            FIGURES["refusals naming the ingredient's own line"] += 1
        return "refused: " + _reason(err)
    failed = [r.message() for r in results if not r.ok]
    assert failed == [], (failed, imported.text, model.source)
    unsayable = set(model.ingredients) & UNSAYABLE
    assert not unsayable, (f"imported a model with {unsayable}: the spec cannot be this model", imported.text,
                           model.source)
    alike, fast, traced = recorded_as_traced(imported.model, imported.examples)  # import's fast path is fx's reading
    assert alike, (fast, traced, model.source)
    # the written spec, read on its own, against the model itself
    analysis = analyze(load_spec_text(imported.text, "imported.yaml"))
    output, params, buffers, flops = independent_counts(imported.model, imported.examples)
    ours = (list(analysis.output), analysis.totals["params"], analysis.totals["buffers"], analysis.totals["flops"])
    assert ours == (output, params, buffers, flops), (ours, imported.text, model.source)
    return "imported: " + ("forward hooks" if imported.method == "forward hooks" else "torch.fx") + \
        (" (with " + ", ".join(sorted(model.ingredients)) + ")" if model.ingredients else "")


@pytest.fixture(scope="module")
def figures():
    """The long profile's figures, written where ARCHCALC_FUZZ_REPORT says."""
    start = time.time()
    yield FIGURES
    target = os.environ.get("ARCHCALC_FUZZ_REPORT")
    if target:
        Path(target).write_text(json.dumps({"seconds": round(time.time() - start, 1), **dict(FIGURES.most_common())},
                                           indent=1))


@pytest.mark.slow
@FUZZ
@given(model=models())
def test_random_models_import_exactly_or_refuse_at_their_line(model, tmp_path_factory, figures):
    folder = tmp_path_factory.getbasetemp() / "fuzz_import"
    folder.mkdir(exist_ok=True)
    category = check(model, folder)
    figures["examples"] += 1
    figures[category.split(" (")[0]] += 1
    figures[category] += 1 if " (" in category else 0
    for ingredient in model.ingredients:
        figures[f"with {ingredient}: {category.split(':')[0]}"] += 1


# ---- regressions the fuzzing found, each its shrunk example -----------------------------------

def _source(forward: str, init: str = "", helpers: str = "") -> str:
    init_lines = "".join(f"\n        {line}" for line in init.strip().splitlines())
    body = "".join(f"\n        {line}" for line in forward.strip().splitlines())
    return (f"import torch\nimport torch.nn.functional as F\nfrom torch import nn\n{helpers}\n\n"
            f"class Net(nn.Module):\n    def __init__(self):\n        super().__init__(){init_lines}\n\n"
            f"    def forward(self, v0):{body}\n\n\ndef make():\n    return Net()\n")


def test_a_model_that_is_only_scalar_arithmetic_is_one_identity_layer(tmp_path):
    """Found: the spec was written with no layers, and failed to load in its own verification."""
    assert check(Model(_source("v1 = v0 * 0.5\nreturn v1"), "4,6", "float"), tmp_path) == "imported: torch.fx"


def test_work_whose_result_is_dropped_is_refused_at_its_line(tmp_path):
    """Found: a layer whose output nothing reads was left out of the spec (fx's dead-code
    elimination), which then failed its verification (FlopCounterMode counts it)."""
    source = _source("unused = self.m0(v0)\nreturn v0.relu()", "self.m0 = nn.Linear(6, 3)")
    assert check(Model(source, "6", "float"), tmp_path) == "refused: work whose result is dropped"
    with pytest.raises(SpecError) as info:
        import_and_verify(f"{_write(tmp_path, source)}:make", "6")
    assert "module 'm0' (torch.nn.modules.linear.Linear) is computed in forward (36 FLOPs, its tensors)" in \
        info.value.message and info.value.loc.line == source.splitlines().index("        unused = self.m0(v0)") + 1
    # a second output the spec does not follow, and a layer whose result is dropped without parameters
    source = _source("return v0.relu(), self.m0(v0)", "self.m0 = nn.Linear(6, 3)")
    assert check(Model(source, "6", "float"), tmp_path) == "refused: work whose result is dropped"
    source = _source("unused = torch.matmul(v0, v0.transpose(1, 2))\nreturn v0.relu()")
    assert check(Model(source, "2,3", "float"), tmp_path) == "refused: work whose result is dropped"
    source = _source("unused = v0.sigmoid()\nreturn v0.relu()")  # no count: nothing dropped that a spec says
    assert check(Model(source, "2,3", "float"), tmp_path) == "imported: torch.fx"


def _write(folder: Path, source: str) -> Path:
    path = folder / f"regression_{next(COUNTER)}.py"
    path.write_text(source)
    return path


def test_a_childless_module_reading_its_own_parameter_verifies(tmp_path):
    """Found: `x * self.gamma` in a module holding gamma alone imported as a `parameter` row,
    and verification then found one parameterised layer more in the model than in the spec."""
    helpers = ("\nclass _Scale(nn.Module):\n    def __init__(self, n):\n        super().__init__()\n"
               "        self.gamma = nn.Parameter(torch.ones(n))\n\n    def forward(self, x):\n"
               "        return x * self.gamma\n")
    source = _source("return self.m1(self.m0(v0))", "self.m0 = nn.Conv1d(3, 3, 4)\nself.m1 = _Scale(5)", helpers)
    assert check(Model(source, "3,8", "float"), tmp_path) == "imported: torch.fx"


def test_a_module_called_in_two_branches_shares_by_its_full_path(tmp_path):
    """Found: a module called in two branches of one add was
    written `share: m0_2`, a name no earlier layer has (the owner is `m0.main.m0_2`), and the spec
    failed to load in its own verification."""
    source = _source("return self.m0(v0) + torch.relu(self.m0(v0))", "self.m0 = nn.Linear(4, 4)")
    assert check(Model(source, "4", "float"), tmp_path) == "imported: torch.fx"
    imported, _ = import_and_verify(f"{_write(tmp_path, source)}:make", "4")
    assert "share: m0.main.m0_2," in imported.text, imported.text  # the merge takes its layers' common name


def test_code_that_changes_a_tensor_in_place_between_modules_is_not_invisible_to_hooks(tmp_path):
    """Found: with control flow on a value (fx refuses, forward hooks follow), `y.relu_()` or
    `y[:, 0] = 0` between two modules kept the tensor, so hooks saw a chain and the spec left
    them out; the tensor's version counter shows them, and the model is refused."""
    for code in ("y.relu_()", "y[:, 0] = 0.0", "y.mul_(2)"):
        source = _source(f"y = self.fc(v0)\nif y.sum() > -1e9:\n    {code}\nreturn self.act(y)",
                         "self.fc = nn.Linear(4, 4)\nself.act = nn.ReLU()")
        assert check(Model(source, "4", "float"), tmp_path) == "refused: untraceable, hooks cannot follow", code
        source = _source(f"y = self.act(self.fc(v0))\nif y.sum() > -1e9:\n    {code}\nreturn y",
                         "self.fc = nn.Linear(4, 4)\nself.act = nn.ReLU()")
        assert check(Model(source, "4", "float"), tmp_path) == "refused: untraceable, hooks cannot follow", code
    # an in-place module (ReLU(inplace=True)) changes its own input: that is the module's call, followed
    source = _source("y = self.fc(v0)\nif y.sum() > 0:\n    pass\nreturn self.act(y)",
                     "self.fc = nn.Linear(4, 4)\nself.act = nn.ReLU(inplace=True)")
    assert check(Model(source, "4", "float"), tmp_path) == "imported: forward hooks"


def test_a_layer_reading_another_modules_tensors_outside_its_forward_is_refused(tmp_path):
    """Found: F.layer_norm(x, …, self.m0.weight, self.m0.bias) with m0 never called imported as
    m0's layer, which verification then could not find among the model's calls."""
    source = _source("return F.layer_norm(v0, self.m0.normalized_shape, self.m0.weight, self.m0.bias, self.m0.eps)",
                     "self.m0 = nn.LayerNorm(4)")
    with pytest.raises(SpecError, match="outside that module's own forward") as info:
        import_and_verify(f"{_write(tmp_path, source)}:make", "4")
    assert info.value.loc.line == source.splitlines().index(next(
        line for line in source.splitlines() if "F.layer_norm" in line)) + 1
