"""``aiarmor keygen | sign | verify | encrypt | decrypt`` through the real entry point."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    (root / "config.json").write_text('{"layers": 2}')
    (root / "sub" / "weights.bin").write_bytes(os.urandom(4096))
    return root


@pytest.fixture
def signer(cli, tmp_path: Path) -> Path:
    r = cli("keygen", "--out", tmp_path / "signer")
    assert r.code == 0, r.err
    return tmp_path / "signer"


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_keygen_writes_private_key_0600_and_prints_fingerprint(cli, tmp_path: Path) -> None:
    from aiarmor.modelfiles import keys

    r = cli("keygen", "--out", tmp_path / "k")
    assert r.code == 0
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    fp = keys.fingerprint(keys.load_public_key(tmp_path / "k.pub"))
    assert f"sha256:{fp}" in r.out and "PRIVATE" not in r.out
    again = cli("keygen", "--out", tmp_path / "k")
    assert again.code == 2 and "refusing to overwrite" in _one_line(again.err)


def test_sign_verify_round_trip_and_tamper_exit_codes(cli, model: Path, signer: Path) -> None:
    r = cli("sign", model, "--key", f"{signer}.key")
    assert r.code == 0 and (model.parent / "model.aiarmor-sig.json").exists()
    ok = cli("verify", model, "--pub", f"{signer}.pub")
    assert ok.code == 0 and "verified" in ok.out and "2 files" in ok.out
    (model / "sub" / "weights.bin").rename(model / "sub" / "w2.bin")
    bad = cli("verify", model, "--pub", f"{signer}.pub")
    assert bad.code == 1
    assert _one_line(bad.err) == (
        "aiarmor: verification failed: renamed file: 'sub/weights.bin' -> 'sub/w2.bin'"
    )


def test_verify_reports_every_difference_then_exits_1(cli, model: Path, signer: Path) -> None:
    # issue 14: one file changed and one added used to report only the added one
    assert cli("sign", model, "--key", f"{signer}.key").code == 0
    (model / "config.json").write_text('{"layers": 3}')
    (model / "extra\x1b[2J.pkl").write_bytes(b"evil")
    r = cli("verify", model, "--pub", f"{signer}.pub")
    assert r.code == 1 and r.out == ""
    assert r.err.splitlines() == [
        "aiarmor: verification failed: 2 differences from the signature",
        "  changed file: 'config.json' (SHA-256 differs from signed)",
        "  added file: 'extra\\x1b[2J.pkl' (not in the signed manifest)",
    ]


def test_verify_with_the_wrong_key_fails(cli, model: Path, signer: Path, tmp_path: Path) -> None:
    cli("keygen", "--out", tmp_path / "other")
    cli("sign", model, "--key", f"{signer}.key")
    r = cli("verify", model, "--pub", tmp_path / "other.pub")
    assert r.code == 1 and "wrong key" in _one_line(r.err)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("verify", "missing-model", "--pub", "{k}.pub"), "not an existing file"),
        (("verify", "{m}", "--pub", "{k}.pub"), "does not exist"),  # no bundle yet
        (("verify", "{m}", "--pub", "{m}/config.json"), "not a PEM public key"),
        (("sign", "{m}", "--key", "{k}.pub"), "not a PEM private key"),
        (("sign", "{m}", "--key", "nope.key"), "does not exist"),
        (("keygen", "--out", "{k}2", "--algorithm", "rsa"), "unknown key algorithm"),
    ],
)
def test_bad_input_is_exit_2_with_one_line(cli, model, signer, args, reason) -> None:
    r = cli(*(a.format(m=model, k=signer) for a in args))
    assert r.code == 2 and reason in _one_line(r.err) and "Traceback" not in r.err


def test_passphrase_from_environment(cli, model: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KEY_PASS", "s3cret-pass")
    r = cli("keygen", "--out", tmp_path / "p", "--passphrase-env", "KEY_PASS")
    assert r.code == 0 and b"ENCRYPTED" in (tmp_path / "p.key").read_bytes()
    assert cli("sign", model, "--key", tmp_path / "p.key", "--passphrase-env", "KEY_PASS").code == 0
    missing = cli("sign", model, "--key", tmp_path / "p.key")
    assert missing.code == 2 and "encrypted" in _one_line(missing.err)
    monkeypatch.setenv("KEY_PASS", "wrong-pass")
    wrong = cli("sign", model, "--key", tmp_path / "p.key", "--passphrase-env", "KEY_PASS")
    assert wrong.code == 2 and "wrong passphrase" in _one_line(wrong.err)
    assert "wrong-pass" not in wrong.err and "s3cret" not in wrong.err


def test_encrypt_sign_verify_decrypt_chain(cli, model: Path, signer: Path, tmp_path: Path) -> None:
    r = cli("keygen", "--symmetric", "--out", tmp_path / "mk")
    key = tmp_path / "mk.master.key"
    assert r.code == 0 and stat.S_IMODE(key.stat().st_mode) == 0o600
    secret = key.read_text().strip()
    enc = model.parent / "model.aiarmor-enc"
    r = cli("encrypt", model, "--key", key)
    assert r.code == 0 and enc.exists() and secret not in r.out
    assert cli("sign", enc, "--key", f"{signer}.key").code == 0
    assert cli("verify", enc, "--pub", f"{signer}.pub").code == 0
    out = tmp_path / "restored"
    assert cli("decrypt", enc, "--key", key, "--out", out).code == 0
    assert (out / "sub" / "weights.bin").read_bytes() == (
        model / "sub" / "weights.bin"
    ).read_bytes()


def test_file_encryption_defaults_env_key_and_wrong_key(cli, tmp_path: Path, monkeypatch) -> None:
    plain = tmp_path / "w.bin"
    plain.write_bytes(os.urandom(1000))
    monkeypatch.setenv("AIARMOR_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    assert cli("encrypt", plain).code == 0
    enc = tmp_path / "w.bin.aiarmor-enc"
    exists = cli("decrypt", enc)
    assert exists.code == 2 and "already exists" in _one_line(exists.err)
    plain.unlink()
    assert cli("decrypt", enc).code == 0 and plain.stat().st_size == 1000
    monkeypatch.setenv("AIARMOR_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    wrong = cli("decrypt", enc, "--out", tmp_path / "x.bin")
    assert wrong.code == 2 and "wrong master key" in _one_line(wrong.err)
    assert os.environ["AIARMOR_MASTER_KEY"] not in wrong.err
    assert not (tmp_path / "x.bin").exists()
    no_suffix = cli("decrypt", tmp_path / "w.bin")
    assert no_suffix.code == 2 and "--out" in _one_line(no_suffix.err)
