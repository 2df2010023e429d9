"""One hardening run: audit the original model, mitigate, audit the result, compare.

Both audits run the hardener's checks with the same policy, data, budget and seed, so the
before/after section compares like with like. The hardened model's report carries the section
(:func:`aiarmor.core.comparison.with_section`) and the mitigation's settings in its subject.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiarmor.audit import AuditProgress, audit
from aiarmor.core.comparison import with_section
from aiarmor.core.hardener import Hardened, Hardener
from aiarmor.core.policy import Policy
from aiarmor.core.report import Report

STAGES = ("before", "transform", "after")
"""What ``on_stage`` is told, in order: each just before it starts."""


@dataclass(frozen=True, slots=True)
class HardeningRun:
    """What :func:`run_hardening` produced."""

    hardened: Hardened
    """The hardened model and what its mitigation recorded."""
    before: Report
    """The original model's audit."""
    after: Report
    """The hardened model's audit, with the before/after section appended."""
    section_id: str
    """Id of that section in :attr:`after`."""
    model_file: str
    """File name the hardened model is saved under (the hardener's)."""


def run_hardening(
    hardener: Hardener,
    target: Any,
    train: Any,
    data: Any,
    *,
    policy: Policy | None = None,
    budget: str = "standard",
    seed: int = 0,
    progress: AuditProgress | None = None,
    subject: Mapping[str, Any] | None = None,
    out_dir: Path | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> HardeningRun:
    """Audit ``target``, harden it with ``hardener`` on ``train``, audit the result on ``data``.

    ``subject`` describes the original model (``model_spec``, ``weights``); ``out_dir`` is
    where :func:`~aiarmor.hardening.write_hardening` will save the model, recorded in the
    hardened model's subject. ``on_stage`` hears each of :data:`STAGES` as it starts.
    """
    hardener.validate(target, train, data)
    policy = hardener.policy_for(policy or Policy(), data)
    common: dict[str, Any] = {"checks": list(hardener.checks), "policy": policy,
                              "budget": budget, "seed": seed, "progress": progress}  # fmt: skip
    _tell(on_stage, "before")
    before = audit(target, data, train=train, subject={**(subject or {}), "stage": "before"},
                   **common)  # fmt: skip
    _tell(on_stage, "transform")
    hardened = hardener.transform(target, train, data)
    _tell(on_stage, "after")
    after = audit(
        hardened.target, data if hardened.data is None else hardened.data,
        train=train if hardened.train is None else hardened.train,
        subject={**saved_subject(hardener.model_file, subject, out_dir), "stage": "after"},
        **common,
    )  # fmt: skip
    section = hardener.section(before, after, hardened)
    after = with_section(after, section, hardened.info)
    return HardeningRun(hardened, before, after, section.id, hardener.model_file)


def saved_subject(
    model_file: str, subject: Mapping[str, Any] | None, out_dir: Path | None
) -> dict[str, Any]:
    """How the saved hardened model is named: the same model factory with the new weights,
    or (a whole saved estimator) the file's name."""
    if not model_file.endswith(".safetensors"):
        return {"model_spec": model_file}
    weights = None if out_dir is None else str(out_dir / model_file)
    return {"model_spec": (subject or {}).get("model_spec"), "weights": weights}


def _tell(on_stage: Callable[[str], None] | None, stage: str) -> None:
    if on_stage is not None:
        on_stage(stage)
