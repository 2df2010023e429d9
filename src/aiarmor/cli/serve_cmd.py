"""``aiarmor serve --config gateway.toml`` and ``aiarmor keys create|list|revoke|rotate``.

The gateway's libraries (FastAPI, uvicorn, pydantic, SQLAlchemy, ...) come with the
``aiarmor[serve]`` extra and are imported only when these commands run; without them the
commands say so and exit 2. Keys are created offline (``aiarmor keys create``) to bootstrap
the first admin; the key is printed once and only its keyed hash is stored. Key changes made
here are recorded in the gateway's audit log (identity ``cli``), like those made through the
admin API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from aiarmor.cli.render import clean
from aiarmor.core.errors import ConfigError

if TYPE_CHECKING:
    from aiarmor.serving.pipeline.keystore import SQLKeyStore

_NEEDED = ("fastapi", "uvicorn", "pydantic", "sqlalchemy", "jwt", "prometheus_client")

ConfigOpt = Annotated[Path, typer.Option("--config", metavar="PATH", help="The gateway TOML file.")]
keys_app = typer.Typer(
    help="Create, list, revoke and rotate gateway API keys.", no_args_is_help=True
)


def _require_serve() -> None:
    missing = [m for m in _NEEDED if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"the gateway needs {', '.join(missing)}: install aiarmor[serve] "
            "(pip install 'aiarmor[serve]')"
        )


def _say(text: str) -> None:
    Console(file=sys.stdout, highlight=False).print(clean(text), markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``keys`` group to ``app``."""
    app.command("serve")(serve_command)
    app.add_typer(keys_app, name="keys")


def serve_command(
    config: ConfigOpt,
    host: Annotated[str | None, typer.Option(metavar="HOST", help="Override server.host.")] = None,
    port: Annotated[int | None, typer.Option(metavar="PORT", help="Override server.port.")] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Override server.tls_cert.")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Override server.tls_key.")
    ] = None,
) -> None:
    """Serve the configured models behind authentication, limits, detection and audit."""
    _require_serve()
    import uvicorn

    from aiarmor.serving.http.app import create_app
    from aiarmor.serving.settings import load_settings

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings(config)
    server = settings.server
    cert = tls_cert or (settings.resolve(server.tls_cert) if server.tls_cert else None)
    key = tls_key or (settings.resolve(server.tls_key) if server.tls_key else None)
    if (cert is None) != (key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    _set_inference_threads(settings.server.inference_threads)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host or server.host,
        port=server.port if port is None else port,
        ssl_certfile=str(cert) if cert else None,
        ssl_keyfile=str(key) if key else None,
        proxy_headers=False,
        server_header=False,
        log_level="info",
        access_log=False,
    )


def _set_inference_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def _store(config: Path) -> SQLKeyStore:
    _require_serve()
    from aiarmor.serving.settings import load_settings
    from aiarmor.serving.wiring import open_key_store

    return open_key_store(load_settings(config))


@contextlib.contextmanager
def _audited(config: Path) -> Iterator[Callable[[str, str, int], None]]:
    """Record key changes in the gateway's audit log, as the gateway records its own, so the
    log of a deployment with keys is never empty (``serve`` relies on that). The log is
    opened first: a change is not made when it could not be recorded."""
    import time

    from aiarmor.serving.audit.log import AuditEntry
    from aiarmor.serving.settings import load_settings
    from aiarmor.serving.wiring import open_audit_log

    log = open_audit_log(load_settings(config))

    def record(route: str, key_id: str, status: int) -> None:
        summary = json.dumps({"id": key_id})
        log.append(AuditEntry(time.time(), "cli", "", route, "", summary, "allowed", status, {}))

    try:
        yield record
    finally:
        log.close()


@keys_app.command("create")
def keys_create(
    config: ConfigOpt,
    scope: Annotated[
        list[str], typer.Option(metavar="SCOPE", help="predict | admin | audit (repeat).")
    ],
    model: Annotated[
        list[str] | None, typer.Option(metavar="NAME", help="Model name (repeat; default all).")
    ] = None,
    role: Annotated[str, typer.Option(metavar="ROLE", help="Output-hardening role.")] = "default",
    label: Annotated[str, typer.Option(metavar="TEXT", help="A note for the key list.")] = "",
) -> None:
    """Create a key and print it once (only its keyed hash is stored)."""
    with _audited(config) as record:
        key, info = _store(config).create(scope, model or ["*"], role=role, label=label)
        record("cli.keys.create", info.id, 201)
    _say(f"id {info.id}  scopes {' '.join(info.scopes)}  models {' '.join(info.models)}")
    sys.stdout.write(key + "\n")
    Console(stderr=True).print("store this key now: it is not shown again", markup=False)


@keys_app.command("list")
def keys_list(
    config: ConfigOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List keys (never their secrets)."""
    infos = _store(config).list()
    if as_json:
        rows = [dataclasses.asdict(i) for i in infos]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    for i in infos:
        state = "revoked" if i.revoked else "active"
        _say(f"{i.id}  {state}  {' '.join(i.scopes)}  {' '.join(i.models)}  {i.role}  {i.label}")


@keys_app.command("revoke")
def keys_revoke(
    config: ConfigOpt,
    key_id: Annotated[str, typer.Argument(metavar="ID", help="Key id.", hidden=True)],
) -> None:
    """Revoke a key at once.

    ID is the key's id, as aiarmor keys list shows it.
    """
    with _audited(config) as record:
        try:
            _store(config).revoke(key_id)
        except KeyError:
            raise ConfigError(f"no active key with id {key_id!r}") from None
        record("cli.keys.revoke", key_id, 204)
    _say(f"revoked {key_id}")


@keys_app.command("rotate")
def keys_rotate(
    config: ConfigOpt,
    key_id: Annotated[str, typer.Argument(metavar="ID", help="Key id.", hidden=True)],
) -> None:
    """Give a key a new secret (printed once); the old one stops working.

    ID is the key's id, as aiarmor keys list shows it.
    """
    with _audited(config) as record:
        try:
            key, _info = _store(config).rotate(key_id)
        except KeyError:
            raise ConfigError(f"no active key with id {key_id!r}") from None
        record("cli.keys.rotate", key_id, 200)
    sys.stdout.write(key + "\n")
