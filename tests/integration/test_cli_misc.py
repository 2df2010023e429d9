"""``aiarmor --version``, ``checks``, ``init``."""

import json

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
