"""The HTML report and the SVG diagrams as a browser shows them: headless Chromium lays out
`summarize --format html` and `diagram` of every zoo spec, and tests/browser_checks.js looks
at the laid-out page: no text overflows its box or is clipped, the page never scrolls
sideways (the wide table and pictures scroll in their own box), and every diagram label lies
inside its picture, inside or clear of every box, clear of the other labels and of the
arrows, which never run through a box. A screenshot of each page is kept
($ARCHCALC_ARTIFACTS/browser/, else pytest's temporary folder; CI keeps artifacts/browser/).

Needs Debian's chromium (/usr/bin/chromium, or $ARCHCALC_CHROMIUM) and Playwright
(pip install 'archcalc[browser]'; its own browsers are not used). Skipped when either is
absent, a failure when ARCHCALC_CI=1. One browser serves the whole session.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from conftest import SPECS

ZOO = sorted(p.stem for p in SPECS.glob("*.yaml"))
CHECKS = (Path(__file__).parent / "browser_checks.js").read_text(encoding="utf-8")
WIDE, NARROW = {"width": 1280, "height": 800}, {"width": 480, "height": 800}
# headless in a container, as root, with no network: no sandbox, no GPU, nothing fetched in the background
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SHOT_HEIGHT = 5000
STRESS = Path(__file__).parent / "browser_stress.yaml"


def _absent(reason: str):
    if os.environ.get("ARCHCALC_CI") == "1":
        pytest.fail(f"{reason} (ARCHCALC_CI=1: the browser test must run in CI; .ci/browser installs both)")
    pytest.skip(reason)


def _chromium() -> str | None:
    named = os.environ.get("ARCHCALC_CHROMIUM")
    if named:
        return named if os.path.exists(named) else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


class Browser:
    """One Chromium page, reused: open a file, check it at a width, keep a screenshot."""

    def __init__(self, page, folder: Path):
        self.page, self.folder, self.seconds, self.pages, self.cdp = page, folder, 0.0, 0, None

    def check(self, path: Path, widths=(WIDE,), screenshot: bool = True) -> list[str]:
        start = time.perf_counter()
        problems = []
        for i, viewport in enumerate(widths):
            self.page.set_viewport_size(viewport)
            if i == 0:
                self.page.goto(path.resolve().as_uri(), wait_until="load")
                self.page.evaluate("document.fonts.ready.then(() => true)")
            problems += [f"at {viewport['width']}px: {p}" for p in self.page.evaluate(CHECKS)]
            if i == 0 and screenshot:
                self._screenshot(path, viewport)
        self.seconds += time.perf_counter() - start
        self.pages += 1
        return problems


    def _screenshot(self, path: Path, viewport: dict) -> None:
        """The page's first SHOT_HEIGHT pixels (a zoo diagram can be 40,000 high: seconds to encode, megabytes
        to keep), PNG encoded for speed (half the time of Playwright's screenshot, which cannot ask for it)."""
        import base64

        if path.suffix == ".svg":  # the picture's own size
            width, height = self.page.evaluate("(r => [r.width, r.height])(document.documentElement"
                                               ".getBoundingClientRect())")
        else:
            width, height = viewport["width"], self.page.evaluate("document.documentElement.scrollHeight")
        clip = {"x": 0, "y": 0, "width": width, "height": min(height, SHOT_HEIGHT), "scale": 1}
        if self.cdp is None:
            self.cdp = self.page.context.new_cdp_session(self.page)
        shot = self.cdp.send("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True, "clip": clip,
                                                        "captureBeyondViewport": True})
        path.with_suffix(path.suffix + ".png").write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    root = os.environ.get("ARCHCALC_ARTIFACTS")
    folder = Path(root) / "browser" if root else tmp_path_factory.mktemp("browser")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser(artifacts):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _absent("Playwright is not installed: pip install 'archcalc[browser]'")
    executable = _chromium()
    if executable is None:
        _absent("no chromium: apt-get install chromium (or .ci/browser), or set ARCHCALC_CHROMIUM")
    start = time.perf_counter()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        try:
            page = chromium.new_page(viewport=WIDE)
            page.set_default_timeout(60_000)
            state = Browser(page, artifacts)
            yield state
        finally:
            chromium.close()
    total = time.perf_counter() - start
    print(f"\nbrowser: {state.pages} pages checked in {state.seconds:.1f} s of {total:.1f} s with the browser open; "
          f"screenshots in {artifacts}")


