"""The package as users get it: one version, a light install without torch, the wheel and the
sdist holding every file the code reads, and the same install advice wherever torch is missing.

CI (.ci/run) builds the wheel and the sdist from the clean checkout, installs the wheel (not
editable) and runs this suite against it with ARCHCALC_TEST_INSTALLED=1 and ARCHCALC_DIST=dist:
then the tests here prove that the installed copy, not the source tree, is the one tested.
Locally, what needs a built package or the installed mode is skipped; with ARCHCALC_CI=1 those
skips are failures."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import archcalc
from archcalc.torch_backend import INSTALL_TORCH, INSTALL_TORCH_CPU, INSTALL_TORCH_CUDA, TORCH_CPU_INDEX
from conftest import REPO

CI = bool(os.environ.get("ARCHCALC_CI"))
INSTALLED = bool(os.environ.get("ARCHCALC_TEST_INSTALLED"))
COURSE = REPO / "examples" / "homework" / "course"


def skip_or_fail(reason: str):
    """Skipped on a developer's machine, a failure in CI (ARCHCALC_CI=1)."""
    if CI:
        pytest.fail(f"CI must run this: {reason}")
    pytest.skip(reason)


def archcalc_without_torch(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """The command line in a process where `import torch` fails, as on a machine without it
    (sys.modules['torch'] = None: the import raises ImportError, find_spec says absent)."""
    code = ("import runpy, sys; sys.modules['torch'] = None; sys.argv = ['archcalc', *%r]\n"
            "runpy.run_module('archcalc', run_name='__main__')") % (args,)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "160"}, timeout=120)


# --- one version ------------------------------------------------------------------------------

def test_the_version_is_written_once():
    """pyproject.toml reads archcalc.__version__ (no literal of its own); the installed metadata,
    `archcalc --version` and the package agree."""
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]', pyproject, re.M)
    assert not re.search(r"^version\s*=", pyproject.split("[tool.")[0], re.M), "a second version in [project]"
    assert 'version = {attr = "archcalc.__version__"}' in pyproject
    assert re.fullmatch(r"\d+\.\d+\.\d+", archcalc.__version__)
    assert metadata.version("archcalc") == archcalc.__version__
    proc = subprocess.run([sys.executable, "-m", "archcalc", "--version"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.strip() == f"archcalc, version {archcalc.__version__}"


def test_the_changelog_names_the_version():
    assert re.search(rf"^## {re.escape(archcalc.__version__)}\b", (REPO / "CHANGELOG.md").read_text(), re.M)


# --- which copy is tested ------------------------------------------------------------------------

def _site_packages() -> tuple[str, ...]:
    return tuple({str(Path(sysconfig.get_paths()[k]).resolve()) + os.sep for k in ("purelib", "platlib")})


def test_ci_tests_the_installed_wheel_not_the_source_tree():
    """With ARCHCALC_TEST_INSTALLED=1 (CI), archcalc is imported from site-packages, here and in
    the command-line processes the tests start from the repository's root."""
    if not INSTALLED:
        skip_or_fail("ARCHCALC_TEST_INSTALLED is not set: the tests run against whichever archcalc is importable")
    assert str(Path(archcalc.__file__).resolve()).startswith(_site_packages()), archcalc.__file__
    assert not Path(archcalc.__file__).resolve().is_relative_to((REPO / "archcalc").resolve())
    proc = subprocess.run([sys.executable, "-c", "import archcalc; print(archcalc.__file__)"], capture_output=True,
                          text=True, cwd=REPO, check=True)
    assert proc.stdout.strip().startswith(_site_packages()), proc.stdout
    assert "__editable__" not in "".join(sys.path) and not any(
        p.name.startswith("__editable__") for s in _site_packages() for p in Path(s).glob("*archcalc*"))


def test_the_embedded_default_runs_outside_the_repository(tmp_path):
    """`archcalc summarize` with no file reads the AlexNet shipped in the package (archcalc/data),
    not specs/: run from an empty folder, without torch."""
    proc = archcalc_without_torch("summarize", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("alexnet: input 3×227×227 → output 1,000")
    assert re.search(r"^ total .* 60,965,224 .* 724,406,816 .* 1,448,813,632 ", proc.stdout, re.M)


# --- the light install and the torch advice ------------------------------------------------------

def test_the_light_install_needs_no_torch():
    """torch is an extra: the core dependencies are the four the README names."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert sorted(re.split(r"[<>=!~ ]", d)[0] for d in project["dependencies"]) == ["click", "rich", "ruamel.yaml",
                                                                                    "sympy"]
    assert [re.split(r"[<>=!~ ]", d)[0] for d in project["optional-dependencies"]["torch"]] == ["torch"]


def test_the_readme_gives_the_same_torch_advice_as_the_commands():
    readme = (REPO / "README.md").read_text()
    assert INSTALL_TORCH in readme.replace("`", ""), "README's torch advice differs from archcalc.torch_backend's"
    assert f"`{INSTALL_TORCH_CPU}`" in readme and f"`{INSTALL_TORCH_CUDA}`" in readme
    assert TORCH_CPU_INDEX in INSTALL_TORCH_CPU and "archcalc[torch]" in INSTALL_TORCH_CUDA
    first = re.search(r"## Set-up, run, test\n\n```\n(.*?)\n", readme).group(1)
    assert first.split("#")[0].strip() == "pip install -e . && archcalc summarize", first


TORCH_COMMANDS = {
    "verify": ("verify", "specs/alexnet.yaml"),
    "import": ("import", "torchvision.models:alexnet", "--input", "3,224,224"),
    "check --verify": ("check", "specs/alexnet.yaml", "--verify"),
    "run": ("run", "examples/numeric/max_pool_slide.yaml"),
    "grade (values)": ("grade", str(COURSE / "submissions" / "ada.yaml"), "--key", str(COURSE / "pooling.yaml")),
}


@pytest.mark.parametrize("args", TORCH_COMMANDS.values(), ids=TORCH_COMMANDS.keys())
def test_each_torch_command_without_torch_says_how_to_install_it(args):
    """Exit 2, no traceback, nothing on stdout; the error, then one line with the advice."""
    proc = archcalc_without_torch(*args)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and "PyTorch, which is not installed" in lines[0], proc.stderr
    assert lines[1].strip() == f"hint: {INSTALL_TORCH}", proc.stderr


def test_the_autograder_installs_torch_from_the_same_cpu_index():
    from archcalc.grading.autograder import TORCH

    assert f"--index-url {TORCH_CPU_INDEX} " in TORCH


# --- the wheel and the sdist ---------------------------------------------------------------------

def _package_files() -> set[str]:
    """Every file of the package in the source tree (code and data), as a wheel names it."""
    return {p.relative_to(REPO).as_posix() for p in (REPO / "archcalc").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The folder holding the wheel and the sdist: CI's (ARCHCALC_DIST), or built here with
    `python -m build --no-isolation` when build and setuptools are installed."""
    if os.environ.get("ARCHCALC_DIST"):
        return Path(os.environ["ARCHCALC_DIST"]).resolve()
    try:
        import build  # noqa: F401
        import setuptools
    except ImportError:
        skip_or_fail("ARCHCALC_DIST is not set and `build` is not installed (pip install build)")
    if int(setuptools.__version__.split(".")[0]) < 68:
        skip_or_fail(f"ARCHCALC_DIST is not set and setuptools {setuptools.__version__} is older than pyproject's 68")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)], check=True,
                   capture_output=True, timeout=300)
    return out


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


