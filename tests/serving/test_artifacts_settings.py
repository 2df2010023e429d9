"""Start-up: signed artifacts load, tampered or unsigned ones are refused (unless allowed),
encrypted ones decrypt in memory; bad configs are one-line errors; detector actions."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

import numpy as np
import pytest

from aiarmor.core.errors import ConfigError
from aiarmor.modelfiles.encryption import encrypt_file
from aiarmor.modelfiles.keys import generate_master_key, load_private_key, save_master_key
from aiarmor.modelfiles.signing import SignatureError, sign
from aiarmor.serving.artifacts import open_verified_model
from aiarmor.serving.settings import ModelSettings, load_settings, parse_settings

from .conftest import base_config, make_model_file

X = np.asarray([[0.1, 0.2, 0.3, 0.4]], dtype=np.float32)


def _model(path, root, **kw) -> ModelSettings:
    return ModelSettings(name="m", path=path, public_key=root / "signer.pub", n_classes=3,
                         input={"shape": [4]}, **kw)  # fmt: skip


@pytest.fixture
def copy(artifact_dir, tmp_path):
    """A private signed copy of the model (tests may tamper with it)."""
    shutil.copy(artifact_dir / "model.pt", tmp_path / "model.pt")
    shutil.copy(artifact_dir / "model.pt.aiarmor-sig.json", tmp_path / "model.pt.aiarmor-sig.json")
    return tmp_path / "model.pt"


def test_a_signed_model_loads_and_predicts(copy, artifact_dir):
    loaded = open_verified_model(_model(copy, artifact_dir))
    assert loaded.signer is not None and not loaded.encrypted
    assert loaded.target.predict(X).shape == (1,)


def test_a_tampered_model_is_refused_even_when_unsigned_is_allowed_it_warns(
    copy, artifact_dir, caplog
):
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(SignatureError, match="refused"):
        open_verified_model(_model(copy, artifact_dir))
    (copy.parent / "model.pt.aiarmor-sig.json").unlink()
    make_model_file(copy)
    with pytest.raises(SignatureError, match="no signature bundle"):
        open_verified_model(_model(copy, artifact_dir))
    with caplog.at_level(logging.WARNING):
        loaded = open_verified_model(_model(copy, artifact_dir), allow_unsigned=True)
    assert loaded.signer is None and "UNVERIFIED" in caplog.text


def test_a_signature_by_another_key_is_refused(copy, artifact_dir, tmp_path):
    from aiarmor.modelfiles.keys import generate_keypair

    sign(copy, generate_keypair("ed25519"), signature=tmp_path / "other.sig.json")
    with pytest.raises(SignatureError):
        open_verified_model(_model(copy, artifact_dir, signature=tmp_path / "other.sig.json"))


def test_an_encrypted_model_is_decrypted_in_memory_only(copy, artifact_dir, tmp_path, monkeypatch):
    master = generate_master_key()
    key_file = save_master_key(master, tmp_path / "master.key")
    enc = encrypt_file(copy, tmp_path / "model.pt.aiarmor-enc", master)
    sign(enc, load_private_key(artifact_dir / "signer.key"))
    before = set(tmp_path.iterdir())
    loaded = open_verified_model(_model(enc, artifact_dir, master_key={"file": key_file}))
    assert loaded.encrypted and loaded.signer is not None
    assert loaded.target.predict(X).shape == (1,)
    assert set(tmp_path.iterdir()) == before  # no plaintext written beside it
    monkeypatch.setenv("TEST_MASTER", master.secret.hex())
    with pytest.raises(Exception, match="TEST_MASTER"):
        open_verified_model(_model(enc, artifact_dir, master_key={"env": "TEST_MASTER"}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"nonsense": 1}, "nonsense"),
        ({"server": {"port": "http"}}, "server.port"),
        ({"auth": {"server_secret": "inline-secret-value"}}, "inline"),
        ({"server": {"tls_cert": "c.pem"}}, "tls_key"),
        ({"server": {"inference_threads": 0}}, "server.inference_threads"),
        (
            {"models": [{"name": "m", "path": "m", "input": {"shape": [4]}, "inference": "gpu"}]},
            "models.0.inference",
        ),
        ({"limits": {"backend": "memcached"}}, "limits.backend"),
        (
            {"models": [{"name": "bad name!", "path": "m", "input": {"shape": [4]}}]},
            "models.0.name",
        ),
        ({"models": [{"name": "m", "path": "m", "input": {"shape": [0]}}]}, "shape"),
        (
            {
                "auth": {
                    "server_secret": {"env": "X"},
                    "jwt": {"algorithms": ["none"], "issuer": "i", "audience": "a"},
                }
            },
            "algorithm",
        ),
    ],
)
def test_bad_configs_are_one_line_errors(artifact_dir, tmp_path, change, message):
    with pytest.raises(ConfigError) as err:
        parse_settings(base_config(artifact_dir, tmp_path, **change), base_dir=tmp_path)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert "inline-secret-value" not in str(err.value)


def test_config_files_are_read_and_resolved_relative_to_themselves(tmp_path):
    (tmp_path / "g.toml").write_text(
        '[auth]\nserver_secret = { file = "s" }\n[audit]\nkey = { env = "K" }\n'
        '[[models]]\nname = "m"\npath = "model.pt"\ninput = { shape = [4] }\n'
    )
    settings = load_settings(tmp_path / "g.toml")
    assert settings.server.host == "127.0.0.1" and settings.server.docs is False
    assert settings.resolve(settings.models[0].path) == tmp_path / "model.pt"
    (tmp_path / "bad.toml").write_text("[server\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")


# -------------------------------------------------------------------------- detector actions


@dataclass(frozen=True)
class Verdict:
    """The shape of ``aiarmor.serving.pipeline.detect.DetectorVerdict`` (all the gateway reads)."""

    name: str
    score: float
    flagged: bool
    reason: str
    action: str


@dataclass
class FlagAfter:
    """A stand-in query detector: flags an identity from its ``n``-th query on."""

    name: str
    n: int
    action: str = "log"
    seen: int = 0

    def observe(self, identity, model, x):
        self.seen += 1
        flagged = self.seen >= self.n
        return Verdict(self.name, float(self.seen), flagged, "near-duplicates", self.action)


@pytest.mark.parametrize(("action", "second"), [("log", 200), ("alert", 200),
                                                  ("throttle", 429), ("block", 403)])  # fmt: skip
def test_detector_actions(make_client, action, second):
    # the detector's own action, or the gateway's per-detector override
    detector = FlagAfter("pattern", 2, action=action if action != "block" else "log")
    overrides = {"actions": {"pattern": "block"}} if action == "block" else {}
    c = make_client(detectors=[detector], detection=overrides)
    key = c.key(["predict"])
    assert c.predict(key, X.tolist()).status_code == 200
    assert c.predict(key, X.tolist()).status_code == second
    row = c.gw.audit.query(model="tiny", limit=1)[0]
    assert row["detector_scores"] == {"pattern": 2.0}
    if action == "throttle":  # the penalty outlasts the request
        assert c.predict(key, X.tolist()).status_code == 429
    if action == "alert":
        metrics = c.http.get("/metrics", headers={"Authorization": f"Bearer {c.admin_key}"}).text
        assert 'aiarmor_detector_flags_total{action="alert",detector="pattern"} 1.0' in metrics


def test_the_documented_example_config_is_valid():
    import re
    import tomllib
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "serving.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", doc, re.DOTALL)
    assert example is not None
    settings = parse_settings(tomllib.loads(example.group(1)), base_dir=Path("/srv/gateway"))
    assert [m.name for m in settings.models] == ["digits", "credit"]
    assert settings.models[0].policy_for("partner").label_only
    assert settings.models[0].policy_for("nobody").top_k == 1


def test_a_model_configured_with_strip_is_served_with_its_fitted_detector(artifact_dir, tmp_path):
    from aiarmor.serving.pipeline.detect import StripDetector
    from aiarmor.serving.settings import parse_settings
    from aiarmor.serving.wiring import build_models

    np.savez(tmp_path / "clean.npz", x=np.random.default_rng(0).uniform(-1, 1, (32, 4)))
    config = base_config(artifact_dir, tmp_path)
    config["models"][0]["strip"] = {"reference": "clean.npz", "n_overlays": 4}
    served = build_models(parse_settings(config, base_dir=tmp_path))["tiny"]
    (detector,) = served.detectors
    assert isinstance(detector, StripDetector) and detector.action == "block"
    verdict = detector.observe("someone", "tiny", X)
    assert verdict.name == "strip" and verdict.score in (0.0, 1.0)
    assert 0.0 < detector.strip.threshold_ < np.log(3)  # calibrated on the clean inputs


# ------------------------------------- issue 14: relative paths and the audit log's continuity


def test_every_relative_path_resolves_against_the_config_folder_not_the_cwd(tmp_path, monkeypatch):
    conf, elsewhere = tmp_path / "conf", tmp_path / "elsewhere"
    conf.mkdir()
    elsewhere.mkdir()
    (conf / "g.toml").write_text(
        '[server]\ntls_cert = "tls/c.pem"\ntls_key = "tls/k.pem"\n'
        '[auth]\nkey_store = "sqlite:///db/keys.db"\nserver_secret = { file = "s" }\n'
        '[auth.jwt]\nalgorithms = ["EdDSA"]\npublic_key_file = "idp.pub"\n'
        'issuer = "i"\naudience = "a"\n'
        '[audit]\nurl = "sqlite:///db/audit.db?timeout=5"\nkey = { file = "a.key" }\n'
        'checkpoints = ["cp/1.json"]\n'
        '[[models]]\nname = "m"\npath = "m.pt"\nsignature = "m.sig"\npublic_key = "p.pub"\n'
        'spec = "code/m.py:build"\nmaster_key = { file = "mk" }\ninput = { shape = [4] }\n'
        'strip = { reference = "ref.npz" }\n'
    )
    monkeypatch.chdir(elsewhere)
    s = load_settings("../conf/g.toml")
    assert s.auth.key_store == f"sqlite:///{conf}/db/keys.db"
    assert s.audit.url == f"sqlite:///{conf}/db/audit.db?timeout=5"
    m = s.models[0]
    paths = [s.server.tls_cert, s.server.tls_key, s.auth.jwt.public_key_file,
             s.auth.server_secret.file, s.audit.key.file, *s.audit.checkpoints, m.path,
             m.signature, m.public_key, m.master_key.file, m.strip.reference]  # fmt: skip
    assert [p.relative_to(conf).as_posix() for p in paths] == [
        "tls/c.pem", "tls/k.pem", "idp.pub", "s", "a.key", "cp/1.json", "m.pt", "m.sig",
        "p.pub", "mk", "ref.npz",
    ]  # fmt: skip
    assert m.spec == f"{conf}/code/m.py:build"


def test_absolute_and_non_file_urls_are_left_alone(artifact_dir, tmp_path):
    cfg = base_config(artifact_dir, tmp_path)
    cfg["auth"]["key_store"] = "sqlite:///:memory:"
    cfg["audit"]["url"] = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    s = parse_settings(cfg, base_dir=tmp_path / "x")
    assert s.auth.key_store == "sqlite:///:memory:"
    assert s.audit.url == "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_serving_refuses_an_empty_audit_log_when_keys_exist(artifact_dir, served_models, tmp_path):
    from aiarmor.serving.http.app import create_app
    from aiarmor.serving.settings import parse_settings as parse
    from aiarmor.serving.wiring import open_key_store

    cfg = base_config(artifact_dir, tmp_path)
    settings = parse(cfg, base_dir=artifact_dir)
    open_key_store(settings).create(["admin"])
    with pytest.raises(ConfigError, match="empty, but the key store already holds keys") as err:
        create_app(settings, models=served_models, detectors=[])
    assert "\n" not in str(err.value)


def test_serving_refuses_a_log_that_does_not_extend_its_checkpoints(
    artifact_dir, served_models, tmp_path
):
    from aiarmor.serving.http.app import create_app
    from aiarmor.serving.wiring import open_audit_log

    settings = parse_settings(base_config(artifact_dir, tmp_path), base_dir=artifact_dir)
    with open_audit_log(settings) as log:
        for i in range(3):
            log.append(_entry(i))
        (tmp_path / "cp.json").write_text(log.checkpoint().to_json())
    cfg = base_config(artifact_dir, tmp_path)
    cfg["audit"]["checkpoints"] = [str(tmp_path / "cp.json")]
    create_app(parse_settings(cfg, base_dir=artifact_dir), models=served_models, detectors=[])
    cfg["audit"]["url"] = f"sqlite:///{tmp_path / 'new.db'}"
    with pytest.raises(ConfigError, match=r"empty, but audit\.checkpoints"):
        create_app(parse_settings(cfg, base_dir=artifact_dir), models=served_models)
    (tmp_path / "audit.db").unlink()
    with open_audit_log(
        parse_settings(base_config(artifact_dir, tmp_path), base_dir=artifact_dir)
    ) as log:
        for i in range(4):
            log.append(_entry(i + 10))  # another history of the same length
    cfg["audit"]["url"] = f"sqlite:///{tmp_path / 'audit.db'}"
    with pytest.raises(ConfigError, match="does not extend its checkpoints"):
        create_app(parse_settings(cfg, base_dir=artifact_dir), models=served_models)


def _entry(i: int):
    from aiarmor.serving.audit.log import AuditEntry

    return AuditEntry(1.7e9 + i, "cli", "", "cli.keys.create", "", "{}", "allowed", 201, {})
