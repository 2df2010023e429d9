"""What every hardening writes into its output directory.

* the hardened model (``model.safetensors``: the weights, never pickle, for the same model
  factory; or ``model.skops``: the whole estimator);
* ``report.{json,html,sarif,junit.xml}``: the hardened model's audit, with the before/after
  section;
* ``before/report.*``: the original model's audit, in full;
* ``comparison.json``: the mitigation's settings, the before/after rows and any extra fields;
* the held-out data as the hardened model takes it, when it takes other input than the
  original (the fairness threshold method's group-code columns).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiarmor.core.report import Report
from aiarmor.hardening.run import HardeningRun
from aiarmor.reporting import write_reports

COMPARISON_FILE = "comparison.json"
BEFORE_DIR = "before"


def write_hardening(run: HardeningRun, out_dir: Path) -> dict[str, Path]:
    """Write the model, both reports, the comparison (and the data); what -> path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model = save_model(run.hardened.model, out_dir / run.model_file)
    write_reports(run.before, out_dir / BEFORE_DIR)
    written = write_reports(run.after, out_dir)
    comparison = {**run.hardened.info, "rows": section_rows(run.after, run.section_id),
                  **run.hardened.extra}  # fmt: skip
    (out_dir / COMPARISON_FILE).write_text(json.dumps(comparison, indent=2) + "\n", "utf-8")
    paths = {"model": model, **written, "before": out_dir / BEFORE_DIR,
             "comparison": out_dir / COMPARISON_FILE}  # fmt: skip
    if run.hardened.data_file is not None:
        paths["data"] = save_data(run.hardened.data, out_dir / run.hardened.data_file)
    return paths


def section_rows(report: Report, section_id: str) -> list[dict[str, Any]]:
    """The before/after rows of a section (its first finding's evidence)."""
    section = report.check(section_id)
    rows: list[dict[str, Any]] = (
        section.findings[0].evidence.get("rows", []) if section.findings else []
    )
    return rows


def save_model(model: Any, path: Path) -> Path:
    """A torch module's weights as safetensors, or an estimator with skops, by suffix."""
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        state = model.state_dict()
        save_file({k: v.detach().contiguous() for k, v in state.items()}, str(path))
    elif path.suffix == ".skops":
        import skops.io

        skops.io.dump(model, path)
    else:
        raise ValueError(f"no writer for model file {path.name!r} (.safetensors or .skops)")
    return path


def save_data(data: Any, path: Path) -> Path:
    """A Dataset as ``.npz``: ``x``, ``y`` and one ``sensitive_<name>`` array per attribute."""
    import numpy as np

    np.savez_compressed(path, x=data.x, y=data.y,
                        **{f"sensitive_{k}": v for k, v in data.sensitive.items()})  # fmt: skip
    return path
