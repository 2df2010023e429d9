"""Detached signatures over a model's files, in the OpenSSF ``model_signing`` format.

A signature bundle (``<model>.aiarmor-sig.json`` beside a file or directory) is a Sigstore
bundle v0.3 whose DSSE envelope carries an in-toto Statement v1 with the
``https://model_signing/signature/v1.0`` predicate: one resource (relative POSIX path,
SHA-256, size) per file, sorted by path components, and a subject digest that is the SHA-256
of the concatenated file digests. The statement is serialized canonically (sorted keys, no
whitespace, UTF-8) and signed over its DSSE pre-authentication encoding. Our additions live
where ``model_signing`` ignores them: ``size`` in each resource and a ``predicate.aiarmor``
section (format version, algorithm id, signer fingerprint, timestamp), all inside the signed
payload. So a model signed by ``model_signing`` with an ECDSA key verifies here, and one we
sign with an ECDSA key verifies with ``model_signing`` (it does not accept Ed25519 keys).

Symlinks and special files are refused, both when signing and when verifying: a link's
target is outside the signed content and can change after signing, so neither following it
nor recording the link text protects what a loader reads. Paths under the signed
``ignore_paths`` (git metadata by default, as ``model_signing`` does) are not covered.

Verification treats the bundle as hostile JSON (size and nesting limits, duplicate keys
rejected, a strict schema) and never opens a path named in it: the model's files are
enumerated on disk and compared with the signed list. It fails with :class:`SignatureError`
naming the problem: bad signature, wrong key, or every changed/added/removed/renamed file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from aiarmor.core.errors import InputError
from aiarmor.modelfiles.keys import PrivateKey, PublicKey, fingerprint, pem_hint
from aiarmor.modelfiles.signing_bundle import (  # noqa: F401 - re-exported for old imports
    BUNDLE_MEDIA_TYPE,
    FORMAT_VERSION,
    MAX_BUNDLE_BYTES,
    MAX_FILES,
    MAX_JSON_DEPTH,
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    _b64,
    _bad_signature,
    _canonical,
    _envelope,
    _manifest,
    _pae,
    _parse_json,
    _sign_bytes,
    _statement,
    _verify_bytes,
)
from aiarmor.modelfiles.signing_manifest import (  # noqa: F401 - re-exported for old imports
    MAX_LISTED,
    ManifestEntry,
    SignatureError,
    SignedManifest,
    VerifiedManifest,
    _check_files,
    _enumerate,
    _hash_file,
    _model_root,
    _sorted,
)

__all__ = [
    "SIGNATURE_SUFFIX",
    "ManifestEntry",
    "SignatureError",
    "SignedManifest",
    "VerifiedManifest",
    "default_signature_path",
    "list_model_files",
    "sign",
    "verify",
    "verify_bundle",
]

SIGNATURE_SUFFIX = ".aiarmor-sig.json"
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")


def default_signature_path(path: Path | str) -> Path:
    """``<model>.aiarmor-sig.json`` beside the model file or directory."""
    root = Path(os.path.abspath(path))
    return root.with_name(root.name + SIGNATURE_SUFFIX)


def list_model_files(
    path: Path | str, *, ignore: Iterable[str] = ()
) -> list[tuple[str, Path, int]]:
    """``(relative POSIX name, path, size)`` of every regular file of a model, sorted.

    A single-file model is ``[(".", path, size)]``. Symlinks and special files anywhere in
    the model are refused (InputError); names under ``ignore`` are skipped.
    """
    found = _enumerate(_model_root(path), tuple(ignore), InputError)
    return [(name, *found[name]) for name in _sorted(found)]


# ---------------------------------------------------------------------------------- signing


def sign(
    path: Path | str,
    private_key: PrivateKey,
    *,
    signature: Path | str | None = None,
    ignore_git: bool = True,
) -> Path:
    """Sign every file of the model at ``path``; write and return the signature bundle path."""
    root = _model_root(path)
    bundle_path = Path(signature) if signature is not None else default_signature_path(root)
    if Path(os.path.abspath(bundle_path)) == root or not bundle_path.parent.is_dir():
        raise InputError(f"cannot write the signature to {bundle_path}")
    ignored = _ignore_list(root, bundle_path, ignore_git)
    found = _enumerate(root, ignored, InputError)
    if not found:
        raise InputError(f"nothing to sign: {root} holds no files")
    entries = [ManifestEntry(name, *_hash_file(found[name][0])) for name in _sorted(found)]
    payload = _canonical(_statement(root.name, entries, ignored, private_key))
    sig = {"sig": _b64(_sign_bytes(private_key, _pae(payload))), "keyid": fingerprint(private_key)}
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": pem_hint(private_key)}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": _b64(payload),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [sig],
        },
    }
    _write_atomic(bundle_path, (json.dumps(bundle, indent=2) + "\n").encode("utf-8"))
    return bundle_path


def _ignore_list(root: Path, bundle_path: Path, ignore_git: bool) -> tuple[str, ...]:
    if root.is_file():
        return ()
    ignored = list(GIT_PATHS) if ignore_git else []
    inside = Path(os.path.abspath(bundle_path))
    if inside.is_relative_to(root):
        ignored.append(inside.relative_to(root).as_posix())
    return tuple(ignored)


# ----------------------------------------------------------------------------- verification


def verify(
    path: Path | str, public_key: PublicKey, *, signature: Path | str | None = None
) -> VerifiedManifest:
    """Check the bundle's signature with ``public_key``, then every file of the model."""
    root = _model_root(path)
    bundle_path = Path(signature) if signature is not None else default_signature_path(root)
    signed = verify_bundle(bundle_path, public_key)
    _check_files(root, signed)
    return VerifiedManifest(
        signed.model_name, signed.files, signed.root_digest, signed.ignored,
        signed.signer, signed.algorithm, signed.signed_at, root,
    )  # fmt: skip


def verify_bundle(bundle_path: Path | str, public_key: PublicKey) -> SignedManifest:
    """Check a bundle's signature and schema only; the model's files are NOT compared."""
    doc = _parse_json(_read_bundle(Path(bundle_path)), "signature bundle")
    payload, sig, keyid, hint = _envelope(doc)
    if not _verify_bytes(public_key, sig, _pae(payload)):
        raise SignatureError(_bad_signature(public_key, keyid, hint))
    return _manifest(_parse_json(payload, "signed statement"), public_key)


def _read_bundle(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BUNDLE_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"signature bundle {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read signature bundle {path}: {exc.strerror}") from None
    if len(data) > MAX_BUNDLE_BYTES:
        raise SignatureError(f"malformed signature bundle: larger than {MAX_BUNDLE_BYTES} bytes")
    return data


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
