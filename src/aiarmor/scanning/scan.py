"""The model-file scanner: identify formats by content, recurse with limits, collect findings.

Nothing is ever deserialized. Pickle-bearing data goes to the opcode walker
(:mod:`aiarmor.scanning.pickle_scan`); every other format is parsed structurally.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from aiarmor.core.findings import Severity
from aiarmor.scanning import pickle_scan
from aiarmor.scanning.formats import (
    aiarmor_enc,
    archives,
    gguf,
    keras,
    onnx_fmt,
    safetensors_fmt,
    savedmodel,
    zipfmt,
)
from aiarmor.scanning.formats.common import (
    DOS_STANDARDS,
    ScanContext,
    ScanLimits,
    printable_text,
)
from aiarmor.scanning.types import ScanReport

__all__ = ["ScanLimits", "scan", "scan_bytes", "to_sarif"]

DEFAULT_LIMITS = ScanLimits()
"""The limits used when none are given."""
_PICKLE_EXTS = {".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".dat", ".data"}
_NON_PICKLE_EXTS = {".json", ".txt", ".safetensors", ".npy", ".onnx", ".gguf", ".h5", ".csv"}


def scan(
    paths: Iterable[str | os.PathLike[str]], *, limits: ScanLimits = DEFAULT_LIMITS
) -> ScanReport:
    """Scan files and directories (recursively); missing/unreadable paths go to ``errors``."""
    ctx = ScanContext(limits)
    errors: list[str] = []
    for raw in paths:
        path = Path(raw)
        files = _walk(ctx, path) if path.is_dir() else [path]
        for file in files:
            try:
                _scan_file(ctx, file)
            except OSError as exc:
                errors.append(f"{file}: {exc.strerror or exc}")
    return _report(ctx, errors)


def _walk(ctx: ScanContext, root: Path) -> list[Path]:
    """Regular files below ``root``; symlinks are reported, never followed."""
    files = []
    base = root.resolve()
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            target = p.resolve()
            inside = target == base or base in target.parents
            ctx.add(
                "scan.archive.traversal" if not inside else "scan.archive.symlink",
                Severity.HIGH if not inside else Severity.LOW,
                "Symlink in a model directory" + ("" if inside else " points outside it"),
                f"{str(p)!r} links to {str(target)!r}; a loader following it reads that file. "
                "It was not followed.",
                str(p),
                {"target": str(target)},
            )
        elif p.is_file():
            files.append(p)
    return files


def scan_bytes(data: bytes, *, path: str, limits: ScanLimits = DEFAULT_LIMITS) -> ScanReport:
    """Scan an in-memory blob named ``path``."""
    ctx = ScanContext(limits)
    analyze(ctx, data, path, 0)
    return _report(ctx, [])


def _scan_file(ctx: ScanContext, file: Path) -> None:
    """Map the file (so tensor data is never paged in) and analyze it."""
    with file.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            ctx.entry(str(file), "empty", b"", {})
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            analyze(ctx, cast(bytes, mapped), str(file), 0)


def _report(ctx: ScanContext, errors: list[str]) -> ScanReport:
    findings = sorted(ctx.findings, key=lambda f: (-f.severity, f.path, f.rule))
    return ScanReport(tuple(findings), tuple(ctx.files), tuple(errors))


def analyze(ctx: ScanContext, data: bytes, path: str, depth: int) -> None:
    """Identify ``data`` by content and hand it to its analyzer (the recursion callback)."""
    if depth > ctx.limits.max_depth:
        ctx.limit(path, f"nesting deeper than {ctx.limits.max_depth}", {"depth": depth})
        return
    head = bytes(data[:512])
    if not head.startswith(b"PK") and zipfmt.is_zip(data) and _has_central(data):
        zipfmt.scan_zip(ctx, data, path, depth, analyze)  # polyglot: data before a zip
        return
    if aiarmor_enc.is_aiarmor_encrypted(head):
        aiarmor_enc.scan_encrypted(ctx, data, path)
        return
    if pickle_scan.looks_like_pickle(head):
        _pickle(ctx, data, path)
        _extension(ctx, path, "pickle")
        return
    if head.startswith(b"\x93NUMPY"):
        result = pickle_scan.analyze_npy(bytes(data), path=path)
        ctx.entry(path, result.format, data, result.details)
        ctx.findings.extend(result.findings)
        return
    if _container(ctx, data, head, path, depth):
        return
    _leaf(ctx, data, head, path)


def _pickle(ctx: ScanContext, data: bytes, path: str) -> None:
    """Run the opcode walker (pickle, legacy torch, uncompressed joblib)."""
    result = pickle_scan.analyze_pickle(bytes(data), path=path)
    ctx.entry(path, result.format, data, result.details)
    ctx.findings.extend(result.findings)


def _container(ctx: ScanContext, data: bytes, head: bytes, path: str, depth: int) -> bool:
    """Archives and compressed streams; True when ``data`` was one."""
    if head.startswith(b"PK"):
        zipfmt.scan_zip(ctx, data, path, depth, analyze)
        return True
    if archives.is_7z(head):
        archives.scan_7z(ctx, data, path, depth, analyze)
        return True
    if archives.is_tar(head):
        archives.scan_tar(ctx, data, path, depth, analyze)
        return True
    kind = archives.compression_of(head)
    if kind is not None:
        archives.scan_compressed(ctx, data, path, depth, analyze, kind)
        return True
    return False


def _has_central(data: bytes) -> bool:
    try:
        return bool(zipfmt.read_central(data)[0])
    except (ValueError, IndexError, Exception):
        return False


def _leaf(ctx: ScanContext, data: bytes, head: bytes, path: str) -> None:
    """Non-container formats, then unknown data."""
    if safetensors_fmt.looks_like_safetensors(head):
        safetensors_fmt.scan_safetensors(ctx, data, path)
        _extension(ctx, path, "safetensors")
    elif head.startswith(keras.HDF5_MAGIC):
        keras.scan_hdf5(ctx, data, path)
    elif onnx_fmt.looks_like_onnx(data):
        onnx_fmt.scan_onnx(ctx, data, path)
    elif savedmodel.looks_like_saved_model(data):
        savedmodel.scan_saved_model(ctx, data, path)
    elif gguf.is_gguf(head):
        gguf.scan_gguf(ctx, data, path)
    else:
        _unknown(ctx, data, head, path)


def _unknown(ctx: ScanContext, data: bytes, head: bytes, path: str) -> None:
    """Plain text gets no finding; unknown binary is an info note."""
    is_text = b"\x00" not in head and printable_text(head)
    ctx.entry(path, "text" if is_text else "unknown", data, {})
    if not is_text:
        ctx.add(
            "scan.format.unknown",
            Severity.INFO,
            "Unrecognized binary data",
            "The content matches no known model format; it was not analyzed further.",
            path,
        )


def _extension(ctx: ScanContext, path: str, fmt: str) -> None:
    """A disguising extension (pickle named .json/.safetensors/...) is a low finding."""
    leaf = path.rsplit("!", 1)[-1]
    ext = os.path.splitext(leaf)[1].lower()
    if fmt == "pickle" and ext in _NON_PICKLE_EXTS:
        ctx.add(
            "scan.format.mismatch",
            Severity.LOW,
            "File extension disguises a pickle",
            f"The name ends in {ext!r} but the content is a pickle (executes code when loaded).",
            path,
            {"extension": ext, "format": fmt},
        )
    elif fmt != "pickle" and ext in _PICKLE_EXTS - {".bin", ".dat", ".data"}:
        ctx.add(
            "scan.format.mismatch",
            Severity.INFO,
            "File extension disagrees with the content",
            f"The name ends in {ext!r} but the content is {fmt}.",
            path,
            {"extension": ext, "format": fmt},
            DOS_STANDARDS[1:],
        )


def to_sarif(report: ScanReport) -> dict[str, Any]:
    """SARIF 2.1.0 log of a scan (artifact = outer file; member path in message/properties)."""
    rules = sorted({f.rule: f for f in report.findings}.items())
    level = {0: "note", 1: "note", 2: "warning", 3: "error", 4: "error"}
    results = [
        {
            "ruleId": f.rule,
            "level": level[int(f.severity)],
            "message": {"text": f"{f.title}: {f.detail} [{f.path}]"},
            "locations": [
                {"physicalLocation": {"artifactLocation": {"uri": f.path.split("!", 1)[0]}}}
            ],
            "properties": {
                "severity": f.severity.label,
                "member": f.path,
                "standards": list(f.standards),
            },
        }
        for f in report.findings
    ]
    driver = {
        "name": "aiarmor-scan",
        "informationUri": "https://github.com/aiarmor/aiarmor",
        "rules": [{"id": r, "shortDescription": {"text": f.title}} for r, f in rules],
    }
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }
