"""``aiarmor harden fairness`` through the real entry point."""

import json
import re
import shlex
import sys

import pytest
import skops.io

from aiarmor.data.adult import adult_table
from aiarmor.reporting import validate_report
from aiarmor.scenarios.credit import credit_scenario


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


def test_harden_lists_the_fairness_subcommand(cli):
    code, out, _ = cli("harden", "--help")
    assert code == 0 and "fairness" in out


def test_a_bad_method_is_one_line_on_stderr(cli, tmp_path):
    args = ["harden", "fairness", "--model", "m.skops", "--data", tmp_path / "d.csv",
            "--train", tmp_path / "t.csv", "--sensitive", "sex", "--method", "magic"]  # fmt: skip
    code, _, err = cli(*args)
    assert code == 2 and "--method must be one of threshold, reductions" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_threshold_mitigation_on_adult_halves_the_disparity_and_shows_the_cost(cli, tmp_path):
    target, _, _ = credit_scenario()
    skops.io.dump(target.estimator, tmp_path / "model.skops")
    for split in ("train", "test"):
        adult_table(split).to_csv(tmp_path / f"{split}.csv", index=False)
    out = tmp_path / "hardened"
    code, stdout, err = cli(
        "harden", "fairness", "--model", tmp_path / "model.skops",
        "--data", tmp_path / "test.csv", "--train", tmp_path / "train.csv",
        "--label", "income", "--sensitive", "sex", "--sensitive", "race", "--attribute", "sex",
        "--budget", "quick", "--out", out,
    )  # fmt: skip
    assert code in (0, 1), err
    doc = json.loads((out / "report.json").read_text())
    validate_report(doc)
    section = next(c for c in doc["checks"] if c["id"] == "fairness.mitigation")
    m = section["metrics"]
    before, after = (m[f"{s}.demographic_parity_difference.sex"] for s in ("before", "after"))
    assert after <= before / 2
    assert m["change.accuracy"] == pytest.approx(m["after.accuracy"] - m["before.accuracy"])
    assert -0.05 < m["change.accuracy"] <= 0.01
    assert doc["subject"]["mitigation"]["uses_sensitive_at_decision_time"] is True
    assert doc["subject"]["capabilities"] == ["labels"]
    assert "before -> after" in stdout and "accuracy" in stdout
    before_doc = json.loads((out / "before" / "report.json").read_text())
    perf = next(c for c in before_doc["checks"] if c["id"] == "baseline.performance")
    assert perf["metrics"]["accuracy"] == pytest.approx(m["before.accuracy"])
    rows = json.loads((out / "comparison.json").read_text())["rows"]
    assert any(r["metric"] == "accuracy" for r in rows)
    assert "Fairness mitigation: before and after" in (out / "report.html").read_text()
    # the printed command audits the saved mitigated model again, with the same result
    line = next(ln for ln in stdout.splitlines() if "aiarmor audit --model" in ln)
    args = shlex.split(re.sub(r"^\s*aiarmor ", "", line))
    code, _, err = cli(*args, "--checks", "baseline.performance", "--out", tmp_path / "re")
    assert code in (0, 1), err
    redo = json.loads((tmp_path / "re" / "report.json").read_text())
    assert redo["checks"][0]["metrics"]["accuracy"] == pytest.approx(m["after.accuracy"])
