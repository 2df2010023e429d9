"""Predict: malformed payloads are clear 4xx (never 500), .npy is safe, outputs are hardened,
and every request is in the audit log before its response leaves."""

from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pytest

from aiarmor.serving.pipeline.gateway import Gateway

from .conftest import auth

X = [[0.1, 0.2, 0.3, 0.4], [1.0, -1.0, 0.5, 0.0]]


def _npy(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


@pytest.fixture
def c(make_client):
    client = make_client()
    client.user = client.key(["predict"])
    return client


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"inputs": [[0.1, 0.2, 0.3]]}, 422),  # wrong sample shape
        ({"inputs": [0.1, 0.2, 0.3, 0.4]}, 422),  # no batch axis
        ({"inputs": [[0.1, 0.2], [0.1, 0.2, 0.3, 0.4]]}, 422),  # ragged
        ({"inputs": [["a", "b", "c", "d"]]}, 422),  # strings
        ({"inputs": [[11.0, 0, 0, 0]]}, 422),  # above max
        ({"inputs": [[-11.0, 0, 0, 0]]}, 422),  # below min
        ({"inputs": [[10**30, 0, 0, 0]]}, 422),  # above max (big int)
        ({"inputs": [[10**400, 0, 0, 0]]}, 422),  # beyond any dtype
        ({"inputs": [[True, False, True, False]]}, 422),  # booleans
        ({"inputs": []}, 422),  # empty batch
        ({"inputs": [[0.0] * 4] * 65}, 422),  # over max_batch
        ({"inputs": X, "extra": 1}, 422),  # unknown field
        ([1, 2, 3], 422),  # not an object
        ({"inputs": {"a": 1}}, 422),  # object instead of array
    ],
)
def test_malformed_json_is_a_clear_4xx(c, body, status):
    r = c.http.post("/v1/models/tiny/predict", json=body, headers=auth(c.user))
    assert r.status_code == status, r.text
    assert r.json()["detail"]


def test_nan_and_infinity_are_refused(c):
    for token in ("NaN", "Infinity", "-Infinity", "1e400"):
        body = '{"inputs": [[' + token + ", 0, 0, 0]]}"
        r = c.http.post("/v1/models/tiny/predict", content=body,
                        headers={**auth(c.user), "Content-Type": "application/json"})  # fmt: skip
        assert r.status_code == 422 and "finite" in r.json()["detail"]


@pytest.mark.parametrize(
    ("content", "ctype", "status"),
    [
        (b"{not json", "application/json", 400),
        (b'{"inputs": [[0.1, 0.2, 0.3, 0.4]]}', "text/plain", 415),
        (b'{"inputs": [[0.1, 0.2, 0.3, 0.4]]}', "", 415),
        (b"\x93NUMPY garbage", "application/x-npy", 400),
        (b"[" * 60_000, "application/json", 400),
    ],
)
def test_bad_bodies_and_content_types(c, content, ctype, status):
    headers = {**auth(c.user), "Content-Type": ctype} if ctype else auth(c.user)
    r = c.http.post("/v1/models/tiny/predict", content=content, headers=headers)
    assert r.status_code == status, r.text


