"""Key files for artifact signing (Ed25519, ECDSA) and encryption at rest (AES-256 master keys).

Private keys are written as PKCS#8 PEM with mode 0600 and never over an existing file;
a passphrase, when wanted, is read from an environment variable whose *name* the caller
gives, so it never appears in argv or shell history. Master keys are 32 random bytes,
stored base64-encoded (one line) or raw. Nothing here logs or formats key material: errors
name the file, never its contents, and :class:`MasterKey` hides its bytes from ``repr``.

Signing keys are Ed25519 by default. ECDSA on P-256/P-384/P-521 is accepted too, because
those are the only key types the OpenSSF ``model_signing`` tool can sign and verify with,
so an ECDSA key gives two-way interoperability with it (see :mod:`.signing`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from aiarmor.core.errors import ConfigError, InputError

__all__ = [
    "MASTER_KEY_ENV",
    "MasterKey",
    "PrivateKey",
    "PublicKey",
    "fingerprint",
    "generate_keypair",
    "generate_master_key",
    "key_algorithm",
    "load_master_key",
    "load_private_key",
    "load_public_key",
    "passphrase_from_env",
    "pem_hint",
    "save_keypair",
    "save_master_key",
]

log = logging.getLogger(__name__)

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
"""A signing key: Ed25519 (default) or ECDSA on P-256/P-384/P-521."""
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
"""A verification key matching :data:`PrivateKey`."""

MASTER_KEY_ENV = "AIARMOR_MASTER_KEY"
"""Environment variable holding a base64 master key when no key file is given."""
MASTER_KEY_BYTES = 32
_MAX_KEY_FILE = 64 * 1024
_CURVES = {"secp256r1": "p256-sha256", "secp384r1": "p384-sha384", "secp521r1": "p521-sha512"}
ALGORITHMS = ("ed25519", "ecdsa-p256")
"""Key types :func:`generate_keypair` can create."""


@dataclass(frozen=True, slots=True)
class MasterKey:
    """A 256-bit key-encryption key. ``repr`` never shows the secret."""

    secret: bytes = field(repr=False)
    """The 32 key bytes."""

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != MASTER_KEY_BYTES:
            raise InputError(f"a master key must be exactly {MASTER_KEY_BYTES} bytes")

    @property
    def key_id(self) -> bytes:
        """16-byte public identifier (a domain-separated SHA-256 of the key)."""
        return hashlib.sha256(b"aiarmor master key id v1\x00" + self.secret).digest()[:16]


# ----------------------------------------------------------------------------- signing keys


def generate_keypair(algorithm: str = "ed25519") -> PrivateKey:
    """A fresh signing key: ``"ed25519"`` (default) or ``"ecdsa-p256"``."""
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ConfigError(f"unknown key algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}")


def key_algorithm(key: PrivateKey | PublicKey) -> str:
    """Signature algorithm id of a key: ``ed25519`` or ``ecdsa-p256-sha256`` (and P-384/521)."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        suffix = _CURVES.get(key.curve.name)
        if suffix is not None:
            return f"ecdsa-{suffix}"
        raise InputError(f"unsupported elliptic curve {key.curve.name}; use P-256, P-384 or P-521")
    raise InputError("unsupported key type; use Ed25519 or ECDSA (P-256, P-384, P-521)")


def _public(key: PrivateKey | PublicKey) -> PublicKey:
    if isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        return key.public_key()
    return key


def fingerprint(key: PrivateKey | PublicKey) -> str:
    """Hex SHA-256 of the raw public key (Ed25519: 32 bytes; ECDSA: the uncompressed point)."""
    public = _public(key)
    key_algorithm(public)
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    return hashlib.sha256(raw).hexdigest()


