"""Tell a model file's format from its bytes, without deserializing anything.

Detection reads at most a few megabytes of the file, lists zip and tar members, and parses
pickle *opcodes* (``pickletools.genops``, which never builds objects or resolves globals).
Nothing here calls ``pickle``, ``torch.load``, ``joblib`` or any other loader, so inspecting a
hostile file is safe; a test monkeypatches the unpicklers to prove it.
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import pickletools
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

_HEAD = 64 * 1024
"""Bytes read to recognise most formats."""
_COMPRESSED_HEAD = 2 * 1024 * 1024
"""Bytes read from a compressed stream (a bz2 block must be whole before it yields output)."""
_MAX_SAFETENSORS_HEADER = 100_000_000
"""The safetensors library's own limit on the JSON header."""
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."
"""How a legacy (non-zip) ``torch.save`` file starts: its magic number, pickled (protocol 2)."""
_NOT_WEIGHTS = "is neither a safetensors file nor a torch.save state_dict"


class ModelFormat(StrEnum):
    """What a model file is, as far as its bytes tell."""

    TORCHSCRIPT = "torchscript"
    TORCH_EXPORT = "torch.export"
    SKOPS = "skops"
    SAFETENSORS = "safetensors"
    ONNX = "onnx"
    NUMPY = "numpy"
    PICKLE = "pickle"
    """Any pickle-based format: raw or compressed pickle, joblib, torch.save archives."""
    SUSPICIOUS = "suspicious"
    """A container built to look different to different readers (e.g. duplicate members)."""
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Sniffed:
    """The result of :func:`sniff_model_file`."""

    format: ModelFormat
    """The detected format."""
    detail: str
    """A short human description, e.g. ``raw pickle (protocol 4)``."""
    root: str = ""
    """For torch zip archives: the top-level folder every member lives in."""


def sniff_model_file(path: Path) -> Sniffed:
    """The format of the model file at ``path``, from its content (and, last, its suffix)."""
    with path.open("rb") as handle:
        head = handle.read(_HEAD)
    if not head:
        return Sniffed(ModelFormat.UNKNOWN, "empty file")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(path)
    if zipfile.is_zipfile(path):
        return Sniffed(ModelFormat.SUSPICIOUS, "a zip archive with other data in front of it")
    found = _sniff_bytes(path, head)
    if found is not None:
        return found
    if path.suffix.lower() == ".onnx":
        return Sniffed(ModelFormat.ONNX, "ONNX model")
    return Sniffed(ModelFormat.UNKNOWN, "unrecognised content")


def _sniff_bytes(path: Path, head: bytes) -> Sniffed | None:
    """Formats recognised from the first bytes (pickles, compressed streams, tar, ...)."""
    if head[:1] == b"\x80" and head[1:2] and 2 <= head[1] <= 5:
        return Sniffed(ModelFormat.PICKLE, f"raw pickle (protocol {head[1]})")
    if head.startswith(b"ZF"):
        return Sniffed(ModelFormat.PICKLE, "old joblib compressed pickle")
    if head.startswith(b"\x93NUMPY"):
        return Sniffed(ModelFormat.NUMPY, "NumPy .npy array")
    if _is_safetensors(head):
        return Sniffed(ModelFormat.SAFETENSORS, "safetensors weights")
    if head[257:262] == b"ustar":
        return _sniff_tar(path)
    compressed = _compressed_kind(head)
    if compressed is not None:
        return _sniff_compressed(path, compressed)
    if _looks_like_old_pickle(head):
        return Sniffed(ModelFormat.PICKLE, "raw pickle (protocol 0/1)")
    return None


