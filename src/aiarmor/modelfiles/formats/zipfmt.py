"""Zip archives parsed by hand, so the tricks that :mod:`zipfile` hides become findings.

Loaders such as ``torch.load`` read members by their central-directory name; a scanner that
walks local headers (or trusts ``zipfile``) can be shown a different file than the loader
gets. We read both directories, compare them, read member data from the offsets the loader
uses, and report encrypted members, CRC/flag mismatches, duplicates and polyglot data.
"""

from __future__ import annotations

import dataclasses
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from aiarmor.core.findings import Severity
from aiarmor.modelfiles.formats import keras
from aiarmor.modelfiles.formats.common import Recurse, ScanContext, printable_text, safe_name
from aiarmor.modelfiles.formats.paths import check_member_name
from aiarmor.modelfiles.registry import FormatAnalyser, ModelFormat, Sniffed

_EOCD = struct.Struct("<4s4H2IH")
_CDIR = struct.Struct("<4s6H3I5H2I")
_LOCAL = struct.Struct("<4s5H3I2H")
_TENSOR_RE = re.compile(r"^[^/]+/data/\d+$")


@dataclass(frozen=True, slots=True)
class ZipMember:
    """One central-directory entry."""

    name: str
    """Central-directory name (what loaders use)."""
    flags: int
    """General-purpose bit flags."""
    method: int
    """Compression method (0 stored, 8 deflate)."""
    crc: int
    """Declared CRC-32."""
    csize: int
    """Compressed size."""
    usize: int
    """Uncompressed size."""
    offset: int
    """Offset of the local header."""


def is_zip(data: bytes) -> bool:
    """A zip has an end-of-central-directory record (it may not start at offset 0)."""
    return data.rfind(b"PK\x05\x06", max(0, len(data) - 65_600)) >= 0


def _zip64(extra: bytes, member: ZipMember) -> ZipMember:
    """Apply a zip64 extended-information extra field to the 0xFFFFFFFF fields."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if tag != 1:
            continue
        vals = [v for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
        usize, csize, offset = member.usize, member.csize, member.offset
        if usize == 0xFFFFFFFF and vals:
            usize = vals.pop(0)
        if csize == 0xFFFFFFFF and vals:
            csize = vals.pop(0)
        if offset == 0xFFFFFFFF and vals:
            offset = vals.pop(0)
        return ZipMember(member.name, member.flags, member.method, member.crc, csize, usize, offset)
    return member


def _find_eocd(data: bytes) -> int:
    """Offset of the end record: in the last 64 KiB (where zip readers look), else anywhere.

    The fallback finds a zip followed by a large appended payload, so that payload is
    scanned instead of the whole file failing as corrupt. Raises ValueError when absent.
    """
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_600))
    if eocd < 0 and data[:4] == b"PK\x03\x04":
        eocd = data.rfind(b"PK\x05\x06")
    if eocd < 0 or eocd + _EOCD.size > len(data):
        raise ValueError("no end-of-central-directory record")
    return eocd


def read_central(data: bytes) -> tuple[list[ZipMember], int, int]:
    """Return the members, the central directory's offset and its end; raise ValueError."""
    eocd = _find_eocd(data)
    _sig, _d1, _d2, _n1, count, cd_size, cd_off, _clen = _EOCD.unpack_from(data, eocd)
    end = eocd
    if data[eocd - 20 : eocd - 16] == b"PK\x06\x07":  # zip64 locator precedes the end record
        end = data.rfind(b"PK\x06\x06", 0, eocd)
        if end < 0:
            raise ValueError("zip64 archive without a zip64 end record")
        count, cd_size, cd_off = struct.unpack_from("<QQQ", data, end + 32)
    base = end - cd_size - cd_off  # > 0 when data was prepended (zipfile tolerates it)
    if base < 0:
        raise ValueError("central directory offset past its end")
    cd_off += base
    members: list[ZipMember] = []
    pos = cd_off
    for _ in range(count):
        if pos + _CDIR.size > len(data) or data[pos : pos + 4] != b"PK\x01\x02":
            raise ValueError("central directory entry out of range or corrupt")
        f = _CDIR.unpack_from(data, pos)
        nlen, xlen, clen = f[10], f[11], f[12]
        name = data[pos + 46 : pos + 46 + nlen].decode("utf-8", "replace")
        extra = data[pos + 46 + nlen : pos + 46 + nlen + xlen]
        member = _zip64(extra, ZipMember(name, f[3], f[4], f[7], f[8], f[9], f[16]))
        members.append(dataclasses.replace(member, offset=member.offset + base))
        pos += 46 + nlen + xlen + clen
    return members, cd_off, eocd


