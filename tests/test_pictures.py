"""Charts and diagrams: produced for every zoo spec, readable, and stable."""
from __future__ import annotations


import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.pictures.chart import bars
from conftest import REPO, SPECS, analyze_file

ZOO = sorted(p.name for p in SPECS.glob("*.yaml"))

pytest.importorskip("matplotlib")


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def defaults(name: str) -> dict[str, str]:
    """Symbolic specs are drawn at their dims defaults."""
    from archcalc.spec import load_spec

    return {d.name: str(d.default) for d in load_spec(SPECS / name).dims.values() if d.default}


def concrete_args(name: str) -> list[str]:
    return [x for k, v in defaults(name).items() for x in ("--set", f"{k}={v}")]


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_chart_and_diagram_for_every_zoo_spec(name, tmp_path):
    png = tmp_path / "chart.png"
    result = run("plot", str(SPECS / name), "-o", str(png), *concrete_args(name))
    assert result.exit_code == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < png.stat().st_size < 2_000_000
    svg = tmp_path / "diagram.svg"
    assert run("diagram", str(SPECS / name), "-o", str(svg), *concrete_args(name)).exit_code == 0
    text = svg.read_text()
    assert text.startswith("<svg") and 500 < len(text) < 3_000_000
    a = analyze_file(name, defaults(name))
    for row in a.rows:  # every layer's label is in the drawing
        assert row.path.rsplit(".", 1)[-1] in text, row.path


def test_chart_svg_has_every_bar_label(tmp_path):
    svg = tmp_path / "chart.svg"
    assert run("plot", str(SPECS / "alexnet.yaml"), "-o", str(svg)).exit_code == 0
    text = svg.read_text()
    for label in ("conv1", "conv5", "fc6", "fc8", "61.9%", "30.9%", "conv layers (5): 3.8% of params, 91.9% of MACs"):
        assert label in text


def test_a_dollar_in_a_name_is_text_not_tex(tmp_path):
    """matplotlib reads "$...$" as TeX; a spec's name is shown as written, and a "$\\frac{" that is not TeX
    used to end in a parse error's traceback."""
    spec = tmp_path / "dollar.yaml"
    spec.write_text('archcalc: 1\nname: "costs $\\\\frac{a}{b$ in $x^2$"\ninput: [4]\nlayers:\n  - linear: {out_features: 2}\n')
    svg = tmp_path / "chart.svg"
    assert run("plot", str(spec), "-o", str(svg)).exit_code == 0
    assert "costs $\\frac{a}{b$ in $x^2$: input 4" in svg.read_text()


def test_large_specs_are_grouped_by_block(tmp_path):
    rows, depth = bars(analyze_file("resnet50.yaml", variant="resnet152"), None)
    assert depth is not None and len(rows) <= 40
    assert sum(r.params for r in rows) == 60_192_808  # the groups still add up to the whole


@pytest.mark.slow
def test_sweep_plot_and_pdf(tmp_path):
    spec = tmp_path / "r50.yaml"
    spec.write_text((SPECS / "resnet50.yaml").read_text().replace("[3, 224, 224]", "[3, H, W]"))
    out = tmp_path / "scaling.pdf"
    result = run("plot", str(spec), "--sweep", "H=32:512:32", "--set", "W=224", "-o", str(out))
    assert result.exit_code == 0 and out.read_bytes()[:4] == b"%PDF"
    bad = run("plot", str(SPECS / "alexnet.yaml"), "-o", str(tmp_path / "x.gif"))
    assert bad.exit_code == 2 and ".png, .svg or .pdf" in bad.stderr


def test_golden_diagram_of_a_small_spec(monkeypatch, golden):
    monkeypatch.chdir(REPO)
    for fmt in ("svg", "dot"):
        golden(f"pictures/lenet5.{fmt}", run("diagram", "specs/lenet5.yaml", "--format", fmt).stdout)


def test_branches_are_drawn_side_by_side():
    dot = run("diagram", str(SPECS / "resnet18.yaml"), "--format", "dot").stdout
    assert '"layer2.first.add_1.main.conv1"' in dot and '"layer2.first.add_1.shortcut.conv"' in dot
    assert '"layer2.first.add_1" [shape=circle, label="+"]' in dot
    assert '"layer1.first.add_1.main.bn2" -> "layer1.first.add_1"' in dot
    inception = run("diagram", str(SPECS / "googlenet.yaml"), "--format", "dot").stdout
    assert '"inception3a.concat_1" [shape=circle, label="cat"]' in inception


def test_html_report_embeds_table_chart_and_diagram(tmp_path):
    page = tmp_path / "alexnet.html"
    assert run("summarize", str(SPECS / "alexnet.yaml"), "--format", "html", "-o", str(page)).exit_code == 0
    html = page.read_text()
    assert html.count("<svg") == 2 and "<td>conv1</td>" in html and "60,965,224" in html
    assert oct(page.stat().st_mode & 0o777) != oct(0o600)  # readable like any report


def test_markdown_report_links_its_chart(tmp_path):
    report, chart = tmp_path / "report.md", tmp_path / "charts" / "alexnet.png"
    chart.parent.mkdir()
    result = run("summarize", str(SPECS / "alexnet.yaml"), "--format", "markdown", "--chart", str(chart),
                 "-o", str(report))
    assert result.exit_code == 0 and chart.stat().st_size > 10_000
    assert report.read_text().startswith("![parameters and MACs per layer of alexnet](charts/alexnet.png)")
