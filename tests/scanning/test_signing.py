"""Signing and verification: round trips, every tamper case, hostile bundles, key files."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiarmor.core.errors import InputError
from aiarmor.modelfiles import keys, signing
from aiarmor.modelfiles.signing import SignatureError, sign, verify

KEY = keys.generate_keypair()
OTHER = keys.generate_keypair()

# A model signed by the OpenSSF `model_signing` 1.1.1 CLI (`model_signing sign key model
# --private_key ec.key`, ECDSA P-256): proves we verify what that tool produces, offline.
MS_PUB = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0Psv3fOwieYkXi9CgNWLqt2SBSpq
Fb9tB6UCyJ5vkv4nTazIO7cfKQObSrJCYAfzxe+B9cajioGqjwKn45+y4g==
-----END PUBLIC KEY-----
"""
MS_FILES = {"a.txt": b"hello\n", "sub/w.bin": b"w\n", ".gitattributes": b"*.bin lfs\n"}
MS_BUNDLE = {
    "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
    "verificationMaterial": {
        "publicKey": {"hint": "5774408ec81ab750a2795746e48144b5a0bf35e608d1f5c14d70322973a24946"},
        "tlogEntries": [],
    },
    "dsseEnvelope": {
        "payload": (
            "ewogICJfdHlwZSI6ICJodHRwczovL2luLXRvdG8uaW8vU3RhdGVtZW50L3YxIiwKICAic3ViamVjdCI6IF"
            "sKICAgIHsKICAgICAgIm5hbWUiOiAibW9kZWwiLAogICAgICAiZGlnZXN0IjogewogICAgICAgICJzaGEy"
            "NTYiOiAiZDEwZGEyZDk3MjMzMWJlNWUyNGU1Yjk1ZmI1NWRjYzZmZmE0MmM5ZTAwZjg4ZjRhNTViNmYxNT"
            "Q1MDc4MmYwMyIKICAgICAgfQogICAgfQogIF0sCiAgInByZWRpY2F0ZVR5cGUiOiAiaHR0cHM6Ly9tb2Rl"
            "bF9zaWduaW5nL3NpZ25hdHVyZS92MS4wIiwKICAicHJlZGljYXRlIjogewogICAgInNlcmlhbGl6YXRpb2"
            "4iOiB7CiAgICAgICJpZ25vcmVfcGF0aHMiOiBbCiAgICAgICAgIi5naXQiLAogICAgICAgICIuZ2l0YXR0"
            "cmlidXRlcyIsCiAgICAgICAgIi5naXRodWIiLAogICAgICAgICIuZ2l0aWdub3JlIgogICAgICBdLAogIC"
            "AgICAiYWxsb3dfc3ltbGlua3MiOiBmYWxzZSwKICAgICAgIm1ldGhvZCI6ICJmaWxlcyIsCiAgICAgICJo"
            "YXNoX3R5cGUiOiAic2hhMjU2IgogICAgfSwKICAgICJyZXNvdXJjZXMiOiBbCiAgICAgIHsKICAgICAgIC"
            "AibmFtZSI6ICJhLnR4dCIsCiAgICAgICAgImRpZ2VzdCI6ICI1ODkxYjViNTIyZDVkZjA4NmQwZmYwYjEx"
            "MGZiZDlkMjFiYjRmYzcxNjNhZjM0ZDA4Mjg2YTJlODQ2ZjZiZTAzIiwKICAgICAgICAiYWxnb3JpdGhtIj"
            "ogInNoYTI1NiIKICAgICAgfSwKICAgICAgewogICAgICAgICJuYW1lIjogInN1Yi93LmJpbiIsCiAgICAg"
            "ICAgImRpZ2VzdCI6ICJjZjk0NWI1MjM2ZTEwMWRiZTA0NzFkNTIwMGYyOGIxYWU2NGYyMWMxZjM1YmY1NW"
            "ZjZjQwY2QwZmU0MmNkOGU3IiwKICAgICAgICAiYWxnb3JpdGhtIjogInNoYTI1NiIKICAgICAgfQogICAg"
            "XQogIH0KfQ=="
        ),
        "payloadType": "application/vnd.in-toto+json",
        "signatures": [
            {
                "sig": "MEUCIQCysGX/eCpjs7cpTEBNMvW25a68+nTm5gsl6raqKGAbqgIgY3QSwXN27YH3J+ewUaobsj"
                "O3QhAr9Go6loYvIPpMcr4=",
                "keyid": "",
            }
        ],
    },
}


