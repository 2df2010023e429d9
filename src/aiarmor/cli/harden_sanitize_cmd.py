"""``aiarmor harden sanitize``: remove (or relabel) poisoned training data and retrain.

Reads the PyTorch model's penultimate representations of ``--train``, flags suspected poison
with spectral signatures and activation clustering (``--method``), removes the flagged rows
(or, with ``--relabel``, gives each its runner-up class), and retrains a fresh copy of the
architecture with the default recipe: :func:`aiarmor.demo.train_classifier` (parameters reset,
Adam at ``--lr``, cross-entropy, batches of 64, ``--epochs`` epochs, ``--seed``). Library
users pass their own recipe to :func:`aiarmor.poisoning.sanitize_and_retrain`. Both models are
audited with the same checks on ``--data``; with ``--trigger badnets[:SIZE[:VALUE]]`` and
``--target-class`` the attack success rate is measured too. Writes into ``--out``:

* ``model.safetensors`` - the retrained weights, for the same ``--model`` factory;
* ``report.{json,html,sarif,junit.xml}`` - the retrained model's audit, with a
  ``poisoning.sanitize`` section (accuracy, attack success, flagged samples before/after);
* ``before/report.*`` - the original model's audit, in full;
* ``comparison.json`` - the before/after table and the changed rows.

The exit code is the retrained model's audit's.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.text import Text

from aiarmor.cli.commands import cli_policy, explain_exit, prepare_out
from aiarmor.cli.harden_cmd import harden_app
from aiarmor.cli.harden_common import path_str, print_section_table
from aiarmor.cli.render import RichAuditProgress, print_summary
from aiarmor.core.errors import ConfigError, DataError
from aiarmor.core.policy import Policy
from aiarmor.core.registry import Budget
from aiarmor.core.report import Report

out = Console()

CHECKS = ("baseline.performance", "poisoning.spectral", "poisoning.activation_clustering")
"""The checks both audits run."""
MODEL_FILE = "model.safetensors"
COMPARISON_FILE = "comparison.json"


@dataclass(frozen=True, slots=True)
class SanitizeHardening:
    """What ``harden sanitize`` produced."""

    result: Any
    """The :class:`aiarmor.poisoning.SanitizeResult`."""
    before: Report
    """The original model's audit."""
    after: Report
    """The retrained model's audit, with the ``poisoning.sanitize`` section."""


def register(app: typer.Typer) -> None:
    """Nothing to do: importing this module adds ``sanitize`` to ``harden_app``."""


@harden_app.command("sanitize")
def sanitize_command(
    model: Annotated[
        str, typer.Option(metavar="SPEC", help="Model SPEC of a PyTorch model factory.")
    ],
    train: Annotated[Path, typer.Option(metavar="PATH", help="Training data (.npz) to sanitize.")],
    data: Annotated[
        Path, typer.Option(metavar="PATH", help="Clean held-out data (.npz) to score on.")
    ],
    weights: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Weights of the trained model.")
    ] = None,
    method: Annotated[
        str, typer.Option(metavar="METHOD", help="spectral | activation_clustering | both (union).")
    ] = "both",
    relabel: Annotated[
        bool, typer.Option("--relabel", help="Relabel flagged rows (runner-up class).")
    ] = False,
    trigger: Annotated[
        str | None, typer.Option(metavar="SPEC", help="Known trigger, badnets[:SIZE[:VALUE]].")
    ] = None,
    target_class: Annotated[
        int | None, typer.Option(metavar="CLASS", help="The trigger's target class.")
    ] = None,
    epochs: Annotated[int, typer.Option(metavar="N", help="Retraining epochs.")] = 20,
    lr: Annotated[float, typer.Option(metavar="X", help="Adam learning rate.")] = 2e-3,
    policy: Annotated[
        Path | None, typer.Option("--policy", metavar="PATH", help="Policy TOML file.")
    ] = None,
    budget: Annotated[
        str, typer.Option(metavar="LEVEL", help="quick | standard | thorough.")
    ] = "standard",
    seed: Annotated[
        int, typer.Option(metavar="N", help="Seed: the same seed gives the same result.")
    ] = 0,
    out_dir: Annotated[Path, typer.Option("--out", metavar="DIR", help="Output directory.")] = Path(
        "aiarmor-harden"
    ),
) -> None:
    """Remove or relabel suspected poison, retrain, and write a before/after report."""
    from aiarmor.poisoning.sanitize import METHODS

    if method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if epochs < 1 or lr <= 0:
        raise ConfigError("--epochs must be at least 1 and --lr positive")
    Budget.parse(budget)
    stamp = parse_trigger(trigger, target_class)
    code = run_sanitize_command(
        out, model=model, weights=weights, train=train, data=data, method=method,
        relabel=relabel, trigger=stamp, target_class=target_class, epochs=epochs, lr=lr,
        policy=policy, budget=budget, seed=seed, out_dir=out_dir,
    )  # fmt: skip
    raise typer.Exit(code)


