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

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from aiarmor._version import __version__
from aiarmor.core.errors import AiarmorError, InputError
from aiarmor.modelfiles.keys import PrivateKey, PublicKey, fingerprint, key_algorithm, pem_hint

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
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
FORMAT_VERSION = 1
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_JSON_DEPTH = 8
MAX_FILES = 1_000_000
MAX_LISTED = 20
"""How many differences a :class:`SignatureError` message names (the attribute has all)."""
_MAX_NAME = 4096
_CHUNK = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "secp256r1": hashes.SHA256(),
    "secp384r1": hashes.SHA384(),
    "secp521r1": hashes.SHA512(),
}


class SignatureError(AiarmorError):
    """A model does not match its signature, or the signature bundle is bad.

    ``differences`` lists every way the model differs from the signed manifest (changed,
    renamed, removed, added files), all of them; for any other failure it holds the message
    alone. The message joins them on one line, clipped after :data:`MAX_LISTED` entries.
    """

    def __init__(self, message: str, differences: Iterable[str] = ()) -> None:
        self.differences: tuple[str, ...] = tuple(differences) or (message,)
        super().__init__(message)

    @classmethod
    def from_differences(cls, differences: list[str]) -> SignatureError:
        """One error naming every difference (the first ``MAX_LISTED`` in its message)."""
        shown = "; ".join(differences[:MAX_LISTED])
        if len(differences) > MAX_LISTED:
            shown += f"; ... and {len(differences) - MAX_LISTED} more differences"
        return cls(shown, differences)


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One signed file."""

    name: str
    """Relative POSIX path inside the model; ``"."`` when the model is a single file."""
    sha256: str
    """Lowercase hex SHA-256 of the file's bytes."""
    size: int | None
    """Size in bytes (None in bundles from ``model_signing``, which does not record it)."""


@dataclass(frozen=True, slots=True)
class SignedManifest:
    """The content of a bundle whose signature checked out (files not yet compared)."""

    model_name: str
    """Informative name of the model at signing time (renaming a model keeps it valid)."""
    files: tuple[ManifestEntry, ...]
    """Every signed file, in signed order."""
    root_digest: str
    """SHA-256 over the concatenated file digests (the in-toto subject digest)."""
    ignored: tuple[str, ...]
    """Relative paths the signer excluded (with everything under them)."""
    signer: str
    """Fingerprint (hex SHA-256 of the raw public key) of the key that verified it."""
    algorithm: str
    """Signature algorithm id: ``ed25519``, ``ecdsa-p256-sha256``, ..."""
    signed_at: str | None
    """ISO 8601 UTC time of signing (None for bundles made by other tools)."""


@dataclass(frozen=True, slots=True)
class VerifiedManifest(SignedManifest):
    """A signed manifest that matched the model on disk, file for file."""

    path: Path
    """The model file or directory that was verified."""


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


def _bad_signature(key: PublicKey, keyid: str, hint: str | None) -> str:
    ours = fingerprint(key)
    if _HEX64.fullmatch(keyid) and keyid != ours:
        return f"wrong key: the bundle names signer sha256:{keyid}, the given key is sha256:{ours}"
    if hint is not None and hint != pem_hint(key):
        return f"wrong key: the bundle was signed by another key (given key sha256:{ours})"
    return "bad signature: the signed statement was altered or not signed by the given key"


def _check_files(root: Path, signed: SignedManifest) -> None:
    single = signed.files[0].name == "."
    if single != root.is_file():
        kind = "a single file" if single else "a directory"
        raise SignatureError(f"the signature covers {kind}, but {_q(str(root))} is not one")
    actual = _enumerate(root, signed.ignored, SignatureError)
    expected = {e.name: e for e in signed.files}
    differences = [*_changed(actual, signed.files), *_name_differences(actual, expected)]
    if differences:
        raise SignatureError.from_differences(differences)


def _changed(actual: dict[str, tuple[Path, int]], files: Iterable[ManifestEntry]) -> list[str]:
    """Every signed file still present whose size or SHA-256 differs, in signed order."""
    changed = []
    for entry in files:
        if entry.name not in actual:
            continue
        file_path, size = actual[entry.name]
        if entry.size is not None and size != entry.size:
            changed.append(f"changed file: {_q(entry.name)} (size {size}, signed {entry.size})")
            continue
        digest, _ = _hash_file(file_path)
        if not hmac.compare_digest(digest, entry.sha256):
            changed.append(f"changed file: {_q(entry.name)} (SHA-256 differs from signed)")
    return changed