def _local(data: bytes, m: ZipMember) -> tuple[str, int, int, int] | None:
    """Local header of ``m``: (name, flags, crc, data offset) or None when corrupt."""
    if m.offset + _LOCAL.size > len(data) or data[m.offset : m.offset + 4] != b"PK\x03\x04":
        return None
    f = _LOCAL.unpack_from(data, m.offset)
    start = m.offset + 30
    name = data[start : start + f[9]].decode("utf-8", "replace")
    return name, f[2], f[6], start + f[9] + f[10]


def _inflate(raw: bytes, method: int, limit: int) -> tuple[bytes, bool]:
    """Decompress member data, at most ``limit`` bytes, and whether more was left.

    The cap holds whatever the headers declare, so a bomb that lies about its size cannot
    inflate past it. Raises ValueError for an unsupported method.
    """
    if method == 0:
        return raw[:limit], len(raw) > limit
    if method == 8:
        inflater = zlib.decompressobj(-15)
        body = inflater.decompress(raw, limit)
        return body, bool(inflater.unconsumed_tail) or (len(body) >= limit and not inflater.eof)
    raise ValueError(f"unsupported compression method {method}")


def classify(names: list[str]) -> str:
    """Name the zip flavour from its member list (content, not the archive's extension)."""
    tops = {n.rsplit("/", 1)[-1] for n in names}
    if any(n.endswith("/data.pkl") for n in names):
        return "torchscript" if any("/code/" in f"/{n}" for n in names) else "pytorch-zip"
    if "constants.pkl" in tops and any("code/" in n for n in names):
        return "torchscript"
    if {"config.json", "metadata.json"} <= tops or "model.weights.h5" in tops:
        return "keras-v3"
    if "schema.json" in tops:
        return "skops"
    if names and all(n.endswith(".npy") for n in names):
        return "npz"
    return "zip"


