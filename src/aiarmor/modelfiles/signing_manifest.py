"""Signed manifests: the model's files on disk, their digests, and how they differ.

The data types of :mod:`aiarmor.modelfiles.signing` (:class:`SignatureError` and the
manifests), the enumeration and hashing of a model's regular files (symlinks and special
files refused), and the comparison of a model on disk with a signed manifest that names every
changed, renamed, removed and added file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aiarmor.core.errors import AiarmorError, InputError

MAX_LISTED = 20
"""How many differences a :class:`SignatureError` message names (the attribute has all)."""
_CHUNK = 1 << 20


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


# ------------------------------------------------------------------------------ comparison


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


# ------------------------------------------------------------------------------ file helpers


def _root_digest(hex_digests: Iterable[str]) -> str:
    return hashlib.sha256(b"".join(bytes.fromhex(d) for d in hex_digests)).hexdigest()


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
