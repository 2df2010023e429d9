"""The work behind each CLI command, kept out of the Typer signatures in main.py."""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from aiarmor.cli.render import RichAuditProgress, clean, print_summary
from aiarmor.core.errors import ConfigError
from aiarmor.core.findings import CheckStatus
from aiarmor.core.policy import Policy, load_policy
from aiarmor.core.registry import Budget, registered
from aiarmor.core.report import Report, Verdict

_ERR = Console(stderr=True, highlight=False)


@dataclass(frozen=True, slots=True)
class AuditArgs:
    """The parsed options of ``aiarmor audit``."""

    model: str
    data: Path
    weights: Path | None
    train: Path | None
    label: str | None
    sensitive: tuple[str, ...]
    bounds: str | None
    n_classes: int | None
    trust_types: tuple[str, ...]
    policy: Path | None
    checks: str | None
    budget: str
    seed: int
    out_dir: Path
    trust_pickle: bool = False
    recipe: str | None = None
    formats: str | None = None
    """``--format``: comma-separated report format names; None writes the default set."""


def parse_bounds(text: str | None) -> tuple[float, float] | None:
    """``"0,1"`` -> ``(0.0, 1.0)``; ConfigError unless two finite numbers with lo < hi."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--bounds must be LO,HI (two numbers), got {text!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ConfigError(f"--bounds needs finite LO < HI, got {text!r}")
    return lo, hi


def parse_checks(text: str | None) -> list[str] | None:
    """``"a,b"`` -> ``["a", "b"]``; None means every registered check."""
    if text is None:
        return None
    ids = [c.strip() for c in text.split(",") if c.strip()]
    if not ids:
        raise ConfigError("--checks needs at least one check id")
    return ids


def parse_formats(text: str | None) -> tuple[str, ...]:
    """``"json,sarif"`` -> ``("json", "sarif")``, each a registered report format (else
    ConfigError); None means the default set (json, html, sarif, junit)."""
    from aiarmor.reporting.writer import DEFAULT_FORMATS, check_formats

    if text is None:
        return DEFAULT_FORMATS
    names = [f.strip() for f in text.split(",") if f.strip()]
    if not names:
        raise ConfigError("--format needs at least one report format")
    return tuple(check_formats(names))


def cli_policy(path: Path | None) -> Policy:
    """The policy, validated against the registered checks before any work starts."""
    from aiarmor.audit import validate_policy

    policy = load_policy(path) if path is not None else Policy()
    validate_policy(policy)
    return policy


def prepare_out(path: Path) -> Path:
    """``--out``: created and proven writable before any work starts (ConfigError)."""
    from aiarmor.reporting.writer import prepare_out_dir

    return prepare_out_dir(path)


def _warn(lines: list[str]) -> None:
    for line in lines:
        _ERR.print(Text(f"aiarmor: warning: {clean(line)}"), soft_wrap=True)


def finish(
    console: Console, report: Report, out_dir: Path, formats: tuple[str, ...] | None = None
) -> int:
    """Write the reports (``formats``, default all), print the summary and any
    incomplete-audit line; the exit code."""
    print_summary(console, report, _write(report, out_dir, formats))
    return explain_exit(report)


def _write(report: Report, out_dir: Path, formats: tuple[str, ...] | None) -> dict[str, Path]:
    from aiarmor.reporting import write_reports
    from aiarmor.reporting.writer import DEFAULT_FORMATS

    return write_reports(report, out_dir, DEFAULT_FORMATS if formats is None else formats)


def explain_exit(report: Report) -> int:
    """Say on stderr (one line) why an audit is incomplete; return the report's exit code."""
    if report.verdict is Verdict.INCOMPLETE:
        errored = [c for c in report.checks if c.status is CheckStatus.ERROR]
        names = ", ".join(f"{c.id} ({c.reason})" for c in errored)
        _ERR.print(
            Text(f"aiarmor: error: audit incomplete: {len(errored)} check(s) could not "
                 f"finish: {clean(names)}"),
            soft_wrap=True,
        )  # fmt: skip
    return report.exit_code