def test_the_wheel_holds_every_file_the_package_reads(dist):
    """The embedded AlexNet (archcalc/data), every subpackage (check/ and grading/ have no
    __init__.py), the console script; torch required only by its extras."""
    wheel = _one(dist, f"archcalc-{archcalc.__version__}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = f"archcalc-{archcalc.__version__}.dist-info"
        meta = zf.read(f"{info}/METADATA").decode()
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
    assert sorted(_package_files() - names) == []
    assert "archcalc/data/alexnet.yaml" in names
    assert not any(n.startswith(("tests/", "specs/", "docs/")) or "__pycache__" in n for n in names)
    assert re.search(r"^archcalc = archcalc\.cli:main$", entry_points, re.M)
    assert f"\nVersion: {archcalc.__version__}\n" in meta
    requires = re.findall(r"^Requires-Dist: (.*)$", meta, re.M)
    core = sorted(re.split(r"[<>=!~ ;]", r)[0] for r in requires if "extra ==" not in r)
    assert core == ["click", "rich", "ruamel.yaml", "sympy"]
    assert any(r.startswith("torch") and "extra == \"torch\"" in r for r in requires)


def test_the_sdist_rebuilds_the_package(dist):
    """The sdist holds the package, pyproject.toml, the README (the long description) and the
    CHANGELOG."""
    sdist = _one(dist, f"archcalc-{archcalc.__version__}.tar.gz")
    top = f"archcalc-{archcalc.__version__}/"
    with tarfile.open(sdist) as tf:
        names = {n[len(top):] for n in tf.getnames() if n.startswith(top)}
    wanted = _package_files() | {"pyproject.toml", "README.md", "CHANGELOG.md", "PKG-INFO"}
    assert sorted(wanted - names) == []
