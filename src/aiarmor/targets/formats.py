"""What a model file is to the loader, and whether it can be a ``--weights`` file.

The format comes from the one sniffer of :mod:`aiarmor.modelfiles.sniff`, the same answer the
scanner dispatches on (:func:`sniff_model_file` is that sniffer), so the loader never treats a
file as something other than what ``aiarmor scan`` vetted. Only headers are read here: nothing
calls ``pickle``, ``torch.load``, ``joblib`` or any other loader, so inspecting a hostile file
is safe; a test monkeypatches the unpicklers to prove it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from aiarmor.modelfiles.registry import ModelFormat, Sniffed
from aiarmor.modelfiles.sniff import sniff_file as sniff_model_file

__all__ = [
    "ModelFormat",
    "Sniffed",
    "is_torch_legacy",
    "not_weights",
    "sniff_model_file",
    "weights_problem",
]

_HEAD = 64 * 1024
"""Bytes read to describe content that is not weights."""
_MAX_SAFETENSORS_HEADER = 100_000_000
"""The safetensors library's own limit on the JSON header."""
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."
"""How a legacy (non-zip) ``torch.save`` file starts: its magic number, pickled (protocol 2)."""
_NOT_WEIGHTS = "is neither a safetensors file nor a torch.save state_dict"


_LEFT_TO_THE_LOADER = (  # the loader names or refuses these itself
    ModelFormat.TORCHSCRIPT,
    ModelFormat.TORCH_EXPORT,
    ModelFormat.SKOPS,
    ModelFormat.PICKLE,
    ModelFormat.SUSPICIOUS,
)


def weights_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a ``--weights`` file, or None when its structure fits one.

    A weights file is safetensors (header checked: length, JSON, every tensor's dtype, shape
    and offsets inside the file) or a ``torch.save`` state_dict: a zip holding ``data.pkl``,
    or a legacy file (a raw pickle). Headers only are read; nothing is deserialized. Pickles,
    complete models (TorchScript, torch.export, skops) and suspicious zips are left to the
    loader, which refuses unsafe globals by name; a pickle it cannot read is then described
    with :func:`not_weights`.
    """
    found = sniff_model_file(path)
    if found.format is ModelFormat.SAFETENSORS or path.suffix.lower() == ".safetensors":
        problem = _safetensors_problem(path)
        return None if problem is None else f"is not a valid safetensors file: {problem}"
    if found.format in _LEFT_TO_THE_LOADER:
        return None
    return not_weights(path, found)


def is_torch_legacy(path: Path) -> bool:
    """Whether ``path`` starts like a legacy (non-zip) ``torch.save`` file."""
    with path.open("rb") as handle:
        return handle.read(len(_TORCH_LEGACY_MAGIC)) == _TORCH_LEGACY_MAGIC


def not_weights(path: Path, found: Sniffed) -> str:
    """``is neither a safetensors file nor a torch.save state_dict: it is ...`` for ``path``."""
    with path.open("rb") as handle:
        head = handle.read(_HEAD)
    return f"{_NOT_WEIGHTS}: it is {_what(head, found)}"


def _what(head: bytes, found: Sniffed) -> str:
    """A short description of non-weights content for a message."""
    if not head:
        return "empty"
    if head.startswith(_TORCH_LEGACY_MAGIC):
        return "a corrupt legacy torch.save file"
    if _is_text(head):
        return "a text file"
    detail = found.detail
    if found.format is ModelFormat.PICKLE and detail.startswith("raw pickle"):
        return f"a {detail} that is not a torch.save file"
    if found.format is ModelFormat.UNKNOWN and detail == "unrecognised content":
        return "data of no known format"
    return detail if detail.startswith(("a ", "an ")) else f"a {detail}"


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def _safetensors_problem(path: Path) -> str | None:
    """What is wrong with a safetensors file's layout, or None (tensor bytes are not read)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        first = handle.read(8)
        if len(first) < 8:
            return f"it is shorter than the 8-byte header length ({size} bytes)"
        (length,) = struct.unpack("<Q", first)
        if not 2 <= length <= min(size - 8, _MAX_SAFETENSORS_HEADER):
            return f"its header length ({length} bytes) does not fit in the file ({size} bytes)"
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "its header is not JSON"
    if not isinstance(header, dict):
        return "its header is not a JSON object"
    data_size = size - 8 - length
    for name, entry in header.items():
        if name != "__metadata__":
            problem = _tensor_problem(name, entry, data_size)
            if problem is not None:
                return problem
    return None


def _tensor_problem(name: str, entry: object, data_size: int) -> str | None:
    shown = repr(name[:100])
    if not (
        isinstance(entry, dict)
        and isinstance(entry.get("dtype"), str)
        and isinstance(entry.get("shape"), list)
        and all(type(d) is int and d >= 0 for d in entry["shape"])
        and isinstance(entry.get("data_offsets"), list)
        and len(entry["data_offsets"]) == 2
        and all(type(o) is int for o in entry["data_offsets"])
    ):
        return f"tensor {shown} has no valid dtype, shape and data_offsets"
    start, end = entry["data_offsets"]
    if not 0 <= start <= end <= data_size:
        return f"tensor {shown} lies outside the file (offsets {start}..{end}, {data_size} bytes)"
    return None
