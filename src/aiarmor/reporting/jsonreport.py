"""report.json: the versioned JSON contract, and validation against its shipped schema."""

from __future__ import annotations

import copy
import functools
import json
import math
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from aiarmor.core.errors import InputError
from aiarmor.core.report import Report
from aiarmor.reporting.formats import ReportFormat

SCHEMA_RESOURCE = "report.schema.json"
"""File name of the JSON Schema inside the ``aiarmor.reporting`` package."""


def report_to_json(report: Report) -> str:
    """The report as JSON text: indented, keys sorted, no NaN/Infinity literals.

    Non-finite floats anywhere (e.g. a chart's x values or a timing) become ``null`` so the
    output is always strict JSON; the schema then says whether ``null`` is allowed there.
    """
    data = _finite(report.to_dict())
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def load_schema() -> dict[str, Any]:
    """The report contract's JSON Schema (draft 2020-12) shipped with the package."""
    return copy.deepcopy(_schema())


def validate_report(data: dict[str, Any]) -> None:
    """Raise :class:`InputError` with a one-line reason when ``data`` breaks the contract."""
    error = best_match(_validator().iter_errors(data))
    if error is None:
        return
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    message = " ".join(error.message.split())
    if len(message) > 200:
        message = message[:197] + "..."
    raise InputError(f"report does not follow schema: at {where}: {message}")


@functools.cache
def _schema() -> dict[str, Any]:
    """The shipped schema, read once."""
    text = resources.files("aiarmor.reporting").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    """A validator for the shipped schema (the schema itself checked once)."""
    schema = _schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (recursively)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


FORMAT = ReportFormat("json", "report.json", report_to_json)
