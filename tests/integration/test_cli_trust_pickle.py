"""``aiarmor audit --model file.joblib|.pt`` with and without ``--trust-pickle``."""

import json

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from aiarmor.reporting import validate_report
from aiarmor.scanning.testing.builders import P2, g, u

CHECKS = "baseline.performance,supply_chain.pickle_trust"


@pytest.fixture
def workspace(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((80, 3), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)
    np.savez(tmp_path / "test.npz", x=x, y=y)
    joblib.dump(LogisticRegression().fit(x, y), tmp_path / "model.joblib")
    return tmp_path


def test_clean_joblib_is_refused_without_the_flag(cli, workspace):
    run = cli("audit", "--model", workspace / "model.joblib", "--data", workspace / "test.npz")
    assert run.code == 2
    assert "--trust-pickle" in run.err and "Traceback" not in run.err


def test_clean_joblib_with_the_flag_is_audited_and_recorded(cli, workspace):
    out = workspace / "out"
    run = cli("audit", "--model", workspace / "model.joblib", "--data", workspace / "test.npz",
              "--trust-pickle", "--checks", CHECKS, "--budget", "quick", "--out", out)  # fmt: skip
    assert run.code in (0, 1), run.err
    doc = json.loads((out / "report.json").read_text())
    validate_report(doc)
    assert doc["subject"]["trusted_pickle"] is True
    assert doc["subject"]["scan"]["result"] == "no findings"
    assert doc["subject"]["loader"] == "restricted unpickler"
    trust = next(f for f in doc["findings"] if f["check_id"] == "supply_chain.pickle_trust")
    assert trust["severity"] == "low" and "explicit trust" in trust["title"]
    assert trust["evidence"]["trusted_pickle"] is True


def test_hostile_pickle_is_refused_with_the_flag(cli, workspace):
    canary = workspace / "canary"
    evil = workspace / "evil.pt"
    evil.write_bytes(P2 + g("os", "system") + u(f"touch {canary}") + b"\x85R.")
    run = cli("audit", "--model", evil, "--data", workspace / "test.npz", "--trust-pickle")
    assert run.code == 2
    assert "os.system" in run.err and "critical" in run.err
    assert len(run.err.strip().splitlines()) <= 3  # one message (the console may wrap it)
    assert not canary.exists()
