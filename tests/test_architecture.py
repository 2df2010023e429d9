"""The import direction of docs/architecture.md is enforced by import-linter's contracts
(``[tool.importlinter]`` in pyproject.toml; ``scripts/run lint`` runs them in CI). This test runs
them too, so a broken contract also fails ``scripts/run test``."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    found = Path(sys.executable).with_name("lint-imports")
    exe = str(found) if found.exists() else shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is not installed (it is a dev dependency: pip install -e .[dev])")
    return exe


def test_every_layering_contract_is_kept():
    proc = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    kept = [line for line in proc.stdout.splitlines() if line.endswith(" KEPT")]
    assert len(kept) >= 3, proc.stdout  # core, targets/scanning independence, the layers