def _write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    files = {"a.txt": b"alpha", "a/b.bin": b"\x00" * 100, "c.bin": b"gamma!", "z/y/x": b"x"}
    return _write_tree(tmp_path / "model", files)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    path.write_bytes(os.urandom(3000))
    return path


def _bundle(path: Path) -> dict:
    return json.loads(signing.default_signature_path(path).read_text())


def _statement(bundle: dict) -> dict:
    return json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))


def _fails(path: Path, *, key=KEY, **kw) -> str:
    with pytest.raises(SignatureError) as info:
        verify(path, key.public_key(), **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------ round trips


def test_file_round_trip(model_file: Path) -> None:
    bundle_path = sign(model_file, KEY)
    assert bundle_path == model_file.with_name("model.safetensors.aiarmor-sig.json")
    result = verify(model_file, KEY.public_key())
    entry = result.files[0]
    assert (entry.name, entry.size) == (".", 3000)
    assert entry.sha256 == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert result.signer == keys.fingerprint(KEY) and result.algorithm == "ed25519"
    assert result.signed_at and result.signed_at.endswith("Z") and result.ignored == ()


def test_directory_round_trip_sorted_by_path_components(model_dir: Path) -> None:
    bundle_path = sign(model_dir, KEY)
    assert bundle_path == model_dir.parent / "model.aiarmor-sig.json"
    result = verify(model_dir, KEY.public_key())
    # component order (PurePosixPath, as model_signing): "a/b.bin" sorts before "a.txt"
    assert [f.name for f in result.files] == ["a/b.bin", "a.txt", "c.bin", "z/y/x"]
    assert result.path == model_dir and result.model_name == "model"
    assert ".git" in result.ignored


def test_signed_payload_is_canonical_in_toto_model_signing_statement(model_dir: Path) -> None:
    sign(model_dir, KEY)
    bundle = _bundle(model_dir)
    payload = base64.b64decode(bundle["dsseEnvelope"]["payload"])
    statement = json.loads(payload)
    assert payload == json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://model_signing/signature/v1.0"
    digests = b"".join(bytes.fromhex(r["digest"]) for r in statement["predicate"]["resources"])
    assert statement["subject"][0]["digest"]["sha256"] == hashlib.sha256(digests).hexdigest()
    ext = statement["predicate"]["aiarmor"]
    assert ext["format_version"] == 1 and ext["signer"] == keys.fingerprint(KEY)
    assert bundle["dsseEnvelope"]["signatures"][0]["keyid"] == keys.fingerprint(KEY)


def test_ecdsa_keys_sign_and_verify(model_file: Path) -> None:
    key = keys.generate_keypair("ecdsa-p256")
    sign(model_file, key)
    assert verify(model_file, key.public_key()).algorithm == "ecdsa-p256-sha256"


def test_verifies_a_bundle_made_by_model_signing(tmp_path: Path) -> None:
    model = _write_tree(tmp_path / "model", MS_FILES)
    sig = tmp_path / "model.sig"
    sig.write_text(json.dumps(MS_BUNDLE))
    public = serialization.load_pem_public_key(MS_PUB)
    result = verify(model, public, signature=sig)
    assert [f.name for f in result.files] == ["a.txt", "sub/w.bin"]
    assert result.signed_at is None and ".gitattributes" in result.ignored
    (model / "sub" / "w.bin").write_bytes(b"W\n")
    with pytest.raises(SignatureError, match=r"changed file: 'sub/w.bin'"):
        verify(model, public, signature=sig)


def test_signature_inside_the_directory_is_excluded(model_dir: Path) -> None:
    inside = model_dir / "model.sig"
    sign(model_dir, KEY, signature=inside)
    assert "model.sig" in verify(model_dir, KEY.public_key(), signature=inside).ignored


def test_git_metadata_is_ignored_by_default_and_signed_on_request(model_dir: Path) -> None:
    sign(model_dir, KEY)
    (model_dir / ".gitattributes").write_text("*.bin lfs")
    verify(model_dir, KEY.public_key())
    sign(model_dir, KEY, ignore_git=False)
    (model_dir / ".gitattributes").write_text("changed")
    assert "changed file: '.gitattributes'" in _fails(model_dir)


# ------------------------------------------------------------------------------ tampering


def _flip_byte(model: Path) -> None:
    path = model / "c.bin"
    data = bytearray(path.read_bytes())
    data[2] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_flip_byte, "changed file: 'c.bin' (SHA-256"),
        (lambda m: (m / "c.bin").write_bytes(b"gamma!!"), "changed file: 'c.bin' (size 7"),
        (lambda m: (m / "new.pkl").write_bytes(b"evil"), "added file: 'new.pkl'"),
        (lambda m: (m / "a" / "b.bin").unlink(), "removed file: 'a/b.bin'"),
        (lambda m: (m / "c.bin").rename(m / "d.bin"), "renamed file: 'c.bin' -> 'd.bin'"),
        (lambda m: (m / "empty").mkdir(), None),  # empty directories carry no content
    ],
)
def test_each_tamper_is_detected_with_its_reason(model_dir: Path, tamper, reason) -> None:
    sign(model_dir, KEY)
    tamper(model_dir)
    if reason is None:
        verify(model_dir, KEY.public_key())
    else:
        assert reason in _fails(model_dir)


