"""The format-analyser registry: one analyser per model-file format, in detection order.

An analyser says three things about one format: how its bytes are recognised (``detect``),
how the scanner inspects it without deserializing anything (``analyse``), and what the model
loader treats it as (``loads_as``). :func:`aiarmor.modelfiles.sniff.sniff` asks the analysers
in :data:`REGISTERED` order and the first that recognises the bytes answers for both the
scanner and the loader, so what was vetted is what gets loaded.

Adding a format: write one module under :mod:`aiarmor.modelfiles.formats` that defines a
:class:`FormatAnalyser`, and add one line for it to :data:`REGISTERED`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from aiarmor.core.plugins import load_entries
from aiarmor.modelfiles.formats.common import Recurse, ScanContext


class ModelFormat(StrEnum):
    """What a model file is to the loader, as far as its bytes tell."""

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
    """The one sniffer's answer for a file (:func:`aiarmor.modelfiles.sniff.sniff_file`)."""

    format: ModelFormat
    """What the loader treats the file as."""
    detail: str
    """A short human description, e.g. ``raw pickle (protocol 4)``."""
    root: str = ""
    """For torch zip archives: the top-level folder every member lives in."""
    kind: str = ""
    """Name of the analyser that recognised the bytes (the one the scanner dispatches to);
    empty for an empty file."""


Detect = Callable[[bytes, bytes], bool]
"""``(head, data) -> bool``: ``head`` is the first 512 bytes of ``data``."""
Analyse = Callable[[ScanContext, bytes, str, int, Recurse], None]
"""``(ctx, data, path, depth, recurse)``: record entries and findings; never deserialize."""
LoadsAs = Callable[[bytes, Path], Sniffed]
"""``(data, path) -> Sniffed``: what the loader treats the file as."""


def unrecognised(_data: bytes, _path: Path) -> Sniffed:
    """The loader's answer for formats it has no loader for."""
    return Sniffed(ModelFormat.UNKNOWN, "unrecognised content")


@dataclass(frozen=True, slots=True)
class FormatAnalyser:
    """One model-file format: recognise, analyse, and name it for the loader."""

    name: str
    """Stable name, e.g. ``"pickle"``, ``"zip"``, ``"safetensors"``."""
    detect: Detect
    """Whether the bytes are this format."""
    analyse: Analyse
    """The scanner's structural analysis."""
    loads_as: LoadsAs = unrecognised
    """What the loader treats it as (default: unknown, so the loader refuses it)."""


def leaf(scan: Callable[[ScanContext, bytes, str], None]) -> Analyse:
    """An :data:`Analyse` for a format that holds no nested files."""

    def analyse(ctx: ScanContext, data: bytes, path: str, _depth: int, _recurse: Recurse) -> None:
        scan(ctx, data, path)

    return analyse


REGISTERED: tuple[str, ...] = (
    "zipfmt:POLYGLOT",
    "aiarmor_enc:ANALYSER",
    "pickle_fmt:ANALYSER",
    "numpy_fmt:ANALYSER",
    "zipfmt:ZIP",
    "archives:SEVEN_ZIP",
    "archives:TAR",
    "archives:COMPRESSED",
    "safetensors_fmt:ANALYSER",
    "keras:HDF5",
    "onnx_fmt:ANALYSER",
    "savedmodel:ANALYSER",
    "gguf:ANALYSER",
    "unknown:ANALYSER",
)
"""``module:ATTRIBUTE`` of every analyser under :mod:`aiarmor.modelfiles.formats`, in detection
order (the first that recognises the bytes wins; ``unknown`` recognises everything)."""


@functools.cache
def analysers() -> tuple[FormatAnalyser, ...]:
    """The registered analysers in detection order (duplicate names are rejected)."""
    found = load_entries(
        REGISTERED, FormatAnalyser, "format analyser", "aiarmor.modelfiles.formats"
    )
    return tuple(found)
