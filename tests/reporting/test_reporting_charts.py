"""Charts: each kind renders to inline-safe SVG; chart text cannot inject markup."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from aiarmor.core.errors import InputError
from aiarmor.core.findings import Chart, Series
from aiarmor.core.report import Report
from aiarmor.reporting import render_chart_svg
from aiarmor.reporting.charts import sanitize_svg

XSS_TITLE = "</svg><script>alert(1)</script>"
SVG = "{http://www.w3.org/2000/svg}"


def _refs(svg: str) -> set[str]:
    return set(re.findall(r'href="#([^"]+)"', svg)) | set(re.findall(r"url\(#([^)]+)\)", svg))


def _ids(svg: str) -> list[str]:
    return re.findall(r'\sid="([^"]+)"', svg)


def _all_charts(report: Report) -> list[Chart]:
    return [chart for check in report.checks for chart in check.charts]


def test_every_kind_renders_an_inline_svg(report: Report):
    charts = _all_charts(report)
    assert sorted({c.kind for c in charts}) == ["bar", "line", "reliability"]
    for i, chart in enumerate(charts):
        svg = render_chart_svg(chart, id_prefix=f"c{i}")
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG}svg"
        assert root.get("viewBox") and root.get("width") is None
        assert root.get("aria-label") == chart.title
        texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
        assert chart.title in texts and chart.x_label in texts
        ids = _ids(svg)
        assert ids and len(ids) == len(set(ids))
        assert all(ident.startswith(f"c{i}-") for ident in ids)
        assert _refs(svg) <= set(ids), "every internal reference resolves inside the chart"


def test_ids_of_two_charts_never_collide(report: Report):
    chart = _all_charts(report)[0]
    first, second = (render_chart_svg(chart, id_prefix=p) for p in ("a", "b"))
    assert not set(_ids(first)) & set(_ids(second))


def test_reliability_diagram_has_the_diagonal(report: Report):
    (chart,) = [c for c in _all_charts(report) if c.kind == "reliability"]
    svg = render_chart_svg(chart, id_prefix="r")
    assert "stroke-dasharray" in svg
    assert "perfect calibration" in svg


def test_chart_text_cannot_inject_markup_or_break_rendering():
    chart = Chart(
        id="x",
        title=XSS_TITLE,
        kind="bar",
        series=(Series('s" onload="alert(1)', ("<b>", "$a$"), (1.0, 2.0), (0.1, 0.2)),),
        x_label="$unbalanced",
        y_label="\x00ctrl",
    )
    svg = render_chart_svg(chart, id_prefix="x")
    assert "<script" not in svg.lower()
    root = ET.fromstring(svg)
    assert not [a for e in root.iter() for a in e.attrib if a.lower().startswith("on")]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert XSS_TITLE in texts  # drawn literally, escaped in the markup
    assert "$unbalanced" in texts and "ctrl" in texts


def test_sanitize_svg_drops_scripts_handlers_and_external_links():
    raw = (
        '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" width="10pt" onload="evil()">'
        '<script>evil()</script><g id="g1"><use xlink:href="#g1"/>'
        '<image href="https://example.com/x.png"/><path clip-path="url(#g1)"/></g></svg>'
    )
    svg = sanitize_svg(raw, id_prefix="p")
    assert "script" not in svg and "onload" not in svg and "https://" not in svg
    assert 'id="p-g1"' in svg and 'href="#p-g1"' in svg and "url(#p-g1)" in svg


@pytest.mark.parametrize(
    "chart",
    [
        Chart(id="k", title="t", kind="pie", series=()),
        Chart(id="k", title="t", kind="line", series=(Series("s", (1.0, 2.0), (1.0,)),)),
        Chart(id="k", title="t", kind="bar", series=(Series("s", ("a",), (1.0,), (1.0, 2.0)),)),
    ],
)
def test_malformed_charts_raise_input_error(chart):
    with pytest.raises(InputError, match="chart 'k'"):
        render_chart_svg(chart)


def test_heatmap_renders_an_image_without_legend_or_ticks() -> None:
    rows = tuple(Series(f"row {r}", (0.0, 1.0, 2.0), (0.0, 0.5 * r, 1.0)) for r in range(3))
    svg = render_chart_svg(Chart("m", "mask <b>", "heatmap", rows), id_prefix="hm")
    assert svg.startswith("<svg") and "<image" not in svg  # vector cells: CSP forbids data:
    assert svg.count("<path") > 9
    assert "row 0" not in svg  # no legend for images
    assert "<b>" not in svg
