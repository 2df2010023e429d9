"""Pickles (protocols 0-5, legacy torch.save, uncompressed joblib): the opcode walker."""

from __future__ import annotations

from pathlib import Path

from aiarmor.modelfiles import pickle_scan
from aiarmor.modelfiles.formats.common import ScanContext, check_extension
from aiarmor.modelfiles.registry import FormatAnalyser, ModelFormat, Sniffed, leaf


def scan_pickle(ctx: ScanContext, data: bytes, path: str) -> None:
    """Walk every pickle stream (never unpickled); a disguising extension is a finding."""
    result = pickle_scan.analyze_pickle(bytes(data), path=path)
    ctx.entry(path, result.format, data, result.details)
    ctx.findings.extend(result.findings)
    check_extension(ctx, path, "pickle")


def pickle_kind(head: bytes) -> str:
    """``raw pickle (protocol N)``, from the PROTO opcode (0/1 have none)."""
    if head[:1] == b"\x80" and head[1:2] and 2 <= head[1] <= 5:
        return f"raw pickle (protocol {head[1]})"
    return "raw pickle (protocol 0/1)"


def _loads_as(data: bytes, _path: Path) -> Sniffed:
    return Sniffed(ModelFormat.PICKLE, pickle_kind(bytes(data[:2])))


ANALYSER = FormatAnalyser(
    "pickle",
    lambda head, _data: pickle_scan.looks_like_pickle(head),
    leaf(scan_pickle),
    _loads_as,
)
