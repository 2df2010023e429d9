"""Load a pickle-based model file only after a clean scan and the user's explicit trust.

Unpickling is code execution. The gate, in order:

1. :func:`aiarmor.modelfiles.engine.inspect` (what ``aiarmor scan`` runs on a file) inspects
   it without deserializing it. Any finding of
   low severity or above refuses the file (UnsafeModelError naming the worst finding).
2. A clean scan is necessary but not sufficient: the scanner's allowlist fails closed, yet
   loading a pickle still runs whatever the allowlisted callables do. Without ``trust=True``
   (``--trust-pickle``) the file is refused even when clean.
3. Trusted and clean, the file is loaded by the narrowest loader that works:
   ``torch.load(weights_only=True)``; for torch files naming module classes, the same with
   only those classes added as safe globals; otherwise (pickle, joblib) an Unpickler whose
   ``find_class`` resolves only the globals the scan saw *and* the policy allowlists.

The result carries :class:`~aiarmor.modelfiles.provenance.PickleProvenance`, which the audit
records in the report.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any

from aiarmor.core.errors import ModelLoadError, UnsafeModelError
from aiarmor.core.findings import Severity
from aiarmor.modelfiles.engine import inspect
from aiarmor.modelfiles.pickle_policy import classify, normalize
from aiarmor.modelfiles.provenance import PickleProvenance, provenance_of, remember
from aiarmor.modelfiles.results import ScanReport, scan_path
from aiarmor.targets._common import one_line

TRUST_HINT = (
    "pass --trust-pickle to load it anyway (a clean scan is necessary, but unpickling "
    "still executes code)"
)
_TORCH_FORMATS = {"pytorch-zip", "pytorch-legacy"}
__all__ = ["TRUST_HINT", "PickleProvenance", "load_pickle_model", "provenance_of", "remember"]


def load_pickle_model(path: Path, *, trust: bool) -> tuple[object, PickleProvenance]:
    """Scan ``path``; refuse on any finding or without ``trust``; else load it narrowly."""
    report = inspect(path)
    if report.errors:
        raise ModelLoadError(f"cannot scan {path}: {report.errors[0]}")
    blocking = [f for f in report.findings if f.severity >= Severity.LOW]
    if blocking:
        worst = blocking[0]
        raise UnsafeModelError(
            f"refusing to load {path}: `aiarmor scan` found {len(blocking)} problem(s) in this "
            f"pickle-based file, worst {worst.severity.label}: {worst.title} at "
            f"{scan_path(worst)} ({worst.check_id}: {_clip(worst.detail)})"
        )
    if not trust:
        raise UnsafeModelError(
            f"refusing to load {path}: it is a pickle-based format; `aiarmor scan` found "
            f"nothing, but unpickling runs arbitrary code; {TRUST_HINT}"
        )
    allowed = _allowed_globals(report)
    summary = _summary(report)
    formats = {entry.format for entry in report.files}
    if formats & _TORCH_FORMATS:
        model, loader = _torch_load(path, allowed)
    else:
        model, loader = _restricted_load(path, allowed), "restricted unpickler"
    return model, PickleProvenance(str(path), loader, tuple(sorted(allowed)), summary)


def _clip(text: str, width: int = 200) -> str:
    """One printable line of at most ``width`` characters (finding details are attacker text)."""
    flat = "".join(ch if ch.isprintable() else "?" for ch in " ".join(text.split()))
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _allowed_globals(report: ScanReport) -> set[str]:
    """Globals the scan saw in any pickle stream that the policy allowlists."""
    seen: set[str] = set()
    for entry in report.files:
        seen.update(str(c) for c in entry.details.get("callables", ()))
    return {name for name in seen if classify(name) == "allowed"}


def _summary(report: ScanReport) -> dict[str, Any]:
    """The scan's summary and inventory, without per-member noise."""
    data = report.to_dict()
    files = [{k: f[k] for k in ("path", "format", "size", "sha256")} for f in data["files"]]
    return {**data["summary"], "inventory": files[:50]}


def _torch_load(path: Path, allowed: set[str]) -> tuple[object, str]:
    """``torch.load(weights_only=True)``; if it needs module classes, add just those."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True), (
            "torch.load(weights_only=True)"
        )
    except pickle.UnpicklingError:
        pass  # weights_only refused a global (e.g. a module class): add the scanned ones
    except Exception as exc:  # corrupt archive, unsupported layout, ...
        raise ModelLoadError(f"cannot load {path}: {one_line(exc)}") from None
    extra = [_resolve(name) for name in sorted(allowed) if name.startswith("torch.nn.modules.")]
    try:
        with torch.serialization.safe_globals(extra):
            model = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(f"cannot load {path} with weights_only: {one_line(exc)}") from None
    return model, "torch.load(weights_only=True) + the scanned torch.nn module classes"


def _resolve(qualname: str) -> Any:
    """Import ``module.Class`` (an allowlisted name from the scan)."""
    module, _, name = qualname.rpartition(".")
    obj: Any = importlib.import_module(module)
    return getattr(obj, name)


def _restricted_load(path: Path, allowed: set[str]) -> object:
    """Unpickle (plain or joblib, compressed or not) resolving only ``allowed`` globals."""
    from joblib import numpy_pickle  # type: ignore[import-untyped]

    class Restricted(numpy_pickle.NumpyUnpickler):  # type: ignore[misc]
        def find_class(self, module: str, name: str) -> Any:
            qualname = normalize(module, name)
            if qualname not in allowed:
                raise UnsafeModelError(f"refusing to resolve {qualname!r}: not scanned/allowed")
            return super().find_class(module, name)

    try:
        with path.open("rb") as handle:
            validate = numpy_pickle._validate_fileobject_and_memmap
            with validate(handle, str(path), None) as (fobj, _mmap):
                if isinstance(fobj, str):
                    raise ModelLoadError(f"{path}: joblib < 0.10 layouts are not supported")
                return Restricted(str(path), fobj, True).load()
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"cannot load {path}: {one_line(exc)}") from None
