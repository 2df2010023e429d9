"""``aiarmor <command> --help`` for every command is readable at 80 columns (issue 14).

Before: every flag showed ``<bool>`` (``--help`` too), options showed Python types as
metavars (``<list[str]>``, ``<str>``, ``<int>``) and the description column was squeezed to
about 22 characters.
"""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from aiarmor.cli.main import app

PYTHON_TYPES = re.compile(r"<(bool|str|int|float|list\[[^>]*\]|tuple[^>]*|Path)>|list\[|str\]")
MIN_DESCRIPTION = 30
WIDTH = 80


def _commands(cmd: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(
        app, [*path, "--help"], env={"COLUMNS": str(WIDTH)}, terminal_width=WIDTH
    )
    assert result.exit_code == 0, result.output
    return result.output


def _description_starts(text: str) -> list[int]:
    """The column where the description text of each option/argument/command row begins."""
    starts = []
    for raw in text.splitlines():
        line = re.sub(r"[│╭╮╰╯─┃]", " ", raw).rstrip()
        gap = re.search(r"^\s*\S.*\S\s{2,}(?=[^\s\[])", line)
        if gap and not line.lstrip().startswith(("Usage:", "Try")):
            starts.append(gap.end())
        elif line.startswith(" " * 8) and line.strip():  # a wrapped continuation line
            starts.append(len(line) - len(line.lstrip()))
    return starts


@pytest.mark.parametrize("path", [pytest.param(p, id=" ".join(p) or "aiarmor") for p in COMMANDS])
def test_help_is_readable_at_80_columns(path: tuple[str, ...]) -> None:
    text = _help(path)
    assert "<bool>" not in text
    assert not PYTHON_TYPES.search(text), PYTHON_TYPES.search(text)
    options_with_types = [ln for ln in text.splitlines() if re.match(r"\s*--\S+.*<\w+>", ln)]
    assert not options_with_types  # an option shows a metavar (PATH, N, LO,HI), not <type>
    starts = _description_starts(text)
    assert starts and WIDTH - max(starts) >= MIN_DESCRIPTION, (max(starts), text)


def test_the_criteria_catch_the_old_rich_help(monkeypatch: pytest.MonkeyPatch) -> None:
    # the rendering before the fix (Rich panels, no metavars) fails both criteria
    monkeypatch.setattr(app, "rich_markup_mode", "rich")
    text = _help(("audit",))
    assert "<bool>" in text or PYTHON_TYPES.search(text)
    assert WIDTH - max(_description_starts(text)) < MIN_DESCRIPTION


def test_options_show_metavars() -> None:
    text = _help(("audit",))
    for option in ("--model SPEC", "--data PATH", "--bounds LO,HI", "--seed N", "--out DIR"):
        assert option in text
