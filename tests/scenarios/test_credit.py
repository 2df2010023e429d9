"""The credit scenario and ``aiarmor demo --scenario credit``."""

import json
import re
import shlex
import sys

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from aiarmor.core.errors import ConfigError
from aiarmor.reporting import validate_report
from aiarmor.scenarios.credit import CREDIT_MODEL_NAME, build_credit_model, credit_scenario


@pytest.fixture
def cli(monkeypatch, capsys):
    """Call ``aiarmor ARGS`` in process; return (exit code, stdout, stderr)."""
    from aiarmor.cli.main import main

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["aiarmor", *map(str, args)])
        with pytest.raises(SystemExit) as info:
            main()
        captured = capsys.readouterr()
        return int(info.value.code or 0), captured.out, captured.err

    return run


def test_the_scenario_model_is_an_unfitted_pipeline():
    model = build_credit_model(seed=3)
    assert isinstance(model, Pipeline) and not hasattr(model[-1], "coef_")
    assert model[-1].random_state == 3


@pytest.mark.slow
def test_the_scenario_trains_a_deterministic_income_model():
    target, train, test = credit_scenario()
    assert target.name == CREDIT_MODEL_NAME and target.n_classes == 2
    assert set(train.sensitive) == set(test.sensitive) == {"sex", "race"}
    accuracy = float((target.predict(test.x) == test.y).mean())
    assert 0.83 < accuracy < 0.88
    again, _, _ = credit_scenario()
    assert np.array_equal(again.predict_proba(test.x[:500]), target.predict_proba(test.x[:500]))


def test_an_unknown_scenario_is_one_line_on_stderr(cli, tmp_path):
    code, _, err = cli("demo", "--scenario", "mortgage", "--out", tmp_path)
    assert code == 2 and "--scenario must be digits or credit" in err and "Traceback" not in err


def test_run_demo_refuses_an_unknown_scenario(tmp_path):
    from aiarmor.demo import run_demo

    with pytest.raises(ConfigError, match="unknown scenario"):
        run_demo(tmp_path, scenario="mortgage")


@pytest.mark.slow
def test_credit_demo_end_to_end_then_reaudit(cli, tmp_path):
    out = tmp_path / "demo"
    code, stdout, err = cli("demo", "--scenario", "credit", "--budget", "quick", "--out", out)
    assert code in (0, 1), err
    doc = json.loads((out / "report.json").read_text())
    validate_report(doc)
    checks = {c["id"]: c for c in doc["checks"]}
    assert all(c["status"] != "error" for c in doc["checks"]), doc["errors"]
    assert checks["baseline.performance"]["metrics"]["accuracy"] > 0.83
    fairness = checks["fairness.group_metrics"]
    assert fairness["status"] == "failed"
    assert fairness["metrics"]["demographic_parity_ratio.sex"] < 0.8
    assert checks["fairness.proxy"]["metrics"]["n_proxies.sex"] >= 1
    assert checks["explain.importance"]["status"] in ("passed", "failed")
    html = (out / "report.html").read_text()
    assert "Rates by sex" in html and "Features associated with sex" in html
    line = next(ln for ln in stdout.splitlines() if "aiarmor audit --model" in ln)
    args = shlex.split(re.sub(r"^\s*aiarmor ", "", line))
    code, _, err = cli(*args, "--checks", "fairness.group_metrics", "--budget", "quick",
                       "--out", tmp_path / "re")  # fmt: skip
    assert code in (0, 1), err
    redo = json.loads((tmp_path / "re" / "report.json").read_text())
    dpd = "demographic_parity_difference.sex"
    assert redo["checks"][0]["metrics"][dpd] == pytest.approx(fairness["metrics"][dpd])
