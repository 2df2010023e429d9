"""Loading model artifacts safely: weights, TorchScript, torch.export and skops files.

Only loaders that do not run arbitrary code are used: ``safetensors``, ``torch.load`` with
``weights_only=True``, ``torch.jit.load`` (TorchScript's own restricted unpickler and
interpreter), skops with an explicit trust list, and ``torch.export.load`` after checking the
archive holds no pickled payloads or compiled code (torch would unpickle or ``dlopen`` those).
"""

from __future__ import annotations

import io
import json
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aiarmor.core.errors import ModelLoadError, UnsafeModelError
from aiarmor.targets._common import one_line
from aiarmor.targets.formats import ModelFormat, sniff_model_file

_PT2_MEMBERS = re.compile(
    r"(archive_format|archive_version|byteorder|version|\.data/[\w.]+|\.[\w]+"
    r"|models/[\w.-]+\.json|data/sample_inputs/[\w.-]+\.pt"
    r"|data/weights/[\w.-]+_weights_config\.json|data/weights/weight_\d+"
    r"|data/constants/[\w.-]+_constants_config\.json|data/constants/tensor_\d+"
    r"|extra/[^\x00]+|.*/)"
)
"""The members a plain torch.export archive holds; anything else (AOTInductor shared
libraries, pickled constants, legacy weight pickles) is refused."""

_NAME_IMPORTS = (b"default_factory_module", b"__enum__")
"""Graph-JSON markers that make torch's deserializer import modules by name."""


def load_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    """The tensors of a weights file: safetensors, or torch.save read with weights_only."""
    if not path.is_file():
        raise ModelLoadError(f"weights file not found: {path}")
    kind = sniff_model_file(path).format
    if kind in (ModelFormat.TORCHSCRIPT, ModelFormat.TORCH_EXPORT, ModelFormat.SKOPS):
        raise ModelLoadError(
            f"{path} is a complete model ({kind}); pass it as the model, not weights"
        )
    if kind is ModelFormat.SAFETENSORS or path.suffix == ".safetensors":
        return _load_safetensors(path)
    try:
        loaded = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        raise UnsafeModelError(
            f"refusing to load weights {path}: it holds more than tensors "
            f"({_unsafe_reason(exc)}), and loading it would run arbitrary code"
        ) from None
    except Exception as exc:  # torch raises many types on corrupt files
        raise ModelLoadError(f"cannot read weights {path}: {one_line(exc)}") from None
    return _unwrap_state_dict(loaded, path)


def _load_safetensors(path: Path) -> Mapping[str, torch.Tensor]:
    """Tensors of a safetensors file."""
    from safetensors.torch import load_file

    try:
        tensors: dict[str, torch.Tensor] = load_file(str(path), device="cpu")
    except Exception as exc:  # SafetensorError and friends
        raise ModelLoadError(f"cannot read weights {path}: {one_line(exc)}") from None
    return tensors


def _unsafe_reason(exc: BaseException) -> str:
    """The offending global named in torch's weights_only refusal, if it names one."""
    found = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", str(exc))
    return f"global {found.group(1)}" if found else "objects other than tensors"


def _unwrap_state_dict(loaded: object, path: Path) -> Mapping[str, torch.Tensor]:
    """A raw state_dict, or the one under ``state_dict`` / ``model_state_dict``."""
    if isinstance(loaded, Mapping):
        for key in ("state_dict", "model_state_dict"):
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise ModelLoadError(f"{path} does not hold a state_dict (a mapping of name -> tensor)")
    return loaded


def apply_state_dict(
    module: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path
) -> None:
    """Load ``state`` into ``module``; ModelLoadError listing the first few mismatches."""
    problems = _mismatches(module.state_dict(), state)
    if problems:
        raise ModelLoadError(f"weights {path} do not match the model: {problems}")
    try:
        module.load_state_dict(state, strict=True)
    except Exception as exc:  # dtype or other incompatibilities
        raise ModelLoadError(f"cannot apply weights {path}: {one_line(exc)}") from None


