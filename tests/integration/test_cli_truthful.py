"""Issue 14, CLI half: an audit that could not finish never says PASS, the policy decides check
status and verdict alike, and everything is validated before the work starts."""

import json
import textwrap
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from aiarmor.reporting import validate_report

NAN_MODEL = textwrap.dedent(
    """
    import numpy as np

    def scores(x):  # a plain callable whose scores are all NaN
        return np.full((len(x), 3), np.nan)

    def build():
        return scores
    """
)


@pytest.fixture
def nan_workspace(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "test.npz", x=rng.random((60, 4), dtype=np.float32),
             y=rng.integers(0, 3, 60))  # fmt: skip
    (tmp_path / "nanmodel.py").write_text(NAN_MODEL)
    return tmp_path


def _audit(cli, d, *extra):
    return cli("audit", "--model", f"{d}/nanmodel.py:build", "--n-classes", "3",
               "--data", d / "test.npz", *extra)  # fmt: skip


def test_a_check_that_errors_makes_the_audit_incomplete_everywhere(cli, nan_workspace):
    d = nan_workspace
    r = _audit(cli, d, "--checks", "baseline.performance", "--out", d / "out")
    assert r.code == 2
    assert "PASS" not in r.out and "verdict: INCOMPLETE" in r.out
    err = [line for line in r.err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("aiarmor: error: audit incomplete"), r.err
    assert "baseline.performance" in err[0]
    doc = json.loads((d / "out" / "report.json").read_text())
    validate_report(doc)
    assert doc["verdict"] == "incomplete" and doc["checks"][0]["status"] == "error"
    sarif = json.loads((d / "out" / "report.sarif").read_text())
    (run,) = sarif["runs"]
    assert run["properties"]["verdict"] == "incomplete"
    assert run["invocations"][0]["executionSuccessful"] is False
    assert len(run["invocations"][0]["toolExecutionNotifications"]) == 1
    junit = ET.parse(d / "out" / "report.junit.xml").getroot()
    props = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert props["verdict"] == "incomplete" and junit.get("errors") == "1"


def _toy(d):
    rng = np.random.default_rng(1)
    x = rng.random((80, 4), dtype=np.float32)
    np.savez(d / "toy.npz", x=x, y=(x[:, 0] > 0.5).astype(np.int64))
    (d / "toy.py").write_text(textwrap.dedent(
        """
        import numpy as np
        def scores(x):
            p = np.asarray(x)[:, :1].astype(np.float64)
            return np.hstack([1 - p, p])
        def build():
            return scores
        """))  # fmt: skip
    return ["audit", "--model", f"{d}/toy.py:build", "--n-classes", "2", "--data", d / "toy.npz"]


@pytest.mark.parametrize(("fail_on", "code", "status"), [("critical", 0, "passed"),
                                                          ("high", 1, "failed")])  # fmt: skip
def test_check_status_obeys_fail_on(cli, tmp_path, fail_on, code, status):
    args = _toy(tmp_path)
    (tmp_path / "p.toml").write_text(
        f'[policy]\nfail_on = "{fail_on}"\n'
        '[thresholds."baseline.performance".accuracy]\nmax = 0.5\nseverity = "high"\n'
    )
    out = tmp_path / "out"
    r = cli(*args, "--checks", "baseline.performance", "--policy", tmp_path / "p.toml",
            "--out", out)  # fmt: skip
    assert r.code == code, r.err
    doc = json.loads((out / "report.json").read_text())
    assert doc["checks"][0]["status"] == status
    assert any(f["severity"] == "high" for f in doc["findings"])  # reported either way
    failures = ET.parse(out / "report.junit.xml").getroot().get("failures")
    assert failures == ("1" if status == "failed" else "0")
    assert doc["summary"]["checks"]["failed"] == len(doc["verdict_reasons"])


def _one_line_error(r):
    assert r.code == 2, (r.out, r.err)
    lines = [line for line in r.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("aiarmor: error:"), r.err
    assert "internal error" not in r.err and "Traceback" not in r.err + r.out
    return lines[0]


def test_out_that_is_a_file_or_unwritable_fails_before_the_audit(cli, tmp_path, monkeypatch):
    args = _toy(tmp_path)
    (tmp_path / "afile").write_text("x")
    ran = []
    import sys

    monkeypatch.setattr(sys.modules["aiarmor.audit"], "run_check", lambda *a: ran.append(a))
    assert "not a directory" in _one_line_error(cli(*args, "--out", tmp_path / "afile"))
    msg = _one_line_error(cli(*args, "--out", tmp_path / "afile" / "sub"))
    assert "not a writable directory" in msg
    assert ran == []  # no check started


def test_policy_parameters_are_validated_before_anything_loads(cli, tmp_path, monkeypatch):
    args = _toy(tmp_path)
    import aiarmor.targets

    monkeypatch.setattr(aiarmor.targets, "load_target", lambda *a, **k: pytest.fail("loaded"))
    for body, words in [
        ('[checks."robustness.evasion"]\nepsilons = [-0.1, 0.05]', "epsilons[0]"),
        ('[checks."robustness.evasion"]\nnorm = "l1"', "must be one of linf, l2"),
        ('[checks."privacy.extraction"]\nbudgets = [0]', "budgets[0]"),
        ('[checks."privacy.pii"]\nentities = ["passport"]', "passport"),
        ('[checks."baseline.performance"]\nmin_accuracy = "high"', "expected a number"),
    ]:
        (tmp_path / "p.toml").write_text(body)
        msg = _one_line_error(cli(*args, "--policy", tmp_path / "p.toml", "--out", tmp_path / "o"))
        assert words in msg


def test_bounds_that_do_not_cover_the_data_warn(cli, tmp_path):
    args = _toy(tmp_path)
    out = tmp_path / "out"
    r = cli(*args, "--bounds", "0,0.5", "--checks", "baseline.performance", "--out", out)
    assert r.code in (0, 1), r.err
    assert "aiarmor: warning:" in r.err and "outside the input bounds [0, 0.5]" in r.err
    doc = json.loads((out / "report.json").read_text())
    (warning,) = doc["subject"]["warnings"]
    assert "% of the values in" in warning
    r = cli(*args, "--bounds", "0,1", "--checks", "baseline.performance", "--out", out)
    assert "warning" not in r.err and "warnings" not in json.loads(
        (out / "report.json").read_text())["subject"]  # fmt: skip


def test_init_refuses_bad_destinations_with_one_line(cli, tmp_path):
    assert "does not exist" in _one_line_error(cli("init", tmp_path / "nosuchdir" / "p.toml"))
    assert "is a directory" in _one_line_error(cli("init", tmp_path, "--force"))
    r = cli("init", tmp_path / "p.toml")
    assert r.code == 0 and (tmp_path / "p.toml").read_text().startswith("# aiarmor policy")
    assert "exists" in _one_line_error(cli("init", tmp_path / "p.toml"))


def test_piped_progress_says_what_runs_and_beats():
    import io

    from rich.console import Console

    from aiarmor.cli.render import RichAuditProgress
    from aiarmor.core.findings import CheckResult, CheckStatus

    log = io.StringIO()
    piped = Console(file=log, force_terminal=False, width=200)
    with RichAuditProgress(piped, heartbeat_s=0.2) as progress:
        progress.check_started("privacy.membership", 0, 2)
        for done in range(1, 5):
            progress.check_progress(done, 4, f"reference model {done}/4")
        time.sleep(0.5)
        progress.check_finished(CheckResult("privacy.membership", "m", CheckStatus.PASSED))
    lines = log.getvalue().splitlines()
    assert lines[0] == "[1/2] privacy.membership started"
    assert "[1/2] privacy.membership 1/4 reference model 1/4 (25%)" in lines
    assert any("still running at 4/4" in line for line in lines)
    assert lines[-1].startswith("[1/2] privacy.membership passed in ")


@pytest.mark.parametrize("method", ["adversarial", "dp", "sanitize", "fairness"])
def test_harden_validates_out_and_policy_before_any_work(cli, tmp_path, monkeypatch, method):
    import aiarmor.data

    monkeypatch.setattr(aiarmor.data, "load_dataset", lambda *a, **k: pytest.fail("loaded"))
    (tmp_path / "afile").write_text("x")
    (tmp_path / "bad.toml").write_text('[checks."robustness.evasion"]\nepsilons = [-0.1]')
    need = ["--model", "m.py:build", "--train", tmp_path / "t.npz", "--data", tmp_path / "d.npz"]
    if method == "fairness":
        need = [*need, "--label", "y", "--sensitive", "sex"]
    if method == "adversarial":
        need = [*need, "--eps", "0.1"]
    msg = _one_line_error(cli("harden", method, *need, "--out", tmp_path / "afile"))
    assert "not a directory" in msg
    msg = _one_line_error(cli("harden", method, *need, "--policy", tmp_path / "bad.toml",
                              "--out", tmp_path / "o"))  # fmt: skip
    assert "epsilons[0]" in msg


def test_nan_bounds_are_refused_and_date_time_expiries_work(cli, tmp_path):
    args = _toy(tmp_path)
    for body in ('[thresholds."baseline.performance".accuracy]\nmin = nan',
                 '[thresholds."baseline.performance".accuracy]\nmax = nan'):  # fmt: skip
        (tmp_path / "p.toml").write_text(body)
        msg = _one_line_error(cli(*args, "--policy", tmp_path / "p.toml", "--out", tmp_path / "o"))
        assert "must be a number, got nan" in msg
    # a TOML date-time expiry lapses on its date (it crashed the audit before)
    (tmp_path / "p.toml").write_text(
        '[policy]\nfail_on = "info"\n[suppress."baseline.performance"]\njustification = "j"\n'
        "expires = 2099-01-01T12:00:00Z\n"
        '[thresholds."baseline.performance".accuracy]\nmax = 0.5\nseverity = "high"\n'
    )
    out = tmp_path / "dt"
    r = cli(*args, "--checks", "baseline.performance", "--policy", tmp_path / "p.toml",
            "--out", out)  # fmt: skip
    assert r.code == 0, r.err
    findings = json.loads((out / "report.json").read_text())["findings"]
    assert findings and all(f["suppressed"] for f in findings)


def test_paths_the_file_system_refuses_are_one_line_errors(cli, tmp_path):
    long = tmp_path / ("n" * 300)
    args = _toy(tmp_path)
    assert "File name too long" in _one_line_error(cli(*args, "--out", long))
    assert "File name too long" in _one_line_error(cli("init", long))
    assert "File name too long" in _one_line_error(cli("keygen", "--out", long))
    (tmp_path / "adir").mkdir()
    (tmp_path / "m.pkl").write_bytes(b"\x80\x04K\x01.")
    msg = _one_line_error(cli("scan", tmp_path / "m.pkl", "--format", "json",
                              "--out", tmp_path / "adir"))  # fmt: skip
    assert "adir" in msg
