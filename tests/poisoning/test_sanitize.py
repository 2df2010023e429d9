"""Sanitize and retrain: removal and relabeling, scoring, and ``aiarmor harden sanitize``.

The end-to-end test plants BadNets poison in a Fashion-MNIST subset (Debian's
``dataset-fashion-mnist``; skipped where it is not installed): the detectors must find it
and the retrained model must lose the backdoor.
"""

import json
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from aiarmor.core.errors import ConfigError
from aiarmor.data.dataset import Dataset
from aiarmor.poisoning import Detection, badnets, badnets_trigger, sanitize, score_model
from aiarmor.reporting import validate_report
from aiarmor.targets import TorchTarget

MODEL_PY = """
from torch import nn

def build():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10),
    )
"""


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


def _small():
    x = np.random.default_rng(0).random((6, 1, 4, 4), dtype=np.float32)
    return Dataset(x=x, y=np.array([0, 1, 2, 0, 1, 2]), name="small")


def test_removal_drops_exactly_the_flagged_rows():
    ds = _small()
    found = Detection(np.array([1, 4]), np.array([0, 2]), (1,))
    out = sanitize(ds, found)
    assert len(out.data) == 4 and not out.relabeled
    np.testing.assert_array_equal(out.data.y, [0, 2, 0, 2])
    np.testing.assert_array_equal(out.changed, [1, 4])


def test_relabeling_gives_the_runner_up_class():
    ds = _small()
    out = sanitize(ds, Detection(np.array([1, 4]), np.array([0, 2]), (1,)), relabel=True)
    assert out.relabeled and len(out.data) == 6
    np.testing.assert_array_equal(out.data.y, [0, 0, 2, 0, 2, 2])
    with pytest.raises(ConfigError, match="nothing is left"):
        sanitize(ds, Detection(np.arange(6), np.zeros(6, int), (0,)))


def test_attack_success_counts_triggered_inputs_sent_to_the_target():
    class Corner(torch.nn.Module):  # class 1 when the corner is brighter than 0.25
        def forward(self, x):
            hit = x[:, 0, -2:, -2:].mean(dim=(1, 2))
            return torch.stack([torch.full_like(hit, 0.25), hit], dim=1)

    x = np.zeros((8, 1, 4, 4), dtype=np.float32)
    test = Dataset(x=x, y=np.array([0] * 6 + [1] * 2))
    target = TorchTarget(Corner().eval(), n_classes=2, bounds=(0.0, 1.0))
    score = score_model(target, test, trigger=lambda z: badnets_trigger(z, size=2),
                        target_class=1)  # fmt: skip
    assert score.accuracy == 0.75
    assert score.attack_success == 1.0  # the 2x2 checkerboard averages 0.5
    half = score_model(target, test, trigger=lambda z: z * 0 + 0.2, target_class=1)
    assert half.attack_success == 0.0
    assert score_model(target, test).attack_success is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "magic"], "--method must be one of spectral"),
        (["--trigger", "badnets:3"], "--trigger and --target-class go together"),
        (["--trigger", "blend", "--target-class", "0"], "--trigger must be badnets"),
        (["--trigger", "badnets:x", "--target-class", "0"], "--trigger must be badnets"),
        (["--epochs", "0"], "--epochs must be at least 1"),
    ],
)
def test_bad_input_is_one_line_on_stderr(cli, tmp_path, extra, message):
    args = ["harden", "sanitize", "--model", "m.py:build", "--train", tmp_path / "t.npz",
            "--data", tmp_path / "d.npz", *extra]  # fmt: skip
    code, _, err = cli(*args)
    assert code == 2 and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_missing_training_file_is_one_line(cli, tmp_path):
    code, _, err = cli("harden", "sanitize", "--model", "m.py:build", "--train",
                       tmp_path / "nope.npz", "--data", tmp_path / "d.npz")  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.slow
def test_sanitize_finds_badnets_poison_and_removes_the_backdoor(cli, tmp_path, fashion):
    from aiarmor.demo import train_classifier

    train, test = fashion(3000, 600)
    poisoned = badnets(train, rate=0.05, target_class=0, seed=1)
    (tmp_path / "model.py").write_text(MODEL_PY)
    ns: dict = {}
    exec(MODEL_PY, ns)
    model = train_classifier(ns["build"](), poisoned.data, epochs=4, seed=0)
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    np.savez(tmp_path / "train.npz", x=poisoned.data.x, y=poisoned.data.y)
    np.savez(tmp_path / "test.npz", x=test.x, y=test.y)
    out = tmp_path / "out"
    code, stdout, err = cli(
        "harden", "sanitize", "--model", f"{tmp_path / 'model.py'}:build", "--weights",
        tmp_path / "w.safetensors", "--train", tmp_path / "train.npz", "--data",
        tmp_path / "test.npz", "--trigger", "badnets:3", "--target-class", "0", "--epochs", "4",
        "--budget", "quick", "--out", out,
    )  # fmt: skip
    assert code in (0, 1), err
    report = json.loads((out / "report.json").read_text())
    validate_report(report)
    validate_report(json.loads((out / "before" / "report.json").read_text()))
    section = next(c for c in report["checks"] if c["id"] == "poisoning.sanitize")
    m = section["metrics"]
    assert m["before.attack_success"] > 0.9
    assert m["after.attack_success"] < 0.5 * m["before.attack_success"]
    assert m["change.accuracy"] > -0.05
    changed = np.array(json.loads((out / "comparison.json").read_text())["changed_rows"])
    flagged = np.zeros(len(train), dtype=bool)
    flagged[changed] = True
    tp = (flagged & poisoned.poisoned).sum()
    assert 2 * tp / (flagged.sum() + poisoned.poisoned.sum()) >= 0.8  # F1 of the detection
    assert (out / "model.safetensors").is_file() and "before -> after" in stdout
