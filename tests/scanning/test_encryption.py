"""Envelope encryption: round trips, tampering of every region, keys, open_verified."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import stat
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiarmor.core.errors import InputError
from aiarmor.modelfiles import encryption, keys, signing
from aiarmor.modelfiles.encryption import (
    DecryptionError,
    decrypt_file,
    decrypt_to_memory,
    encrypt_file,
    open_verified,
)

CS = 64  # a small chunk size keeps multi-chunk cases tiny
HEADER = 77
TAG = 16
MASTER = keys.generate_master_key()
SIGNER = keys.generate_keypair()


def _enc(tmp_path: Path, data: bytes, *, key: keys.MasterKey = MASTER) -> Path:
    src = tmp_path / "model.bin"
    src.write_bytes(data)
    return encrypt_file(src, tmp_path / "model.bin.aiarmor-enc", key, chunk_size=CS)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("size", [0, 1, CS - 1, CS, CS + 1, 3 * CS, 3 * CS + 7])
def test_round_trip_and_layout(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    enc = _enc(tmp_path, data)
    chunks = max(1, -(-size // CS))
    assert enc.stat().st_size == HEADER + size + chunks * TAG
    assert size < 16 or data not in enc.read_bytes()
    assert decrypt_to_memory(enc, MASTER, max_bytes=size) == data
    out = decrypt_file(enc, tmp_path / "plain.bin", MASTER)
    assert out.read_bytes() == data and _leftovers(tmp_path) == []


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=700),
    chunk=st.integers(1, 100),
    writes=st.lists(st.integers(0, 300), max_size=8),
    reads=st.lists(st.integers(0, 300), min_size=1, max_size=8),
)
def test_any_write_and_read_pattern_round_trips(data, chunk, writes, reads) -> None:
    """Streaming in arbitrary pieces gives the same bytes and the canonical chunk layout."""
    sink = io.BytesIO()
    with encryption.EncryptingWriter(sink, MASTER, chunk_size=chunk) as writer:
        rest = memoryview(data)
        for n in writes:
            writer.write(bytes(rest[:n]))
            rest = rest[n:]
        writer.write(bytes(rest))
    assert len(sink.getvalue()) == HEADER + len(data) + max(1, -(-len(data) // chunk)) * TAG
    reader = encryption.DecryptingReader(io.BytesIO(sink.getvalue()), MASTER)
    got, i = b"", 0
    while piece := reader.read(want := reads[i % len(reads)] or 1):
        got += piece
        i += 1
        assert len(piece) == want or len(got) == len(data)  # short reads only at the end
    assert got == data and reader.read() == b""


def test_default_chunk_size_and_streaming_reader(tmp_path: Path) -> None:
    data = os.urandom(3 * encryption.CHUNK_SIZE // 2)
    src = tmp_path / "m.bin"
    src.write_bytes(data)
    enc = encrypt_file(src, tmp_path / "m.enc", MASTER)
    with encryption.open_decrypted(enc, MASTER) as reader:
        pieces = iter(lambda: reader.read(100_003), b"")
        assert b"".join(pieces) == data


def test_each_encryption_uses_a_fresh_data_key_and_nonce(tmp_path: Path) -> None:
    a = _enc(tmp_path, b"same plaintext").read_bytes()
    b = encrypt_file(tmp_path / "model.bin", tmp_path / "again.enc", MASTER, chunk_size=CS)
    assert a[30:77] != b.read_bytes()[30:77] and a[77:] != b.read_bytes()[77:]


def test_directory_round_trip_as_one_tar_stream(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "sub" / "weights.bin").write_bytes(os.urandom(500))
    enc = encrypt_file(model, tmp_path / "model.aiarmor-enc", MASTER, chunk_size=CS)
    assert encryption.is_encrypted(enc) and not encryption.is_encrypted(model / "config.json")
    assert b"config.json" not in enc.read_bytes()
    out = decrypt_file(enc, tmp_path / "restored", MASTER)
    assert (out / "sub" / "weights.bin").read_bytes() == (
        model / "sub" / "weights.bin"
    ).read_bytes()
    assert (out / "config.json").read_text() == "{}"
    with pytest.raises(InputError, match="already exists"):
        decrypt_file(enc, out, MASTER)


def test_symlinks_in_a_directory_are_refused(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "link").symlink_to("/etc/passwd")
    with pytest.raises(InputError, match="symlink"):
        encrypt_file(model, tmp_path / "x.enc", MASTER)


def test_outputs_are_never_overwritten_by_default(tmp_path: Path) -> None:
    enc = _enc(tmp_path, b"abc")
    with pytest.raises(InputError, match="already exists"):
        encrypt_file(tmp_path / "model.bin", enc, MASTER)
    with pytest.raises(InputError, match="already exists"):
        decrypt_file(enc, tmp_path / "model.bin", MASTER)
    assert decrypt_file(enc, tmp_path / "model.bin", MASTER, overwrite=True).read_bytes() == b"abc"
    with pytest.raises(InputError, match="differ"):
        encrypt_file(enc, enc, MASTER, overwrite=True)


# ------------------------------------------------------------------------------ tampering


def _flip(at: int):
    def edit(blob: bytearray) -> bytearray:
        blob[at] ^= 0x01
        return blob

    return edit


def _swap_chunks(blob: bytearray) -> bytearray:
    one, two = HEADER + (CS + TAG), HEADER + 2 * (CS + TAG)
    return blob[:one] + blob[two : two + CS + TAG] + blob[one:two] + blob[two + CS + TAG :]


PLAIN = bytes(range(256))[: 3 * CS + 10]  # four chunks: 64, 64, 64, 10


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_flip(0), "bad magic"),
        (_flip(8), "unsupported format version"),
        (_flip(9), "chunk 0 failed authentication"),  # content type file -> tar
        (lambda b: b[:9] + b"\x07" + b[10:], "corrupt header"),
        (lambda b: b[:10] + b"\xff" + b[11:], "corrupt header"),  # chunk size > 64 MiB
        (_flip(12), "chunk 0 failed authentication"),  # chunk size 64 -> 65: framing breaks
        (_flip(14), "wrong master key"),  # key id
        (_flip(40), "wrapped data key"),
        (_flip(72), "chunk 0 failed authentication"),  # nonce prefix
        (_flip(HEADER + 5), "chunk 0 failed authentication"),
        (_flip(HEADER + CS + TAG + 70), "chunk 1 failed authentication"),  # a tag
        (_swap_chunks, "chunk 1 failed authentication"),
        (lambda b: b[: HEADER + 3 * (CS + TAG)], "chunk 2 failed authentication"),
        (lambda b: b[: HEADER + 2 * (CS + TAG) + 30], "chunk 2 failed authentication"),
        (lambda b: b[:-1], "chunk 3 failed authentication"),
        (lambda b: b[:HEADER], "no chunks"),
        (lambda b: b[:50], "truncated header"),
        (lambda b: b + b[-(10 + TAG) :], "chunk 3 failed authentication"),
        (lambda b: b + b"\x00", "chunk 3 failed authentication"),
        (lambda b: b + os.urandom(CS + TAG), "chunk 3 failed authentication"),
    ],
)
def test_tampering_is_detected_and_leaves_no_plaintext(tmp_path: Path, edit, reason) -> None:
    enc = _enc(tmp_path, PLAIN)
    enc.write_bytes(bytes(edit(bytearray(enc.read_bytes()))))
    dst = tmp_path / "out.bin"
    with pytest.raises(DecryptionError, match=reason):
        decrypt_file(enc, dst, MASTER)
    assert not dst.exists() and _leftovers(tmp_path) == []
    with pytest.raises(DecryptionError, match=reason):
        decrypt_to_memory(enc, MASTER, max_bytes=10_000)


def test_tampered_directory_archive_leaves_no_directory(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(os.urandom(2000))
    enc = encrypt_file(model, tmp_path / "m.enc", MASTER, chunk_size=CS)
    enc.write_bytes(enc.read_bytes()[: -(CS + TAG)])
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt_file(enc, tmp_path / "restored", MASTER)
    assert not (tmp_path / "restored").exists() and _leftovers(tmp_path) == []


def test_a_chunk_spliced_from_another_file_is_rejected(tmp_path: Path) -> None:
    a = bytearray(_enc(tmp_path, PLAIN).read_bytes())
    b = encrypt_file(tmp_path / "model.bin", tmp_path / "b.enc", MASTER, chunk_size=CS)
    spliced = a[: HEADER + CS + TAG] + b.read_bytes()[HEADER + CS + TAG :]
    (tmp_path / "b.enc").write_bytes(bytes(spliced))
    with pytest.raises(DecryptionError, match="chunk 1 failed"):
        decrypt_to_memory(tmp_path / "b.enc", MASTER, max_bytes=10_000)


def test_plain_file_is_not_an_encrypted_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"just weights")
    with pytest.raises(DecryptionError, match="not an aiarmor encrypted file"):
        decrypt_to_memory(plain, MASTER, max_bytes=100)


def test_max_bytes_is_enforced_before_decrypting(tmp_path: Path) -> None:
    enc = _enc(tmp_path, PLAIN)
    with pytest.raises(InputError, match="max_bytes"):
        decrypt_to_memory(enc, MASTER, max_bytes=len(PLAIN) - 1)


# -------------------------------------------------------------------------- master keys


def test_wrong_master_key_is_a_clean_error_without_key_material(tmp_path: Path) -> None:
    enc = _enc(tmp_path, PLAIN)
    wrong = keys.generate_master_key()
    with pytest.raises(DecryptionError, match="wrong master key") as info:
        decrypt_file(enc, tmp_path / "out.bin", wrong)
    message = str(info.value)
    for key in (MASTER, wrong):
        assert key.secret.hex() not in message
        assert base64.b64encode(key.secret).decode() not in message
    assert MASTER.key_id.hex()[:16] in message and not (tmp_path / "out.bin").exists()


def test_keys_never_reach_logs_or_reprs(tmp_path: Path, caplog, monkeypatch) -> None:
    caplog.set_level(logging.DEBUG)
    path = keys.save_master_key(MASTER, tmp_path / "master.key")
    os.chmod(path, 0o644)  # exposed on purpose: it must warn, naming the file only
    loaded = keys.load_master_key(path)
    enc = encrypt_file(_enc(tmp_path, PLAIN).with_name("model.bin"), tmp_path / "x.enc", loaded)
    decrypt_file(enc, tmp_path / "x.bin", loaded)
    with pytest.raises(DecryptionError):
        decrypt_file(enc, tmp_path / "y.bin", keys.generate_master_key())
    assert "readable by other users" in caplog.text
    secret_forms = [MASTER.secret.hex(), base64.b64encode(MASTER.secret).decode()]
    assert caplog.records and not any(s in caplog.text for s in secret_forms)
    assert not any(s in repr(MASTER) for s in [*secret_forms, repr(MASTER.secret)])


def test_master_key_files_and_environment(tmp_path: Path, monkeypatch) -> None:
    path = keys.save_master_key(MASTER, tmp_path / "m.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.load_master_key(path) == MASTER
    with pytest.raises(InputError, match="refusing to overwrite"):
        keys.save_master_key(keys.generate_master_key(), path)
    raw = tmp_path / "raw.key"
    raw.write_bytes(MASTER.secret)
    assert keys.load_master_key(raw) == MASTER
    monkeypatch.setenv("AIARMOR_MASTER_KEY", base64.b64encode(MASTER.secret).decode())
    assert keys.load_master_key() == MASTER
    monkeypatch.setenv("AIARMOR_MASTER_KEY", "dG9vIHNob3J0")
    with pytest.raises(InputError, match="256-bit") as info:
        keys.load_master_key()
    assert "dG9vIHNob3J0" not in str(info.value)
    monkeypatch.delenv("AIARMOR_MASTER_KEY")
    with pytest.raises(InputError, match="no master key"):
        keys.load_master_key()


# --------------------------------------------------------------------------- open_verified


def test_open_verified_plain_and_encrypted(tmp_path: Path) -> None:
    plain = tmp_path / "model.bin"
    plain.write_bytes(PLAIN)
    signing.sign(plain, SIGNER)
    assert open_verified(plain, public_key=SIGNER.public_key()) == plain
    with pytest.raises(DecryptionError, match="not an aiarmor encrypted file"):
        open_verified(plain, public_key=SIGNER.public_key(), master_key=MASTER)
    enc = encrypt_file(plain, tmp_path / "model.enc", MASTER, chunk_size=CS)
    signing.sign(enc, SIGNER)
    assert open_verified(enc, public_key=SIGNER.public_key(), master_key=MASTER) == PLAIN
    with pytest.raises(InputError, match="a master key is needed"):
        open_verified(enc, public_key=SIGNER.public_key())


@pytest.mark.parametrize("replacement", [b"backdoored weights", bytes(len(PLAIN))])
def test_open_verified_rejects_a_re_encrypted_artifact(tmp_path: Path, replacement) -> None:
    """A master-key holder re-encrypts other weights (same size or not): the signature wins."""
    plain = tmp_path / "model.bin"
    plain.write_bytes(PLAIN)
    enc = encrypt_file(plain, tmp_path / "model.enc", MASTER, chunk_size=CS)
    signing.sign(enc, SIGNER)
    plain.write_bytes(replacement)
    encrypt_file(plain, enc, MASTER, chunk_size=CS, overwrite=True)
    with pytest.raises(signing.SignatureError, match="changed file"):
        open_verified(enc, public_key=SIGNER.public_key(), master_key=MASTER)


def test_open_verified_rejects_tampering_wrong_signer_and_directories(tmp_path: Path) -> None:
    enc = _enc(tmp_path, PLAIN)
    signing.sign(enc, SIGNER)
    with pytest.raises(signing.SignatureError, match="wrong key"):
        open_verified(enc, public_key=keys.generate_keypair().public_key(), master_key=MASTER)
    blob = bytearray(enc.read_bytes())
    blob[HEADER + 3] ^= 0x80
    enc.write_bytes(bytes(blob))
    with pytest.raises(DecryptionError, match="chunk 0 failed"):
        open_verified(enc, public_key=SIGNER.public_key(), master_key=MASTER)
    with pytest.raises(InputError, match="not a regular file"):
        open_verified(tmp_path, public_key=SIGNER.public_key(), master_key=MASTER)


def test_decrypt_checks_the_signed_digest_on_the_bytes_it_decrypts(tmp_path: Path) -> None:
    enc = _enc(tmp_path, PLAIN)
    good = hashlib.sha256(enc.read_bytes()).hexdigest()
    assert decrypt_to_memory(enc, MASTER, max_bytes=1000, expected_sha256=good) == PLAIN
    with pytest.raises(signing.SignatureError, match="changed after its signature"):
        decrypt_to_memory(enc, MASTER, max_bytes=1000, expected_sha256="0" * 64)


def test_a_directory_is_extracted_only_after_the_final_chunk_authenticated(tmp_path: Path) -> None:
    """tarfile stops at the end-of-archive marker; the trailing chunks must still be checked."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("w.bin")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    enc = tmp_path / "m.enc"
    with (
        enc.open("wb") as out,
        encryption.EncryptingWriter(out, MASTER, content=1, chunk_size=CS) as writer,
    ):
        writer.write(archive.getvalue() + bytes(50_000))  # trailing data tarfile never reads
    enc.write_bytes(enc.read_bytes()[: -(CS + TAG)])
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt_file(enc, tmp_path / "restored", MASTER)
    assert not (tmp_path / "restored").exists() and _leftovers(tmp_path) == []