def _sniff_zip(path: Path) -> Sniffed:
    """Classify a zip archive by its member names."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return Sniffed(ModelFormat.UNKNOWN, "a corrupt zip archive")
    if len(set(names)) != len(names):
        return Sniffed(ModelFormat.SUSPICIOUS, "a zip archive listing the same member twice")
    if "schema.json" in names:
        return Sniffed(ModelFormat.SKOPS, "skops archive")
    root, members = _split_root(names)
    return _classify_members(root, members, names)


def _split_root(names: list[str]) -> tuple[str, set[str]]:
    """The single top folder of all members (or ``""``) and the names relative to it."""
    roots = {n.split("/", 1)[0] for n in names}
    if len(roots) == 1 and all("/" in n for n in names):
        root = roots.pop()
        return root, {n[len(root) + 1 :] for n in names}
    return "", set(names)


def _classify_members(root: str, members: set[str], names: list[str]) -> Sniffed:
    """Torch archive kinds (TorchScript, torch.export, torch.save) and other zips."""
    if root and "archive_format" in members:
        return Sniffed(ModelFormat.TORCH_EXPORT, "torch.export archive", root)
    has_code = any(m.startswith("code/") for m in members)
    if root and has_code and members & {"data.pkl", "constants.pkl"}:
        return Sniffed(ModelFormat.TORCHSCRIPT, "TorchScript archive", root)
    if "data.pkl" in members:
        return Sniffed(ModelFormat.PICKLE, "a torch.save archive holding data.pkl", root)
    if any(n.lower().endswith((".pkl", ".pickle", ".joblib")) for n in names):
        return Sniffed(ModelFormat.PICKLE, "a zip archive holding pickles")
    if "serialized_exported_program.json" in names:
        return Sniffed(ModelFormat.UNKNOWN, "an old torch.export archive; re-export it")
    if names and all(n.endswith(".npy") for n in names):
        return Sniffed(ModelFormat.NUMPY, "NumPy .npz arrays")
    return Sniffed(ModelFormat.UNKNOWN, "a zip archive of no known model format")


def _sniff_tar(path: Path) -> Sniffed:
    """Legacy ``torch.save`` tar archives (members ``pickle``, ``storages``, ...)."""
    try:
        with tarfile.open(path, "r:") as archive:
            names = set(archive.getnames())
    except (tarfile.TarError, OSError):
        return Sniffed(ModelFormat.UNKNOWN, "a corrupt tar archive")
    if names & {"pickle", "storages", "tensors", "sys_info"}:
        return Sniffed(ModelFormat.PICKLE, "a legacy torch.save tar archive")
    return Sniffed(ModelFormat.UNKNOWN, "a tar archive of no known model format")


class _Decompressor(Protocol):
    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


def _compressed_kind(head: bytes) -> str | None:
    """The compression of a stream (as joblib writes them), or None."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x5d\x00\x00"):
        return "lzma"
    if len(head) > 1 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    return None


def _decompressor(kind: str) -> _Decompressor:
    """A streaming decompressor for ``kind``."""
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if kind == "zlib":
        return zlib.decompressobj()
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor(lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE)


def _sniff_compressed(path: Path, kind: str) -> Sniffed:
    """A compressed stream whose first decompressed bytes are a pickle (joblib) or not."""
    with path.open("rb") as handle:
        data = handle.read(_COMPRESSED_HEAD)
    try:
        inner = _decompressor(kind).decompress(data, _HEAD)
    except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError):
        inner = b""
    if (inner[:1] == b"\x80" and inner[1:2] and 2 <= inner[1] <= 5) or (
        inner and _looks_like_old_pickle(inner)
    ):
        return Sniffed(ModelFormat.PICKLE, f"a compressed pickle ({kind}), as joblib writes")
    return Sniffed(ModelFormat.UNKNOWN, f"{kind}-compressed data")


def _is_safetensors(head: bytes) -> bool:
    """True for the safetensors layout: a little-endian u64 header length, then JSON."""
    if len(head) < 10:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    return 2 <= length < 100_000_000 and head[8:9] == b"{"


def _looks_like_old_pickle(head: bytes) -> bool:
    """True if ``head`` parses as protocol 0/1 pickle opcodes (parsed, never executed).

    Either the opcode stream reaches STOP, or the read window is full and it held many valid
    opcodes before the window ran out.
    """
    count = 0
    try:
        for opcode, _arg, _pos in pickletools.genops(io.BytesIO(head)):
            count += 1
            if opcode.proto > 1:
                return False
            if opcode.name == "STOP":
                return count >= 2
    except (ValueError, EOFError, UnicodeDecodeError, struct.error):
        return len(head) >= _HEAD and count >= 32
    return False


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
