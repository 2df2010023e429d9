"""A bounded schemathesis run over the gateway's OpenAPI document: zero 500s."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from aiarmor.serving.app import create_app

from .conftest import settings_for


@pytest.mark.slow
def test_no_request_the_schema_allows_causes_a_500(artifact_dir, served_models, tmp_path):
    cfg = settings_for(artifact_dir, tmp_path, server={"docs": True, "max_body_bytes": 65536})
    app = create_app(cfg, models=served_models, detectors=[])
    key = app.state.gateway.auth.keys.create(["predict", "admin", "audit"])[0]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def no_500(case):
            for authorized in (True, False):
                headers = dict(case.headers or {})
                if authorized:
                    headers["Authorization"] = f"Bearer {key}"
                response = case.call(headers=headers)
                assert response.status_code < 500, (case.path, case.method, response.text[:200])

        no_500()
