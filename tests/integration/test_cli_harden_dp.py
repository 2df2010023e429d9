"""``aiarmor harden dp`` end to end: DP weights, before/after leakage reports, errors."""

import json
import textwrap

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from sklearn.datasets import load_digits
from torch import nn

from aiarmor.reporting import validate_report


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread avoids contention on shared cores (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


MODELS_PY = textwrap.dedent(
    """
    from torch import nn

    def build():
        return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    """
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Real digits (300 train, 300 held out), a factory file and overfit plain weights."""
    root = tmp_path_factory.mktemp("harden-dp")
    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32).reshape(-1, 64)
    y = bunch.target.astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(y))
    train, test = perm[:300], perm[300:600]
    np.savez(root / "train.npz", x=x[train], y=y[train])
    np.savez(root / "test.npz", x=x[test], y=y[test])
    (root / "models.py").write_text(MODELS_PY)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x[train]), torch.from_numpy(y[train])
    for _ in range(200):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    save_file(model.state_dict(), str(root / "weights.safetensors"))
    return root


def _args(root, *extra, out="out"):
    return ("harden", "dp", "--model", f"{root}/models.py:build",
            "--weights", root / "weights.safetensors", "--train", root / "train.npz",
            "--data", root / "test.npz", "--out", root / out, "--budget", "quick",
            "--epochs", "4", "--batch-size", "60", "--lr", "0.01", "--accountant", "rdp",
            *extra)  # fmt: skip


@pytest.mark.slow
def test_writes_dp_weights_and_a_before_after_leakage_report(cli, workspace):
    run = cli(*_args(workspace, "--epsilon", "2"))
    assert run.code in (0, 1), run.err
    out = workspace / "out"
    after = json.loads((out / "report.json").read_text())
    before = json.loads((out / "before" / "report.json").read_text())
    for doc in (after, before):
        validate_report(doc)
    assert run.code == (1 if after["verdict"] == "fail" else 0), run.err
    assert "DP training: before -> after" in run.out
    section = next(c for c in after["checks"] if c["id"] == "privacy.dp_training")
    m = section["metrics"]
    assert m["before.epsilon"] is None and 1.8 <= m["after.epsilon"] <= 2.02
    assert m["after.membership.auc"] < m["before.membership.auc"]
    assert {"before.accuracy", "after.accuracy", "after.membership.tpr_at_01pct_fpr"} <= set(m)
    # the DP model's audit trains its reference models with the DP recipe, the original has none
    membership = {d["subject"]["stage"]: next(c for c in d["checks"]
                                              if c["id"] == "privacy.membership")
                  for d in (before, after)}  # fmt: skip
    assert membership["before"]["metrics"]["reference_models"] == 0
    # quick budget: 1 reference model, raised to 2 since every record is audited (none left)
    assert membership["after"]["metrics"]["reference_models"] == 2
    assert "rmia.auc" in membership["after"]["metrics"]
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["dp"]["accountant"] == "rdp" and comparison["dp"]["steps"] > 0
    state = load_file(str(out / "model.safetensors"))
    assert set(state) == {"0.weight", "0.bias", "2.weight", "2.bias"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--epsilon", "0"), "target epsilon"),
        (("--epsilon", "1", "--accountant", "gdp2"), "accountant"),
        (("--epsilon", "1", "--budget", "huge"), "budget"),
    ],
)
def test_bad_options_are_one_line_errors(cli, workspace, extra, message):
    run = cli(*_args(workspace, out="bad")[:-8], *extra)
    assert run.code == 2
    assert message in run.err and len(run.err.strip().splitlines()) == 1


def test_a_scikit_learn_model_is_refused(cli, workspace, tmp_path):
    (tmp_path / "sk.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n"
        "import numpy as np\n"
        "def build():\n"
        "    return LogisticRegression().fit(np.eye(64), np.arange(64) % 10)\n"
    )
    run = cli("harden", "dp", "--model", f"{tmp_path}/sk.py:build", "--train",
              workspace / "train.npz", "--data", workspace / "test.npz",
              "--out", tmp_path)  # fmt: skip
    assert run.code == 2 and "PyTorch model" in run.err
