"""Encryption at rest: AES-256-GCM envelope encryption, streamed in authenticated chunks.

Each artifact gets a fresh random 256-bit data key, wrapped with AES key wrap (RFC 3394) by
a master key (:mod:`.keys`). The plaintext is cut into fixed-size chunks sealed with the
STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): chunk ``i`` is encrypted
under the nonce ``prefix(7) || i (uint32 BE) || final (1 byte)`` with the whole header,
``i`` and ``final`` as associated data, so header tampering, reordering, truncation at a
chunk boundary and extension are all detected. Layout (big-endian)::

    offset  size  field
    0       8     magic  b"AIARMENC"
    8       1     format version (1)
    9       1     content: 0 = one file, 1 = POSIX tar (pax) stream of a directory
    10      4     chunk size in plaintext bytes (1 .. 64 MiB; default 1 MiB)
    14      16    master key id (domain-separated SHA-256 of the master key, truncated)
    30      40    data key wrapped with AES-KW under the master key
    70      7     random nonce prefix
    77      ...   chunks: AES-GCM(chunk plaintext) || 16-byte tag; every chunk but the
                  last holds exactly `chunk size` bytes; the last (flagged final) holds
                  0 .. chunk size bytes, so an empty file is one 16-byte final chunk

A directory is encrypted as one tar stream (names, count and sizes stay hidden; one file to
sign and ship). Output files are written to a temporary file and renamed into place only
after the last chunk authenticated, so a failed decryption never leaves plaintext behind.
Keys are never logged; error messages carry file names and key ids only.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from aiarmor.core.errors import InputError
from aiarmor.modelfiles.encryption_format import (  # noqa: F401 - re-exported for old imports
    CHUNK_SIZE,
    CONTENT_FILE,
    CONTENT_TAR,
    HEADER_SIZE,
    MAGIC,
    MAX_CHUNK_SIZE,
    VERSION,
    DecryptionError,
    _plaintext_size,
    header_facts,
)
from aiarmor.modelfiles.encryption_stream import DecryptingReader, EncryptingWriter
from aiarmor.modelfiles.keys import MasterKey, PublicKey
from aiarmor.modelfiles.signing import (
    SignatureError,
    default_signature_path,
    list_model_files,
    verify,
    verify_bundle,
)

__all__ = [
    "CHUNK_SIZE",
    "ENCRYPTED_SUFFIX",
    "DecryptingReader",
    "DecryptionError",
    "EncryptingWriter",
    "decrypt_file",
    "decrypt_to_memory",
    "encrypt_file",
    "header_facts",
    "is_encrypted",
    "open_decrypted",
    "open_verified",
]

log = logging.getLogger(__name__)
ENCRYPTED_SUFFIX = ".aiarmor-enc"
DEFAULT_MAX_BYTES = 16 << 30


# ------------------------------------------------------------------------------ public API


def is_encrypted(path: Path | str) -> bool:
    """Whether ``path`` is a regular file starting with the aiarmor encryption magic."""
    path = Path(path)
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def encrypt_file(
    src: Path | str,
    dst: Path | str,
    master_key: MasterKey,
    *,
    chunk_size: int = CHUNK_SIZE,
    overwrite: bool = False,
) -> Path:
    """Encrypt a file, or a directory as a tar stream, to ``dst`` (atomically)."""
    src, dst = Path(src), Path(dst)
    files = list_model_files(src)
    _check_destination(src, dst, overwrite)
    content = CONTENT_FILE if files and files[0][0] == "." else CONTENT_TAR

    def produce(out: BinaryIO) -> None:
        with EncryptingWriter(out, master_key, content=content, chunk_size=chunk_size) as w:
            if content == CONTENT_FILE:
                with src.open("rb") as handle:
                    shutil.copyfileobj(handle, w, max(chunk_size, 4 << 20))
            else:
                _write_tar(files, w)

    _write_atomic(dst, produce)
    log.info("encrypted %s -> %s (key id %s)", src, dst, master_key.key_id.hex()[:16])
    return dst


def decrypt_file(
    src: Path | str, dst: Path | str, master_key: MasterKey, *, overwrite: bool = False
) -> Path:
    """Decrypt to ``dst`` (a file, or a new directory for a tar stream), only if authentic."""
    src, dst = Path(src), Path(dst)
    with open_decrypted(src, master_key) as reader:
        if reader.header.content == CONTENT_TAR:
            if not dst.parent.is_dir():
                raise InputError(f"output directory {dst.parent} does not exist")
            if dst.exists() or dst.is_symlink():
                raise InputError(f"{dst} already exists; refusing to overwrite it")
            _extract_atomic(reader, dst)
        else:
            _check_destination(src, dst, overwrite)
            _write_atomic(dst, lambda out: _drain(reader, out.write))
    log.info("decrypted %s -> %s", src, dst)
    return dst


def decrypt_to_memory(
    src: Path | str,
    master_key: MasterKey,
    *,
    max_bytes: int,
    expected_sha256: str | None = None,
) -> bytes:
    """The authenticated plaintext of ``src`` (a tar stream for a directory), in memory.

    ``expected_sha256``, when given, must be the SHA-256 of the encrypted file (e.g. its
    signed digest); it is checked on the very bytes decrypted, closing any window between
    a signature check and this read.
    """
    with _HashingSource(_open_source(Path(src)), enabled=expected_sha256 is not None) as source:
        reader = DecryptingReader(source, master_key)
        if _plaintext_size(source.size, reader.header.chunk_size) > max_bytes:
            raise InputError(f"{src} decrypts to more than max_bytes={max_bytes}")
        out = io.BytesIO()
        while chunk := reader.read(reader.header.chunk_size):
            if out.tell() + len(chunk) > max_bytes:
                raise InputError(f"{src} decrypts to more than max_bytes={max_bytes}")
            out.write(chunk)
    if expected_sha256 is not None and not hmac.compare_digest(source.hexdigest(), expected_sha256):
        raise SignatureError(f"changed file: {src} changed after its signature was checked")
    return out.getvalue()


@contextmanager
def open_decrypted(src: Path | str, master_key: MasterKey) -> Iterator[DecryptingReader]:
    """A streaming plaintext reader for the gateway (see :class:`DecryptingReader`)."""
    handle = _open_source(Path(src))
    try:
        reader = DecryptingReader(handle, master_key)
    except BaseException:
        handle.close()
        raise
    with reader:
        yield reader


def open_verified(
    path: Path | str,
    *,
    public_key: PublicKey,
    master_key: MasterKey | None = None,
    signature: Path | str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> bytes | Path:
    """The one way to open a model for production.

    Without a master key: verifies the signature and every file, and returns the verified
    path (an encrypted artifact is refused). With one: the artifact must be one encrypted
    file whose signature verifies; it is read once, hashed and decrypted in memory, and the
    plaintext is returned only if the hash matches the signed digest and every chunk
    authenticated. Nothing is written to disk.
    """
    if master_key is None:
        verified = verify(path, public_key, signature=signature)
        if is_encrypted(verified.path):
            raise InputError(f"{path} is encrypted; a master key is needed to open it")
        return verified.path
    if not Path(path).is_file() or Path(path).is_symlink():
        raise InputError(f"{path} is not a regular file; an encrypted artifact is one file")
    bundle = Path(signature) if signature is not None else default_signature_path(path)
    signed = verify_bundle(bundle, public_key)
    entry = signed.files[0]
    if entry.name != "." or entry.size not in (None, Path(path).stat().st_size):
        raise SignatureError(f"changed file: {path} does not match its signed size or kind")
    return decrypt_to_memory(path, master_key, max_bytes=max_bytes, expected_sha256=entry.sha256)


# -------------------------------------------------------------------------------- plumbing


def _write_tar(files: list[tuple[str, Path, int]], out: EncryptingWriter) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, path, size in files:
            info = tarfile.TarInfo(name)
            st = path.stat()
            info.size, info.mode, info.mtime = size, st.st_mode & 0o777, int(st.st_mtime)
            with path.open("rb") as handle:
                tar.addfile(info, handle)


def _extract_atomic(reader: DecryptingReader, dst: Path) -> None:
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".part"))
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            tar.extractall(tmp, filter=_only_files)  # noqa: S202 - filtered: files/dirs inside tmp
        _drain(reader, lambda _chunk: None)  # authenticate up to the final chunk
        os.replace(tmp, dst)
    except tarfile.TarError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DecryptionError(f"bad archive inside the encrypted file: {exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _only_files(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """Regular files and directories only, inside ``dest`` (tarfile's ``data`` filter)."""
    if not (member.isfile() or member.isdir()):
        raise DecryptionError(f"archive member {member.name!r} is not a regular file")
    return tarfile.data_filter(member, dest)


def _write_atomic(dst: Path, produce: Callable[[BinaryIO], None]) -> None:
    """Run ``produce`` on a temp file beside ``dst``; rename it into place only on success."""
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            produce(out)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_destination(src: Path, dst: Path, overwrite: bool) -> None:
    if not dst.parent.is_dir():
        raise InputError(f"output directory {dst.parent} does not exist")
    if os.path.abspath(src) == os.path.abspath(dst):
        raise InputError("the output must differ from the input")
    if dst.is_dir() or dst.is_symlink() or (dst.exists() and not overwrite):
        raise InputError(f"{dst} already exists; refusing to overwrite it")


def _drain(reader: DecryptingReader, sink: Callable[[bytes], object]) -> None:
    while chunk := reader.read(reader.header.chunk_size):
        sink(chunk)


def _open_source(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


class _HashingSource:
    """A file whose bytes are SHA-256 hashed as they are read (when ``enabled``)."""

    def __init__(self, handle: BinaryIO, *, enabled: bool) -> None:
        self._handle, self._digest = handle, hashlib.sha256() if enabled else None
        self.size = os.fstat(handle.fileno()).st_size

    def read(self, size: int, /) -> bytes:
        data = self._handle.read(size)
        if self._digest is not None:
            self._digest.update(data)
        return data

    def hexdigest(self) -> str:
        """Digest of everything read so far."""
        return self._digest.hexdigest() if self._digest is not None else ""

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> _HashingSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
