"""Bounded fuzzing of the gateway: a schemathesis run over its OpenAPI document, and hostile
``.npy`` bodies on predict. Zero 5xx, and exactly one audit entry per request."""

from __future__ import annotations

import json

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiarmor.serving.http.app import create_app
from aiarmor.serving.pipeline.detect import BlacklightDetector, PradaDetector

from .conftest import auth, settings_for

UNAUDITED = {"/healthz", "/readyz"}
"""Public probes: the only routes whose requests are not in the audit log."""
FUZZ = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))  # fmt: skip


@pytest.fixture
def fuzzed(artifact_dir, served_models, tmp_path, monkeypatch):
    """An app with the real detectors (a detector that cannot score shows up as a 500), an
    all-scopes key, and a counter of committed audit appends."""
    cfg = settings_for(artifact_dir, tmp_path, server={"docs": True, "max_body_bytes": 65536})
    app = create_app(cfg, models=served_models, detectors=[BlacklightDetector(), PradaDetector()])
    gw = app.state.gateway
    key = gw.auth.keys.create(["predict", "admin", "audit"])[0]
    appended = [0]
    sync, async_ = gw.audit.append, gw.audit.append_async

    def append(entry):
        appended[0] += 1
        return sync(entry)

    async def append_async(entry):
        appended[0] += 1
        return await async_(entry)

    monkeypatch.setattr(gw.audit, "append", append)
    monkeypatch.setattr(gw.audit, "append_async", append_async)
    return app, key, appended


def _strict(text: str) -> None:
    if text:

        def refuse(token: str):
            raise AssertionError(f"response JSON holds {token}")

        json.loads(text, parse_constant=refuse)


@pytest.mark.slow
def test_no_request_the_schema_allows_causes_a_5xx_or_goes_unaudited(fuzzed):
    app, key, appended = fuzzed
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ
        def no_5xx(case):
            for authorized in (True, False):
                headers = dict(case.headers or {})
                if authorized:
                    headers["Authorization"] = f"Bearer {key}"
                before = appended[0]
                response = case.call(headers=headers)
                where = (case.path, case.method, response.status_code, response.text[:200])
                assert response.status_code < 500, where
                if case.path not in UNAUDITED:
                    assert appended[0] == before + 1, where
                if response.text[:1] in ("{", "["):
                    _strict(response.text)

        no_5xx()


DESCRS = ["<f4", ">f4", "<f8", "<f2", "<i8", ">i4", "|u1", "|i1", "<u8", "|b1", "<c8", "|O",
          "<f16", "<U4", "|S3", "|V8", "<m8[s]", "<M8[D]", "[('a', '<f4')]", "x9", ""]  # fmt: skip
DIMS = st.one_of(st.integers(-3, 6), st.sampled_from([4, 2**31, 2**63 - 1, 2**63, 2**70, -(2**63)]))
SHAPES = st.one_of(
    st.lists(DIMS, max_size=4).map(tuple),
    st.integers(30, 70).map(lambda n: (1,) * n),
    st.sampled_from(["(1, 4)", "[1, 4]", "None", "(1.5, 4)", "('a',)", "(True, 4)"]),
)


def _header(descr: str, fortran: object, shape: object, version: int) -> bytes:
    shape_text = shape if isinstance(shape, str) else repr(shape)
    descr_text = descr if descr.startswith("[") else repr(descr)
    text = f"{{'descr': {descr_text}, 'fortran_order': {fortran!r}, 'shape': {shape_text}, }}"
    raw = text.encode("latin-1")
    size = 2 if version == 1 else 4
    pad = 64 - (8 + size + len(raw) + 1) % 64
    raw += b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + len(raw).to_bytes(size, "little") + raw


@st.composite
def npy_bodies(draw: st.DrawFn) -> bytes:
    descr = draw(st.sampled_from(DESCRS))
    shape = draw(SHAPES)
    header = _header(descr, draw(st.sampled_from([False, True, 1, "no"])), shape,
                     draw(st.sampled_from([1, 2, 3])))  # fmt: skip
    if isinstance(shape, tuple) and len(shape) < 8:
        count = 1
        for d in shape:
            count *= d
        itemsize = np.dtype(descr).itemsize if descr in DESCRS[:12] else 4
        size = max(0, min(count * itemsize, 4096))  # a matching byte count, where it can be
    else:
        size = draw(st.integers(0, 64))
    data = draw(st.sampled_from(["exact", "short", "long", "empty"]))
    sizes = {"exact": size, "short": max(0, size - 1), "long": size + 3, "empty": 0}
    values = draw(st.sampled_from([b"\0", b"\xff", b"\x7f", b"\x01"]))
    body = header + values * sizes[data]
    return body[: draw(st.integers(0, len(body)))] if draw(st.booleans()) else body


@pytest.mark.slow
def test_hostile_npy_bodies_are_a_4xx_with_one_audit_entry_each(fuzzed):
    app, key, appended = fuzzed
    from fastapi.testclient import TestClient

    http = TestClient(app)

    @given(body=npy_bodies())
    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def no_5xx(body):
        before = appended[0]
        r = http.post("/v1/models/tiny/predict", content=body,
                      headers={**auth(key), "Content-Type": "application/x-npy"})  # fmt: skip
        assert r.status_code < 500, (body[:200], r.text)
        assert appended[0] == before + 1
        _strict(r.text)
        if r.status_code >= 400:
            assert "\n" not in r.json()["detail"]

    no_5xx()
