"""The format of an encrypted artifact: its clear header and the STREAM chunk schedule.

See :mod:`aiarmor.modelfiles.encryption` for the layout. This module packs and checks the
77-byte header, derives each chunk's nonce and associated data (AES-256-GCM under one data
key), and reads the header's clear-text facts without a key.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aiarmor.core.errors import AiarmorError, InputError

MAGIC = b"AIARMENC"
VERSION = 1
CONTENT_FILE, CONTENT_TAR = 0, 1
CHUNK_SIZE = 1 << 20
MAX_CHUNK_SIZE = 64 << 20
_HEADER = struct.Struct(">8sBBI16s40s7s")
HEADER_SIZE = _HEADER.size
"""Bytes of the clear header before the first chunk."""
_TAG = 16
_MAX_CHUNKS = 1 << 32


class DecryptionError(AiarmorError):
    """An encrypted artifact is corrupt, tampered with, or needs a different master key."""


class _Source(Protocol):
    def read(self, size: int, /) -> bytes: ...
    def close(self) -> object: ...


@dataclass(frozen=True, slots=True)
class _Header:
    content: int
    chunk_size: int
    key_id: bytes
    wrapped: bytes
    prefix: bytes

    def pack(self) -> bytes:
        return _HEADER.pack(MAGIC, VERSION, self.content, self.chunk_size, self.key_id,
                            self.wrapped, self.prefix)  # fmt: skip

    @classmethod
    def unpack(cls, raw: bytes) -> _Header:
        if len(raw) < len(MAGIC) or raw[: len(MAGIC)] != MAGIC:
            raise DecryptionError("not an aiarmor encrypted file (bad magic)")
        if len(raw) < _HEADER.size:
            raise DecryptionError("truncated header")
        _, version, content, chunk_size, key_id, wrapped, prefix = _HEADER.unpack(raw)
        if version != VERSION:
            raise DecryptionError(f"unsupported format version {version}")
        if content not in (CONTENT_FILE, CONTENT_TAR) or not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise DecryptionError("corrupt header (content type or chunk size)")
        return cls(content, chunk_size, key_id, wrapped, prefix)


class _Stream:
    """The STREAM nonce/AD schedule over AES-256-GCM with one data key."""

    def __init__(self, data_key: bytes, header: _Header) -> None:
        self._aead = AESGCM(data_key)
        self._header = header
        self._raw = header.pack()

    def _nonce_ad(self, index: int, final: bool) -> tuple[bytes, bytes]:
        if index >= _MAX_CHUNKS:
            raise InputError("artifact too large for this chunk size (2**32 chunks)")
        tail = struct.pack(">IB", index, final)
        return self._header.prefix + tail, self._raw + struct.pack(">QB", index, final)

    def seal(self, index: int, plaintext: bytes | bytearray | memoryview, final: bool) -> bytes:
        nonce, ad = self._nonce_ad(index, final)
        return self._aead.encrypt(nonce, plaintext, ad)

    def open(self, index: int, sealed: bytes, final: bool) -> bytes:
        nonce, ad = self._nonce_ad(index, final)
        try:
            return self._aead.decrypt(nonce, sealed, ad)
        except InvalidTag:
            raise DecryptionError(
                f"chunk {index} failed authentication: the file was tampered with, "
                "truncated, reordered or extended"
            ) from None


def header_facts(raw: bytes) -> dict[str, object]:
    """The clear-text facts of an encrypted artifact's header (for the scanner; no key needed).

    ``raw`` is the start of the file (at least the 77-byte header); raises
    :class:`DecryptionError` naming what is wrong with a malformed header.
    """
    header = _Header.unpack(bytes(raw[: _HEADER.size]))
    return {
        "version": VERSION,
        "content": "file" if header.content == CONTENT_FILE else "directory (tar)",
        "chunk_size": header.chunk_size,
        "key_id": header.key_id.hex()[:16],
    }


def _read_exact(src: _Source, n: int) -> bytes:
    """Read ``n`` bytes, fewer only at end of file."""
    data = src.read(n)
    while len(data) < n and (more := src.read(n - len(data))):
        data += more
    return data


def _plaintext_size(file_size: int, chunk_size: int) -> int:
    body = max(file_size - _HEADER.size, 0)
    chunks = -(-body // (chunk_size + _TAG))
    return body - chunks * _TAG
