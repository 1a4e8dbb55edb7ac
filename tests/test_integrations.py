"""The CI integrations run: the GitHub Action (action.yml) and the pre-commit hook
(.pre-commit-hooks.yaml), each as the README shows it.

The action's `run:` steps are executed as the runner would execute them (its `${{ }}`
expressions evaluated, `bash --noprofile --norc -eo pipefail`), installing archcalc from a copy
of this project into a fresh virtual environment, and its check step is run on specs that hold
and on specs that fail. The hook runs through `pre-commit try-repo` and through the README's
`.pre-commit-config.yaml` (after `pre-commit autoupdate`) in a sample git repository. Both
install archcalc's dependencies from the package index, so they take tens of seconds (marked
slow). Without pre-commit, git or torch the tests that need them skip, and fail in CI
(ARCHCALC_CI=1), where the test extra installs them.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import REPO, SOURCE_PATH, SPECS

pytestmark = pytest.mark.slow

ACTION = REPO / "action.yml"
HOOKS = REPO / ".pre-commit-hooks.yaml"
README = REPO / "README.md"
# what `pip install <the project>` reads: the action installs from its checkout, pre-commit from its clone
PROJECT_FILES = ("pyproject.toml", "README.md", "action.yml", ".pre-commit-hooks.yaml", "archcalc")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]  # GitHub's `shell: bash`
SHA = re.compile(r"[0-9a-f]{40}")


def _absent(what: str) -> None:
    if os.environ.get("ARCHCALC_CI"):
        pytest.fail(f"{what} is needed in CI (ARCHCALC_CI is set): the test extra installs it")
    pytest.skip(f"{what} is not installed")


def _yaml(text: str):
    return YAML(typ="safe", pure=True).load(io.StringIO(text))


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment a CI job has: no PYTHONPATH pointing at a source tree, so what runs is
    what the step installed."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # setup-python puts the chosen python first on PATH; here it is the one running the tests
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra)
    return env


def _project_copy(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def _readme_block(marker: str) -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, f"the README should have one yaml block with {marker!r}"
    return found[0]


# --- the GitHub Action --------------------------------------------------------------------------------------------


def _action() -> dict:
    return _yaml(ACTION.read_text())


def _inputs(**given: str) -> dict[str, str]:
    declared = _action()["inputs"]
    unknown = set(given) - set(declared)
    assert not unknown, f"not inputs of action.yml: {unknown}"
    return {name: str(given.get(name, spec.get("default", ""))) for name, spec in declared.items()}


def _evaluate(expr: str, context: dict[str, str]) -> str:
    assert expr in context, f"action.yml uses the expression '{expr}', which this test does not know"
    return context[expr]


def _substitute(text: str, context: dict[str, str]) -> str:
    return EXPRESSION.sub(lambda m: _evaluate(m.group(1), context), str(text))


def _condition(cond: str | None, context: dict[str, str]) -> bool:
    """The `if:` forms action.yml uses: `inputs.x != ''` and `inputs.x == 'value'`."""
    if cond is None:
        return True
    m = re.fullmatch(r"\s*([\w.-]+)\s*(==|!=)\s*'([^']*)'\s*", EXPRESSION.sub(r"\1", cond))
    assert m, f"an `if:` this test cannot evaluate: {cond!r}"
    equal = _evaluate(m.group(1), context) == m.group(3)
    return equal if m.group(2) == "==" else not equal


def _run_action(workspace: Path, runner_temp: Path, action_path: Path, inputs: dict[str, str], *,
                only: str | None = None, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run action.yml's steps in `workspace` as the runner does; `only` names the one step to
    run. A `uses:` step is checked to be pinned and otherwise left to GitHub (setup-python's
    part, a python first on PATH, is the test's own interpreter). Returns the last step run."""
    context = {"github.action_path": str(action_path), "runner.temp": str(runner_temp),
               **{f"inputs.{k}": v for k, v in inputs.items()}}
    github_path = runner_temp / "github_path"
    github_path.touch()
    done = None
    for step in _action()["runs"]["steps"]:
        if only is not None and step.get("name") != only:
            continue
        if not _condition(step.get("if"), context):
            continue
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+|[0-9a-f]{40})", step["uses"]), step["uses"]
            for value in (step.get("with") or {}).values():
                _substitute(value, context)  # every expression is one the runner would resolve
            continue
        env = _clean_env(GITHUB_WORKSPACE=str(workspace), RUNNER_TEMP=str(runner_temp), GITHUB_PATH=str(github_path),
                         GITHUB_ACTION_PATH=str(action_path), **(env_extra or {}))
        env.update({k: _substitute(v, context) for k, v in (step.get("env") or {}).items()})
        added = [line for line in github_path.read_text().splitlines() if line]
        env["PATH"] = os.pathsep.join([*reversed(added), env["PATH"]])
        script = runner_temp / "step.sh"
        script.write_text(_substitute(step["run"], context))
        done = subprocess.run([*BASH, str(script)], cwd=workspace, env=env, capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            return done
    assert done is not None, f"no step ran (only={only!r})"
    return done


def _workspace(root: Path, specs: dict[str, str]) -> Path:
    for name, text in specs.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


MLP = (SPECS / "mlp.yaml").read_text()
BAD = MLP.replace("params: 203530", "params: 203531")
INVALID = "archcalc: 1\nname: typo\ninput: [3]\nlayers:\n  - linaer: {out_features: 2}\n"


def _where(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of needle's value in text (after 'key: ')."""
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number, line.index(needle) + 1
    raise AssertionError(needle)


def test_action_is_a_composite_action_whose_inputs_are_all_used():
    action = _action()
    assert action["name"] and action["description"]
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    runs = [s for s in steps if "run" in s]
    assert runs and all(("run" in s) != ("uses" in s) for s in steps)
    assert all(s.get("shell") == "bash" for s in runs), "a composite action's run step must name its shell"
    used = {m for s in steps for m in re.findall(r"inputs\.([\w-]+)", str(s))}
    assert used == set(action["inputs"]), "every input is used, and only declared inputs are"
    assert all(spec.get("description") for spec in action["inputs"].values())
    # inputs reach the scripts through env:, so a path or an argument is data, never shell code
    assert all("${{" not in s["run"] for s in runs)


def test_readme_uses_the_action_of_this_repository_with_its_inputs():
    steps = _yaml(_readme_block("archcalc/archcalc@"))["steps"]
    ours = [s for s in steps if "/archcalc@" in s.get("uses", "")]
    assert len(ours) == 1
    repo, _, ref = ours[0]["uses"].partition("@")
    hook_repo = _yaml(_readme_block("archcalc-check"))["repos"][0]["repo"]
    assert hook_repo == f"https://github.com/{repo}", "the README names one repository for both"
    assert ref == "<commit-sha>" or SHA.fullmatch(ref), "no tag exists: a commit sha (or the placeholder)"
    assert set(ours[0].get("with") or {}) <= set(_action()["inputs"])


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The action's install step, run once: a fresh venv under runner.temp with archcalc
    installed from (a copy of) the action's checkout. Returns (action_path, runner_temp)."""
    root = tmp_path_factory.mktemp("action")
    action_path = _project_copy(root / "action")
    runner_temp = root / "runner_temp"
    runner_temp.mkdir()
    done = _run_action(root, runner_temp, action_path, _inputs(), only="Install archcalc from the action's checkout")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "archcalc, version" in done.stdout
    return action_path, runner_temp


def test_the_action_as_the_readme_writes_it_passes_on_this_repositorys_specs(installed, tmp_path):
    action_path, runner_temp = installed
    shutil.copytree(SPECS, tmp_path / "specs")
    given = _yaml(_readme_block("archcalc/archcalc@"))["steps"][1].get("with") or {}
    done = _run_action(tmp_path, runner_temp, action_path, _inputs(**given), only="archcalc check")
    assert done.returncode == 0, done.stdout + done.stderr
    count = len(list(SPECS.glob("*.yaml")))
    assert f"{count} spec(s): {count} pass, 0 fail, 0 invalid" in done.stdout
    assert "::error" not in done.stdout


def test_the_action_annotates_a_failed_expectation_and_an_invalid_spec(installed, tmp_path):
    action_path, runner_temp = installed
    _workspace(tmp_path, {"specs/mlp.yaml": MLP, "specs/bad.yaml": BAD, "specs/more/typo.yml": INVALID})
    done = _run_action(tmp_path, runner_temp, action_path, _inputs(), only="archcalc check")
    assert done.returncode == 2, done.stdout + done.stderr  # an invalid spec outranks a failed check
    line, col = _where(BAD, "203531")
    assert f"::error file=specs/bad.yaml,line={line},col={col}" in done.stdout
    assert "expected 203,531, found 203,530" in done.stdout
    line, col = _where(INVALID, "linaer")
    assert f"::error file=specs/more/typo.yml,line={line},col={col}" in done.stdout
    assert "did you mean 'linear'?" in done.stdout
    assert "3 spec(s): 1 pass, 1 fail, 1 invalid" in done.stdout


def test_the_action_passes_its_args_and_splits_its_specs_at_spaces(installed, tmp_path):
    action_path, runner_temp = installed
    _workspace(tmp_path, {"a/mlp.yaml": MLP, "b/mlp.yaml": MLP, "c/bad.yaml": BAD})
    done = _run_action(tmp_path, runner_temp, action_path, _inputs(specs="a/mlp.yaml b", args="--max-params 200k"),
                       only="archcalc check")
    assert done.returncode == 1, done.stdout + done.stderr  # 203,530 params over a 200k budget; c/ not checked
    assert "2 spec(s): 0 pass, 2 fail, 0 invalid" in done.stdout
    assert "c/bad.yaml" not in done.stdout
    # a glob character in an input is not expanded by the shell: the file named is checked, or not found
    done = _run_action(tmp_path, runner_temp, action_path, _inputs(specs="a/*.yaml"), only="archcalc check")
    assert done.returncode == 2 and "a/*.yaml" in done.stdout, done.stdout + done.stderr


def test_the_action_refuses_a_verify_that_is_not_true_or_false(tmp_path):
    runner_temp = tmp_path / "runner_temp"
    runner_temp.mkdir()
    done = _run_action(tmp_path, runner_temp, REPO, _inputs(verify="yes"),
                       only="Install archcalc from the action's checkout")
    assert done.returncode == 2
    assert "::error title=archcalc::input 'verify' must be true or false, not 'yes'" in done.stdout
    assert not (runner_temp / "archcalc-venv").exists()


def test_the_action_with_verify_builds_each_spec_with_torch(tmp_path):
    """verify: true installs torch's CPU build from download.pytorch.org, which CI cannot
    reach: the check step runs here with the test's own environment (torch, archcalc) as the
    action's venv, and this checkout's code first on the path."""
    try:
        import torch  # noqa: F401
    except ImportError:
        _absent("torch")
    runner_temp = tmp_path / "runner_temp"
    runner_temp.mkdir()
    if not (Path(sys.prefix) / "bin" / "archcalc").exists():
        _absent(f"the archcalc script in {sys.prefix}/bin")
    (runner_temp / "archcalc-venv").symlink_to(sys.prefix)
    _workspace(tmp_path, {"specs/mlp.yaml": MLP})
    plain, verified = (_run_action(tmp_path, runner_temp, REPO, _inputs(verify=v), only="archcalc check",
                                   env_extra={"PYTHONPATH": SOURCE_PATH}) for v in ("false", "true"))
    assert plain.returncode == 0 and verified.returncode == 0, verified.stdout + verified.stderr
    # mlp.yaml expects its params: one check, and with --verify torch's build is a second
    assert "1 spec(s): 1 pass, 0 fail, 0 invalid; 1 check(s)" in plain.stdout, plain.stdout
    assert "1 spec(s): 1 pass, 0 fail, 0 invalid; 2 check(s)" in verified.stdout, verified.stdout


# --- the pre-commit hook ------------------------------------------------------------------------------------------


def _pre_commit() -> list[str]:
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        found = shutil.which("pre-commit")
        if found is None:
            _absent("pre-commit")
        return [found]
    return [sys.executable, "-m", "pre_commit"]


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "user.name=archcalc tests", "-c", "user.email=tests@archcalc.invalid",
                           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _repository(path: Path, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    _git("init", "-q", cwd=path)
    _workspace(path, files or {})
    _git("add", "-A", cwd=path)
    _git("commit", "-q", "-m", "sample", cwd=path)
    return path


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory):
    """A git repository holding (a copy of) this project, as pre-commit clones it."""
    _pre_commit()
    if shutil.which("git") is None:
        _absent("git")
    return _repository(_project_copy(tmp_path_factory.mktemp("hook") / "archcalc"))


def _pre_commit_run(args: list[str], sample: Path, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*_pre_commit(), *args], cwd=sample, capture_output=True, text=True, timeout=900,
                          env=_clean_env(PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never"))


def test_the_hook_is_declared_as_the_readme_uses_it():
    hooks = _yaml(HOOKS.read_text())
    config = _yaml(_readme_block("archcalc-check"))
    wanted = {h["id"] for r in config["repos"] for h in r["hooks"]}
    assert wanted <= {h["id"] for h in hooks}
    hook = next(h for h in hooks if h["id"] == "archcalc-check")
    assert hook["language"] == "python" and hook["entry"].startswith("archcalc check")
    rev = config["repos"][0]["rev"]
    assert rev == "<commit-sha>" or SHA.fullmatch(rev), "no tag exists: a commit sha (or the placeholder)"


def test_pre_commit_try_repo_passes_good_specs_and_ignores_other_yaml(hook_repo, tmp_path):
    sample = _repository(tmp_path / "sample", {
        "specs/mlp.yaml": MLP,
        "specs/nested/lenet5.yml": (SPECS / "lenet5.yaml").read_text(),
        "config.yaml": "not: a spec\n",  # outside specs/: the hook's files pattern leaves it alone
        ".github/workflows/ci.yml": "on: push\n",
    })
    done = _pre_commit_run(["try-repo", str(hook_repo), "archcalc-check", "--all-files"], sample, tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"archcalc check\.+Passed", done.stdout), done.stdout


def test_the_readme_configuration_after_autoupdate_fails_a_broken_spec_at_its_line(hook_repo, tmp_path):
    config = _readme_block("archcalc-check").replace("https://github.com/archcalc/archcalc", str(hook_repo))
    sample = _repository(tmp_path / "sample", {"specs/mlp.yaml": MLP, ".pre-commit-config.yaml": config})
    home = tmp_path / "home"
    done = _pre_commit_run(["autoupdate"], sample, home)  # no tag: the newest commit's sha, as the README says
    assert done.returncode == 0, done.stdout + done.stderr
    rev = _yaml((sample / ".pre-commit-config.yaml").read_text())["repos"][0]["rev"]
    assert rev == _git("rev-parse", "HEAD", cwd=hook_repo)
    _git("commit", "-q", "-am", "pin the hook", cwd=sample)
    done = _pre_commit_run(["run", "--all-files"], sample, home)
    assert done.returncode == 0, done.stdout + done.stderr
    _workspace(sample, {"specs/bad.yaml": BAD, "specs/typo.yaml": INVALID})
    _git("add", "-A", cwd=sample)
    done = _pre_commit_run(["run", "--all-files"], sample, home)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"archcalc check\.+Failed", done.stdout)
    line, col = _where(BAD, "203531")
    assert f"specs/bad.yaml:{line}:{col}: fail: params: expected 203,531, found 203,530" in done.stdout
    line, col = _where(INVALID, "linaer")
    assert f"specs/typo.yaml:{line}:{col}: error: unknown layer kind 'linaer'" in done.stdout
    assert "did you mean 'linear'?" in done.stdout
    # the hook sees only the files a commit touches: a commit of the good spec alone passes
    _git("reset", "-q", cwd=sample)
    (sample / "specs/mlp.yaml").write_text(MLP + "# touched\n")
    _git("add", "specs/mlp.yaml", cwd=sample)
    done = _pre_commit_run(["run"], sample, home)
    assert done.returncode == 0, done.stdout + done.stderr