def run(*args: str) -> None:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, (args, result.output, result.stderr)


def defaults(name: str) -> list[str]:
    """A symbolic spec is drawn at its dims' defaults (and its report is checked as it is too)."""
    from archcalc.spec import load_spec

    dims = load_spec(SPECS / f"{name}.yaml").dims.values()
    return [x for d in dims if d.default for x in ("--set", f"{d.name}={d.default}")]


def _pages(name: str, folder: Path) -> list[Path]:
    """The report (at the dims' defaults, and as written when symbolic) and the diagram, written as files."""
    spec, sets = str(SPECS / f"{name}.yaml"), defaults(name)
    report, picture = folder / f"{name}.html", folder / f"{name}.svg"
    run("summarize", spec, "--format", "html", "-o", str(report), *sets)
    run("diagram", spec, "-o", str(picture), *sets)
    pages = [report, picture]
    if sets:
        symbolic = folder / f"{name}.symbolic.html"
        run("summarize", spec, "--format", "html", "-o", str(symbolic))
        pages.append(symbolic)
    return pages


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_zoo_report_and_diagram_in_the_browser(name, browser, artifacts):
    problems = []
    for page in _pages(name, artifacts):
        # the report at a desktop's width (its screenshot kept) and a phone's; the diagram as a file of its own
        widths = (WIDE, NARROW) if page.suffix == ".html" else (WIDE,)
        problems += [f"{page.name} {p}" for p in browser.check(page, widths)]
    assert problems == [], "\n".join(problems[:40])


def test_long_names_deep_nesting_wide_numbers_and_markup_in_the_browser(browser, artifacts):
    """A spec written to break the layout: a name with no space in 200 characters and markup in it, 60-character
    layer and branch names, blocks five deep, a merge of six branches, a 10^12-feature layer, symbolic sizes.
    Its report and diagram must still pass, and the markup must stay text: no script runs, no element is made."""
    report, picture = artifacts / "stress.html", artifacts / "stress.svg"
    symbolic = artifacts / "stress.symbolic.html"
    run("summarize", str(STRESS), "--format", "html", "-o", str(report), "--set", "C=3")
    run("summarize", str(STRESS), "--format", "html", "-o", str(symbolic))
    run("diagram", str(STRESS), "-o", str(picture))
    problems = []
    for page in (report, symbolic, picture):
        problems += [f"{page.name} {p}" for p in browser.check(page, (WIDE, NARROW))]
        made = browser.page.evaluate("[window.pwned, document.querySelectorAll('script, img, iframe').length]")
        assert made == [None, 0], (page.name, made)
        assert "<script>window.pwned=1</script><img src=x" in browser.page.evaluate(
            "document.documentElement.textContent"), page.name  # shown as written
    assert problems == [], "\n".join(problems[:40])
    text = report.read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;window.pwned=1&lt;/script&gt;&lt;img src=x" in text


