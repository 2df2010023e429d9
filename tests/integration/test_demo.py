"""The main job: ``aiarmor demo`` as a newcomer runs it, then re-auditing what it saved."""

import json
import re
import shlex

import pytest

from aiarmor.reporting import validate_report


@pytest.mark.slow  # the demo, then a re-audit with RMIA/LiRA reference models: ~3 min
def test_demo_end_to_end_then_reaudit(tmp_path, aiarmor_proc):
    out = tmp_path / "demo"
    r = aiarmor_proc("demo", "--out", out, "--budget", "quick")
    assert r.code in (0, 1), r.err
    assert "Traceback" not in r.err
    doc = json.loads((out / "report.json").read_text())
    validate_report(doc)
    assert r.code == (1 if doc["verdict"] == "fail" else 0)
    perf = next(c for c in doc["checks"] if c["id"] == "baseline.performance")
    assert perf["metrics"]["accuracy"] > 0.9  # the CNN really learned the digits
    assert all(c["status"] != "error" for c in doc["checks"]), doc["errors"]
    html = (out / "report.html").read_text()
    assert "baseline.performance" in html and "<svg" in html
    # the demo prints a command that reproduces its audit of the saved model: run it, on the
    # checks whose numbers depend on everything it must carry (recipe, seed, budget, bounds)
    line = next(ln for ln in r.out.splitlines() if "aiarmor audit --model" in ln)
    args = shlex.split(re.sub(r"^\s*aiarmor ", "", line))
    assert "--recipe" in args and args[args.index("--budget") + 1] == "quick"
    checks = "baseline.performance,privacy.membership,robustness.input_validation"
    again = aiarmor_proc(*args, "--checks", checks, "--out", tmp_path / "re")
    assert again.code in (0, 1), again.err
    redo = {c["id"]: c for c in json.loads((tmp_path / "re" / "report.json").read_text())["checks"]}
    first = {c["id"]: c for c in doc["checks"]}
    for check_id in checks.split(","):
        assert redo[check_id]["metrics"] == first[check_id]["metrics"], check_id
    assert any(k.startswith("rmia") for k in redo["privacy.membership"]["metrics"])