def test_swapped_signature_from_another_model(tmp_path: Path, model_file: Path) -> None:
    other = tmp_path / "other.bin"
    other.write_bytes(b"another model")
    sign(other, KEY)
    reason = _fails(model_file, signature=signing.default_signature_path(other))
    assert reason.startswith("changed file: '.'")


def test_directory_signature_does_not_fit_a_file(model_dir: Path, model_file: Path) -> None:
    sign(model_dir, KEY)
    reason = _fails(model_file, signature=signing.default_signature_path(model_dir))
    assert "covers a directory" in reason


def test_wrong_public_key(model_file: Path) -> None:
    sign(model_file, KEY)
    reason = _fails(model_file, key=OTHER)
    assert reason.startswith("wrong key") and keys.fingerprint(KEY) in reason


def test_edited_manifest_inside_the_bundle_breaks_the_signature(model_file: Path) -> None:
    sign(model_file, KEY)
    bundle = _bundle(model_file)
    statement = _statement(bundle)
    model_file.write_bytes(b"trojaned weights")
    digest = hashlib.sha256(b"trojaned weights").hexdigest()
    statement["predicate"]["resources"][0].update(digest=digest, size=16)
    statement["subject"][0]["digest"]["sha256"] = hashlib.sha256(bytes.fromhex(digest)).hexdigest()
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    signing.default_signature_path(model_file).write_text(json.dumps(bundle))
    assert _fails(model_file).startswith("bad signature")


def test_symlinks_are_refused_when_signing_and_verifying(model_dir: Path, tmp_path: Path) -> None:
    sign(model_dir, KEY)
    (tmp_path / "outside").write_bytes(b"x")
    (model_dir / "link").symlink_to(tmp_path / "outside")
    assert "symlink in model: 'link'" in _fails(model_dir)
    with pytest.raises(InputError, match="symlink"):
        sign(model_dir, KEY)


def test_terminal_control_characters_in_names_are_escaped(model_dir: Path) -> None:
    sign(model_dir, KEY)
    (model_dir / "evil\x1b[2J.bin").write_bytes(b"x")
    reason = _fails(model_dir)
    assert "\x1b" not in reason and "\\x1b" in reason


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(min_size=1, max_size=300), where=st.integers(0, 10**6), bit=st.integers(0, 7))
def test_flipping_any_single_bit_of_a_signed_file_is_detected(
    tmp_path: Path, data: bytes, where: int, bit: int
) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(data)
    sign(path, KEY)
    flipped = bytearray(data)
    flipped[where % len(data)] ^= 1 << bit
    path.write_bytes(bytes(flipped))
    assert _fails(path).startswith("changed file: '.' (SHA-256")


# ------------------------------------------------------------------------- hostile bundles


def _rewrite(model: Path, edit) -> None:
    """Apply ``edit`` to the bundle JSON (no re-signing)."""
    path = signing.default_signature_path(model)
    bundle = json.loads(path.read_text())
    result = edit(bundle)
    path.write_text(result if isinstance(result, str) else json.dumps(bundle))


