"""Tar, gzip/bz2/xz/lzma, zlib (joblib) and 7z containers: unpack with limits and recurse."""

from __future__ import annotations

import bz2
import io
import lzma
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiarmor.core.findings import Severity
from aiarmor.modelfiles.formats.common import Recurse, ScanContext
from aiarmor.modelfiles.formats.paths import check_member_name
from aiarmor.modelfiles.pickle_scan import looks_like_pickle
from aiarmor.modelfiles.registry import FormatAnalyser, ModelFormat, Sniffed

_SEVEN_ZIP = b"7z\xbc\xaf\x27\x1c"


def compression_of(data: bytes) -> str | None:
    """Name the compression of ``data`` by its magic bytes, or None."""
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:3] == b"BZh":
        return "bz2"
    if data[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if data[:3] == b"\x5d\x00\x00":
        return "lzma"
    if data[:2] == b"ZF" or (
        len(data) > 1 and data[0] == 0x78 and (data[0] << 8 | data[1]) % 31 == 0
    ):
        return "zlib"
    return None


def is_tar(data: bytes) -> bool:
    """POSIX/GNU tar: ``ustar`` at offset 257."""
    return data[257:262] == b"ustar"


def is_7z(data: bytes) -> bool:
    """7z signature."""
    return data[:6] == _SEVEN_ZIP


def _decompressor(kind: str, data: bytes) -> tuple[Callable[[bytes, int], bytes], bytes]:
    """A (decompress(data, max_length), payload) pair for ``kind``."""
    if kind == "gzip":
        return zlib.decompressobj(31).decompress, data
    if kind == "bz2":
        return bz2.BZ2Decompressor().decompress, data
    if kind in ("xz", "lzma"):
        return lzma.LZMADecompressor().decompress, data
    start = _zlib_start(data) if data[:2] == b"ZF" else 0
    return zlib.decompressobj().decompress, data[start:]


def _zlib_start(data: bytes) -> int:
    """Offset of the zlib stream after joblib's ``ZF`` + hex-length header (2 if none)."""
    for pos in range(2, min(len(data) - 1, 64)):
        if data[pos] == 0x78 and (data[pos] << 8 | data[pos + 1]) % 31 == 0:
            return pos
    return 2


def scan_compressed(
    ctx: ScanContext, data: bytes, path: str, depth: int, recurse: Recurse, kind: str
) -> None:
    """Decompress at most ``max_member_bytes`` (+1 to detect overflow), check ratio, recurse."""
    limits = ctx.limits
    func, payload = _decompressor(kind, data)
    try:
        body = func(payload, limits.max_member_bytes + 1)
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
        if kind == "lzma" or (kind == "zlib" and data[:2] != b"ZF"):
            return _not_compressed(ctx, data, path)
        ctx.add(
            "scan.archive.corrupt", Severity.MEDIUM, "Corrupt compressed stream", str(exc), path
        )
        return None
    ctx.entry(path, kind, data, {"decompressed": len(body)})
    if len(body) > limits.max_member_bytes:
        ctx.limit(path, "decompressed size", {"limit": limits.max_member_bytes})
        return None
    if len(body) > 1024**2 and len(body) > limits.max_ratio * max(len(data), 1):
        ctx.limit(path, "compression ratio", {"usize": len(body), "csize": len(data)})
        return None
    ctx.total_bytes += len(body)
    if ctx.total_bytes > limits.max_total_bytes:
        ctx.limit(path, "total uncompressed bytes", {"total": ctx.total_bytes})
        return None
    recurse(ctx, body, f"{path}!<{kind}>", depth + 1)
    return None


def _not_compressed(ctx: ScanContext, data: bytes, path: str) -> None:
    """A weak magic that did not decompress: treat as unknown binary (info)."""
    ctx.entry(path, "unknown", data, {})


def scan_tar(ctx: ScanContext, data: bytes, path: str, depth: int, recurse: Recurse) -> None:
    """List a tar (never extract to disk), check names and links, analyze regular files."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            _scan_tar_members(ctx, tar, data, path, depth, recurse)
    except (tarfile.TarError, EOFError, ValueError) as exc:
        ctx.add("scan.archive.corrupt", Severity.MEDIUM, "Corrupt tar archive", str(exc), path)


def _scan_tar_members(
    ctx: ScanContext, tar: tarfile.TarFile, data: bytes, path: str, depth: int, recurse: Recurse
) -> None:
    """Check every member's name/link; analyze regular files within the limits.

    Members are read one at a time with ``next()`` so the member-count limit holds while
    iterating: a tar of millions of empty headers is stopped at the limit instead of being
    materialised first (as ``getmembers()`` would).
    """
    count, slot = 0, len(ctx.files)
    while (m := tar.next()) is not None:
        count += 1
        if count > ctx.limits.max_members:
            ctx.limit(path, f"more than {ctx.limits.max_members} tar members", {"members": count})
            break
        if not _tar_member(ctx, tar, m, path, depth, recurse):
            break
    ctx.entry(path, "tar", data, {"members": count})
    ctx.files.insert(slot, ctx.files.pop())  # the archive before its members


def _tar_member(
    ctx: ScanContext,
    tar: tarfile.TarFile,
    m: tarfile.TarInfo,
    path: str,
    depth: int,
    recurse: Recurse,
) -> bool:
    """Analyze one member; False once the scan-wide byte limit is exhausted."""
    mpath = f"{path}!{m.name}"
    link = m.linkname if (m.issym() or m.islnk()) else None
    check_member_name(ctx, m.name, mpath, link)
    if not m.isfile():
        return True
    if m.size > ctx.limits.max_member_bytes:
        ctx.limit(mpath, f"member of {m.size} bytes", {"size": m.size})
        return True
    handle = tar.extractfile(m)
    if handle is None:
        return True
    body = handle.read()
    ctx.total_bytes += len(body)
    if ctx.total_bytes > ctx.limits.max_total_bytes:
        ctx.limit(mpath, "total uncompressed bytes", {"total": ctx.total_bytes})
        return False
    recurse(ctx, body, mpath, depth + 1)
    return True


def scan_7z(ctx: ScanContext, data: bytes, path: str, depth: int, recurse: Recurse) -> None:
    """Unpack a 7z archive in memory with py7zr (fail closed when it is unavailable)."""
    try:
        import py7zr
    except ImportError:
        ctx.add(
            "scan.archive.unsupported",
            Severity.MEDIUM,
            "7z archive not inspected",
            "py7zr is not installed; the contents were not scanned (fail closed).",
            path,
        )
        return
    try:
        _scan_7z_members(ctx, py7zr, data, path, depth, recurse)
    except Exception as exc:
        ctx.add("scan.archive.corrupt", Severity.MEDIUM, "Corrupt 7z archive", str(exc), path)


class _SizeExceeded(Exception):
    """Raised from inside py7zr's extraction when a size cap is hit (stops decompression)."""


class _CappedFactory:
    """A py7zr ``WriterFactory`` that keeps members in memory and caps the bytes written.

    Declared 7z sizes are attacker-controlled, so the caps count the bytes the decoder
    actually produces: per member and for the whole archive. Hitting either raises
    :class:`_SizeExceeded`, which aborts the extraction before more is inflated.
    """

    def __init__(self, member_cap: int, total_cap: int) -> None:
        self.member_cap, self.total_cap, self.written = member_cap, total_cap, 0
        self.products: dict[str, io.BytesIO] = {}
        self.overflow: tuple[str, str] | None = None

    def create(self, filename: str) -> Any:
        """A capped in-memory writer for one member (py7zr's ``Py7zIO`` protocol)."""
        buf = io.BytesIO()
        self.products[filename] = buf
        factory = self

        class _Writer:
            def write(self, s: bytes | bytearray) -> int:
                factory.written += len(s)
                if buf.tell() + len(s) > factory.member_cap:
                    factory.overflow = (filename, "7z member size")
                elif factory.written > factory.total_cap:
                    factory.overflow = (filename, "7z total uncompressed size")
                if factory.overflow is not None:
                    raise _SizeExceeded(factory.overflow[1])
                return buf.write(s)

            def read(self, size: int | None = None) -> bytes:
                return buf.read(size)

            def seek(self, offset: int, whence: int = 0) -> int:
                return buf.seek(offset, whence)

            def flush(self) -> None:
                return None

            def size(self) -> int:
                return buf.getbuffer().nbytes

            def close(self) -> None:
                return None

        return _Writer()


def _scan_7z_members(
    ctx: ScanContext, py7zr: Any, data: bytes, path: str, depth: int, recurse: Recurse
) -> None:
    """List the 7z members and check names, extract in memory under caps, then recurse.

    Declared sizes are only a first filter; the caps on the bytes actually decoded hold
    whatever the headers say (a member that lies about its size cannot inflate past them).
    py7zr decodes at most the declared size per member, in chunks, and checks its own
    ``max_extract_size``; our writer checks every chunk it receives against both caps.
    """
    limits = ctx.limits
    ratio_cap = int(limits.max_ratio * len(data)) + 1024**2
    total_cap = min(ratio_cap, limits.max_total_bytes - ctx.total_bytes)
    factory = _CappedFactory(limits.max_member_bytes, max(total_cap, 0))
    with py7zr.SevenZipFile(io.BytesIO(data), max_extract_size=factory.total_cap) as archive:
        infos = archive.list()
        ctx.entry(path, "7z", data, {"members": len(infos)})
        if len(infos) > limits.max_members:
            ctx.limit(path, f"{len(infos)} 7z members", {"members": len(infos)})
            return
        declared = sum(int(i.uncompressed or 0) for i in infos)
        if declared > factory.total_cap or any(
            int(i.uncompressed or 0) > limits.max_member_bytes for i in infos
        ):
            ctx.limit(
                path, "7z declared uncompressed size", {"usize": declared, "csize": len(data)}
            )
            return
        for info in infos:
            check_member_name(ctx, info.filename, f"{path}!{info.filename}")
        try:
            archive.extractall(factory=factory)  # noqa: S202 - in memory only
        except _SizeExceeded:
            pass
        except py7zr.exceptions.DecompressionBombError:
            factory.overflow = ("", "7z total uncompressed size")
    if factory.overflow is not None:
        name, what = factory.overflow
        where = f"{path}!{name}" if name else path
        ctx.limit(where, what, {"decoded": factory.written, "csize": len(data)})
        return
    _recurse_7z(ctx, factory.products, path, depth, recurse)


def _recurse_7z(
    ctx: ScanContext, products: dict[str, io.BytesIO], path: str, depth: int, recurse: Recurse
) -> None:
    """Count the decoded bytes against the scan-wide total, then analyze each member."""
    for name, product in sorted(products.items()):
        body = product.getvalue()
        ctx.total_bytes += len(body)
        if ctx.total_bytes > ctx.limits.max_total_bytes:
            ctx.limit(f"{path}!{name}", "total uncompressed bytes", {"total": ctx.total_bytes})
            return
        recurse(ctx, body, f"{path}!{name}", depth + 1)


_LOADER_WINDOW = 2 * 1024 * 1024
"""Compressed bytes the loader's answer decompresses (a bz2 block must be whole)."""
_TORCH_TAR_MEMBERS = {"pickle", "storages", "tensors", "sys_info"}


def _tar_loads_as(_data: bytes, path: Path) -> Sniffed:
    """Legacy ``torch.save`` tar archives (members ``pickle``, ``storages``, ...)."""
    try:
        with tarfile.open(path, "r:") as archive:
            names = set(archive.getnames())
    except (tarfile.TarError, OSError):
        return Sniffed(ModelFormat.UNKNOWN, "a corrupt tar archive")
    if names & _TORCH_TAR_MEMBERS:
        return Sniffed(ModelFormat.PICKLE, "a legacy torch.save tar archive")
    return Sniffed(ModelFormat.UNKNOWN, "a tar archive of no known model format")


def _compressed_loads_as(data: bytes, _path: Path) -> Sniffed:
    """A compressed pickle (as joblib writes them) when the stream opens like one."""
    kind = compression_of(bytes(data[:512])) or "zlib"
    func, payload = _decompressor(kind, bytes(data[:_LOADER_WINDOW]))
    try:
        inner = func(payload, 512)
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
        inner = b""
    if not looks_like_pickle(inner):
        return Sniffed(ModelFormat.UNKNOWN, f"{kind}-compressed data")
    if data[:2] == b"ZF":
        return Sniffed(ModelFormat.PICKLE, "old joblib compressed pickle")
    return Sniffed(ModelFormat.PICKLE, f"a compressed pickle ({kind}), as joblib writes")


def _scan_compressed(
    ctx: ScanContext, data: bytes, path: str, depth: int, recurse: Recurse
) -> None:
    kind = compression_of(bytes(data[:512]))
    if kind is not None:
        scan_compressed(ctx, data, path, depth, recurse, kind)


SEVEN_ZIP = FormatAnalyser("7z", lambda head, _data: is_7z(head), scan_7z)
TAR = FormatAnalyser("tar", lambda head, _data: is_tar(head), scan_tar, _tar_loads_as)
COMPRESSED = FormatAnalyser(
    "compressed",
    lambda head, _data: compression_of(head) is not None,
    _scan_compressed,
    _compressed_loads_as,
)
