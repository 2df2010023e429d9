"""The import direction of docs/architecture.md, enforced on the source tree."""

import ast
from pathlib import Path

import pytest

import aiarmor

SRC = Path(aiarmor.__file__).parent
HEAVY = {"torch", "fastapi", "pandas", "sklearn", "matplotlib", "jinja2", "typer", "rich"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _area_files(area: str) -> list[Path]:
    return sorted((SRC / area).rglob("*.py"))


def test_core_imports_nothing_else_of_aiarmor_and_no_heavy_framework():
    for path in _area_files("core"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in HEAVY, f"{path.name} imports {name}"
            if top == "aiarmor":
                assert name.startswith("aiarmor.core"), f"{path.name} imports {name}"


@pytest.mark.parametrize(
    "area",
    [
        "core",
        "targets",
        "data",
        "baseline",
        "robustness",
        "scanning",
        "privacy",
        "poisoning",
        "datachecks",
    ],
)
def test_lower_layers_do_not_import_reporting_cli_or_the_orchestrator(area):
    banned = (
        "aiarmor.cli",
        "aiarmor.reporting",
        "aiarmor.audit",
        "aiarmor.demo",
        "aiarmor.serving",
        "aiarmor.monitoring",
    )
    for path in _area_files(area):
        for name in _imports(path):
            assert not name.startswith(banned), f"{area}/{path.name} imports {name}"


def test_reporting_does_not_import_cli():
    for path in _area_files("reporting"):
        assert not any(n.startswith("aiarmor.cli") for n in _imports(path)), path.name
