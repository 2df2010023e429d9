"""``aiarmor --version``, ``checks``, ``init``."""

import json

import numpy as np
import pytest

from aiarmor import __version__
from aiarmor.core import parse_policy


def test_version(cli):
    r = cli("--version")
    assert r.code == 0 and r.out.strip() == f"aiarmor {__version__}"


def test_checks_json_lists_parameters_and_metrics(cli):
    r = cli("checks", "--json")
    assert r.code == 0
    info = {c["id"]: c for c in json.loads(r.out)}
    assert {"baseline.performance", "robustness.input_validation"} <= set(info)
    for c in info.values():
        assert c["description"] and c["standards"] and c["metrics"]
        for p in c["parameters"]:
            assert {"name", "type", "default", "help"} <= set(p)
    names = [p["name"] for p in info["baseline.performance"]["parameters"]]
    assert "min_accuracy" in names


def test_checks_table(cli):
    r = cli("checks")
    assert r.code == 0 and "robustness.input_validation" in r.out


def test_init_writes_a_valid_policy_and_refuses_to_overwrite(cli, tmp_path):
    path = tmp_path / "policy.toml"
    assert cli("init", path).code == 0
    parse_policy(path.read_text())
    r = cli("init", path)
    assert r.code == 2 and "--force" in r.err
    assert cli("init", path, "--force").code == 0


MODEL_PY = """import torch


def build():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
"""


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "garbage.bin is neither a safetensors file nor a torch.save state_dict: it is empty"),
        (b"(.", "garbage.bin is neither a safetensors file nor a torch.save state_dict"),
        (bytes(range(256)) * 4, "garbage.bin is neither a safetensors file nor a torch.save"),
        # the one sniffer (shared with `aiarmor scan`) calls this safetensors with a bad header
        (b"\xff" * 8 + b"{}", "garbage.bin is not a valid safetensors file: its header length"),
    ],
    ids=["empty", "pickle-ish", "random", "huge-header"],
)
def test_garbage_weights_are_one_line_exit_2(cli, tmp_path, content, reason):
    # issue 14: these gave "internal error: IndexError: pop from empty list" and friends
    (tmp_path / "m.py").write_text(MODEL_PY)
    np.savez(tmp_path / "d.npz", x=np.zeros((6, 4), np.float32), y=np.arange(6) % 3)
    (tmp_path / "garbage.bin").write_bytes(content)
    r = cli(
        "audit", "--model", f"{tmp_path / 'm.py'}:build", "--weights", tmp_path / "garbage.bin",
        "--data", tmp_path / "d.npz", "--out", tmp_path / "out",
    )  # fmt: skip
    assert r.code == 2 and reason in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert "internal error" not in r.err and "Traceback" not in r.err


def _registered_checks():
    from aiarmor.builtin import load_builtin_checks
    from aiarmor.core.registry import registered

    load_builtin_checks()
    return list(registered().values())


def _assert_complete(text: str) -> None:
    """Every id, parameter name, metric and standard of every check appears whole."""
    import re

    assert "…" not in text and "= None" not in text
    tokens = {t.rstrip(":") for t in re.findall(r"[^\s,=\[\]()]+", text)}
    for cls in _registered_checks():
        info = cls.describe()
        names = [info["id"], *info["metrics"], *info["standards"]]
        names += [p["name"] for p in info["parameters"]]
        missing = [n for n in names if n not in tokens]
        assert not missing, (info["id"], missing)
        for p in info["parameters"]:
            assert re.search(rf"\b{re.escape(p['name'])}: {p['type']}\b", text), p


def test_checks_is_complete_when_piped_at_80_columns(cli, monkeypatch):
    # issue 14: the table cut names ("max_duplica… = 0.05") and printed "= None"
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("checks")
    assert r.code == 0
    assert max(len(line.rstrip()) for line in r.out.splitlines()) <= 80
    _assert_complete(r.out)
    assert "no default (unset)" in r.out


def test_checks_is_complete_at_any_width():
    import io

    from rich.console import Console

    from aiarmor.cli.checks_view import print_checks

    for width in (60, 80, 200):
        buf = io.StringIO()
        print_checks(Console(file=buf, width=width, color_system=None))
        text = buf.getvalue()
        assert max(len(line.rstrip()) for line in text.splitlines()) <= width
        _assert_complete(text)


def test_checks_json_is_the_registry_description(cli):
    from aiarmor.cli.commands import describe_checks

    r = cli("checks", "--json")
    assert r.code == 0 and r.out == json.dumps(describe_checks(), indent=2) + "\n"
