"""Reporting: the report in every format people and tools read.

* ``report.json`` - the versioned contract (:func:`report_to_json`, validated by
  :func:`validate_report` against the shipped JSON Schema, :func:`load_schema`);
* ``report.html`` - a self-contained page with charts (:func:`render_html`);
* ``report.sarif`` - SARIF 2.1.0 for code scanning (:func:`report_to_sarif`);
* ``report.junit.xml`` - JUnit XML for CI test views (:func:`report_to_junit`).

:func:`write_reports` writes any subset of them atomically into a directory.
"""

from aiarmor.reporting.charts import render_chart_svg
from aiarmor.reporting.html import render_html
from aiarmor.reporting.jsonreport import load_schema, report_to_json, validate_report
from aiarmor.reporting.junit import report_to_junit
from aiarmor.reporting.sarif import report_to_sarif
from aiarmor.reporting.writer import FILE_NAMES, write_reports

__all__ = [
    "FILE_NAMES",
    "load_schema",
    "render_chart_svg",
    "render_html",
    "report_to_json",
    "report_to_junit",
    "report_to_sarif",
    "validate_report",
    "write_reports",
]