def run_audit_command(console: Console, args: AuditArgs) -> int:
    """Load model and data, audit with progress, write reports; return the exit code."""
    from aiarmor.audit import audit, input_warnings, select_checks
    from aiarmor.data import load_dataset
    from aiarmor.targets import load_target
    from aiarmor.targets.loading import load_callable
    from aiarmor.targets.pickle_models import provenance_of

    Budget.parse(args.budget)
    formats = parse_formats(args.formats)
    policy = cli_policy(args.policy)
    checks = parse_checks(args.checks)
    if checks is not None:
        select_checks(checks, policy)  # unknown ids fail before anything is loaded
    bounds = parse_bounds(args.bounds)
    out_dir = prepare_out(args.out_dir)
    train = None
    if args.train is not None:
        train = load_dataset(args.train, label=args.label, sensitive=args.sensitive)
    # the held-out table is encoded like the training table (same one-hot columns and labels)
    data = load_dataset(args.data, label=args.label, sensitive=args.sensitive, reference=train)
    target = load_target(
        args.model,
        weights=args.weights,
        bounds=bounds,
        n_classes=args.n_classes,
        input_shape=data.sample_shape,
        trust_skops_types=args.trust_types,
        trust_pickle=args.trust_pickle,
    )
    subject: dict[str, Any] = {
        "model_spec": args.model,
        "weights": str(args.weights) if args.weights else None,
    }
    if args.recipe is not None:  # RMIA/LiRA train reference models with the user's recipe
        from aiarmor.privacy import attach_recipe

        attach_recipe(target, load_callable(args.recipe, "training recipe"))
        subject["recipe"] = args.recipe
    provenance = provenance_of(target)
    if provenance is not None:
        subject.update(provenance.subject())
    _warn(input_warnings(target, data, train))
    with RichAuditProgress(console) as progress:
        report = audit(
            target,
            data,
            train=train,
            policy=policy,
            checks=checks,
            budget=args.budget,
            seed=args.seed,
            progress=progress,
            subject=subject,
        )
    return finish(console, report, out_dir, formats)


_DEMO_INTRO = {
    "digits": "training the demo CNN on scikit-learn's bundled digits ...",
    "credit": "training the credit scenario's classifier on the bundled UCI Adult table ...",
}


def run_demo_command(
    console: Console,
    out_dir: Path,
    *,
    seed: int,
    budget: str,
    policy: Path | None,
    scenario: str = "digits",
) -> int:
    """Run the embedded demo and write its reports; return the exit code."""
    from aiarmor.demo import SCENARIOS, run_demo

    Budget.parse(budget)
    if scenario not in SCENARIOS:
        raise ConfigError(f"--scenario must be {' or '.join(SCENARIOS)}, got {scenario!r}")
    pol = cli_policy(policy)
    out_dir = prepare_out(out_dir)
    console.print(Text(_DEMO_INTRO[scenario], style="dim"))
    with RichAuditProgress(console) as progress:
        run = run_demo(
            out_dir, seed=seed, budget=budget, policy=pol, progress=progress, scenario=scenario
        )
    code = finish(console, run.report, out_dir)
    console.print(Text("audit the saved model again (the same checks and numbers) with:",
                       style="dim"))  # fmt: skip
    console.print(Text(rerun_command(run, seed=seed, budget=budget, policy=policy)),
                  soft_wrap=True)  # fmt: skip
    return code


def rerun_command(run: Any, *, seed: int, budget: str, policy: Path | None) -> str:
    """The ``aiarmor audit`` command line that reproduces the demo's audit of its saved model
    (same data, recipe, seed, budget and policy, so the same checks run with the same results).
    """
    if run.scenario == "credit":
        args = ["--model", str(run.weights), "--data", str(run.test_data),
                "--train", str(run.train_data), "--label", "income",
                "--sensitive", "sex", "--sensitive", "race"]  # fmt: skip
    else:
        args = ["--model", "aiarmor.demo:build_model", "--weights", str(run.weights),
                "--data", str(run.test_data), "--train", str(run.train_data),
                "--bounds", "0,1", "--recipe", "aiarmor.demo:train_recipe"]  # fmt: skip
    args += ["--seed", str(seed), "--budget", budget]
    if policy is not None:
        args += ["--policy", str(policy)]
    return "  aiarmor audit " + clean(shlex.join(args))


def describe_checks() -> list[dict[str, Any]]:
    """Every registered check in its discovery form (``aiarmor checks --json``)."""
    from aiarmor.builtin import load_builtin_checks

    load_builtin_checks()
    return [cls.describe() for cls in registered().values()]


def print_checks(console: Console) -> None:
    """Every check for people, complete at any width (see :mod:`aiarmor.cli.checks_view`)."""
    from aiarmor.cli import checks_view

    checks_view.print_checks(console)
