"""The one content sniffer: which registered analyser a model file's bytes belong to.

The scanner dispatches on :func:`sniff` and the loader acts on :func:`sniff_file`, which asks
the same analyser what the file loads as, so the two can never disagree about a file's format.
Detection reads bytes only: nothing is unpickled, imported or loaded.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import cast

from aiarmor.modelfiles.registry import FormatAnalyser, ModelFormat, Sniffed, analysers

HEAD = 512
"""Bytes handed to the analysers' detectors as ``head``."""


def sniff(data: bytes) -> FormatAnalyser:
    """The first registered analyser that recognises ``data`` (``unknown`` at worst)."""
    head = bytes(data[:HEAD])
    for analyser in analysers():
        if analyser.detect(head, data):
            return analyser
    return analysers()[-1]  # pragma: no cover - "unknown" recognises everything


def sniff_file(path: Path) -> Sniffed:
    """What the file at ``path`` is, from its content (the file is mapped, never paged in)."""
    with path.open("rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return Sniffed(ModelFormat.UNKNOWN, "empty file")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            data = cast(bytes, mapped)
            analyser = sniff(data)
            found = analyser.loads_as(data, path)
    return Sniffed(found.format, found.detail, found.root, analyser.name)
