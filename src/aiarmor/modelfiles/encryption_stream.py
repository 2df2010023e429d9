"""Streaming encryption and decryption: file-like writer and reader over the STREAM format.

:class:`EncryptingWriter` seals plaintext into authenticated chunks as it is written;
:class:`DecryptingReader` authenticates every chunk before returning any of its bytes (the
format is in :mod:`aiarmor.modelfiles.encryption_format`).
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from aiarmor.core.errors import InputError
from aiarmor.modelfiles.encryption_format import (
    _HEADER,
    _TAG,
    CHUNK_SIZE,
    CONTENT_FILE,
    MAX_CHUNK_SIZE,
    DecryptionError,
    _Header,
    _read_exact,
    _Source,
    _Stream,
)
from aiarmor.modelfiles.keys import MasterKey


class EncryptingWriter:
    """File-like sink: plaintext written to it goes out to ``out`` encrypted.

    ``close()`` seals the final chunk and must be called (it does not close ``out``).
    """

    def __init__(
        self,
        out: BinaryIO,
        master_key: MasterKey,
        *,
        content: int = CONTENT_FILE,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise InputError(f"chunk size must be 1 .. {MAX_CHUNK_SIZE} bytes")
        data_key = AESGCM.generate_key(bit_length=256)
        wrapped = aes_key_wrap(master_key.secret, data_key)
        header = _Header(content, chunk_size, master_key.key_id, wrapped, os.urandom(7))
        self._stream, self._out, self._size = _Stream(data_key, header), out, chunk_size
        self._buf, self._index, self._written, self._closed = bytearray(), 0, 0, False
        out.write(header.pack())

    def write(self, data: bytes) -> int:
        """Seal every full chunk known not to be the last; hold back at most one chunk."""
        if self._closed:
            raise ValueError("write to a closed EncryptingWriter")
        view = memoryview(data).cast("B")
        self._written += len(view)
        if self._buf:  # top up the held chunk; it is not final once more data follows
            need = self._size - len(self._buf)
            self._buf += view[:need]
            view = view[need:]
            if not view:
                return len(data)
            self._emit(self._buf, final=False)
            self._buf.clear()
        while len(view) > self._size:
            self._emit(view[: self._size], final=False)
            view = view[self._size :]
        self._buf += view
        return len(data)

    def close(self) -> None:
        """Seal the rest (0 .. chunk size bytes) as the final chunk."""
        if not self._closed:
            self._emit(self._buf, final=True)
            self._buf.clear()
            self._closed = True

    def _emit(self, chunk: bytes | bytearray | memoryview, *, final: bool) -> None:
        self._out.write(self._stream.seal(self._index, chunk, final))
        self._index += 1

    def tell(self) -> int:
        """Plaintext bytes written so far."""
        return self._written

    def read(self, size: int = -1) -> bytes:
        """Not readable."""
        raise io.UnsupportedOperation("EncryptingWriter is write-only")

    def seek(self, pos: int) -> int:
        """Not seekable."""
        raise io.UnsupportedOperation("EncryptingWriter is not seekable")

    def __enter__(self) -> EncryptingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


class DecryptingReader:
    """File-like source of plaintext from an encrypted stream ``src``.

    Every chunk is authenticated before any of its bytes are returned, but a stream cut at
    a chunk boundary is only detected at the end: consume the reader to EOF (``read()``
    returning ``b""``) before trusting what it produced. :func:`decrypt_to_memory` does so.
    """

    def __init__(self, src: _Source, master_key: MasterKey) -> None:
        self._src = src
        self.header = _Header.unpack(_read_exact(src, _HEADER.size))
        if self.header.key_id != master_key.key_id:
            raise DecryptionError(
                f"wrong master key: the file needs key id {self.header.key_id.hex()[:16]}, "
                f"the given key is {master_key.key_id.hex()[:16]} (or the header was altered)"
            )
        try:
            data_key = aes_key_unwrap(master_key.secret, self.header.wrapped)
        except InvalidUnwrap:
            raise DecryptionError("the wrapped data key failed its integrity check") from None
        self._stream = _Stream(data_key, self.header)
        self._sealed_size = self.header.chunk_size + _TAG
        self._pending = _read_exact(src, self._sealed_size)
        if not self._pending:
            raise DecryptionError("truncated: the file has a header but no chunks")
        self._buf, self._index, self._done = b"", 0, False

    def read(self, size: int = -1) -> bytes:
        """``size`` plaintext bytes (fewer only at the end; all when negative); ``b""`` at EOF."""
        parts, have = [self._buf], len(self._buf)
        while not self._done and (size < 0 or have < size):
            parts.append(self._next_chunk())
            have += len(parts[-1])
        data = b"".join(parts) if len(parts) > 2 or self._buf else parts[-1]
        if 0 <= size < len(data):
            data, self._buf = data[:size], data[size:]
        else:
            self._buf = b""
        return data

    def _next_chunk(self) -> bytes:
        sealed = self._pending
        self._pending = _read_exact(self._src, self._sealed_size)
        final = not self._pending
        if len(sealed) < _TAG:
            raise DecryptionError(f"chunk {self._index} is truncated")
        plain = self._stream.open(self._index, sealed, final)
        self._index += 1
        self._done = final
        return plain

    def write(self, b: bytes) -> int:
        """Not writable."""
        raise io.UnsupportedOperation("DecryptingReader is read-only")

    def tell(self) -> int:
        """Not tracked."""
        raise io.UnsupportedOperation("DecryptingReader does not tell")

    def seek(self, pos: int) -> int:
        """Not seekable."""
        raise io.UnsupportedOperation("DecryptingReader is not seekable")

    def close(self) -> None:
        """Close the underlying source."""
        self._src.close()

    def __enter__(self) -> DecryptingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