class _ZipScan:
    """One zip archive being scanned."""

    def __init__(self, ctx: ScanContext, data: bytes, path: str, depth: int, recurse: Recurse):
        self.ctx, self.data, self.path, self.depth, self.recurse = ctx, data, path, depth, recurse
        self.flavour = "zip"

    def run(self) -> None:
        """Check the structure, then analyze each member."""
        try:
            members, cd_off, eocd = read_central(self.data)
        except (ValueError, struct.error) as exc:
            self._bad(f"unreadable zip structure: {exc}")
            return
        names = [m.name for m in members]
        flavour = classify(names)
        self.flavour = flavour
        self._polyglot(members, cd_off, eocd)
        self._duplicates(names)
        if len(members) > self.ctx.limits.max_members:
            self.ctx.limit(self.path, f"{len(members)} zip members", {"members": len(members)})
            members = members[: self.ctx.limits.max_members]
        tensors = [m for m in members if flavour != "zip" and _TENSOR_RE.match(m.name)]
        details = {"flavour": flavour, "members": len(members), "tensors": len(tensors)}
        details["tensor_bytes"] = sum(m.usize for m in tensors)
        self.ctx.entry(self.path, flavour, self.data, details)
        skip = {id(m) for m in tensors}
        for m in members:
            if id(m) not in skip:
                self._member(m)

    def _bad(self, why: str) -> None:
        self.ctx.add(
            "scan.archive.corrupt", Severity.MEDIUM, "Archive could not be parsed", why, self.path
        )

    def _polyglot(self, members: list[ZipMember], cd_off: int, eocd: int) -> None:
        """Report and analyze bytes before the first member and after the end record.

        Another reader sees those bytes as a file of its own (``pickle.load`` reads a pickle
        placed in front; a pickle appended after the end record or hidden in the archive
        comment is a second payload), so they are scanned like any other content.
        """
        comment_len = struct.unpack_from("<H", self.data, eocd + 20)[0]
        tail = eocd + 22 + comment_len
        first = min((m.offset for m in members), default=cd_off)
        after = len(self.data) - tail
        comment = bytes(self.data[eocd + 22 : min(tail, len(self.data))])
        if comment and not printable_text(comment):
            self.recurse(self.ctx, comment, f"{self.path}!<comment>", self.depth + 1)
        if first > 0 or after > 0:
            self.ctx.add(
                "scan.archive.polyglot",
                Severity.HIGH,
                "Data outside the zip structure (polyglot file)",
                f"{first} bytes before the first member and {after} after the end record; "
                "another loader may read them as a different format.",
                self.path,
                {"prefix_bytes": first, "suffix_bytes": after},
            )
            if first > 0:
                self.recurse(self.ctx, self.data[:first], f"{self.path}!<prefix>", self.depth + 1)
            if after > 0:
                self.recurse(self.ctx, self.data[tail:], f"{self.path}!<suffix>", self.depth + 1)

    def _duplicates(self, names: list[str]) -> None:
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            self.ctx.add(
                "scan.archive.duplicate",
                Severity.HIGH,
                "Duplicate member names",
                f"Members {', '.join(map(safe_name, dups[:10]))} appear more than once; "
                "different readers pick different copies.",
                self.path,
                {"names": dups[:50]},
            )

    def _member(self, m: ZipMember) -> None:
        mpath = f"{self.path}!{m.name}"
        check_member_name(self.ctx, m.name, mpath)
        if m.name.endswith("/"):
            return
        local = _local(self.data, m)
        if local is None:
            self._bad(f"member {safe_name(m.name)} has no valid local header")
            return
        lname, lflags, _lcrc, start = local
        self._header_mismatch(m, lname, lflags, mpath)
        if m.flags & 1:
            self.ctx.add(
                "scan.archive.encrypted",
                Severity.MEDIUM,
                "Encrypted archive member",
                "The member is encrypted and cannot be inspected (fail closed).",
                mpath,
            )
            return
        self._read(m, start, mpath)

    def _header_mismatch(self, m: ZipMember, lname: str, lflags: int, mpath: str) -> None:
        if lname != m.name or (lflags & 1) != (m.flags & 1):
            self.ctx.add(
                "scan.archive.header_mismatch",
                Severity.HIGH,
                "Local header disagrees with the central directory",
                f"Local name {safe_name(lname)} vs central {safe_name(m.name)} "
                f"(flags {lflags:#x} vs {m.flags:#x}): scanners and loaders see different files.",
                mpath,
                {"local_name": lname, "central_name": m.name},
            )

    def _read(self, m: ZipMember, start: int, mpath: str) -> None:
        limits = self.ctx.limits
        if m.usize > limits.max_member_bytes:
            self.ctx.limit(mpath, f"member of {m.usize} bytes", {"size": m.usize})
            return
        if m.usize > 1024**2 and m.usize > limits.max_ratio * max(m.csize, 1):
            self.ctx.limit(mpath, "compression ratio", {"usize": m.usize, "csize": m.csize})
            return
        # cap by the real ratio too: declared sizes are attacker-controlled
        cap = min(limits.max_member_bytes, int(limits.max_ratio * max(m.csize, 1)) + 1024**2)
        try:
            body, more = _inflate(self.data[start : start + m.csize], m.method, cap)
        except (ValueError, zlib.error) as exc:
            self._bad(f"member {safe_name(m.name)}: {exc}")
            return
        if more:
            self.ctx.limit(
                mpath, "actual compression ratio or size", {"inflated": len(body), "csize": m.csize}
            )
            return
        if zlib.crc32(body) != m.crc or len(body) != m.usize:
            self.ctx.add(
                "scan.archive.crc_mismatch",
                Severity.MEDIUM,
                "Member CRC or size does not match",
                "Declared CRC/size differ from the data; some readers ignore this.",
                mpath,
                {"declared_crc": m.crc, "actual_crc": zlib.crc32(body), "size": len(body)},
            )
        self.ctx.total_bytes += len(body)
        if self.ctx.total_bytes > limits.max_total_bytes:
            self.ctx.limit(mpath, "total uncompressed bytes", {"total": self.ctx.total_bytes})
            return
        self.recurse(self.ctx, body, mpath, self.depth + 1)
        if self.flavour == "keras-v3" and m.name == "config.json":
            keras.scan_keras_json(self.ctx, body, mpath)


def scan_zip(ctx: ScanContext, data: bytes, path: str, depth: int, recurse: Recurse) -> None:
    """Analyze a zip archive (any flavour) and every member the loader would read."""
    _ZipScan(ctx, data, path, depth, recurse).run()


def _has_central(data: bytes) -> bool:
    try:
        return bool(read_central(data)[0])
    except Exception:  # any parse failure: not a zip we can read
        return False


def _is_polyglot(head: bytes, data: bytes) -> bool:
    """Data in front of a readable zip (a pickle or a script with an archive appended)."""
    return not head.startswith(b"PK") and is_zip(data) and _has_central(data)


def _polyglot_loads_as(_data: bytes, _path: Path) -> Sniffed:
    return Sniffed(ModelFormat.SUSPICIOUS, "a zip archive with other data in front of it")


def _zip_loads_as(_data: bytes, path: Path) -> Sniffed:
    """Classify a zip archive for the loader by its member names."""
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


POLYGLOT = FormatAnalyser("zip-polyglot", _is_polyglot, scan_zip, _polyglot_loads_as)
ZIP = FormatAnalyser("zip", lambda head, _data: head.startswith(b"PK"), scan_zip, _zip_loads_as)
