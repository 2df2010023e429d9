"""report.html: complete, self-contained, and escaping every attacker-controlled string."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

import pytest

from aiarmor.core.findings import Chart
from aiarmor.core.report import Report
from aiarmor.core.standards import CATALOGUE
from aiarmor.reporting import render_html

STANDARD_URLS = {entry.url for entry in CATALOGUE.values()}


class _Tags(HTMLParser):
    """Collects every start tag with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


@pytest.fixture(scope="module")
def page(report: Report) -> str:
    return render_html(report)


@pytest.fixture(scope="module")
def hostile_page(hostile_report: Report) -> str:
    return render_html(hostile_report)


def test_page_shows_verdict_checks_and_summary(page: str, report: Report):
    assert page.startswith("<!DOCTYPE html>")
    assert 'class="verdict verdict-fail"' in page and ">FAIL<" in page
    for check in report.checks:
        assert check.id in page
    assert "needs --train data" in page
    assert "CheckError: model returned NaN logits" in page
    assert "models/classifier.onnx" in page
    assert report.verdict_reasons[0].replace("'", "&#39;") in page


def test_metrics_standards_and_suppressions_are_rendered(page: str):
    assert re.search(r">ece</th><td class=\"num\">n/a<", page)
    assert 'href="https://atlas.mitre.org/techniques/AML.T0015"' in page
    assert CATALOGUE["ATLAS:AML.T0015"].name in page
    assert "Suppressed findings (1)" in page
    assert "reviewed 2026-11-02: input gateway clips inputs" in page


def test_charts_are_inline_svg(page: str):
    assert page.count("<svg ") == 3
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "element ids are unique across the page"


def test_risk_table_lists_unsuppressed_findings_most_severe_first(page: str):
    table = page[
        page.index('<table class="risk">') : page.index("</table>", page.index('class="risk"'))
    ]
    severities = re.findall(r'<td class="sev"><span class="pill pill-(\w+)">', table)
    assert severities == ["critical", "high", "medium", "low", "info"]
    assert "Accepted risk" not in table


def test_page_loads_nothing_and_runs_nothing(page: str):
    tags = _tags(page)
    names = {tag for tag, _ in tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base", "form"}
    assert "<script" not in page.lower()
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page)
    assert "@import" not in page
    for tag, attrs in tags:
        assert "src" not in attrs, tag
        href = attrs.get("href")
        if href and not href.startswith("#"):
            assert tag == "a" and href in STANDARD_URLS, (tag, href)
    (csp,) = [a["content"] for t, a in tags if t == "meta" and a.get("http-equiv")]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert not {"script-src", "connect-src", "font-src"} & set(directives)


def test_attacker_controlled_strings_are_escaped(hostile_page: str):
    assert "<script" not in hostile_page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_page
    tags = _tags(hostile_page)
    assert "img" not in {tag for tag, _ in tags}
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")]
    assert "evil&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in hostile_page
    assert not any(ch in hostile_page for ch in "\x00\x1b\x07\x0b")


def test_a_chart_that_cannot_be_drawn_does_not_lose_the_report(report: Report):
    check = report.checks[0]
    bad = dataclasses.replace(check, charts=(Chart(id="p", title="Pie", kind="pie", series=()),))
    html = render_html(dataclasses.replace(report, checks=(bad, *report.checks[1:])))
    assert "could not be drawn" in html and "unknown kind" in html


def test_passing_report_says_no_findings_not_safe(report: Report):
    passed = dataclasses.replace(
        report,
        verdict=report.verdict.PASS,
        verdict_reasons=(),
        errors=(),
        checks=tuple(dataclasses.replace(c, charts=()) for c in report.checks[1:3]),
    )
    html = render_html(passed)
    assert ">PASS<" in html and "verdict-pass" in html
    assert "not that the model is safe" in html