def _two_signatures(b: dict) -> None:
    b["dsseEnvelope"]["signatures"] *= 2


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda b: "{not json", "Expecting property name"),
        (lambda b: "[" * 100_000 + "]" * 100_000, "nested deeper than 8"),
        (lambda b: '{"a": ' * 9 + "1" + "}" * 9, "nested deeper than 8"),
        (lambda b: json.dumps(b)[:-1] + ', "mediaType": "x"}', "duplicate key"),
        (lambda b: b.update(extra=1), "unexpected key 'extra'"),
        (lambda b: b.pop("verificationMaterial"), "lacks 'verificationMaterial'"),
        (lambda b: b.update(mediaType="application/json"), "mediaType"),
        (lambda b: b["dsseEnvelope"].update(payload="%%%not base64%%%"), "base64"),
        (lambda b: b["dsseEnvelope"].update(payloadType="text/plain"), "payloadType"),
        (_two_signatures, "exactly one signature"),
        (lambda b: b["dsseEnvelope"]["signatures"][0].update(sig=12), "sig must be a string"),
        (lambda b: b["verificationMaterial"].update(tlogEntries=[{}]), "transparency-log"),
        (lambda b: json.dumps(b).replace('"tlogEntries": []', '"tlogEntries": NaN'), "NaN"),
        (lambda b: b.update({"\udcff\x1b": 1}), "unexpected key '\\udcff\\x1b'"),
    ],
)
def test_malformed_bundles_are_rejected(model_file: Path, edit, reason) -> None:
    sign(model_file, KEY)
    _rewrite(model_file, edit)
    message = _fails(model_file)
    assert message.startswith("malformed signature bundle") and reason in message


def test_invalid_utf8_bundle_is_rejected(model_file: Path) -> None:
    sign(model_file, KEY)
    signing.default_signature_path(model_file).write_bytes(b'{"mediaType": "\xff"}')
    assert "utf-8" in _fails(model_file)


def test_oversized_bundle_is_rejected_before_parsing(model_file: Path, monkeypatch) -> None:
    sign(model_file, KEY)
    monkeypatch.setattr(signing, "MAX_BUNDLE_BYTES", 100)
    assert "larger than 100 bytes" in _fails(model_file)


def _resign(model: Path, edit) -> None:
    """Apply ``edit`` to the statement and sign it again, so only the schema can object."""
    path = signing.default_signature_path(model)
    bundle = json.loads(path.read_text())
    statement = _statement(bundle)
    edit(statement)
    payload = json.dumps(statement).encode()
    sig = KEY.sign(signing._pae(payload))
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(payload).decode()
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(sig).decode()
    path.write_text(json.dumps(bundle))


def _res(s: dict) -> dict:
    return s["predicate"]["resources"][0]


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda s: _res(s).update(name="../etc/passwd"), "not a normalized relative path"),
        (lambda s: _res(s).update(digest="AB" * 32), "64 lowercase hex"),
        (lambda s: _res(s).update(size=True), "non-negative integer"),
        (lambda s: _res(s).update(algorithm="md5"), "only sha256"),
        (lambda s: s["predicate"]["serialization"].update(hash_type="blake3"), "serialization"),
        (lambda s: s["predicate"]["serialization"].update(method="shards"), "serialization"),
        (lambda s: s["predicate"]["serialization"].update(ignore_paths=[""]), "ignore_paths"),
        (lambda s: s["predicate"]["serialization"].update(ignore_paths=["a"]), "ignored path"),
        (lambda s: s["predicate"]["resources"].append(_res(s)), "duplicate"),
        (lambda s: s["predicate"].update(resources=[]), "resources"),
        (lambda s: s["predicate"].update(note="x"), "unexpected key 'note'"),
        (lambda s: s["subject"][0]["digest"].update(sha256="0" * 64), "subject digest"),
        (lambda s: s.update(predicateType="https://model_signing/Digests/v0.1"), "predicateType"),
        (lambda s: s["predicate"]["aiarmor"].update(format_version=2), "format_version"),
        (lambda s: s["predicate"]["aiarmor"].update(signer="0" * 64), "signer"),
        (lambda s: s["predicate"]["aiarmor"].update(signed_at="yesterday"), "signed_at"),
    ],
)
def test_signed_but_invalid_statements_are_rejected(model_dir: Path, edit, reason) -> None:
    sign(model_dir, KEY)
    _resign(model_dir, edit)
    message = _fails(model_dir)
    assert message.startswith("malformed") and reason in message


