"""Tell a model file's format from its bytes, without deserializing anything.

Detection reads at most a few megabytes of the file, lists zip and tar members, and parses
pickle *opcodes* (``pickletools.genops``, which never builds objects or resolves globals).
Nothing here calls ``pickle``, ``torch.load``, ``joblib`` or any other loader, so inspecting a
hostile file is safe; a test monkeypatches the unpicklers to prove it.
"""

from __future__ import annotations

import bz2
import io
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