def parse_trigger(spec: str | None, target_class: int | None) -> Any:
    """``badnets[:SIZE[:VALUE]]`` as a function stamping the patch (None without a spec)."""
    from aiarmor.poisoning import badnets_trigger

    if (spec is None) != (target_class is None):
        raise ConfigError("--trigger and --target-class go together")
    if spec is None:
        return None
    name, *args = spec.split(":")
    if name != "badnets" or len(args) > 2:
        raise ConfigError(f"--trigger must be badnets[:SIZE[:VALUE]], got {spec!r}")
    try:
        size = int(args[0]) if args else 3
        value = float(args[1]) if len(args) > 1 else 1.0
    except ValueError:
        raise ConfigError(f"--trigger must be badnets[:SIZE[:VALUE]], got {spec!r}") from None
    if size < 1:
        raise ConfigError("--trigger patch size must be at least 1")

    def stamp(x: np.ndarray) -> np.ndarray:
        return badnets_trigger(x, size=size, value=value)

    return stamp


def run_sanitize_command(console: Console, *, model: str, weights: Path | None, train: Path,
                         data: Path, method: str, relabel: bool, trigger: Any,
                         target_class: int | None, epochs: int, lr: float, policy: Path | None,
                         budget: str, seed: int, out_dir: Path) -> int:  # fmt: skip
    """Load, sanitize, retrain, audit both, write everything; return the exit code."""
    from aiarmor.data import load_dataset
    from aiarmor.targets import load_target

    pol = cli_policy(policy)
    prepare_out(out_dir)  # an unwritable --out fails before any work
    train_ds = load_dataset(train)
    data_ds = load_dataset(data, reference=train_ds)
    if train_ds.sample_shape != data_ds.sample_shape:
        raise DataError(f"--train samples have shape {train_ds.sample_shape} but --data "
                        f"samples have {data_ds.sample_shape}")  # fmt: skip
    target = load_target(model, weights=weights, input_shape=data_ds.sample_shape)
    if target_class is not None and not 0 <= target_class < target.n_classes:
        raise ConfigError(f"--target-class must be in 0..{target.n_classes - 1}")
    train_fn = default_recipe(target, epochs=epochs, lr=lr)
    console.print(Text(f"detecting poison ({method}), retraining for {epochs} epochs ...", "dim"))
    with RichAuditProgress(console) as progress:
        hardening = harden_sanitize(
            target, train_ds, data_ds, train_fn=train_fn, method=method, relabel=relabel,
            trigger=trigger, target_class=target_class, policy=pol, budget=budget, seed=seed,
            progress=progress, subject={"model_spec": model, "weights": path_str(weights)},
            weights_out=out_dir / MODEL_FILE,
        )  # fmt: skip
    written = write_sanitize_outputs(hardening, out_dir)
    print_comparison(console, hardening.after)
    print_summary(console, hardening.after, written)
    return explain_exit(hardening.after)


