"""The embedded demo: train a small model on bundled real data and audit it.

Two scenarios, both on data that ships inside installed packages (nothing is downloaded):

* ``digits`` (default) - a small CNN on scikit-learn's bundled 8x8 digits. ``build_model`` is
  also a valid model SPEC (``aiarmor.demo:build_model``), so the saved weights can be audited
  again with the CLI.
* ``credit`` - a scikit-learn income classifier on the UCI Adult census table bundled with
  aiarmor (:mod:`aiarmor.scenarios.credit`), with ``sex`` and ``race`` as sensitive
  attributes; the model is saved with skops and the tables as CSV, to audit again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from aiarmor.audit import AuditProgress, audit
from aiarmor.core.errors import ConfigError
from aiarmor.core.policy import Policy
from aiarmor.core.report import Report
from aiarmor.data.dataset import Dataset
from aiarmor.data.demo import load_digits_demo
from aiarmor.privacy.recipes import attach_recipe, train_classifier
from aiarmor.targets.torch_target import TorchTarget

SCENARIOS = ("digits", "credit")
"""The demo scenarios."""


def build_model() -> nn.Module:
    """The demo architecture: a small CNN for 1x8x8 inputs in [0, 1], 10 classes."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def train_recipe(x: np.ndarray, y: np.ndarray, seed: int) -> nn.Module:
    """The demo's training recipe as a ``train_fn`` (reference models for RMIA and LiRA)."""
    return train_classifier(build_model(), Dataset(x=x, y=y, name="reference"), seed=seed)


@dataclass(frozen=True, slots=True)
class DemoRun:
    """What the demo produced."""

    report: Report
    """The audit report."""
    weights: Path
    """The trained model: weights (safetensors), or a skops file for the credit scenario."""
    test_data: Path
    """The held-out data the audit used (.npz; .csv for the credit scenario)."""
    train_data: Path
    """The training data (.npz; .csv for the credit scenario)."""
    scenario: str = "digits"
    """Which scenario ran: ``digits`` or ``credit``."""


def run_demo(
    out_dir: Path,
    *,
    seed: int = 0,
    budget: str = "standard",
    policy: Policy | None = None,
    progress: AuditProgress | None = None,
    scenario: str = "digits",
) -> DemoRun:
    """Train the scenario's model, save model and data into ``out_dir``, and audit it."""
    from safetensors.torch import save_file

    if scenario not in SCENARIOS:
        raise ConfigError(f"unknown scenario {scenario!r} (expected {' or '.join(SCENARIOS)})")
    out_dir.mkdir(parents=True, exist_ok=True)
    if scenario == "credit":
        return run_credit_demo(out_dir, seed=seed, budget=budget, policy=policy, progress=progress)
    train, test = load_digits_demo(seed=seed)
    model = train_classifier(build_model(), train, seed=seed)
    weights = out_dir / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    paths = {"train": out_dir / "digits-train.npz", "test": out_dir / "digits-test.npz"}
    for split, ds in (("train", train), ("test", test)):
        np.savez_compressed(paths[split], x=ds.x, y=ds.y)
    target = TorchTarget(model, n_classes=10, bounds=(0.0, 1.0), name="demo CNN (digits)")
    attach_recipe(target, train_recipe)  # RMIA/LiRA retrain it the same way
    report = audit(
        target,
        test,
        train=train,
        policy=policy,
        budget=budget,
        seed=seed,
        progress=progress,
        subject={"model_spec": "aiarmor.demo:build_model", "weights": str(weights)},
    )
    return DemoRun(report, weights, paths["test"], paths["train"])


def run_credit_demo(
    out_dir: Path,
    *,
    seed: int = 0,
    budget: str = "standard",
    policy: Policy | None = None,
    progress: AuditProgress | None = None,
) -> DemoRun:
    """The credit scenario: train on Adult, save model (skops) and tables (CSV), audit it."""
    import skops.io

    from aiarmor.data.adult import ADULT_SENSITIVE, adult_table
    from aiarmor.scenarios.credit import credit_scenario

    target, train, test = credit_scenario(seed=seed)
    model = out_dir / "model.skops"
    skops.io.dump(target.estimator, model)
    paths = {"train": out_dir / "adult-train.csv", "test": out_dir / "adult-test.csv"}
    for split, path in paths.items():
        adult_table(split, sensitive=ADULT_SENSITIVE).to_csv(path, index=False)
    report = audit(
        target,
        test,
        train=train,
        policy=policy,
        budget=budget,
        seed=seed,
        progress=progress,
        subject={"model_spec": str(model), "scenario": "credit"},
    )
    return DemoRun(report, model, paths["test"], paths["train"], scenario="credit")
