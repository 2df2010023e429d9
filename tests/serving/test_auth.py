"""Authentication and authorization: every bypass attempt is a bare 401/403."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from aiarmor.core.errors import ConfigError
from aiarmor.serving.pipeline.auth import JWTVerifier, Unauthenticated
from aiarmor.serving.pipeline.keystore import SQLKeyStore as KeyStore
from aiarmor.serving.settings import JWTSettings

from .conftest import auth

X = [[0.1, 0.2, 0.3, 0.4]]
GENERIC_401 = {"detail": "unauthorized"}
GENERIC_403 = {"detail": "forbidden"}


def test_a_valid_predict_key_gets_an_answer(make_client):
    c = make_client()
    r = c.predict(c.key(["predict"]), X)
    assert r.status_code == 200
    assert r.json()["model"] == "tiny" and len(r.json()["labels"]) == 1


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "bearer aiarmor_000000000000_" + "A" * 43,
        "Bearer aiarmor_000000000000_" + "A" * 43,
        "Bearer aiarmor_zzzz_short",
        "Bearer not.a.jwt",
        "Bearer " + "a" * 9000,
    ],
)
def test_missing_or_malformed_credentials_are_a_bare_401(make_client, header):
    c = make_client()
    headers = {"Authorization": header} if header is not None else {}
    r = c.http.post("/v1/models/tiny/predict", json={"inputs": X}, headers=headers)
    assert r.status_code == 401
    assert r.json() == GENERIC_401
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_key_with_a_changed_secret_is_refused(make_client):
    c = make_client()
    key = c.key(["predict"])
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert c.predict(forged, X).status_code == 401


def test_revoked_and_rotated_keys_stop_working_at_once(make_client):
    c = make_client()
    key = c.key(["predict"])
    key_id = key.split("_")[1]
    assert c.predict(key, X).status_code == 200
    r = c.http.post(f"/v1/admin/keys/{key_id}/rotate", headers=auth(c.admin_key))
    assert r.status_code == 200
    new_key = r.json()["key"]
    assert c.predict(key, X).status_code == 401
    assert c.predict(new_key, X).status_code == 200
    assert c.http.delete(f"/v1/admin/keys/{key_id}", headers=auth(c.admin_key)).status_code == 204
    assert c.predict(new_key, X).status_code == 401
    assert c.http.delete(f"/v1/admin/keys/{key_id}", headers=auth(c.admin_key)).status_code == 404


def test_wrong_scope_and_wrong_model_are_a_bare_403(make_client):
    c = make_client()
    r = c.predict(c.key(["audit"]), X)
    assert (r.status_code, r.json()) == (403, GENERIC_403)
    r = c.predict(c.key(["predict"], models=("other",)), X)
    assert (r.status_code, r.json()) == (403, GENERIC_403)
    # a caller restricted to other models cannot tell a missing model from a forbidden one
    assert c.predict(c.key(["predict"], models=("other",)), X, model="nope").status_code == 403
    assert c.predict(c.key(["predict"]), X, model="nope").status_code == 404


def test_admin_routes_need_the_admin_scope(make_client):
    c = make_client()
    user = c.key(["predict", "audit"])
    assert c.http.get("/v1/admin/keys", headers=auth(user)).status_code == 403
    assert (
        c.http.post("/v1/admin/keys", json={"scopes": ["admin"]}, headers=auth(user)).status_code
        == 403
    )
    assert c.http.get("/v1/admin/keys").status_code == 401
    assert c.http.get("/v1/audit/verify", headers=auth(c.key(["predict"]))).status_code == 403


def test_duplicate_authorization_headers_are_refused(make_client):
    c = make_client()
    good = f"Bearer {c.key(['predict'])}"
    headers = [("Authorization", good), ("Authorization", good)]
    r = c.http.post("/v1/models/tiny/predict", json={"inputs": X}, headers=headers)
    assert r.status_code == 401


def test_created_keys_are_shown_once_and_stored_only_as_keyed_hashes(make_client, tmp_path):
    c = make_client()
    r = c.http.post("/v1/admin/keys", json={"scopes": ["predict"], "models": ["tiny"]},
                    headers=auth(c.admin_key))  # fmt: skip
    assert r.status_code == 201
    key = r.json()["key"]
    listed = c.http.get("/v1/admin/keys", headers=auth(c.admin_key)).json()
    assert key not in str(listed) and all("key" not in k for k in listed)
    db = (tmp_path / "keys.db").read_bytes()
    assert key.encode() not in db and key.split("_")[2].encode() not in db
    assert c.predict(key, X).status_code == 200


def test_key_store_rejects_bad_scopes_and_short_secrets(tmp_path):
    with pytest.raises(ConfigError):
        KeyStore(f"sqlite:///{tmp_path / 'k.db'}", b"short")
    store = KeyStore(f"sqlite:///{tmp_path / 'k.db'}", b"s" * 32)
    with pytest.raises(ConfigError):
        store.create(["root"])
    with pytest.raises(Unauthenticated):
        store.authenticate("aiarmor_" + "0" * 12 + "_" + "A" * 43)


# ------------------------------------------------------------------------------------- JWT

ISSUER, AUDIENCE = "https://idp.test", "aiarmor"


@pytest.fixture(scope="module")
def jwt_keys():
    private = ed25519.Ed25519PrivateKey.generate()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public_pem.decode()


def _claims(**over):
    now = int(time.time())
    claims = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 60, "nbf": now - 1,
              "scope": "predict", "models": ["tiny"]}  # fmt: skip
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
def jwt_client(make_client, jwt_keys, tmp_path):
    pub = tmp_path / "idp.pub"
    pub.write_text(jwt_keys[1])
    jwt_cfg = {"algorithms": ["EdDSA"], "public_key_file": str(pub), "issuer": ISSUER,
               "audience": AUDIENCE}  # fmt: skip
    return make_client(auth={"jwt": jwt_cfg})


def test_a_valid_jwt_is_accepted(jwt_client, jwt_keys):
    token = jwt.encode(_claims(), jwt_keys[0], algorithm="EdDSA")
    assert jwt_client.predict(token, X).status_code == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 10},
        {"nbf": int(time.time()) + 3600},
        {"iss": "https://evil.test"},
        {"aud": "someone-else"},
        {"exp": None},
        {"sub": None},
    ],
)
def test_expired_or_misaddressed_jwts_are_refused(jwt_client, jwt_keys, claims):
    token = jwt.encode(_claims(**claims), jwt_keys[0], algorithm="EdDSA")
    assert jwt_client.predict(token, X).status_code == 401


def test_wrongly_signed_and_alg_none_jwts_are_refused(jwt_client, jwt_keys):
    other = ed25519.Ed25519PrivateKey.generate()
    assert jwt_client.predict(jwt.encode(_claims(), other, algorithm="EdDSA"), X).status_code == 401
    unsigned = jwt.encode(_claims(), None, algorithm="none")
    assert jwt_client.predict(unsigned, X).status_code == 401
    # HS256 signed with the public key as the secret (algorithm confusion)
    confused = jwt.api_jws.PyJWS().encode(
        jwt.utils.force_bytes('{"sub":"alice"}'), b"x" * 32, algorithm="HS256"
    )
    assert jwt_client.predict(confused, X).status_code == 401


def test_jwt_scope_and_model_claims_are_enforced(jwt_client, jwt_keys):
    no_scope = jwt.encode(_claims(scope="audit"), jwt_keys[0], algorithm="EdDSA")
    assert jwt_client.predict(no_scope, X).status_code == 403
    other_model = jwt.encode(_claims(models=["other"]), jwt_keys[0], algorithm="EdDSA")
    assert jwt_client.predict(other_model, X).status_code == 403


def test_the_none_algorithm_cannot_be_configured():
    with pytest.raises(ValueError):
        JWTSettings(algorithms=("none",), issuer=ISSUER, audience=AUDIENCE)
    cfg = JWTSettings.model_construct(algorithms=("none",), issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(ConfigError):
        JWTVerifier(cfg, "k")


def test_hs256_tokens_need_a_long_secret_from_a_file_or_env(make_client, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_JWT_SECRET", "s" * 40)
    jwt_cfg = {"algorithms": ["HS256"], "secret": {"env": "TEST_JWT_SECRET"}, "issuer": ISSUER,
               "audience": AUDIENCE}  # fmt: skip
    c = make_client(auth={"jwt": jwt_cfg})
    assert c.predict(jwt.encode(_claims(), "s" * 40, algorithm="HS256"), X).status_code == 200
    assert c.predict(jwt.encode(_claims(), "t" * 40, algorithm="HS256"), X).status_code == 401
    monkeypatch.setenv("TEST_JWT_SECRET", "short")
    with pytest.raises(ConfigError, match="TEST_JWT_SECRET"):
        make_client(auth={"jwt": jwt_cfg})


def test_serve_without_the_extra_says_what_to_install(monkeypatch):
    import importlib.util

    from aiarmor.cli import serve_cmd

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n: None if n == "fastapi" else real(n))
    with pytest.raises(ConfigError, match=r"aiarmor\[serve\]"):
        serve_cmd._require_serve()


# ------------------------------------------- issue 14: authenticate before validating


ANONYMOUS_REQUESTS = [
    ("POST", "/v1/admin/keys", {"json": {}}),
    (
        "POST",
        "/v1/admin/keys",
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
    ),
    ("DELETE", "/v1/admin/keys/zz", {}),
    ("POST", "/v1/admin/keys/zz/rotate", {}),
    ("GET", "/v1/audit/log?limit=0", {}),
    ("GET", "/v1/audit/log?since=soon&limit=abc", {}),
    ("POST", "/v1/models/no%20such%20model!/predict", {"json": {"inputs": X}}),
    ("GET", "/v1/models/tiny/predict", {}),
    ("GET", "/v1/nothing/here", {}),
]


@pytest.mark.parametrize(("method", "path", "kw"), ANONYMOUS_REQUESTS)
def test_anonymous_callers_get_the_generic_401_before_any_validation(make_client, method, path, kw):
    c = make_client()
    before = c.gw.audit.verify().count
    r = c.http.request(method, path, **kw)
    assert (r.status_code, r.json()) == (401, GENERIC_401), r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert c.gw.audit.verify().count == before + 1
    row = c.gw.audit.query(limit=1)[0]
    assert (row["identity"], row["decision"], row["status"]) == ("anonymous", "denied", 401)


@pytest.mark.parametrize(("method", "path", "kw"), ANONYMOUS_REQUESTS[:6])
def test_callers_without_the_scope_get_the_generic_403_before_any_validation(
    make_client, method, path, kw
):
    c = make_client()
    headers = {**kw.pop("headers", {}), **auth(c.key(["predict"]))}
    r = c.http.request(method, path, headers=headers, **kw)
    assert (r.status_code, r.json()) == (403, GENERIC_403), r.text
    assert c.gw.audit.query(limit=1)[0]["decision"] == "denied"


@pytest.mark.parametrize(("method", "path", "kw"), ANONYMOUS_REQUESTS)
def test_authorized_bad_requests_get_a_one_line_4xx_and_are_audited(make_client, method, path, kw):
    c = make_client()
    headers = {**kw.pop("headers", {}), **auth(c.admin_key)}
    if path.startswith("/v1/models"):
        headers = {**headers, **auth(c.key(["predict"]))}
    before = c.gw.audit.verify().count
    r = c.http.request(method, path, headers=headers, **kw)
    assert 400 <= r.status_code < 500 and r.status_code not in (401, 403), r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    assert c.gw.audit.verify().count == before + 1
    row = c.gw.audit.query(limit=1)[0]
    assert row["identity"].startswith("key:") and row["status"] == r.status_code


@pytest.mark.parametrize("length", ["70000", "12x", "-1"])
def test_a_bad_declared_body_on_admin_routes_is_refused_after_authentication(make_client, length):
    c = make_client()
    headers = {"Content-Length": length, "Content-Type": "application/json"}
    before = c.gw.audit.verify().count
    r = c.http.post("/v1/admin/keys", content=b"{}", headers=headers)
    assert (r.status_code, r.json()) == (401, GENERIC_401)
    r = c.http.post("/v1/admin/keys", content=b"{}", headers={**headers, **auth(c.admin_key)})
    assert r.status_code == (413 if length == "70000" else 400)
    assert "\n" not in r.json()["detail"]
    assert c.gw.audit.verify().count == before + 2
    assert c.gw.audit.query(limit=1)[0]["status"] == r.status_code


def test_an_unexpected_failure_on_another_route_is_still_audited(make_client, monkeypatch):
    from fastapi.testclient import TestClient

    c = make_client()

    def broken():
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(c.gw.auth.keys, "list", broken)
    before = c.gw.audit.verify().count
    r = TestClient(c.app, raise_server_exceptions=False).get(
        "/v1/admin/keys", headers=auth(c.admin_key)
    )
    assert r.status_code == 500 and "secret" not in r.text
    assert c.gw.audit.verify().count == before + 1
    row = c.gw.audit.query(limit=1)[0]
    assert (row["decision"], row["status"]) == ("error", 500)
