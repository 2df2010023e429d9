"""``aiarmor keygen | sign | verify | encrypt | decrypt``: the artifact supply-chain commands.

Exit codes: 0 done / verified, 1 verification failed (on stderr: the problem, or every
changed/added/removed/renamed file, one per line), 2 bad input (missing file, bad key file,
wrong passphrase, tampered ciphertext).
Passphrases come from an environment variable named on the command line, never from argv.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from aiarmor.cli.render import clean
from aiarmor.core.errors import ConfigError, InputError

KeyPrefix = Annotated[
    Path,
    typer.Option(
        "--out",
        metavar="PREFIX",
        help="Prefix: writes PREFIX.key + PREFIX.pub (PREFIX.master.key).",
    ),
]
PassEnv = Annotated[
    str | None,
    typer.Option(
        "--passphrase-env", metavar="VAR", help="Environment variable holding the key passphrase."
    ),
]
MasterKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key", metavar="PATH", help="Master key file (default: $AIARMOR_MASTER_KEY, base64)."
    ),
]
OutOpt = Annotated[Path | None, typer.Option("--out", metavar="PATH", help="Output path.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")]
SigOpt = Annotated[
    Path | None,
    typer.Option(
        "--signature",
        metavar="PATH",
        help="Bundle path (default: PATH.aiarmor-sig.json beside it).",
    ),
]


def _say(text: str) -> None:
    Console(file=sys.stdout, highlight=False).print(clean(text), markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``keygen``, ``sign``, ``verify``, ``encrypt`` and ``decrypt`` to ``app``."""
    app.command("keygen")(keygen_command)
    app.command("sign")(sign_command)
    app.command("verify")(verify_command)
    app.command("encrypt")(encrypt_command)
    app.command("decrypt")(decrypt_command)


def keygen_command(
    out: KeyPrefix,
    symmetric: Annotated[
        bool, typer.Option("--symmetric", help="Write a 256-bit master key for encryption.")
    ] = False,
    algorithm: Annotated[
        str,
        typer.Option(
            metavar="ALG", help="ed25519 | ecdsa-p256 (ECDSA interoperates with model_signing)."
        ),
    ] = "ed25519",
    passphrase_env: PassEnv = None,
) -> None:
    """Create a signing key pair (mode 0600 private key) or a master key; never overwrites."""
    from aiarmor.modelfiles import keys

    if symmetric:
        if passphrase_env is not None:
            raise ConfigError("--passphrase-env applies to signing keys, not to a master key")
        master = keys.generate_master_key()
        path = keys.save_master_key(master, Path(f"{out}.master.key"))
        _say(f"wrote {path} (mode 600); key id {master.key_id.hex()[:16]}")
        return
    key = keys.generate_keypair(algorithm)
    passphrase = keys.passphrase_from_env(passphrase_env)
    key_path, pub_path = keys.save_keypair(key, out, passphrase=passphrase)
    _say(f"wrote {key_path} (private, mode 600) and {pub_path}")
    _say(f"fingerprint sha256:{keys.fingerprint(key)}")


def sign_command(
    path: Annotated[Path, typer.Argument(help="Model file or directory.")],
    key: Annotated[Path, typer.Option("--key", metavar="PATH", help="Private key (PEM).")],
    passphrase_env: PassEnv = None,
    signature: SigOpt = None,
    include_git: Annotated[
        bool, typer.Option("--include-git", help="Also sign .git, .gitattributes, ...")
    ] = False,
) -> None:
    """Sign every file of a model (SHA-256 manifest, Ed25519/ECDSA, model_signing format)."""
    from aiarmor.modelfiles import keys, signing

    private = keys.load_private_key(key, passphrase=keys.passphrase_from_env(passphrase_env))
    bundle = signing.sign(path, private, signature=signature, ignore_git=not include_git)
    _say(f"signed {path} -> {bundle} (signer sha256:{keys.fingerprint(private)})")


def verify_command(
    path: Annotated[Path, typer.Argument(help="Model file or directory.")],
    pub: Annotated[Path, typer.Option("--pub", metavar="PATH", help="Public key (PEM).")],
    signature: SigOpt = None,
) -> None:
    """Verify a model against its signature: exit 0 verified, 1 failed, 2 bad input."""
    from aiarmor.modelfiles import keys, signing

    public = keys.load_public_key(pub)
    try:
        result = signing.verify(path, public, signature=signature)
    except signing.SignatureError as exc:
        _verification_failed(exc.differences)
        raise typer.Exit(1) from None
    when = f" at {result.signed_at}" if result.signed_at else ""
    count = f"{len(result.files)} file{'s' if len(result.files) != 1 else ''}"
    _say(f"verified {path}: {count}, signer sha256:{result.signer}{when}")


def _verification_failed(differences: tuple[str, ...]) -> None:
    """One line for one problem; a count, then one line per difference, for several."""
    lines = [f"aiarmor: verification failed: {differences[0]}"]
    if len(differences) > 1:
        lines = [f"aiarmor: verification failed: {len(differences)} differences from the signature"]
        lines += [f"  {d}" for d in differences]
    console = Console(stderr=True, highlight=False)
    for line in lines:
        console.print(clean(line), markup=False, soft_wrap=True)


def encrypt_command(
    path: Annotated[Path, typer.Argument(help="Model file or directory.")],
    key: MasterKeyOpt = None,
    out: OutOpt = None,
    force: ForceOpt = False,
) -> None:
    """Encrypt a model (AES-256-GCM, chunked; a directory becomes one encrypted tar)."""
    from aiarmor.modelfiles import encryption, keys

    master = keys.load_master_key(key)
    dst = out if out is not None else _sibling(path, encryption.ENCRYPTED_SUFFIX)
    encryption.encrypt_file(path, dst, master, overwrite=force)
    _say(f"encrypted {path} -> {dst} (key id {master.key_id.hex()[:16]})")


def decrypt_command(
    path: Annotated[Path, typer.Argument(help="Encrypted file.")],
    key: MasterKeyOpt = None,
    out: OutOpt = None,
    force: ForceOpt = False,
) -> None:
    """Decrypt a model; the output appears only if every chunk authenticated."""
    from aiarmor.modelfiles import encryption, keys

    master = keys.load_master_key(key)
    if out is None:
        if not path.name.endswith(encryption.ENCRYPTED_SUFFIX):
            raise InputError(f"{path} does not end in {encryption.ENCRYPTED_SUFFIX}; give --out")
        out = path.with_name(path.name[: -len(encryption.ENCRYPTED_SUFFIX)])
    encryption.decrypt_file(path, out, master, overwrite=force)
    _say(f"decrypted {path} -> {out}")


def _sibling(path: Path, suffix: str) -> Path:
    """``model.bin`` -> ``model.bin<suffix>``; ``dir/`` -> ``dir<suffix>`` beside it."""
    resolved = Path(os.path.abspath(path))
    return resolved.with_name(resolved.name + suffix)
