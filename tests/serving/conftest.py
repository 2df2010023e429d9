"""Shared fixtures: a tiny signed TorchScript model, secrets, settings and an in-process app."""

from __future__ import annotations

import secrets
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from aiarmor.modelfiles.keys import generate_keypair, save_keypair
from aiarmor.modelfiles.signing import sign
from aiarmor.serving.settings import GatewaySettings, parse_settings

N_FEATURES, N_CLASSES = 4, 3


def make_model_file(path: Path) -> Path:
    """A seeded 4 -> 3 linear classifier saved as TorchScript."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(N_FEATURES, 8), torch.nn.ReLU(),
                                 torch.nn.Linear(8, N_CLASSES)).eval()  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(module), str(path))
    return path


@pytest.fixture(scope="session")
def artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.pt signed by signer.key, plus secret files."""
    root = tmp_path_factory.mktemp("gateway")
    make_model_file(root / "model.pt")
    key = generate_keypair("ed25519")
    save_keypair(key, root / "signer")
    sign(root / "model.pt", key)
    (root / "server.secret").write_text(secrets.token_hex(32))
    (root / "audit.key").write_text(secrets.token_hex(32))
    return root


def base_config(root: Path, db_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A complete gateway config dict (TOML-shaped) using ``root``'s artifacts."""
    model: dict[str, Any] = {
        "name": "tiny",
        "path": str(root / "model.pt"),
        "public_key": str(root / "signer.pub"),
        "n_classes": N_CLASSES,
        "input": {"shape": [N_FEATURES], "min": -10.0, "max": 10.0, "max_batch": 64},
        "output": {
            "default": {"top_k": 2, "round_digits": 2},
            "label": {"label_only": True},
            "full": {"round_digits": None},
        },
    }
    cfg: dict[str, Any] = {
        "server": {"max_body_bytes": 64 * 1024},
        "auth": {
            "key_store": f"sqlite:///{db_dir / 'keys.db'}",
            "server_secret": {"file": str(root / "server.secret")},
        },
        "limits": {"rate": 1000.0, "burst": 1000},
        "audit": {
            "url": f"sqlite:///{db_dir / 'audit.db'}",
            "key": {"file": str(root / "audit.key")},
        },
        "models": [model],
    }
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(cfg.get(section), dict):
            cfg[section] = {**cfg[section], **values}
        else:
            cfg[section] = values
    return cfg


def settings_for(root: Path, db_dir: Path, **overrides: Any) -> GatewaySettings:
    return parse_settings(base_config(root, db_dir, **overrides), base_dir=root)


@pytest.fixture(scope="session")
def served_models(artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The verified model, loaded once per session."""
    from aiarmor.serving.wiring import build_models

    return build_models(settings_for(artifact_dir, tmp_path_factory.mktemp("db")))


class Client:
    """A TestClient plus the gateway behind it and an admin key."""

    def __init__(self, app: Any) -> None:
        from fastapi.testclient import TestClient

        self.app = app
        self.http = TestClient(app)
        self.gw = app.state.gateway
        self.admin_key, _ = self.gw.auth.keys.create(["admin", "audit"])

    def key(
        self, scopes: list[str], models: tuple[str, ...] = ("*",), role: str = "default"
    ) -> str:
        return str(self.gw.auth.keys.create(scopes, models, role=role)[0])

    def predict(self, key: str | None, inputs: Any, model: str = "tiny", **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.http.post(
            f"/v1/models/{model}/predict", json={"inputs": inputs}, headers=headers, **kw
        )


@pytest.fixture
def make_client(artifact_dir: Path, served_models: dict[str, Any], tmp_path: Path):
    """Build an in-process client; keyword overrides go into the config."""
    from aiarmor.serving.http.app import create_app

    def build(*, detectors: list[Any] | None = None, **overrides: Any) -> Client:
        settings = settings_for(artifact_dir, tmp_path, **overrides)
        app = create_app(settings, models=served_models, detectors=detectors or [])
        return Client(app)

    return build


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
