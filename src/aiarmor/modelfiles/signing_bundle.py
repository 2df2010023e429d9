"""The signature bundle format: a Sigstore bundle v0.3 with a DSSE envelope.

The envelope carries an in-toto Statement v1 with the ``https://model_signing/signature/v1.0``
predicate (see :mod:`aiarmor.modelfiles.signing`). This module builds that statement, signs
and verifies its DSSE pre-authentication encoding, and parses a bundle as hostile JSON (size
and nesting limits, duplicate keys rejected, a strict schema) into a
:class:`~aiarmor.modelfiles.signing_manifest.SignedManifest`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from aiarmor._version import __version__
from aiarmor.modelfiles.keys import PrivateKey, PublicKey, fingerprint, key_algorithm, pem_hint
from aiarmor.modelfiles.signing_manifest import (
    ManifestEntry,
    SignatureError,
    SignedManifest,
    _clip,
    _is_ignored,
    _q,
    _root_digest,
)

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
FORMAT_VERSION = 1
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_JSON_DEPTH = 8
MAX_FILES = 1_000_000
_MAX_NAME = 4096
_HEX64 = re.compile(r"[0-9a-f]{64}")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "secp256r1": hashes.SHA256(),
    "secp384r1": hashes.SHA384(),
    "secp521r1": hashes.SHA512(),
}


# ------------------------------------------------------------------------- the statement


def _statement(
    name: str, entries: list[ManifestEntry], ignored: tuple[str, ...], key: PrivateKey
) -> dict[str, Any]:
    serialization: dict[str, Any] = {"method": "files", "hash_type": "sha256"}
    serialization["allow_symlinks"] = False
    if ignored:
        serialization["ignore_paths"] = list(ignored)
    resources = [
        {"name": e.name, "algorithm": "sha256", "digest": e.sha256, "size": e.size} for e in entries
    ]
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    aiarmor = {"format_version": FORMAT_VERSION, "algorithm": key_algorithm(key)}
    aiarmor |= {"signer": fingerprint(key), "signed_at": stamp, "tool": f"aiarmor {__version__}"}
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": _root_digest(e.sha256 for e in entries)}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"serialization": serialization, "resources": resources, "aiarmor": aiarmor},
    }


def _bad_signature(key: PublicKey, keyid: str, hint: str | None) -> str:
    ours = fingerprint(key)
    if _HEX64.fullmatch(keyid) and keyid != ours:
        return f"wrong key: the bundle names signer sha256:{keyid}, the given key is sha256:{ours}"
    if hint is not None and hint != pem_hint(key):
        return f"wrong key: the bundle was signed by another key (given key sha256:{ours})"
    return "bad signature: the signed statement was altered or not signed by the given key"


# ----------------------------------------------------------------------- bundle and schema


def _parse_json(data: bytes, what: str) -> Any:
    """Strict JSON: UTF-8, bounded nesting, no duplicate keys, no NaN/Infinity."""
    try:
        text = data.decode("utf-8")
        brackets = re.sub(r"[^\[\]{}]", "", _STRING.sub("", text))
        steps = (1 if c in "[{" else -1 for c in brackets)
        if max(itertools.accumulate(steps), default=0) > MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise SignatureError(f"malformed {what}: {_clip(str(exc))}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _envelope(doc: Any) -> tuple[bytes, bytes, str, str | None]:
    """(payload, signature, keyid, key hint) from a Sigstore bundle with a DSSE envelope."""
    doc = _obj(doc, "bundle", {"mediaType", "verificationMaterial", "dsseEnvelope"})
    if doc["mediaType"] != BUNDLE_MEDIA_TYPE:
        _malformed(f"mediaType must be {BUNDLE_MEDIA_TYPE}")
    material = _obj(doc["verificationMaterial"], "verificationMaterial", set(),
                    {"publicKey", "tlogEntries"})  # fmt: skip
    if material.get("tlogEntries", []) != []:
        _malformed("transparency-log entries are not supported for key-based bundles")
    hint = _obj(material.get("publicKey", {}), "publicKey", set(), {"hint"}).get("hint")
    if hint is not None:
        hint = _str(hint, "publicKey.hint", 128)
    env = _obj(doc["dsseEnvelope"], "dsseEnvelope", {"payload", "payloadType", "signatures"})
    if env["payloadType"] != PAYLOAD_TYPE:
        _malformed(f"payloadType must be {PAYLOAD_TYPE}")
    sigs = env["signatures"]
    if not isinstance(sigs, list) or len(sigs) != 1:
        _malformed("exactly one signature is required")
    sig = _obj(sigs[0], "signature", {"sig"}, {"keyid"})
    keyid = _str(sig.get("keyid", ""), "keyid", 128)
    return _unb64(env["payload"], "payload"), _unb64(sig["sig"], "sig"), keyid, hint


def _manifest(statement: Any, key: PublicKey) -> SignedManifest:
    statement = _obj(statement, "statement", {"_type", "subject", "predicateType", "predicate"})
    if statement["_type"] != STATEMENT_TYPE:
        _malformed(f"_type must be {STATEMENT_TYPE}")
    if statement["predicateType"] != PREDICATE_TYPE:
        _malformed(f"unsupported predicateType (only {PREDICATE_TYPE})")
    subjects = statement["subject"]
    if not isinstance(subjects, list) or len(subjects) != 1:
        _malformed("exactly one subject is required")
    subject = _obj(subjects[0], "subject", {"name", "digest"})
    root = _hex(_obj(subject["digest"], "subject.digest", {"sha256"})["sha256"], "subject digest")
    predicate = _obj(statement["predicate"], "predicate", {"serialization", "resources"},
                     {"aiarmor"})  # fmt: skip
    ignored = _serialization(predicate["serialization"])
    files = _resources(predicate["resources"], ignored)
    if not hmac.compare_digest(_root_digest(f.sha256 for f in files), root):
        _malformed("the subject digest does not match the resources")
    algorithm, signed_at = _extension(predicate.get("aiarmor"), key)
    name = _str(subject["name"], "subject.name", _MAX_NAME)
    return SignedManifest(name, files, root, ignored, fingerprint(key), algorithm, signed_at)


def _serialization(value: Any) -> tuple[str, ...]:
    ser = _obj(value, "serialization", {"method", "hash_type", "allow_symlinks"}, {"ignore_paths"})
    if ser["method"] != "files" or ser["hash_type"] != "sha256":
        _malformed("unsupported serialization (only method 'files' with hash_type 'sha256')")
    if not isinstance(ser["allow_symlinks"], bool):
        _malformed("allow_symlinks must be a boolean")
    paths = ser.get("ignore_paths", [])
    if not isinstance(paths, list) or len(paths) > 1024:
        _malformed("ignore_paths must be a short list")
    ignored = tuple(_name(p, "ignore_paths entry", allow_dot=False) for p in paths)
    if len(set(ignored)) != len(ignored):
        _malformed("duplicate ignore_paths entry")
    return ignored


def _resources(value: Any, ignored: tuple[str, ...]) -> tuple[ManifestEntry, ...]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_FILES:
        _malformed(f"resources must be a list of 1 to {MAX_FILES} files")
    files = []
    for item in value:
        res = _obj(item, "resource", {"name", "algorithm", "digest"}, {"size"})
        if res["algorithm"] != "sha256":
            _malformed("unsupported resource algorithm (only sha256)")
        size = res.get("size")
        if size is not None and (type(size) is not int or size < 0):
            _malformed("resource size must be a non-negative integer")
        name = _name(res["name"], "resource name", allow_dot=True)
        if _is_ignored(name, ignored):
            _malformed(f"resource {_q(name)} lies under an ignored path")
        files.append(ManifestEntry(name, _hex(res["digest"], "resource digest"), size))
    names = [f.name for f in files]
    if len(set(names)) != len(names) or ("." in names and len(names) > 1):
        _malformed("duplicate resource names, or '.' mixed with other files")
    return tuple(files)


def _extension(value: Any, key: PublicKey) -> tuple[str, str | None]:
    """(algorithm, signed_at) from ``predicate.aiarmor``; derived from the key when absent."""
    algorithm = key_algorithm(key)
    if value is None:
        return algorithm, None
    ext = _obj(value, "aiarmor", {"format_version", "algorithm", "signer", "signed_at", "tool"})
    if ext["format_version"] != FORMAT_VERSION or type(ext["format_version"]) is not int:
        _malformed(f"unsupported aiarmor format_version (only {FORMAT_VERSION})")
    if ext["algorithm"] != algorithm or ext["signer"] != fingerprint(key):
        _malformed("the recorded algorithm or signer does not match the verifying key")
    _str(ext["tool"], "tool", 200)
    try:
        datetime.fromisoformat(_str(ext["signed_at"], "signed_at", 64))
    except ValueError:
        _malformed("signed_at is not an ISO 8601 time")
    return algorithm, ext["signed_at"]


def _obj(value: Any, what: str, required: set[str], optional: Iterable[str] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        _malformed(f"{what} must be an object")
    missing, extra = required - set(value), set(value) - required - set(optional)
    if missing:
        _malformed(f"{what} lacks {min(missing)!r}")
    if extra:
        _malformed(f"{what} has unexpected key {_q(min(extra))}")
    return value


def _str(value: Any, what: str, max_len: int) -> str:
    if not isinstance(value, str) or len(value) > max_len:
        _malformed(f"{what} must be a string of at most {max_len} characters")
    return value


def _hex(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        _malformed(f"{what} must be 64 lowercase hex digits")
    return value


def _name(value: Any, what: str, *, allow_dot: bool) -> str:
    name = _str(value, what, _MAX_NAME)
    if allow_dot and name == ".":
        return name
    parts = name.split("/")
    if "\x00" in name or any(p in ("", ".", "..") for p in parts):
        _malformed(f"{what} {_q(name)} is not a normalized relative path")
    return name


def _unb64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(_str(value, what, MAX_BUNDLE_BYTES), validate=True)
    except (binascii.Error, ValueError):
        _malformed(f"{what} is not valid base64")


def _malformed(reason: str) -> NoReturn:
    raise SignatureError(f"malformed signature bundle: {reason}")


# ----------------------------------------------------------------------------- crypto


def _pae(payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of an in-toto payload."""
    head = f"DSSEv1 {len(PAYLOAD_TYPE)} {PAYLOAD_TYPE} {len(payload)} "
    return head.encode("utf-8") + payload


def _sign_bytes(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, ec.ECDSA(_HASHES[key.curve.name]))


def _verify_bytes(key: PublicKey, sig: bytes, data: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, data)
        else:
            key.verify(sig, data, ec.ECDSA(_HASHES[key.curve.name]))
    except InvalidSignature:
        return False
    return True


def _canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
