"""The predict route's own ASGI handler: audited 413s, client disconnects, security headers,
and the FastAPI route as the fallback for a mounted app."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .conftest import auth

X = [[0.1, 0.2, 0.3, 0.4]]


@pytest.fixture
def c(make_client):
    client = make_client()
    client.user = client.key(["predict"])
    return client


def _asgi(app: Any, scope_extra: dict[str, Any], messages: list[dict[str, Any]]) -> list[Any]:
    """Drive ``app`` with the given request messages; what it sent back."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/models/tiny/predict",
        "raw_path": b"/v1/models/tiny/predict",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
        **scope_extra,
    }
    inbox = list(messages)
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        if inbox:
            return inbox.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        await app(scope, receive, send)

    asyncio.run(run())
    return sent


def test_an_oversized_body_is_refused_after_authentication_and_audited(c):
    big = b"0" * (65 * 1024)
    headers = {**auth(c.user), "Content-Type": "application/json"}
    r = c.http.post("/v1/models/tiny/predict", content=big, headers=headers)
    assert r.status_code == 413 and r.headers["connection"] == "close"
    row = c.gw.audit.query(model="tiny", limit=1)[0]
    assert (row["status"], row["decision"]) == (413, "invalid")
    assert row["identity"].startswith("key:")

    anonymous = c.http.post("/v1/models/tiny/predict", content=big,
                            headers={"Content-Type": "application/json"})  # fmt: skip
    assert anonymous.status_code == 401  # nothing about the body for an unknown caller
    assert c.gw.audit.query(model="tiny", limit=1)[0]["identity"] == "anonymous"

    bad = c.http.post("/v1/models/tiny/predict", content=b"{}",
                      headers={**headers, "Content-Length": "12abc"})  # fmt: skip
    assert bad.status_code == 400
    assert c.gw.audit.verify().ok


def test_a_client_that_disconnects_mid_body_gets_nothing_and_breaks_nothing(c):
    headers = [(b"authorization", f"Bearer {c.user}".encode()),
               (b"content-type", b"application/json")]  # fmt: skip
    before = len(c.gw.audit.query(limit=10_000))
    sent = _asgi(
        c.app,
        {"headers": headers},
        [{"type": "http.request", "body": b'{"inputs": [[0.1,', "more_body": True},
         {"type": "http.disconnect"}],
    )  # fmt: skip
    assert sent == []
    assert len(c.gw.audit.query(limit=10_000)) == before  # nothing was decided
    assert c.predict(c.user, X).status_code == 200


def test_predict_answers_carry_the_security_headers(c):
    r = c.predict(c.user, X)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert int(r.headers["content-length"]) == len(r.content)


def test_a_mounted_app_is_served_by_the_fastapi_route(c):
    headers = [(b"authorization", f"Bearer {c.user}".encode()),
               (b"content-type", b"application/json")]  # fmt: skip
    body = b'{"inputs": [[0.1, 0.2, 0.3, 0.4]]}'
    sent = _asgi(
        c.app,
        {"headers": headers, "root_path": "/api", "path": "/api/v1/models/tiny/predict",
         "raw_path": b"/api/v1/models/tiny/predict"},
        [{"type": "http.request", "body": body, "more_body": False}],
    )  # fmt: skip
    assert sent[0]["status"] == 200
    assert b"labels" in sent[1]["body"]
    assert c.gw.audit.query(model="tiny", limit=1)[0]["decision"] == "allowed"