def default_recipe(target: Any, *, epochs: int, lr: float) -> Any:
    """The CLI's recipe: a fresh copy of the model trained by ``train_classifier``."""
    import torch

    from aiarmor.data.dataset import Dataset
    from aiarmor.demo import train_classifier

    module = getattr(target, "module", None)
    if not isinstance(module, torch.nn.Module) or isinstance(module, torch.jit.ScriptModule):
        raise ConfigError(
            "harden sanitize needs a PyTorch model built by Python code "
            "(--model file.py:factory or package.module:factory, with --weights)"
        )
    template = copy.deepcopy(module)

    def train_fn(x: np.ndarray, y: np.ndarray, seed: int) -> torch.nn.Module:
        ds = Dataset(x=x, y=y, name="sanitized")
        fresh = copy.deepcopy(template).requires_grad_(True)  # targets freeze their parameters
        return train_classifier(fresh, ds, epochs=epochs, lr=lr, seed=seed)

    return train_fn


def harden_sanitize(
    target: Any, train: Any, data: Any, *, train_fn: Any, method: str, relabel: bool,
    trigger: Any, target_class: int | None, policy: Policy, budget: str, seed: int,
    progress: Any = None, subject: dict[str, Any] | None = None, weights_out: Path | None = None,
) -> SanitizeHardening:  # fmt: skip
    """Audit ``target``, sanitize ``train`` and retrain, audit the result, compare."""
    from aiarmor.audit import audit
    from aiarmor.core.comparison import with_section
    from aiarmor.poisoning import sanitize_and_retrain
    from aiarmor.poisoning.sanitize_compare import sanitize_section
    from aiarmor.targets import TorchTarget

    common = {"checks": list(CHECKS), "policy": policy, "budget": budget, "seed": seed,
              "progress": progress}  # fmt: skip
    before = audit(target, data, train=train, subject={**(subject or {}), "stage": "before"},
                   **common)  # fmt: skip
    result = sanitize_and_retrain(target, train, data, train_fn=train_fn, method=method,
                                  relabel=relabel, trigger=trigger, target_class=target_class,
                                  seed=seed)  # fmt: skip
    retrained = TorchTarget(result.model, n_classes=target.n_classes, bounds=target.bounds,
                            name=f"{target.name} (sanitized)")  # fmt: skip
    spec = {"model_spec": (subject or {}).get("model_spec"), "weights": path_str(weights_out)}
    after = audit(retrained, data, train=result.sanitized.data,
                  subject={**spec, "stage": "after"}, **common)  # fmt: skip
    info = {"method": method, "relabel": relabel, "n_changed": len(result.sanitized.changed),
            "poisoned_classes": list(result.detection.poisoned_classes)}  # fmt: skip
    section = sanitize_section(before, after, result)
    return SanitizeHardening(result, before, with_section(after, section, {"sanitize": info}))


def write_sanitize_outputs(hardening: SanitizeHardening, out_dir: Path) -> dict[str, Path]:
    """Write the retrained weights, both reports and the comparison."""
    from safetensors.torch import save_file

    from aiarmor.poisoning.sanitize_compare import SECTION_ID
    from aiarmor.reporting import write_reports

    out_dir.mkdir(parents=True, exist_ok=True)
    state = hardening.result.model.state_dict()
    save_file({k: v.detach().contiguous() for k, v in state.items()}, str(out_dir / MODEL_FILE))
    write_reports(hardening.before, out_dir / "before")
    written = write_reports(hardening.after, out_dir)
    section = hardening.after.check(SECTION_ID)
    rows = section.findings[0].evidence.get("rows", []) if section.findings else []
    comparison = {"sanitize": hardening.after.subject.get("sanitize"), "rows": rows,
                  "changed_rows": hardening.result.sanitized.changed.tolist()}  # fmt: skip
    (out_dir / COMPARISON_FILE).write_text(json.dumps(comparison, indent=2) + "\n", "utf-8")
    return {"model": out_dir / MODEL_FILE, **written, "before": out_dir / "before",
            "comparison": out_dir / COMPARISON_FILE}  # fmt: skip


def print_comparison(console: Console, report: Report) -> None:
    """The before/after table: accuracy, attack success and flagged samples."""
    from aiarmor.poisoning.sanitize_compare import SECTION_ID

    print_section_table(console, report, SECTION_ID, "sanitize and retrain",
                        lambda v, _col: "n/a" if v is None else f"{v:.4f}")  # fmt: skip
