"""``aiarmor audit`` end to end on models and data saved the way a user would save them."""

import json
import pickle
import textwrap

import numpy as np
import pytest
import torch

from aiarmor.reporting import validate_report

MODELS_PY = textwrap.dedent(
    """
    import torch
    from torch import nn

    def build():
        return nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    """
)


def _toy_data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4), dtype=np.float32)
    y = (x[:, 0] * 3).astype(np.int64).clip(0, 2)
    return x, y


def _trained_module(x, y):
    torch.manual_seed(0)
    from torch import nn

    m = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(100):
        opt.zero_grad()
        nn.functional.cross_entropy(m(xt), yt).backward()
        opt.step()
    return m.eval()


@pytest.fixture
def workspace(tmp_path):
    x, y = _toy_data()
    np.savez(tmp_path / "test.npz", x=x, y=y)
    (tmp_path / "models.py").write_text(MODELS_PY)
    module = _trained_module(x, y)
    torch.save(module.state_dict(), tmp_path / "weights.pt")
    from safetensors.torch import save_file

    save_file(module.state_dict(), str(tmp_path / "weights.safetensors"))
    return tmp_path, module


def _assert_reports(out_dir):
    doc = json.loads((out_dir / "report.json").read_text())
    validate_report(doc)
    for name in ("report.html", "report.sarif", "report.junit.xml"):
        assert (out_dir / name).stat().st_size > 0
    return doc


