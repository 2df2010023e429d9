"""Helpers to drive the real ``aiarmor`` entry point in process and as a subprocess."""

import subprocess
import sys
from dataclasses import dataclass

import pytest


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(monkeypatch, capsys):
    """Call ``aiarmor ARGS`` through the console entry point, in process."""
    from aiarmor.cli.main import main

    def run(*args: str) -> Run:
        monkeypatch.setattr(sys, "argv", ["aiarmor", *map(str, args)])
        with pytest.raises(SystemExit) as info:
            main()
        captured = capsys.readouterr()
        code = info.value.code
        return Run(0 if code is None else int(code), captured.out, captured.err)

    return run


@pytest.fixture
def aiarmor_proc():
    """Run the ``aiarmor`` entry point in a fresh Python process."""
    return run_subprocess


def run_subprocess(*args: str, cwd=None, timeout=600) -> Run:
    """Run the installed ``aiarmor`` console script."""
    exe = [sys.executable, "-c", "from aiarmor.cli.main import main; main()"]
    proc = subprocess.run(
        [*exe, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)