# Each broken page has one defect, named by its marker word; the same page fixed (BROKEN's second entry) must pass.
# The checks find each defect, and only where it is: they can fail, and they do not fail everything.
BROKEN = {
    "clipped-cell": ('<table style="table-layout:fixed;width:120px"><tr><td style="overflow:hidden;width:100px">'
                     'clippedcell_a_long_name_that_cannot_fit_in_its_cell</td></tr></table>',
                     '<table style="width:120px"><tr><td>clippedcell short</td></tr></table>'),
    "spilling-box": ('<div style="width:100px;white-space:nowrap">spillingbox text that runs out of its box</div>',
                     '<div style="width:100px">spillingbox text that wraps in its box</div>'),
    "too-high": ('<div style="height:20px;width:200px">toohigh<br>second line<br>third line</div>',
                 '<div style="min-height:20px;width:200px">toohigh<br>second line<br>third line</div>'),
    "wide-page": ('<p style="width:3000px">widepage</p>', '<div style="overflow-x:auto"><p style="width:3000px">'
                  'widepage</p></div>'),
    "off-page": ('<p style="position:absolute;left:-400px">offpage words here</p>', '<p>offpage words here</p>'),
    "clipped-picture": ('<div style="width:100px;height:60px;overflow:hidden"><svg width="300" height="40">'
                        '<text x="10" y="20">clippedpicture</text></svg></div>',
                        '<div style="width:100px;height:60px;overflow:auto"><svg width="300" height="40">'
                        '<text x="10" y="20">clippedpicture</text></svg></div>'),
    "svg-outside": ('<svg width="200" height="50" viewBox="0 0 200 50"><text x="150" y="30">svgoutside label</text>'
                    '</svg>',
                    '<svg width="200" height="50" viewBox="0 0 200 50"><text x="10" y="30">svgoutside label</text>'
                    '</svg>'),
    "svg-edge": ('<svg width="300" height="60"><rect x="10" y="10" width="60" height="30" fill="#eee" stroke="#333"/>'
                 '<text x="20" y="30">svgedge label</text></svg>',
                 '<svg width="300" height="60"><rect x="10" y="10" width="150" height="30" fill="#eee" '
                 'stroke="#333"/><text x="20" y="30">svgedge label</text></svg>'),
    "svg-overlap": ('<svg width="300" height="60"><text x="10" y="30">svgoverlap one</text>'
                    '<text x="40" y="35">svgoverlap two</text></svg>',
                    '<svg width="300" height="60"><text x="10" y="20">svgoverlap one</text>'
                    '<text x="40" y="50">svgoverlap two</text></svg>'),
    "svg-line": ('<svg width="300" height="100"><rect x="100" y="30" width="60" height="30" fill="#eee"/>'
                 '<line x1="50" y1="10" x2="250" y2="90" stroke="#000"/><text x="5" y="95">svgline</text></svg>',
                 '<svg width="300" height="100"><rect x="100" y="30" width="60" height="30" fill="#eee"/>'
                 '<polyline points="50,10 50,80 250,90" fill="none" stroke="#000"/><text x="5" y="95">svgline</text>'
                 '</svg>'),
    "svg-line-label": ('<svg width="300" height="100"><text x="80" y="50">svglinelabel words</text>'
                       '<line x1="10" y1="45" x2="290" y2="45" stroke="#000"/></svg>',
                       '<svg width="300" height="100"><text x="80" y="50">svglinelabel words</text>'
                       '<line x1="10" y1="80" x2="290" y2="80" stroke="#000"/></svg>'),
}


@pytest.mark.parametrize("defect", list(BROKEN))
def test_the_checks_find_each_defect_and_pass_it_fixed(defect, browser, artifacts):
    broken, fixed = BROKEN[defect]
    marker = defect.replace("-", "")
    results = {}
    for kind, body in (("broken", broken), ("fixed", fixed)):
        page = artifacts / f"defect-{defect}-{kind}.html"
        page.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
                        f'<body style="margin:8px;font-family:sans-serif">{body}</body></html>', encoding="utf-8")
        results[kind] = browser.check(page, screenshot=False)
    assert results["fixed"] == [], results["fixed"]
    assert results["broken"], f"the checks missed the {defect} defect"
    if defect not in ("wide-page", "svg-line"):  # the page's width, a line's ends: no text named
        assert any(marker in p for p in results["broken"]), results["broken"]


def test_a_diagram_alone_is_checked_as_an_svg_document(browser, artifacts):
    """An .svg file opened by itself has no HTML body: the label checks still run (a label outside is found)."""
    page = artifacts / "defect-svg-document.svg"
    page.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="50" viewBox="0 0 200 50">'
                    '<text x="150" y="30">outside its picture</text></svg>', encoding="utf-8")
    problems = browser.check(page, screenshot=False)
    assert len(problems) == 1 and "clipped by its picture" in problems[0], problems
