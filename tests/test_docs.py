"""The README and the design documents point only at files that exist in the repository, and
the design names every module the code has."""
from __future__ import annotations

import re

import pytest

from conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]  # the site's tutorials too
TOP = ("archcalc/", "docs/", "specs/", "examples/", "tests/", "benchmarks/", ".ci/")


def _paths(text: str) -> set[str]:
    links = re.findall(r"\]\(([^)#\s]+)\)", text)
    quoted = re.findall(r"`([A-Za-z0-9_./-]+)`", text)
    return {p for p in links + quoted if p.startswith(TOP) and "*" not in p and "<" not in p}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_path_a_document_names_exists(doc):
    missing = sorted(p for p in _paths(doc.read_text()) if not (REPO / p.rstrip("/")).exists())
    assert missing == []


def test_no_document_points_outside_the_repository():
    for doc in DOCS:
        assert "shared/design" not in doc.read_text(), doc.name


def test_the_architecture_names_every_module():
    text = (REPO / "docs" / "architecture.md").read_text()
    modules = {p.stem for p in (REPO / "archcalc").rglob("*.py") if p.stem != "__init__"}
    assert sorted(m for m in modules if m not in text) == []


# the layer-kind reference's index, which docs/hooks/archcalc_site.py generates at build time
GENERATED_INDEX = REPO / "docs" / "reference" / "kinds" / "index.md"
MARKDOWN = [*sorted(REPO.glob("*.md")), *sorted((REPO / "docs").glob("*.md"))]


def _anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#{1,6} +(.+)$", text, re.M)}


@pytest.mark.parametrize("doc", MARKDOWN, ids=lambda p: p.name)
def test_every_relative_link_resolves(doc):
    """Every markdown link that is not a URL names a file of the repository, relative to the
    document as GitHub resolves it, and its #anchor a heading there."""
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        if linked == GENERATED_INDEX:
            continue  # written by the site's build hook from the registry (tests/test_docs_site.py)
        if not linked.exists() or REPO not in (linked, *linked.parents):
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked.read_text()):
            broken.append(target)
    assert broken == []
