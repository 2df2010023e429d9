"""Where hardening sits: core defines the interface, the areas implement it, the hardening
package runs it, the CLI only parses; no import goes back up."""

import ast
from pathlib import Path

import pytest

import aiarmor
from aiarmor.core.hardener import Hardener

SRC = Path(aiarmor.__file__).parent
AREAS = ("robustness", "privacy", "fairness", "poisoning")


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _files(*parts):
    return sorted(SRC.joinpath(*parts).rglob("*.py"))


@pytest.mark.parametrize("area", AREAS)
def test_the_areas_do_not_import_the_hardening_runner(area):
    for path in _files(area):
        assert not any(n.startswith("aiarmor.hardening") for n in _imports(path)), path


def test_the_hardening_package_does_not_import_the_cli_or_the_demo():
    for path in _files("hardening"):
        for name in _imports(path):
            assert not name.startswith(("aiarmor.cli", "aiarmor.demo")), (path, name)


def test_nothing_outside_the_cli_imports_it():
    for path in sorted(SRC.rglob("*.py")):
        if SRC / "cli" in path.parents:
            continue
        assert not any(n.startswith("aiarmor.cli") for n in _imports(path)), path


def test_the_interface_in_core_imports_only_core():
    for name in _imports(SRC / "core" / "hardener.py"):
        assert not name.startswith("aiarmor.") or name.startswith("aiarmor.core"), name


def test_every_area_has_its_hardener():
    from aiarmor.fairness.hardener import FairnessHardener
    from aiarmor.poisoning.sanitize_hardener import SanitizeHardener
    from aiarmor.privacy.dp import DPSettings
    from aiarmor.privacy.dp_hardener import DPHardener
    from aiarmor.robustness.hardening import AdversarialHardener, TrainingConfig

    hardeners = [
        AdversarialHardener(TrainingConfig(epsilon=0.1)),
        DPHardener(DPSettings(target_epsilon=1.0)),
        FairnessHardener(("sex",)),
        SanitizeHardener(lambda x, y, seed: None),
    ]
    for hardener in hardeners:
        assert isinstance(hardener, Hardener), hardener
        assert hardener.checks[0] == "baseline.performance"
