"""`archcalc autograder`: a ready Gradescope autograder (a zip) from an instructor's key.

Gradescope unpacks the zip into /autograder/source, runs `setup.sh` once to build the
image, then `run_autograder` for each submission, which must leave
/autograder/results/results.json (https://gradescope-autograders.readthedocs.io/). The zip
holds archcalc itself (pure Python, so the image needs only its four dependencies from
PyPI, pinned to the versions this archcalc runs with), the key and its spec (the key's
`spec:` rewritten to the copy beside it), and the two scripts. `run_autograder` grades the
one .yaml/.yml file the student submitted; whatever happens, results.json is written. With
--variants, variants.yaml rides along and each upload is graded for its student's numbers
(found by submission_metadata.json's sid or email, else the uploaded file's name).
AUTOGRADER_ROOT (default /autograder) and PYTHON let a test run it under a temporary root.
"""
from __future__ import annotations

import io
import zipfile
from importlib import metadata
from pathlib import Path

from archcalc.grading.key import load_key
from archcalc.spec.errors import Location, SpecError
from archcalc.textio import read_bytes, read_text
from archcalc.torch_backend import TORCH_CPU_INDEX

VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
DEPENDENCIES = ("click", "rich", "sympy", "ruamel.yaml")

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder's image.
set -euo pipefail
apt-get install -y python3 python3-pip >/dev/null 2>&1 || true
python3 -m pip install --quiet {requirements}
"""

# The image runs archcalc from its copy in the zip, not installed: torch alone, from the CPU index
# the README and the commands' errors name (archcalc.torch_backend.TORCH_CPU_INDEX).
TORCH = f"python3 -m pip install --quiet torch --index-url {TORCH_CPU_INDEX}  # values questions\n"

RUN = """#!/usr/bin/env bash
# Gradescope runs this for each submission; it must write results/results.json.
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{PYTHON:-python3}}"
mkdir -p "$ROOT/results"
cd "$ROOT/source" || exit 1
PYTHONPATH="$ROOT/source${{PYTHONPATH:+:$PYTHONPATH}}" "$PYTHON" -m archcalc grade --key "$ROOT/source/key.yaml" \\
    "$ROOT/submission" --format gradescope --visibility {visibility}{hide}{variants} -o "$ROOT/results/results.json"
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then  # archcalc itself failed: still a result, with the reason
    printf '{{"score": 0, "output": "the autograder failed (exit %s); please tell your instructor"}}\\n' \\
        "$status" > "$ROOT/results/results.json"
fi
exit 0
"""


def _requirements() -> str:
    pins = []
    for name in DEPENDENCIES:
        try:
            pins.append(f"'{name}=={metadata.version(name)}'")
        except metadata.PackageNotFoundError:  # pragma: no cover - archcalc runs without it
            pins.append(f"'{name}'")
    return " ".join(pins)


def _key_text(key_path: Path) -> str:
    """The key with its spec: pointing at the copy beside it (comments kept)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes, yaml.width = True, 1 << 16  # the key as written, but for its spec: line
    data = yaml.load(read_text(key_path, "key"))
    data["spec"] = "spec.yaml"
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _add(zf: zipfile.ZipFile, name: str, data: str | bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o755 if executable else 0o644) << 16
    zf.writestr(info, data)


def build_autograder(key_path: str, visibility: str = "visible", hide_answers: bool = False,
                     variants: str | None = None) -> bytes:
    """The zip's bytes. The key is loaded and its spec analysed first, so a broken key fails
    here, at the instructor's desk, not in every student's run. With variants (each student's
    numbers), the file rides along and each upload is graded for its student's numbers."""
    from archcalc.grading.mark import Marker

    if visibility not in VISIBILITIES:
        raise SpecError(f"visibility {visibility!r}", Location("--visibility"), expected=", ".join(VISIBILITIES),
                        code="usage")
    key = load_key(key_path)
    if key.draw is not None and variants is None:
        raise SpecError("this key draws each student's numbers (variants:): the autograder needs the file of "
                        "their numbers", Location(key_path), code="usage",
                        hint="archcalc autograder --key KEY --variants OUTDIR/variants.yaml -o autograder.zip")
    if variants is None:
        Marker(key)  # every question has a right value
    else:
        from archcalc.grading.mark import ByStudent

        every = ByStudent(key, variants)
        for numbers in every.students.values():
            every.markers(numbers)  # every student's questions have right values
    package = Path(__file__).resolve().parent.parent
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        setup = SETUP.format(requirements=_requirements())
        if any(q.quantity == "values" for q in key.questions):  # a numeric exercise: archcalc runs it with torch
            setup += TORCH
        _add(zf, "setup.sh", setup, executable=True)
        _add(zf, "run_autograder", RUN.format(visibility=visibility, hide=" --hide-answers" if hide_answers else "",
                                              variants=' --variants "$ROOT/source/variants.yaml"' if variants else ""),
             executable=True)
        _add(zf, "key.yaml", _key_text(Path(key_path)))
        if variants:
            _add(zf, "variants.yaml", read_bytes(variants, "variants"))
        _add(zf, "spec.yaml", read_bytes(key.spec_path, "spec"))
        for source in sorted(package.rglob("*")):
            if source.is_file() and source.suffix in (".py", ".yaml", ".json") and "__pycache__" not in source.parts:
                _add(zf, f"archcalc/{source.relative_to(package).as_posix()}", source.read_bytes())
    return buf.getvalue()


def write_autograder(key_path: str, visibility: str, hide_answers: bool, output: str,
                     variants: str | None = None) -> str:
    """Build and write the zip atomically; what to tell the instructor."""
    from archcalc.textio import write_atomic

    write_atomic(output, build_autograder(key_path, visibility, hide_answers, variants))
    return f"wrote {output}: upload it as the assignment's autograder"
