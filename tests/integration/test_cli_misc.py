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
        (b"\xff" * 8 + b"{}", "garbage.bin is neither a safetensors file nor a torch.save"),
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
