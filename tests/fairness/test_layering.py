"""The fairness, explain and scenarios areas sit below the orchestrator, reporting and the CLI."""

import ast
from pathlib import Path

import pytest

import aiarmor

SRC = Path(aiarmor.__file__).parent
BANNED = ("aiarmor.cli", "aiarmor.reporting", "aiarmor.audit", "aiarmor.demo", "aiarmor.serving")


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize("area", ["fairness", "explain", "scenarios"])
def test_area_does_not_import_upper_layers(area):
    files = sorted((SRC / area).rglob("*.py"))
    assert files
    for path in files:
        for name in _imports(path):
            assert not name.startswith(BANNED), f"{area}/{path.name} imports {name}"
