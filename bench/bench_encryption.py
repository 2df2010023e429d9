"""Encryption at rest and signing throughput on a 256 MB file (prints a table).

    .venv/bin/python bench/bench_encryption.py [--mb 256] [--repeat 3]

`openssl enc` has no AES-GCM mode, so the floor is `cryptography`'s one-shot AESGCM over
the whole buffer in memory (no I/O, no chunking). A chunked in-memory row separates the
cost of chunking from that of I/O, and a plain file copy gives the I/O floor. Our rows are
file to file (or file to memory) through the STREAM format with 1 MiB chunks. Each number is
the best of --repeat runs; MB/s is plaintext MB per second for one direction.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aiarmor.modelfiles import keys, signing
from aiarmor.modelfiles.encryption import (
    CHUNK_SIZE,
    decrypt_file,
    decrypt_to_memory,
    encrypt_file,
    open_verified,
)

Job = tuple[str, Callable[[], object], Callable[[], object]]


def _best(fn: Callable[[], object], repeat: int, cleanup: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        cleanup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _nothing() -> None:
    pass


def _aesgcm_jobs(data: bytes) -> list[Job]:
    aead, nonce = AESGCM(AESGCM.generate_key(bit_length=256)), os.urandom(12)
    sealed = aead.encrypt(nonce, data, None)
    view, spans = memoryview(data), range(0, len(data), CHUNK_SIZE)
    chunks = [aead.encrypt(nonce, view[i : i + CHUNK_SIZE], b"h") for i in spans]

    def chunked_encrypt() -> None:
        for i in spans:
            aead.encrypt(nonce, view[i : i + CHUNK_SIZE], b"h")

    def chunked_decrypt() -> None:
        for chunk in chunks:
            aead.decrypt(nonce, chunk, b"h")

    return [
        (
            "floor: AESGCM one-shot encrypt (memory)",
            lambda: aead.encrypt(nonce, data, None),
            _nothing,
        ),
        (
            "floor: AESGCM one-shot decrypt (memory)",
            lambda: aead.decrypt(nonce, sealed, None),
            _nothing,
        ),
        ("AESGCM 1 MiB chunks encrypt (memory)", chunked_encrypt, _nothing),
        ("AESGCM 1 MiB chunks decrypt (memory)", chunked_decrypt, _nothing),
    ]


def _our_jobs(src: Path) -> list[Job]:
    master, signer = keys.generate_master_key(), keys.generate_keypair()
    enc, out, copy = src.with_suffix(".enc"), src.with_suffix(".out"), src.with_suffix(".copy")
    size = src.stat().st_size

    def opened() -> object:
        return open_verified(enc, public_key=signer.public_key(), master_key=master, max_bytes=size)

    return [
        ("I/O floor: file copy", lambda: shutil.copyfile(src, copy), copy.unlink),
        ("aiarmor encrypt_file", lambda: encrypt_file(src, enc, master), enc.unlink),
        ("aiarmor decrypt_file", lambda: decrypt_file(enc, out, master), out.unlink),
        (
            "aiarmor decrypt_to_memory",
            lambda: decrypt_to_memory(enc, master, max_bytes=size),
            _nothing,
        ),
        ("aiarmor sign (SHA-256 manifest, Ed25519)", lambda: signing.sign(src, signer), _nothing),
        ("aiarmor verify", lambda: signing.verify(src, signer.public_key()), _nothing),
        ("aiarmor open_verified (encrypted, in memory)", opened, lambda: signing.sign(enc, signer)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = os.urandom(args.mb * 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "model.bin")
        src.write_bytes(data)
        jobs = _aesgcm_jobs(data) + _our_jobs(src)
        rows = [(name, _best(fn, args.repeat, _tolerant(cleanup))) for name, fn, cleanup in jobs]
    print(f"{args.mb} MB, chunk {CHUNK_SIZE >> 20} MiB, best of {args.repeat}")
    print(f"{'operation':<46} {'seconds':>8} {'MB/s':>8}")
    for name, seconds in rows:
        print(f"{name:<46} {seconds:>8.3f} {args.mb / seconds:>8.0f}")


def _tolerant(cleanup: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        with contextlib.suppress(FileNotFoundError):
            cleanup()

    return run


if __name__ == "__main__":
    main()
