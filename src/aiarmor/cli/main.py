"""The ``aiarmor`` command: parse -> call the library -> render -> exit code.

Exit codes: 0 passed / nothing found, 1 policy failed / something found, 2 the tool could not
do its job. Bad input gets one line on stderr, never a traceback.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from aiarmor._version import __version__
from aiarmor.cli.render import clean
from aiarmor.core.errors import AiarmorError, ConfigError

app = typer.Typer(
    name="aiarmor",
    rich_markup_mode=None,  # plain help: no <bool> on flags, descriptions at column 34
    help="Assess, harden, deploy and monitor machine-learning models securely.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"aiarmor {__version__}", markup=False)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """aiarmor: a penetration test, a policy gate and a secure runtime for ML models."""


OutDir = Annotated[Path, typer.Option("--out", metavar="DIR", help="Directory for the reports.")]
Budget = Annotated[str, typer.Option(metavar="LEVEL", help="quick | standard | thorough.")]
Seed = Annotated[int, typer.Option(metavar="N", help="Seed: the same seed gives the same report.")]
PolicyOpt = Annotated[
    Path | None, typer.Option("--policy", metavar="PATH", help="Policy TOML file.")
]
TRUST_PICKLE_HELP = (
    "Load a pickle-based --model file (.pt/.pkl/.joblib) that `aiarmor scan` finds clean. "
    "A clean scan is required but not proof: unpickling executes code, so this is your "
    "decision, and the report records it."
)
FORMAT_HELP = "Comma-separated report formats to write (default: json,html,sarif,junit)."
RECIPE_HELP = (
    "Training recipe train_fn(x, y, seed) -> model (file.py:fn or pkg.mod:fn): RMIA and "
    "LiRA train reference models with it (scikit-learn models need none)."
)


@app.command()
def demo(
    out_dir: OutDir = Path("aiarmor-demo"),
    seed: Seed = 0,
    budget: Budget = "standard",
    policy: PolicyOpt = None,
    scenario: Annotated[
        str,
        typer.Option(
            metavar="NAME", help="digits (a CNN) | credit (a tabular model on UCI Adult)."
        ),
    ] = "digits",
) -> None:
    """Train a small model on bundled real data, audit it, write all reports."""
    from aiarmor.cli.commands import run_demo_command

    code = run_demo_command(
        out, out_dir, seed=seed, budget=budget, policy=policy, scenario=scenario
    )
    raise typer.Exit(code)


@app.command("audit")
def audit_cmd(
    model: Annotated[
        str, typer.Option(metavar="SPEC", help="Model SPEC: file.py:fn, pkg.mod:fn, or a file.")
    ],
    data: Annotated[
        Path, typer.Option(metavar="PATH", help="Held-out data: .npz, .csv or .parquet.")
    ],
    weights: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Weights: safetensors or a torch.save state_dict."),
    ] = None,
    train: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Training data (same format).")
    ] = None,
    label: Annotated[
        str | None, typer.Option(metavar="COL", help="Label column of a table.")
    ] = None,
    sensitive: Annotated[
        list[str] | None, typer.Option(metavar="COL", help="Sensitive column (repeat).")
    ] = None,
    bounds: Annotated[
        str | None, typer.Option(metavar="LO,HI", help="Valid input domain LO,HI.")
    ] = None,
    n_classes: Annotated[
        int | None, typer.Option(metavar="N", help="Classes (for plain callables).")
    ] = None,
    trust_type: Annotated[
        list[str] | None, typer.Option(metavar="TYPE", help="skops type to trust.")
    ] = None,
    trust_pickle: Annotated[bool, typer.Option(help=TRUST_PICKLE_HELP)] = False,
    recipe: Annotated[str | None, typer.Option(metavar="SPEC", help=RECIPE_HELP)] = None,
    policy: PolicyOpt = None,
    checks: Annotated[
        str | None, typer.Option(metavar="IDS", help="Comma-separated check ids.")
    ] = None,
    budget: Budget = "standard",
    seed: Seed = 0,
    out_dir: OutDir = Path("aiarmor-report"),
    formats: Annotated[
        str | None,
        typer.Option("--format", metavar="NAMES", help=FORMAT_HELP),
    ] = None,
) -> None:
    """Audit a model on data and write report.{html,json,sarif,junit.xml}."""
    from aiarmor.cli.commands import AuditArgs, run_audit_command

    args = AuditArgs(
        model=model,
        data=data,
        weights=weights,
        train=train,
        label=label,
        sensitive=tuple(sensitive or ()),
        bounds=bounds,
        n_classes=n_classes,
        trust_types=tuple(trust_type or ()),
        trust_pickle=trust_pickle,
        recipe=recipe,
        policy=policy,
        checks=checks,
        budget=budget,
        seed=seed,
        out_dir=out_dir,
        formats=formats,
    )
    raise typer.Exit(run_audit_command(out, args))


@app.command("checks")
def checks_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List every check: id, what it detects, parameters, metrics, standards."""
    from aiarmor.cli.commands import describe_checks, print_checks

    if as_json:
        sys.stdout.write(json.dumps(describe_checks(), indent=2) + "\n")
    else:
        print_checks(out)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the policy.")] = Path("policy.toml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter policy."""
    from aiarmor.core.policy import STARTER_POLICY

    if path.is_dir():
        raise ConfigError(f"{path} is a directory; give the policy file's path")
    if path.exists() and not force:
        raise ConfigError(f"{path} exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: directory {path.parent} does not exist")
    try:
        path.write_text(STARTER_POLICY, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None
    out.print(f"wrote {path}", markup=False)


# Command modules of other areas, one line each; each has `register(app)`.
# (command-registrations)
_COMMAND_MODULES = (
    "aiarmor.cli.artifact_cmd",
    "aiarmor.cli.auditlog_cmd",
    "aiarmor.cli.harden_cmd",
    "aiarmor.cli.harden_adversarial_cmd",
    "aiarmor.cli.harden_dp_cmd",
    "aiarmor.cli.harden_sanitize_cmd",
    "aiarmor.cli.scan_cmd",
    "aiarmor.cli.serve_cmd",
)
for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Console entry point: one-line errors and exit code 2 for anything that goes wrong."""
    try:
        app()
    except AiarmorError as exc:  # messages carry file names and values: escape them
        message = clean(" ".join(str(exc).split()))
        err.print(f"aiarmor: error: {message}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("aiarmor: interrupted", markup=False)
        sys.exit(2)
    except OSError as exc:  # a path the user named cannot be used: their input, not a bug
        if exc.filename is None or os.environ.get("AIARMOR_DEBUG"):
            _internal(exc)
        name = clean(str(exc.filename))[:200]
        reason = exc.strerror or type(exc).__name__
        err.print(f"aiarmor: error: {name}: {reason}", markup=False, highlight=False,
                  soft_wrap=True)  # fmt: skip
        sys.exit(2)
    except Exception as exc:
        _internal(exc)


def _internal(exc: BaseException) -> None:
    """A real bug: one line naming it (the traceback with AIARMOR_DEBUG=1), exit 2."""
    if os.environ.get("AIARMOR_DEBUG"):
        raise exc
    msg = clean(" ".join(str(exc).split())[:300])
    err.print(
        f"aiarmor: internal error: {type(exc).__name__}: {msg} "
        "(set AIARMOR_DEBUG=1 for the traceback)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