def _name_differences(
    actual: dict[str, tuple[Path, int]], expected: dict[str, ManifestEntry]
) -> list[str]:
    """Renamed, then removed, then added files (an added file with a removed one's digest is
    a rename); each group sorted by path components."""
    missing = _sorted(set(expected) - set(actual))
    added = _sorted(set(actual) - set(expected))
    by_digest: dict[str, list[str]] = {}
    for m in missing:
        by_digest.setdefault(expected[m].sha256, []).append(m)
    sizes = {expected[m].size for m in missing}
    renamed: list[str] = []
    for new in list(added):
        if None not in sizes and actual[new][1] not in sizes:
            continue  # no removed file of this size: cannot be a rename, skip hashing it
        olds = by_digest.get(_hash_file(actual[new][0])[0])
        if olds:
            old = olds.pop(0)
            renamed.append(f"renamed file: {_q(old)} -> {_q(new)}")
            missing.remove(old)
            added.remove(new)
    return [
        *renamed,
        *(f"removed file: {_q(m)}" for m in missing),
        *(f"added file: {_q(a)} (not in the signed manifest)" for a in added),
    ]


# ----------------------------------------------------------------------- bundle and schema


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


# ---------------------------------------------------------------- crypto and file helpers


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


def _root_digest(hex_digests: Iterable[str]) -> str:
    return hashlib.sha256(b"".join(bytes.fromhex(d) for d in hex_digests)).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _model_root(path: Path | str) -> Path:
    root = Path(os.path.abspath(path))
    if root.is_symlink():
        raise InputError(f"{_q(str(root))} is a symlink; sign or verify the real path")
    if not (root.is_file() or root.is_dir()):
        raise InputError(f"{_q(str(path))} is not an existing file or directory")
    return root


def _enumerate(
    root: Path, ignored: tuple[str, ...], error: type[AiarmorError]
) -> dict[str, tuple[Path, int]]:
    """``{relative POSIX name: (path, size)}`` of every regular file; refuse links/specials."""
    if root.is_file():
        return {".": (root, root.stat().st_size)}
    found: dict[str, tuple[Path, int]] = {}
    stack = [("", root)]
    while stack:
        prefix, directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            raise error(f"cannot list {_q(str(directory))}: {exc.strerror}") from None
        for entry in entries:
            name = prefix + entry.name
            if _is_ignored(name, ignored):
                continue
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                stack.append((name + "/", Path(entry.path)))
            elif stat.S_ISREG(info.st_mode):
                _utf8(name, error)
                found[name] = (Path(entry.path), info.st_size)
            else:
                kind = "symlink" if stat.S_ISLNK(info.st_mode) else "special file"
                raise error(f"{kind} in model: {_q(name)} (only regular files are signed)")
    return found


def _hash_file(path: Path) -> tuple[str, int]:
    """(hex SHA-256, size) streamed in 1 MiB chunks; refuses to follow a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise InputError(f"cannot read {_q(str(path))}: {exc.strerror}") from None
    with os.fdopen(fd, "rb", buffering=0) as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise InputError(f"{_q(str(path))} is not a regular file")
        digest, size, buf = hashlib.sha256(), 0, bytearray(_CHUNK)
        view = memoryview(buf)
        while n := handle.readinto(buf):
            digest.update(view[:n])
            size += n
    return digest.hexdigest(), size


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


def _sorted(names: Iterable[str]) -> list[str]:
    """Sorted by path components, the order ``model_signing`` uses (PurePosixPath order)."""
    return sorted(names, key=lambda n: n.split("/"))


def _is_ignored(name: str, ignored: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + "/") for p in ignored)


def _utf8(name: str, error: type[AiarmorError]) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"file name {_q(name)} is not valid UTF-8") from None


def _q(name: str) -> str:
    """Quote an attacker-controlled name for a one-line terminal message."""
    return _clip(repr(name))


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