def _mismatches(expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]) -> str:
    """A one-line summary of missing/unexpected keys and shape mismatches ('' if none)."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shapes = [
        f"{k} is {tuple(given[k].shape)} in the file but {tuple(v.shape)} in the model"
        for k, v in expected.items()
        if k in given and given[k].shape != v.shape
    ]
    parts = [
        f"{label}: {_first(items)}"
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatch", shapes),
        )
        if items
    ]
    if unexpected and all(k.startswith("module.") for k in unexpected):
        parts.append("(saved from DataParallel? strip the 'module.' prefix)")
    return "; ".join(parts)


def _first(items: Sequence[str], limit: int = 3) -> str:
    """The first ``limit`` items, comma-separated, with a count of the rest."""
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f" (and {more} more)" if more > 0 else "")


def load_torchscript(path: Path) -> torch.nn.Module:
    """A TorchScript archive (``torch.jit.save``), loaded on the CPU."""
    try:
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; files still exist
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
            module: torch.nn.Module = torch.jit.load(  # type: ignore[no-untyped-call]
                str(path), map_location="cpu"
            )
    except Exception as exc:  # corrupt or incompatible archive
        raise ModelLoadError(f"cannot load TorchScript archive {path}: {one_line(exc)}") from None
    return module


@dataclass(frozen=True, slots=True)
class ExportedModel:
    """A loaded torch.export archive and what its graph says about shapes."""

    module: torch.nn.Module
    """The unlifted module (``ExportedProgram.module()``)."""
    n_classes: int | None
    """The size of the output's last axis, when the graph fixes it."""
    fixed_batch: int | None
    """The only batch size the graph accepts, or None for a dynamic batch dimension."""


def load_exported(path: Path, root: str) -> ExportedModel:
    """A checked torch.export archive as a module, with the shapes its graph records."""
    check_export_archive(path, root)
    try:
        with path.open("rb") as handle:
            program = torch.export.load(handle)
        module = program.module()
    except Exception as exc:  # deserialization errors of many kinds
        raise ModelLoadError(f"cannot load torch.export archive {path}: {one_line(exc)}") from None
    input_shape, output_shape = _io_shapes(program)
    batch = input_shape[0] if input_shape else None
    classes = output_shape[-1] if output_shape else None
    return ExportedModel(
        module=module,
        n_classes=classes if isinstance(classes, int) else None,
        fixed_batch=batch if isinstance(batch, int) else None,
    )


def _io_shapes(program: Any) -> tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]:
    """Shapes of the first user input and first output, from the graph's metadata."""
    users = set(program.graph_signature.user_inputs)
    inputs, outputs = [], []
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in users:
            inputs.append(node.meta.get("val"))
        elif node.op == "output" and node.args and node.args[0]:
            first = node.args[0][0]
            outputs.append(first.meta.get("val") if hasattr(first, "meta") else None)
    return _shape(inputs), _shape(outputs)


def _shape(values: list[Any]) -> tuple[Any, ...] | None:
    """The shape of the first value, if it has one."""
    shape = getattr(values[0], "shape", None) if values else None
    return tuple(shape) if shape is not None else None


def check_export_archive(path: Path, root: str) -> None:
    """UnsafeModelError unless a .pt2 archive holds only graph JSON and raw tensor data."""
    with zipfile.ZipFile(path) as archive:
        members = {n[len(root) + 1 :]: n for n in archive.namelist()}
        for member in members:
            if not _PT2_MEMBERS.fullmatch(member):
                raise UnsafeModelError(
                    f"refusing to load {path}: unexpected member {member!r} (torch.export "
                    "archives with compiled code or pickled objects are not loaded)"
                )
        for member, full in members.items():
            _check_pt2_member(path, member, archive.read(full))


def _check_pt2_member(path: Path, member: str, data: bytes) -> None:
    """Reject payloads torch.export.load would unpickle or that import modules by name."""
    if member.endswith("_config.json"):
        try:
            entries = json.loads(data)["config"].values()
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ModelLoadError(f"{path}: malformed {member}") from None
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("use_pickle") is not False:
                raise UnsafeModelError(
                    f"refusing to load {path}: {member} stores pickled tensors or objects"
                )
    elif member.startswith("models/") and any(m in data for m in _NAME_IMPORTS):
        raise UnsafeModelError(
            f"refusing to load {path}: its graph makes torch import Python modules by name"
        )
    elif member.startswith("data/sample_inputs/") and data:
        try:
            torch.load(io.BytesIO(data), weights_only=True)
        except Exception:  # torch.export.load would retry with full unpickling
            raise UnsafeModelError(
                f"refusing to load {path}: its sample inputs hold objects beyond tensors"
            ) from None


def load_skops(path: Path, trust: Sequence[str]) -> Any:
    """A skops file, refused (UnsafeModelError) if it needs types nobody vouched for."""
    import skops.io

    try:
        untrusted = list(skops.io.get_untrusted_types(file=path))
    except Exception as exc:  # corrupt schema.json or archive
        raise ModelLoadError(f"cannot read skops file {path}: {one_line(exc)}") from None
    refused = sorted(set(untrusted) - set(trust))
    if refused:
        flags = " ".join(f"--trust-type {t}" for t in refused)
        raise UnsafeModelError(
            f"refusing to load {path}: it uses types skops does not trust by default "
            f"({', '.join(refused)}); if you have vetted the file, trust them with {flags}"
        )
    try:
        return skops.io.load(path, trusted=untrusted or None)
    except Exception as exc:  # skops/sklearn raise many types on bad files
        raise ModelLoadError(f"cannot load skops file {path}: {one_line(exc)}") from None