@pytest.mark.parametrize("weights", ["weights.pt", "weights.safetensors"])
def test_module_file_and_weights(cli, workspace, weights):
    d, _ = workspace
    r = cli(
        "audit",
        "--model",
        f"{d}/models.py:build",
        "--weights",
        d / weights,
        "--data",
        d / "test.npz",
        "--bounds",
        "0,1",
        "--out",
        d / "out",
    )
    assert r.code in (0, 1), r.err
    doc = _assert_reports(d / "out")
    perf = next(c for c in doc["checks"] if c["id"] == "baseline.performance")
    assert perf["status"] in ("passed", "failed")
    assert perf["metrics"]["accuracy"] > 0.8
    assert {c["id"] for c in doc["checks"]} >= {
        "baseline.performance",
        "robustness.input_validation",
    }
    assert r.code == (1 if doc["verdict"] == "fail" else 0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_and_export_files(cli, workspace):
    d, module = workspace
    torch.jit.save(torch.jit.script(module), d / "scripted.pt")
    batch = {"input": {0: torch.export.Dim("batch")}}
    exported = torch.export.export(module, (torch.zeros(2, 4),), dynamic_shapes=batch)
    torch.export.save(exported, d / "exported.pt2")
    for name in ("scripted.pt", "exported.pt2"):
        r = cli(
            "audit",
            "--model",
            d / name,
            "--data",
            d / "test.npz",
            "--checks",
            "baseline.performance",
            "--out",
            d / name.replace(".", "_"),
        )
        assert r.code == 0, r.err
        doc = _assert_reports(d / name.replace(".", "_"))
        assert doc["checks"][0]["metrics"]["accuracy"] > 0.8


def test_skops_model_on_a_csv_table(cli, tmp_path):
    pytest.importorskip("skops")
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    x, y = _toy_data()
    frame = pd.DataFrame(x, columns=list("abcd")).assign(label=np.array(["n", "m", "p"])[y])
    frame.to_csv(tmp_path / "t.csv", index=False)
    clf = LogisticRegression(max_iter=500).fit(x, y)
    sio.dump(clf, tmp_path / "m.skops")
    r = cli(
        "audit",
        "--model",
        tmp_path / "m.skops",
        "--data",
        tmp_path / "t.csv",
        "--label",
        "label",
        "--out",
        tmp_path / "out",
    )
    assert r.code in (0, 1), r.err
    doc = _assert_reports(tmp_path / "out")
    assert doc["subject"]["n_samples"] == 120


def test_policy_failure_exits_1(cli, workspace):
    d, _ = workspace
    (d / "strict.toml").write_text(
        '[thresholds."baseline.performance".nll]\nmax = 0.0001\nseverity = "high"\n'
    )
    r = cli(
        "audit",
        "--model",
        f"{d}/models.py:build",
        "--weights",
        d / "weights.pt",
        "--data",
        d / "test.npz",
        "--checks",
        "baseline.performance",
        "--policy",
        d / "strict.toml",
        "--out",
        d / "out",
    )
    assert r.code == 1
    doc = _assert_reports(d / "out")
    assert doc["verdict"] == "fail"


def _bad(cli, *args):
    r = cli(*args)
    assert r.code == 2, (r.out, r.err)
    assert "Traceback" not in r.err + r.out
    lines = [line for line in r.err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("aiarmor: error:"), r.err
    return lines[0]


def test_bad_inputs_exit_2_with_one_line(cli, workspace):
    d, module = workspace
    model = ["--model", f"{d}/models.py:build", "--weights", str(d / "weights.pt")]
    assert "no such file" in _bad(cli, "audit", *model, "--data", d / "missing.npz")
    np.savez(d / "wide.npz", x=np.zeros((10, 5), np.float32), y=np.zeros(10, np.int64))
    assert "shape" in _bad(cli, "audit", *model, "--data", d / "wide.npz")
    x, y = _toy_data()
    x[3, 1] = np.nan
    np.savez(d / "nan.npz", x=x, y=y)
    assert "NaN" in _bad(cli, "audit", *model, "--data", d / "nan.npz")
    (d / "t.csv").write_text("a,b,label\n1,2,0\n3,4,1\n")
    assert "'target'" in _bad(cli, "audit", *model, "--data", d / "t.csv", "--label", "target")
    with open(d / "model.pkl", "wb") as fh:
        pickle.dump({"weights": [1, 2, 3]}, fh)
    assert "pickle" in _bad(cli, "audit", "--model", d / "model.pkl", "--data", d / "test.npz")
    torch.save(module, d / "whole.pt")
    assert "pickle" in _bad(cli, "audit", "--model", d / "whole.pt", "--data", d / "test.npz")
    assert "bounds" in _bad(cli, "audit", *model, "--data", d / "test.npz", "--bounds", "1,0")
    assert "unknown check" in _bad(
        cli, "audit", *model, "--data", d / "test.npz", "--checks", "nope.nope"
    )
    (d / "bad.toml").write_text("[policy]\nfail_on = 'severe'\n")
    assert "severity" in _bad(
        cli, "audit", *model, "--data", d / "test.npz", "--policy", d / "bad.toml"
    )
    assert "budget" in _bad(cli, "audit", *model, "--data", d / "test.npz", "--budget", "max")


RECIPE_PY = textwrap.dedent(
    """
    import numpy as np
    import torch
    from torch import nn

    from models import build

    CALLS = []

    def train(x, y, seed):
        CALLS.append(seed)
        torch.manual_seed(seed)
        m = build()
        opt = torch.optim.Adam(m.parameters(), lr=0.05)
        xt, yt = torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(y))
        for _ in range(60):
            opt.zero_grad()
            nn.functional.cross_entropy(m(xt), yt.long()).backward()
            opt.step()
        return m.eval()

    NOT_CALLABLE = 3
    """
)


def test_a_training_recipe_from_the_command_line_enables_rmia_and_lira(cli, workspace):
    d, _ = workspace
    (d / "recipe.py").write_text(RECIPE_PY)
    x, y = _toy_data(seed=1)
    np.savez(d / "train.npz", x=x, y=y)
    common = ["audit", "--model", f"{d}/models.py:build", "--weights", d / "weights.pt",
              "--data", d / "test.npz", "--train", d / "train.npz", "--bounds", "0,1",
              "--checks", "privacy.membership", "--budget", "quick"]  # fmt: skip

    def membership(out):
        doc = _assert_reports(out)
        return next(c for c in doc["checks"] if c["id"] == "privacy.membership"), doc

    r = cli(*common, "--out", d / "plain")
    assert r.code in (0, 1), r.err
    check, _ = membership(d / "plain")
    assert not any(k.startswith(("rmia", "lira")) for k in check["metrics"])

    r = cli(*common, "--recipe", f"{d}/recipe.py:train", "--out", d / "recipe")
    assert r.code in (0, 1), r.err
    check, doc = membership(d / "recipe")
    assert any(k.startswith("rmia") for k in check["metrics"]), check["metrics"]
    assert any(k.startswith("lira") for k in check["metrics"])
    assert doc["subject"]["recipe"] == f"{d}/recipe.py:train"

    for bad, message in [(f"{d}/recipe.py:NOT_CALLABLE", "not a callable training recipe"),
                         (f"{d}/recipe.py:missing", "has no attribute"),
                         ("recipe", "file.py:name or package.module:name")]:  # fmt: skip
        r = cli(*common, "--recipe", bad, "--out", d / "bad")
        assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, r.err


def _audit_args(d, out):
    return ("audit", "--model", f"{d}/models.py:build", "--weights", d / "weights.safetensors",
            "--data", d / "test.npz", "--checks", "baseline.performance", "--out", out)  # fmt: skip


def test_format_json_writes_only_report_json(cli, workspace):
    d, _ = workspace
    r = cli(*_audit_args(d, d / "out"), "--format", "json")
    assert r.code == 0, r.err
    assert sorted(p.name for p in (d / "out").iterdir()) == ["report.json"]
    validate_report(json.loads((d / "out" / "report.json").read_text()))
    assert "html:" not in r.out and "json:" in r.out  # the summary lists what was written


def test_format_names_a_subset_in_any_order_and_repeats_are_written_once(cli, workspace):
    d, _ = workspace
    r = cli(*_audit_args(d, d / "out"), "--format", " sarif,junit,sarif ")
    assert r.code == 0, r.err
    assert sorted(p.name for p in (d / "out").iterdir()) == ["report.junit.xml", "report.sarif"]


@pytest.mark.parametrize("fmt", ["json,xml", "JSON", ",", ""])
def test_an_unknown_format_is_one_line_exit_2_before_any_work(cli, workspace, fmt):
    d, _ = workspace
    missing_data = d / "no-such-data.npz"  # would fail later: the format is checked first
    args = [a if a != d / "test.npz" else missing_data for a in _audit_args(d, d / "out")]
    r = cli(*args, "--format", fmt)
    assert r.code == 2 and r.err.count("\n") == 1 and "format" in r.err, r.err
    assert "no-such-data" not in r.err and not (d / "out").exists()
