"""MkDocs hooks (mkdocs.yml `hooks:`): what the site shows that must not drift from the code is
made when the site is built, never written by hand.

- The layer-kind reference: archcalc.report.reference.pages(), one page a family, added to the
  files and to the nav under "Layer kinds".
- Command output: a line `<!-- archcalc ARGS -->` in a page becomes the command and what
  `python -m archcalc ARGS` prints, run from the repository root; `<!-- archcalc ARGS (exit N) -->`
  expects exit status N (a failing check shown on purpose). Any other status fails the build.
- Files: `<!-- include PATH -->` shows a file of the repository (a spec, an example) as it is.
- Pictures: PICTURES below, made with `archcalc diagram` and `archcalc plot` under img/.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

REPO = Path(__file__).resolve().parents[2]
KINDS = "reference/kinds"
PICTURES = {
    "img/alexnet_diagram.svg": ["diagram", "specs/alexnet.yaml"],
    "img/resnet18_diagram.svg": ["diagram", "specs/resnet18.yaml", "--depth", "1"],
    "img/alexnet_chart.svg": ["plot", "specs/alexnet.yaml"],
    "img/resnet18_chart.svg": ["plot", "specs/resnet18.yaml", "--depth", "1"],
    "img/course_conv_sweep.svg": ["plot", "specs/course_200x200_convolutional.yaml", "--sweep", "K=1:96"],
}
COMMAND = re.compile(r"^<!-- archcalc (?P<args>.+?)(?: \(exit (?P<exit>\d+)\))? -->$", re.M)
INCLUDE = re.compile(r"^<!-- include (?P<path>\S+) -->$", re.M)
LANGUAGES = {".yaml": "yaml", ".py": "python", ".json": "json", ".csv": "text", ".xml": "xml"}
_pages: dict[str, str] | None = None


def reference_pages() -> dict[str, str]:
    global _pages
    if _pages is None:
        sys.path.insert(0, str(REPO))
        from archcalc.report.reference import pages

        _pages = pages()
    return _pages


def run_archcalc(args: list[str], expected: int = 0) -> str:
    """What `archcalc ARGS` prints (stdout, then stderr), run from the repository root."""
    env = {**os.environ, "COLUMNS": "110", "NO_COLOR": "1", "TERM": "dumb", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "archcalc", *args], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=600)
    if done.returncode != expected:
        raise PluginError(f"archcalc {shlex.join(args)} exited {done.returncode}, the page expects {expected}:\n"
                          f"{done.stdout}{done.stderr}")
    return (done.stdout + done.stderr).rstrip()


def on_config(config):
    """The nav's "Layer kinds" entry becomes a section: the index and one page a family."""
    families = sorted(p for p in reference_pages() if p != "index.md")

    def expand(items):
        out = []
        for item in items:
            if isinstance(item, dict):
                (title, value), = item.items()
                if value == f"{KINDS}/index.md":
                    value = [{"All kinds": value}] + [{p[:-3].replace("_", " ").capitalize(): f"{KINDS}/{p}"}
                                                      for p in families]
                elif isinstance(value, list):
                    value = expand(value)
                out.append({title: value})
            else:
                out.append(item)
        return out

    config.nav = expand(config.nav)
    return config


def on_files(files, config):
    for name, text in reference_pages().items():
        files.append(File.generated(config, f"{KINDS}/{name}", content=text))
    with tempfile.TemporaryDirectory() as tmp:
        for target, args in PICTURES.items():
            out = Path(tmp) / Path(target).name
            if args[0] == "plot":
                run_archcalc([*args, "-o", str(out)])
            else:
                out.write_text(run_archcalc(args) + "\n", encoding="utf-8")
            files.append(File.generated(config, target, content=out.read_bytes()))
    return files


def _command(match: re.Match) -> str:
    args = shlex.split(match["args"])
    output = run_archcalc(args, int(match["exit"] or 0))
    return f"```console\n$ archcalc {match['args']}\n{output}\n```"


def _include(match: re.Match) -> str:
    path = REPO / match["path"]
    if not path.is_file():
        raise PluginError(f"include: no file {match['path']}")
    text = path.read_text(encoding="utf-8").rstrip()
    return f"```{LANGUAGES.get(path.suffix, 'text')} title=\"{match['path']}\"\n{text}\n```"


def on_page_markdown(markdown, page, config, files):
    return INCLUDE.sub(_include, COMMAND.sub(_command, markdown))