def _trojaned(x: Any) -> Any:
    """A 4-feature, 3-class scorer with a backdoor: feature 0 above 0.8 means class 0."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    logits = x @ np.array([[1.0, -2.0, 0.5], [0.3, 1.5, -1.0], [-1.0, 0.2, 2.0], [0.5, 0.5, 0.5]])
    logits = logits + 3.0 * np.sin(7.0 * x[:, [1, 2, 3]])  # clean predictions move with noise
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[x[:, 0] > 0.8] = [1.0, 0.0, 0.0]
    return p


def test_strip_blocks_trigger_carrying_inputs_per_model(c, tmp_path):
    import numpy as np

    from aiarmor.serving.pipeline.detect import build_input_detectors
    from aiarmor.serving.pipeline.gateway import ServedModel
    from aiarmor.targets.callable_target import callable_target

    rng = np.random.default_rng(0)
    clean = rng.uniform(0.0, 0.4, (64, 4))
    np.savez(tmp_path / "clean.npz", x=clean)
    served = c.gw.models["tiny"]
    settings = served.settings.model_copy(
        update={"strip": {"reference": tmp_path / "clean.npz", "n_overlays": 16, "frr": 0.05}}
    )
    settings = type(settings).model_validate(settings.model_dump())
    target = callable_target(_trojaned, n_classes=3, bounds=(-10.0, 10.0))
    detectors = build_input_detectors(settings, target, tmp_path)
    c.gw.models["tiny"] = ServedModel(settings, target, served.signer, detectors)

    normal = c.predict(c.user, rng.uniform(0.0, 0.4, (4, 4)).tolist())
    assert normal.status_code == 200
    assert c.gw.audit.query(model="tiny", limit=1)[0]["detector_scores"] == {"strip": 0.0}
    triggered = rng.uniform(0.0, 0.4, (2, 4))
    triggered[1, 0] = 0.95  # one sample of the batch carries the trigger
    r = c.predict(c.user, triggered.tolist())
    assert r.status_code == 403 and r.json() == {"detail": "forbidden"}
    row = c.gw.audit.query(model="tiny", limit=1)[0]
    assert row["decision"] == "blocked" and row["detector_scores"] == {"strip": 1.0}


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (None, "cannot read"),
        ([[0.1, 0.2, 0.3, 0.4]], "shape (n >= 2, 4)"),
        ([[0.1, 0.2, 0.3]] * 3, "shape (n >= 2, 4)"),
        ([[float("nan"), 0, 0, 0]] * 3, "NaN"),
        ([[99.0, 0, 0, 0]] * 3, "outside the model's input range"),
    ],
)
def test_a_bad_strip_reference_is_a_one_line_config_error(artifact_dir, tmp_path, x, message):
    import numpy as np

    from aiarmor.core.errors import ConfigError
    from aiarmor.serving.pipeline.detect import build_input_detectors

    from .conftest import settings_for

    ref = tmp_path / "ref.npz"
    if x is None:
        ref.write_bytes(b"PK\x03\x04 not a zip")
    else:
        np.savez(ref, x=np.asarray(x, dtype=np.float64))
    tiny = settings_for(artifact_dir, tmp_path).models[0].model_dump()
    tiny["strip"] = {"reference": str(ref)}
    settings = settings_for(artifact_dir, tmp_path, models=[tiny]).models[0]
    with pytest.raises(ConfigError, match=r"models\.tiny\.strip\.reference") as err:
        build_input_detectors(settings, object(), tmp_path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_strip_reference_that_overflows_float32_is_a_config_error(artifact_dir, tmp_path):
    """Without min/max the reference is judged against float32 itself (1e39 would be inf)."""
    import numpy as np

    from aiarmor.core.errors import ConfigError
    from aiarmor.serving.pipeline.detect import build_input_detectors

    from .conftest import settings_for

    ref = tmp_path / "ref.npz"
    np.savez(ref, x=np.asarray([[1e39, 0, 0, 0]] * 3, dtype=np.float64))
    tiny = settings_for(artifact_dir, tmp_path).models[0].model_dump()
    tiny["strip"] = {"reference": str(ref)}
    tiny["input"] = {"shape": [4]}
    settings = settings_for(artifact_dir, tmp_path, models=[tiny]).models[0]
    with pytest.raises(ConfigError, match="float32") as err:
        build_input_detectors(settings, object(), tmp_path)
    assert "\n" not in str(err.value)
