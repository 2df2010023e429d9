"""The report-format registry: one place names every format, its file and its renderer."""

from aiarmor.reporting.formats import report_formats
from aiarmor.reporting.writer import DEFAULT_FORMATS, FILE_NAMES


def test_registry_holds_the_four_formats_with_their_file_names() -> None:
    assert FILE_NAMES == {
        "json": "report.json",
        "html": "report.html",
        "sarif": "report.sarif",
        "junit": "report.junit.xml",
    }
    assert tuple(report_formats()) == DEFAULT_FORMATS