def pem_hint(key: PrivateKey | PublicKey) -> str:
    """Hex SHA-256 of the PEM SubjectPublicKeyInfo: the key hint ``model_signing`` records."""
    pem = _public(key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(pem).hexdigest()


def passphrase_from_env(name: str | None) -> bytes | None:
    """The passphrase in environment variable ``name`` (None when no name is given)."""
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise InputError(f"environment variable {name} (the key passphrase) is not set or empty")
    return value.encode("utf-8")


def save_keypair(
    key: PrivateKey, prefix: Path | str, *, passphrase: bytes | None = None
) -> tuple[Path, Path]:
    """Write ``PREFIX.key`` (PKCS#8 PEM, mode 0600) and ``PREFIX.pub``; never overwrite."""
    key_path, pub_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    for path in (key_path, pub_path):
        if path.exists() or path.is_symlink():
            raise InputError(f"{path} already exists; refusing to overwrite a key file")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(key_path, pem, 0o600)
    _write_new(pub_path, public, 0o644)
    return key_path, pub_path


def load_private_key(path: Path | str, *, passphrase: bytes | None = None) -> PrivateKey:
    """Read a PEM private key; InputError (never the key bytes) on any problem."""
    path = Path(path)
    data = _read_key_file(path)
    _warn_if_exposed(path)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        if passphrase is None:
            raise InputError(f"{path} is encrypted; give its passphrase variable") from None
        raise InputError(f"{path} is not encrypted, but a passphrase was given") from None
    except ValueError:
        if passphrase is not None:
            raise InputError(f"cannot decrypt {path}: wrong passphrase or bad key") from None
        raise InputError(f"{path} is not a PEM private key") from None
    except Exception:  # cryptography raises several types for junk input
        raise InputError(f"{path} is not a PEM private key") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise InputError(f"{path}: unsupported key type; use Ed25519 or ECDSA")
    key_algorithm(key)
    return key


def load_public_key(path: Path | str) -> PublicKey:
    """Read a PEM public key (SubjectPublicKeyInfo)."""
    path = Path(path)
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_public_key(data)
    except Exception:
        raise InputError(f"{path} is not a PEM public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise InputError(f"{path}: unsupported key type; use Ed25519 or ECDSA")
    key_algorithm(key)
    return key


# ------------------------------------------------------------------------------ master keys


def generate_master_key() -> MasterKey:
    """32 bytes from the operating system's CSPRNG."""
    return MasterKey(secrets.token_bytes(MASTER_KEY_BYTES))


def save_master_key(key: MasterKey, path: Path | str) -> Path:
    """Write the key base64-encoded on one line, mode 0600; never overwrite."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise InputError(f"{path} already exists; refusing to overwrite a key file")
    _write_new(path, base64.b64encode(key.secret) + b"\n", 0o600)
    return path


def load_master_key(path: Path | str | None = None, *, env: str = MASTER_KEY_ENV) -> MasterKey:
    """The master key from ``path`` (raw 32 bytes or base64), else from ``$env`` (base64)."""
    if path is not None:
        path = Path(path)
        data = _read_key_file(path)
        _warn_if_exposed(path)
        return _parse_master_key(data, f"key file {path}")
    value = os.environ.get(env)
    if not value:
        raise InputError(f"no master key: give a key file or set {env}")
    return _parse_master_key(value.encode("ascii", "replace"), f"environment variable {env}")


def _parse_master_key(data: bytes, where: str) -> MasterKey:
    if len(data) == MASTER_KEY_BYTES:
        return MasterKey(data)
    try:
        secret = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{where} is neither 32 raw bytes nor base64") from None
    if len(secret) != MASTER_KEY_BYTES:
        raise InputError(f"{where} must hold a {MASTER_KEY_BYTES * 8}-bit key")
    return MasterKey(secret)


# ------------------------------------------------------------------------------ file helpers


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` exclusively (no symlink following) with ``mode``, then write ``data``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise InputError(f"{path} already exists; refusing to overwrite a key file") from None
    except OSError as exc:
        raise InputError(f"cannot create {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, mode)  # the umask may have dropped bits; never widen beyond `mode`
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data)
    finally:
        os.close(fd)


def _read_key_file(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_KEY_FILE + 1)
    except FileNotFoundError:
        raise InputError(f"key file {path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"key file {path} is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read key file {path}: {exc.strerror}") from None
    if len(data) > _MAX_KEY_FILE:
        raise InputError(f"key file {path} is too large to be a key")
    return data


def _warn_if_exposed(path: Path) -> None:
    """Secret key files readable by group or others are allowed, with a warning."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if stat.S_IMODE(mode) & 0o077:
        log.warning("secret key file %s is readable by other users (chmod 600 it)", path)