def test_a_huge_body_is_413_before_and_while_reading(c):
    big = b"0" * (65 * 1024)
    r = c.http.post("/v1/models/tiny/predict", content=big,
                    headers={**auth(c.user), "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 413

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for _ in range(100):
            yield b"0" * 1024

    r = c.http.post("/v1/models/tiny/predict", content=chunks(),
                    headers={**auth(c.user), "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 413


def test_npy_batches_are_accepted(c):
    body = _npy(np.asarray(X, dtype=np.float32))
    r = c.http.post("/v1/models/tiny/predict", content=body,
                    headers={**auth(c.user), "Content-Type": "application/x-npy"})  # fmt: skip
    assert r.status_code == 200
    same = c.predict(c.user, X)
    assert r.json()["labels"] == same.json()["labels"]


def test_pickled_and_object_npy_are_refused_without_unpickling(c, monkeypatch):
    def boom(*_a, **_k):
        raise AssertionError("the gateway unpickled a request")

    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "load", boom)
    obj = np.empty((1, 4), dtype=object)
    obj[0] = [0.1, 0.2, 0.3, 0.4]
    for body in (_npy(obj, allow_pickle=True), pickle.dumps(np.asarray(X))):
        r = c.http.post("/v1/models/tiny/predict", content=body,
                        headers={**auth(c.user), "Content-Type": "application/x-npy"})  # fmt: skip
        assert r.status_code in (400, 422)


def test_npy_with_a_forged_shape_is_refused(c):
    body = bytearray(_npy(np.zeros((1, 4), dtype=np.float32)))
    header_end = body.index(b"\n") + 1
    forged = body[:header_end].replace(b"(1, 4)", b"(9999999999, 4)".ljust(6))
    r = c.http.post("/v1/models/tiny/predict", content=bytes(forged) + body[header_end:],
                    headers={**auth(c.user), "Content-Type": "application/x-npy"})  # fmt: skip
    assert r.status_code == 400


def test_output_hardening_per_role(c):
    default = c.predict(c.user, X).json()
    assert [len(s) for s in default["scores"]] == [2, 2]  # top_k = 2
    assert all(round(s["score"], 2) == s["score"] for row in default["scores"] for s in row)
    labels_only = c.predict(c.key(["predict"], role="label"), X).json()
    assert "scores" not in labels_only and labels_only["labels"] == default["labels"]
    full = c.predict(c.key(["predict"], role="full"), X).json()
    assert [len(s) for s in full["scores"]] == [3, 3]
    assert sum(s["score"] for s in full["scores"][0]) == pytest.approx(1.0)
    assert full["scores"][0][0]["label"] == default["labels"][0]


def test_the_audit_entry_is_durable_before_the_response_is_sent(c, monkeypatch):
    appended: list[int] = []
    real_append = c.gw.audit.append_async

    async def append_async(entry):
        seq = await real_append(entry)
        appended.append(seq)
        return seq

    monkeypatch.setattr(c.gw.audit, "append_async", append_async)
    real_predict = Gateway.predict_async

    async def predict_async(self, *args):
        outcome = await real_predict(self, *args)
        # the response does not exist yet; the entry must already be in the database
        rows = self.audit.query(identity=None, model="tiny", limit=1)
        assert appended and rows and rows[0]["seq"] == appended[-1]
        return outcome

    monkeypatch.setattr(Gateway, "predict_async", predict_async)
    r = c.predict(c.user, X)
    assert r.status_code == 200 and appended
    row = c.gw.audit.query(model="tiny", limit=1)[0]
    assert row["decision"] == "allowed" and row["status"] == 200
    assert row["identity"].startswith("key:") and c.user not in str(row)
    bad = c.http.post("/v1/models/tiny/predict", json={"inputs": [[1]]}, headers=auth(c.user))
    assert bad.status_code == 422
    assert c.gw.audit.query(model="tiny", limit=1)[0]["decision"] == "invalid"
    # the synchronous API commits before it returns, too
    headers = [(b"authorization", f"Bearer {c.user}".encode())]
    outcome = c.gw.predict("tiny", headers, "application/json", b'{"inputs": [[0, 0, 0, 0]]}')
    assert outcome.status == 200
    assert c.gw.audit.query(model="tiny", limit=1)[0]["seq"] == appended[-1] + 1
    assert c.gw.audit.verify().ok


def test_an_answer_that_cannot_be_audited_is_not_sent(c, monkeypatch):
    async def broken(_entry):
        raise OSError("disk full")

    monkeypatch.setattr(c.gw.audit, "append_async", broken)
    r = c.predict(c.user, X)
    assert r.status_code == 503 and r.json() == {"detail": "service unavailable"}
    assert "labels" not in r.text


def test_a_model_may_run_in_a_worker_thread(c, monkeypatch):
    import asyncio

    from aiarmor.serving.pipeline.gateway import ServedModel

    def on_event_loop() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    served = c.gw.models["tiny"]
    threaded = served.settings.model_copy(update={"inference": "thread"})
    c.gw.models["tiny"] = ServedModel(threaded, served.target, served.signer)
    seen: list[bool] = []
    real = served.target.predict_proba

    def predict_proba(x):
        seen.append(on_event_loop())
        return real(x)

    monkeypatch.setattr(served.target, "predict_proba", predict_proba)
    assert c.predict(c.user, X).status_code == 200
    assert seen == [False]  # in a worker thread
    assert c.gw.audit.query(model="tiny", limit=1)[0]["decision"] == "allowed"
    c.gw.models["tiny"] = served
    assert c.predict(c.user, X).status_code == 200
    assert seen == [False, True]  # inline: on the event loop


def test_a_model_failure_is_a_generic_500_and_is_audited(c, monkeypatch):
    served = c.gw.models["tiny"]

    def broken(_x):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(served.target, "predict_proba", broken)
    r = c.predict(c.user, X)
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    assert "secret" not in r.text
    assert c.gw.audit.query(model="tiny", limit=1)[0]["decision"] == "error"


def test_unexpected_errors_become_a_generic_500(c, monkeypatch):
    from fastapi.testclient import TestClient

    def broken(_headers):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(c.gw.auth, "authenticate", broken)
    r = TestClient(c.app, raise_server_exceptions=False).get("/v1/models", headers=auth(c.user))
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    assert "secret" not in r.text


def test_security_headers_and_no_docs(c):
    r = c.http.get("/healthz")
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert c.http.get(path).status_code == 401  # authenticated first, like any route
        assert c.http.get(path, headers=auth(c.admin_key)).status_code == 404
    r = c.http.get("/v1/admin/openapi.json", headers=auth(c.admin_key))
    assert r.status_code == 200 and "/v1/models/{name}/predict" in r.json()["paths"]


def test_models_health_ready_and_metrics(c):
    models = c.http.get("/v1/models", headers=auth(c.user)).json()
    assert models[0]["name"] == "tiny" and models[0]["signed"] is True
    assert c.http.get("/healthz").json() == {"status": "ok"}
    assert c.http.get("/readyz").status_code == 200
    assert c.http.get("/metrics").status_code == 401
    c.predict(c.user, X)
    r = c.http.get("/metrics", headers=auth(c.admin_key))
    assert r.status_code == 200 and "aiarmor_requests_total" in r.text


def test_audit_api_queries_and_verifies(c):
    c.predict(c.user, X)
    rows = c.http.get("/v1/audit/log", params={"model": "tiny"}, headers=auth(c.admin_key))
    assert rows.status_code == 200 and rows.json()[0]["model"] == "tiny"
    v = c.http.get("/v1/audit/verify", headers=auth(c.admin_key)).json()
    assert v["ok"] is True and v["count"] >= 2 and v["problems"] == []


# ------------------------------------------------ issue 14: fail loudly and truthfully


def _strict_json(text: str):
    """The body as JSON, refusing the NaN/Infinity tokens json.loads would let through."""

    def refuse(token: str):
        raise AssertionError(f"response JSON holds {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def open_range(make_client):
    """A float32 model without declared min/max, behind the real Blacklight and PRADA."""
    from aiarmor.serving.pipeline.detect import BlacklightDetector, PradaDetector
    from aiarmor.serving.pipeline.gateway import ServedModel

    client = make_client(detectors=[BlacklightDetector(), PradaDetector()])
    served = client.gw.models["tiny"]
    schema = served.settings.input.model_copy(update={"min": None, "max": None})
    model = served.settings.model_copy(update={"input": schema})
    client.gw.models["tiny"] = ServedModel(model, served.target, served.signer)
    client.user = client.key(["predict"])
    return client


def _last(c) -> dict:
    return c.gw.audit.query(model="tiny", limit=1)[0]


@pytest.mark.parametrize("value", [1e39, 3.5e38, -1e300, -3.41e38])
def test_values_that_overflow_the_dtype_are_refused_not_cast_to_infinity(open_range, value):
    c = open_range
    r = c.predict(c.user, [[0.1, 0.2, 0.3, 0.4], [value, 1, 1, 1]])
    assert r.status_code == 422, r.text
    assert "float32" in _strict_json(r.text)["detail"]
    assert (_last(c)["decision"], _last(c)["status"]) == ("invalid", 422)
    body = _npy(np.asarray([[value, 1, 1, 1]], dtype=np.float64))
    r = c.http.post("/v1/models/tiny/predict", content=body,
                    headers={**auth(c.user), "Content-Type": "application/x-npy"})  # fmt: skip
    assert r.status_code == 422 and "float32" in r.json()["detail"]


def test_values_at_the_edge_of_float32_are_answered_and_scored_by_every_detector(open_range):
    c = open_range
    r = c.predict(c.user, [[0.1, 0.2, 0.3, 0.4], [3.0e38, 1, 1, -3.0e38]])
    assert r.status_code == 200 and len(_strict_json(r.text)["labels"]) == 2
    assert set(_last(c)["detector_scores"]) == {"blacklight", "prada"}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_model_output_is_a_clear_audited_error_not_invalid_json(
    open_range, monkeypatch, bad
):
    c = open_range
    served = c.gw.models["tiny"]
    real = served.target.predict_proba

    def overflowing(x):
        out = real(x)
        out[-1, 0] = bad
        return out

    monkeypatch.setattr(served.target, "predict_proba", overflowing)
    for role in ("default", "label", "full"):
        r = c.predict(c.key(["predict"], role=role), X)
        assert r.status_code == 422, r.text
        assert "not finite" in _strict_json(r.text)["detail"]
        assert (_last(c)["decision"], _last(c)["status"]) == ("invalid", 422)


def test_a_detector_that_cannot_score_fails_closed_and_is_audited(make_client, monkeypatch):
    class Broken:
        name = "broken"

        def observe(self, identity, model, x):
            raise ValueError("cannot score this")

    c = make_client(detectors=[Broken()])
    served = c.gw.models["tiny"]
    ran: list[int] = []
    real = served.target.predict_proba

    def counted(x):
        ran.append(len(x))
        return real(x)

    monkeypatch.setattr(served.target, "predict_proba", counted)
    r = c.predict(c.key(["predict"]), X)
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    assert ran == []  # the model never ran on an unscored request
    assert (_last(c)["decision"], _last(c)["status"]) == ("error", 500)


def _npy_with_header(shape: object, descr: str = "<f4", data: bytes = b"", **extra) -> bytes:
    """A .npy body whose header says exactly ``shape`` and ``descr`` (numpy would refuse to
    write most of these)."""
    fields = {"descr": descr, "fortran_order": False, "shape": shape, **extra}
    header = repr(fields).encode("latin-1")
    pad = 64 - (10 + len(header) + 1) % 64
    header += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


@pytest.mark.parametrize(
    ("shape", "data"),
    [
        ((1,) * 65, b"\0" * 4),
        ((1,) * 33, b"\0" * 4),
        ((0, 2**70), b""),
        ((2**70, 0), b""),
        ((-2, -4), b"\0" * 32),
        ((-8, -1), b"\0" * 32),
        ((-1, -4), b"\0" * 16),
        ((), b"\0" * 4),
    ],
)
def test_hostile_npy_shapes_are_a_4xx_with_one_audit_entry(c, shape, data):
    before = c.gw.audit.verify().count
    r = c.http.post("/v1/models/tiny/predict", content=_npy_with_header(shape, data=data),
                    headers={**auth(c.user), "Content-Type": "application/x-npy"})  # fmt: skip
    assert 400 <= r.status_code < 500, (shape, r.status_code, r.text)
    assert "\n" not in r.json()["detail"]
    assert c.gw.audit.verify().count == before + 1
    assert _last(c)["decision"] == "invalid"


def test_a_failing_limiter_is_a_generic_500_that_is_still_audited(c, monkeypatch):
    def down(*_a, **_k):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(c.gw.limiter, "acquire", down)
    before = c.gw.audit.verify().count
    r = c.predict(c.user, X)
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    assert c.gw.audit.verify().count == before + 1
    assert (_last(c)["decision"], _last(c)["status"]) == ("error", 500)
