"""Open a model for production: signature first, decryption in memory, then a safe loader.

:func:`open_verified_model` is the gateway's only way to load a model. The artifact's
signature bundle is checked with the configured public key (every file, via
:func:`aiarmor.modelfiles.encryption.open_verified`); an encrypted artifact is decrypted in
memory only (its plaintext lives in an anonymous ``memfd`` that the safe loaders of
:mod:`aiarmor.targets.loading` read by path, never on disk) and only after its hash matched
the signed digest. Without a valid signature the model is refused, unless the operator set
``allow_unsigned`` (development), which is warned about loudly on every load.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiarmor.core.errors import ConfigError, ModelLoadError
from aiarmor.modelfiles.encryption import decrypt_to_memory, is_encrypted, open_verified
from aiarmor.modelfiles.keys import MasterKey, fingerprint, load_master_key, load_public_key
from aiarmor.modelfiles.signing import SignatureError, default_signature_path
from aiarmor.serving.settings import GatewaySettings, ModelSettings
from aiarmor.targets.base import Target
from aiarmor.targets.loading import load_target

__all__ = ["LoadedModel", "open_verified_model"]

log = logging.getLogger(__name__)

MAX_MODEL_BYTES = 4 << 30


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A model ready to serve and how it was vetted."""

    target: Target
    """The loaded model."""
    signer: str | None
    """Fingerprint of the key whose signature verified, or None when served unsigned."""
    encrypted: bool
    """Whether it was decrypted in memory at start-up."""


def open_verified_model(
    model: ModelSettings, *, base_dir: Path = Path("."), allow_unsigned: bool = False
) -> LoadedModel:
    """Verify ``model``'s artifact, decrypt it in memory if configured, and load it.

    Raises :class:`~aiarmor.modelfiles.signing.SignatureError` for a tampered or unsigned
    artifact (unless ``allow_unsigned``), ConfigError/ModelLoadError for the rest.
    """
    path = _resolve(model.path, base_dir)
    signature = _resolve(model.signature, base_dir) if model.signature else None
    master = _master_key(model, base_dir)
    if model.public_key is None:
        return _unsigned(
            model, path, master, "no public_key is configured", allow_unsigned, base_dir
        )
    bundle = signature or default_signature_path(path)
    if not bundle.is_file():
        return _unsigned(
            model, path, master, f"no signature bundle at {bundle}", allow_unsigned, base_dir
        )
    public = load_public_key(_resolve(model.public_key, base_dir))
    try:
        opened = open_verified(
            path,
            public_key=public,
            master_key=master,
            signature=signature,
            max_bytes=MAX_MODEL_BYTES,
        )
    except SignatureError as exc:
        if not allow_unsigned:
            raise SignatureError(f"model {model.name!r} refused: {exc}") from None
        return _unsigned(model, path, master, str(exc), allow_unsigned, base_dir)
    signer = fingerprint(public)
    if isinstance(opened, bytes):
        return LoadedModel(_load_bytes(model, opened, base_dir), signer, encrypted=True)
    return LoadedModel(_load(model, opened, base_dir), signer, encrypted=False)


def _unsigned(
    model: ModelSettings,
    path: Path,
    master: MasterKey | None,
    why: str,
    allowed: bool,
    base_dir: Path,
) -> LoadedModel:
    """Refuse, or (allow_unsigned) load without verification and say so loudly."""
    if not allowed:
        raise SignatureError(
            f"model {model.name!r} refused: {why}; sign it (aiarmor sign) or, for "
            "development only, set server.allow_unsigned = true"
        )
    log.warning(
        "SERVING UNVERIFIED MODEL %r (%s): allow_unsigned is on; never do this in production",
        model.name,
        why,
    )
    if master is not None and is_encrypted(path):
        plain = decrypt_to_memory(path, master, max_bytes=MAX_MODEL_BYTES)
        return LoadedModel(_load_bytes(model, plain, base_dir), None, encrypted=True)
    return LoadedModel(_load(model, path, base_dir), None, encrypted=False)


def _master_key(model: ModelSettings, base_dir: Path) -> MasterKey | None:
    if model.master_key is None:
        return None
    if model.master_key.env is not None:
        return load_master_key(env=model.master_key.env)
    if model.master_key.file is None:
        raise ConfigError(f"model {model.name!r}: master_key needs file or env")
    return load_master_key(_resolve(model.master_key.file, base_dir))


def _load(model: ModelSettings, path: Path, base_dir: Path) -> Target:
    """Load a verified plaintext artifact with the safe loaders (pickle is refused)."""
    shape = model.input.shape
    if model.spec is not None:
        spec = _resolve_spec(model.spec, base_dir)
        target = load_target(spec, weights=path, n_classes=model.n_classes, input_shape=shape)
    else:
        target = load_target(
            str(path),
            n_classes=model.n_classes,
            input_shape=shape,
            trust_skops_types=model.trust_types,
        )
    target.name = model.name
    return target


def _load_bytes(model: ModelSettings, plaintext: bytes, base_dir: Path) -> Target:
    """Load decrypted bytes through an anonymous in-memory file (never written to disk)."""
    with _memory_file(plaintext, model.name) as path:
        return _load(model, path, base_dir)


@contextmanager
def _memory_file(data: bytes, name: str) -> Iterator[Path]:
    """``data`` in a sealed-off anonymous memory file, reachable by a /proc path."""
    if not hasattr(os, "memfd_create"):
        raise ModelLoadError("in-memory decryption needs Linux (memfd_create)")
    fd = os.memfd_create(f"aiarmor-{name}", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        yield Path(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def _resolve(path: Path, base_dir: Path) -> Path:
    return path if path.is_absolute() else base_dir / path


def _resolve_spec(spec: str, base_dir: Path) -> str:
    """A ``file.py:fn`` spec with its file resolved against the config folder."""
    head, sep, attr = spec.rpartition(":")
    if sep and head.endswith(".py"):
        return f"{_resolve(Path(head), base_dir)}:{attr}"
    return spec


def load_models(settings: GatewaySettings) -> dict[str, LoadedModel]:
    """Every configured model, verified; the first refusal stops start-up."""
    return {
        m.name: open_verified_model(
            m, base_dir=settings.base_dir, allow_unsigned=settings.server.allow_unsigned
        )
        for m in settings.models
    }
