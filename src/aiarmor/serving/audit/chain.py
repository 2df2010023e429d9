"""The keys and MACs of the audit chain, and the checkpoints made of them.

Every MAC is ``HMAC-SHA256(key, enc(tag, parts...))``, where ``enc`` length-prefixes every
part (integers as decimal text), so no two different records, heads or checkpoints share an
encoding; each kind has its own tag. See :mod:`aiarmor.serving.audit.log` for the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiarmor.core.errors import ConfigError
from aiarmor.serving.audit.store import FIELDS

__all__ = ["GENESIS_MAC", "MAX_TEXT", "MIN_KEY_BYTES", "Checkpoint", "load_key", "read_checkpoint"]

MIN_KEY_BYTES = 32
"""Shortest HMAC key accepted (256 bits)."""
GENESIS_MAC = "0" * 64
"""``prev_mac`` of record 1."""
MAX_TEXT = 64 * 1024
"""Longest text field of an entry, and the most of a key file that is read."""
_RECORD_TAG = b"aiarmor-audit-record/v1"
_HEAD_TAG = b"aiarmor-audit-head/v1"
_CHECKPOINT_TAG = b"aiarmor-audit-checkpoint/v1"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log state to keep outside the database: the log must always extend it."""

    seq: int
    mac: str
    time: float
    tag: str
    """HMAC over (seq, mac, time) with the log key: the checkpoint came from the log."""

    def to_json(self) -> str:
        """One line of JSON."""
        return json.dumps({"seq": self.seq, "mac": self.mac, "time": self.time, "tag": self.tag})


# ------------------------------------------------------------------------------------- keys


def load_key(source: str | Path) -> bytes:
    """The key from ``"env:NAME"`` or a file path (raw bytes, trailing newline stripped)."""
    if isinstance(source, str) and source.startswith("env:"):
        name = source[4:]
        value = os.environ.get(name, "").encode()
        where = f"environment variable {name}"
    else:
        path = Path(source)
        where = f"key file {path}"
        try:
            value = path.read_bytes()[: MAX_TEXT + 1].rstrip(b"\r\n")
        except OSError as exc:
            raise ConfigError(f"cannot read {where}: {exc.strerror or exc}") from None
    return _check_key(value, where)


def _check_key(key: bytes, where: str = "the audit-log key") -> bytes:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{where} is missing or shorter than {MIN_KEY_BYTES} bytes")
    return key


# ------------------------------------------------------------------------------- encoding


def _encode(tag: bytes, *parts: int | str) -> bytes:
    """Unambiguous: every part is 8-byte length prefixed UTF-8 (ints as decimal)."""
    out = bytearray(tag)
    for part in parts:
        data = str(part).encode() if isinstance(part, int) else part.encode()
        out += len(data).to_bytes(8, "big") + data
    return bytes(out)


def _same(stored: object, expected: object) -> bool:
    """Constant-time equality of two MACs; False when either is not ASCII text
    (``hmac.compare_digest`` raises on it, and a tampered row or checkpoint may hold it)."""
    if not (isinstance(stored, str) and isinstance(expected, str)):
        return False
    return stored.isascii() and expected.isascii() and hmac.compare_digest(stored, expected)


def _mac(key: bytes, tag: bytes, *parts: int | str) -> str:
    return hmac.new(key, _encode(tag, *parts), hashlib.sha256).hexdigest()


def _record_mac(key: bytes, seq: int, prev_mac: str, row: Mapping[Any, Any]) -> str:
    return _mac(key, _RECORD_TAG, seq, prev_mac, *(row[f] for f in FIELDS))


def _head_mac(key: bytes, last_seq: int, last_mac: str) -> str:
    return _mac(key, _HEAD_TAG, last_seq, last_mac)


# ---------------------------------------------------------------------------- checkpoints


def read_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint in ``path`` (one line of JSON); ConfigError if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Checkpoint(int(data["seq"]), str(data["mac"]), float(data["time"]), str(data["tag"]))
    except OSError as exc:
        raise ConfigError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"checkpoint {path} is not an aiarmor audit-log checkpoint") from None


def _checkpoint_tag(key: bytes, cp: Checkpoint) -> str:
    return _mac(key, _CHECKPOINT_TAG, cp.seq, cp.mac, repr(cp.time))