def test_missing_bundle_or_model_is_bad_input(model_file: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        verify(model_file, KEY.public_key())
    with pytest.raises(InputError, match="not an existing file"):
        sign(tmp_path / "nope", KEY)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="nothing to sign"):
        sign(tmp_path / "empty", KEY)


# ------------------------------------------------------------------------------- key files


def test_keypair_files_modes_and_no_overwrite(tmp_path: Path) -> None:
    key_path, pub_path = keys.save_keypair(KEY, tmp_path / "signer")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in key_path.read_bytes()
    assert keys.fingerprint(keys.load_public_key(pub_path)) == keys.fingerprint(KEY)
    assert keys.fingerprint(keys.load_private_key(key_path)) == keys.fingerprint(KEY)
    with pytest.raises(InputError, match="refusing to overwrite"):
        keys.save_keypair(OTHER, tmp_path / "signer")
    assert keys.fingerprint(keys.load_private_key(key_path)) == keys.fingerprint(KEY)


def test_fingerprint_is_sha256_of_the_raw_public_key() -> None:
    raw = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert keys.fingerprint(KEY) == keys.fingerprint(KEY.public_key())
    assert keys.fingerprint(KEY) == hashlib.sha256(raw).hexdigest()


def test_passphrase_protected_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIGN_PASS", "correct horse")
    key_path, _ = keys.save_keypair(
        KEY, tmp_path / "k", passphrase=keys.passphrase_from_env("SIGN_PASS")
    )
    assert b"ENCRYPTED PRIVATE KEY" in key_path.read_bytes()
    loaded = keys.load_private_key(key_path, passphrase=b"correct horse")
    assert keys.fingerprint(loaded) == keys.fingerprint(KEY)
    with pytest.raises(InputError, match="wrong passphrase") as info:
        keys.load_private_key(key_path, passphrase=b"hunter2-guess")
    assert "hunter2" not in str(info.value) and "correct horse" not in str(info.value)
    with pytest.raises(InputError, match="is encrypted"):
        keys.load_private_key(key_path)
    with pytest.raises(InputError, match="NOPE_UNSET"):
        keys.passphrase_from_env("NOPE_UNSET")


def test_bad_key_files_are_input_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InputError, match="not a PEM private key"):
        keys.load_private_key(junk)
    with pytest.raises(InputError, match="not a PEM public key"):
        keys.load_public_key(junk)
    with pytest.raises(InputError, match="does not exist"):
        keys.load_public_key(tmp_path / "missing.pub")


def test_every_difference_is_reported_not_only_the_first(model_dir: Path) -> None:
    # issue 14: one file changed and one added used to report only the added one
    sign(model_dir, KEY)
    _flip_byte(model_dir)  # changed: c.bin
    (model_dir / "new.pkl").write_bytes(b"evil")  # added
    (model_dir / "a" / "b.bin").unlink()  # removed
    (model_dir / "z" / "y" / "x").rename(model_dir / "z" / "moved")  # renamed
    with pytest.raises(SignatureError) as info:
        verify(model_dir, KEY.public_key())
    assert info.value.differences == (
        "changed file: 'c.bin' (SHA-256 differs from signed)",
        "renamed file: 'z/y/x' -> 'z/moved'",
        "removed file: 'a/b.bin'",
        "added file: 'new.pkl' (not in the signed manifest)",
    )
    message = str(info.value)
    assert "\n" not in message and all(d in message for d in info.value.differences)


def test_a_long_list_of_differences_is_clipped_in_the_message_but_kept_whole(
    model_dir: Path,
) -> None:
    sign(model_dir, KEY)
    for i in range(30):
        (model_dir / f"extra{i:02}.bin").write_bytes(b"e")
    with pytest.raises(SignatureError) as info:
        verify(model_dir, KEY.public_key())
    assert len(info.value.differences) == 30
    assert str(info.value).endswith("; ... and 10 more differences")
