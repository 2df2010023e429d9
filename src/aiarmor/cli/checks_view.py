"""``aiarmor checks`` for people: one block per check, complete at any terminal width.

It is how users find policy keys, so nothing is ever cut: every id, parameter name, type,
default, metric name and standard is printed in full (a block layout that wraps at word
boundaries rather than a wide table whose columns truncate at 80 columns or in a pipe).
Defaults are shown as they would be written in the policy TOML; a parameter without one is
"unset". ``aiarmor checks --json`` (``commands.describe_checks``) is the machine form.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.text import Text

from aiarmor.cli.render import clean
from aiarmor.core.registry import Check, registered

_INDENT = 2


def print_checks(console: Console) -> None:
    """Every registered check, one block each."""
    from aiarmor.builtin import load_builtin_checks

    load_builtin_checks()
    checks = list(registered().values())
    console.print(Text(f"aiarmor checks ({len(checks)})", style="bold"))
    for cls in checks:
        console.print()
        console.print(check_block(cls))


def check_block(cls: type[Check]) -> Group:
    """One check: id and title, summary, parameters, metrics, standards, requirements."""
    info = cls.describe()
    parts: list[Padding | Text] = [
        Text.assemble((clean(info["id"]), "bold cyan"), f"  {clean(info['title'])}"),
        _indented(Text(clean(info["summary"])), 1),
    ]
    params = list(getattr(cls, "params", ()))
    parts.append(_indented(Text("parameters:" if params else "parameters: none"), 1))
    for param in params:
        parts.append(_indented(Text(_param_line(param)), 2))
        if getattr(param, "help", ""):
            parts.append(_indented(Text(clean(param.help), style="dim"), 3))
    parts.append(_indented(_listing("metrics", info["metrics"]), 1))
    parts.append(_indented(_listing("standards", info["standards"]), 1))
    if info["requires"]:
        parts.append(_indented(_listing("requires", info["requires"]), 1))
    return Group(*parts)


def _indented(text: Text, level: int) -> Padding:
    return Padding(text, (0, 0, 0, _INDENT * level), expand=False)


def _listing(label: str, names: Iterable[str]) -> Text:
    shown = [clean(n) for n in names]
    return Text(f"{label}: {', '.join(shown) if shown else 'none'}")


def _param_line(param: Any) -> str:
    """``name: type = default  [range or choices]``; ``no default (unset)`` when None."""
    default = param.default
    value = ", no default (unset)" if default is None else f" = {toml_value(default)}"
    line = f"{clean(param.name)}: {type_name(param)}{value}"
    limits = _limits(param)
    return f"{line}  [{limits}]" if limits else line


def type_name(param: Any) -> str:
    """``float``, ``int``, ``bool``, ``str``, ``list of str``, ..."""
    name = getattr(param.type, "__name__", str(param.type))
    item = getattr(param, "item", None)
    if name == "list" and item is not None:
        return f"list of {getattr(item, '__name__', str(item))}"
    return str(name)


def _limits(param: Any) -> str:
    """The allowed range or choices, e.g. ``0 < x <= 1`` or ``one of: a, b``."""
    choices: Sequence[str] = getattr(param, "choices", ())
    if choices:
        return "one of: " + ", ".join(clean(c) for c in choices)
    low, high = param.min, param.max
    if low is None and high is None:
        return ""
    low_op = "<" if getattr(param, "min_exclusive", False) else "<="
    if low is not None and high is not None:
        return f"{_num(low)} {low_op} x <= {_num(high)}"
    if low is not None:
        return f"x {'>' if low_op == '<' else '>='} {_num(low)}"
    return f"x <= {_num(high)}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def toml_value(value: Any) -> str:
    """A default as it is written in a policy file (``true``, ``"auto"``, ``[1, 2]``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return clean(json.dumps(value, ensure_ascii=False))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return clean(repr(value))
