"""The sections of the gateway's TOML configuration, one strict pydantic model each (unknown
keys rejected, values type-checked), with :class:`GatewaySettings`, the whole file. Read and
validated by :mod:`aiarmor.serving.settings`, which re-exports these names."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ACTIONS",
    "DTYPES",
    "JWT_ALGORITHMS",
    "MODEL_NAME",
    "SCOPES",
    "AuditSettings",
    "AuthSettings",
    "DetectionSettings",
    "GatewaySettings",
    "InputSchema",
    "JWTSettings",
    "LimitSettings",
    "ModelSettings",
    "OutputPolicy",
    "Secret",
    "ServerSettings",
    "StripSettings",
]

DTYPES = ("float32", "float64", "int64", "int32", "uint8")
JWT_ALGORITHMS = (
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
)
ACTIONS = ("log", "alert", "throttle", "block")
MODEL_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
"""What a model name may be, in the configuration and in request paths."""
SCOPES = ("predict", "admin", "audit")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Secret(_Strict):
    """Where a secret lives: a file (raw bytes, trailing newline stripped) or an env var."""

    file: Path | None = None
    env: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of file or env")
        return self


def _secret_field(value: Any) -> Any:
    """Refuse inline secrets (strings) with a message that says what to write instead."""
    if isinstance(value, str | bytes):
        raise ValueError('secrets are not written inline; use { file = "..." } or { env = "..." }')
    return value


class ServerSettings(_Strict):
    """Where and how the gateway listens."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_body_bytes: int = Field(default=1 << 20, gt=0, le=1 << 31)
    docs: bool = False
    """Serve /docs and /openapi.json to anyone (development); admins always get the JSON."""
    public_metrics: bool = False
    """Serve /metrics without authentication (else the admin or audit scope is needed)."""
    allow_unsigned: bool = False
    """Serve models without a verified signature (development only; warned loudly)."""
    inference_threads: int = Field(default=1, ge=1, le=256)
    """PyTorch intra-op threads of ``aiarmor serve`` (1 suits a server answering many small
    requests: more threads spin between requests and starve the HTTP and audit work)."""

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self


class JWTSettings(_Strict):
    """Bearer tokens signed by an identity provider."""

    algorithms: tuple[str, ...] = ("RS256",)
    public_key_file: Path | None = None
    secret: Secret | None = None
    issuer: str
    audience: str
    leeway_seconds: float = Field(default=0.0, ge=0, le=300)

    _check_secret = field_validator("secret", mode="before")(_secret_field)

    @field_validator("algorithms")
    @classmethod
    def _allowlist(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in value if a not in JWT_ALGORITHMS]
        if bad or not value:
            raise ValueError(
                f"unsupported algorithm(s) {bad} (allowed: {', '.join(JWT_ALGORITHMS)})"
            )
        if {a[:2] == "HS" for a in value} == {True, False}:
            raise ValueError("do not mix HMAC (HS*) and public-key algorithms")
        return value

    @model_validator(mode="after")
    def _key_matches(self) -> JWTSettings:
        hmac_algs = self.algorithms[0].startswith("HS")
        if hmac_algs and self.secret is None:
            raise ValueError("HS* algorithms need secret = { file | env }")
        if not hmac_algs and self.public_key_file is None:
            raise ValueError("public-key algorithms need public_key_file")
        return self


class AuthSettings(_Strict):
    """API keys (key store + server secret) and optional JWT bearer tokens."""

    key_store: str = "sqlite:///aiarmor-keys.db"
    server_secret: Secret
    jwt: JWTSettings | None = None
    key_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    """How long a looked-up key stays cached (revocation in another instance waits this long)."""

    _check_secret = field_validator("server_secret", mode="before")(_secret_field)


class LimitSettings(_Strict):
    """Per-identity abuse limits."""

    rate: float = Field(default=10.0, gt=0)
    """Requests per second (token bucket refill)."""
    burst: int = Field(default=20, ge=1)
    daily_budget: int | None = Field(default=None, ge=1)
    """Samples per UTC day (None: unlimited)."""
    total_budget: int | None = Field(default=None, ge=1)
    """Samples ever (None: unlimited)."""
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "aiarmor:limits:"


class DetectionSettings(_Strict):
    """Runtime detectors and what to do when one flags an identity."""

    actions: dict[str, Literal["log", "alert", "throttle", "block"]] = {}
    """Override, by detector name, of the action the detector's own config sets."""
    throttle_seconds: float = Field(default=60.0, gt=0)
    config: dict[str, Any] = {}
    """Passed unchanged to ``aiarmor.serving.pipeline.detect.build_detectors``."""


class AuditSettings(_Strict):
    """The tamper-evident audit log."""

    url: str = "sqlite:///aiarmor-audit.db"
    key: Secret
    checkpoints: tuple[Path, ...] = ()
    """Checkpoint files (``aiarmor audit-log checkpoint``) the log must extend: checked at
    start-up, which is refused if the log does not (rolled back, or another database)."""

    _check_secret = field_validator("key", mode="before")(_secret_field)


class InputSchema(_Strict):
    """What one sample must look like; a request is a batch of them."""

    shape: tuple[int, ...]
    dtype: Literal["float32", "float64", "int64", "int32", "uint8"] = "float32"
    min: float | None = None
    max: float | None = None
    max_batch: int = Field(default=256, ge=1)

    @field_validator("shape")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(d < 1 for d in value) or math.prod(value) > 1 << 24:
            raise ValueError("shape must be non-empty positive sizes (at most 16M values)")
        return value

    @model_validator(mode="after")
    def _range(self) -> InputSchema:
        if self.min is not None and self.max is not None and not self.min <= self.max:
            raise ValueError("min must not exceed max")
        return self


class StripSettings(_Strict):
    """STRIP (:class:`aiarmor.poisoning.STRIP`) on every request to one model: inputs whose
    prediction barely moves when clean inputs are superimposed carry a backdoor trigger."""

    reference: Path
    """An ``.npz`` whose array ``x`` holds clean held-out inputs of the model (at least 2)."""
    n_overlays: int = Field(default=16, ge=1, le=256)
    """Clean inputs superimposed on each request input (the model runs this many times more)."""
    frr: float = Field(default=0.01, gt=0.0, lt=0.5)
    """False-rejection rate on clean inputs that sets the entropy threshold."""
    action: Literal["log", "alert", "throttle", "block"] = "block"
    seed: int = 0


class OutputPolicy(_Strict):
    """Output hardening for one role: what a caller learns per sample."""

    label_only: bool = False
    top_k: int | None = Field(default=None, ge=1)
    round_digits: int | None = Field(default=4, ge=0, le=8)


class ModelSettings(_Strict):
    """One served model."""

    name: str = Field(pattern=rf"^{MODEL_NAME}$")
    path: Path
    """The artifact: TorchScript / torch.export / skops file, or weights when ``spec`` is set."""
    spec: str | None = None
    """A Python factory (``file.py:fn``) whose module gets ``path`` as its state dict."""
    signature: Path | None = None
    """Signature bundle (default: ``<path>.aiarmor-sig.json``)."""
    public_key: Path | None = None
    master_key: Secret | None = None
    """Decrypt the artifact in memory with this master key (file or env var)."""
    n_classes: int | None = Field(default=None, ge=2)
    trust_types: tuple[str, ...] = ()
    input: InputSchema
    output: dict[str, OutputPolicy] = {"default": OutputPolicy()}
    """Hardening by role; ``default`` applies to roles not listed."""
    strip: StripSettings | None = None
    """Run STRIP on every request to this model (a per-input detector; off by default)."""
    inference: Literal["inline", "thread"] = "inline"
    """Where predict requests run: on the event loop (fastest for models that answer in
    about a millisecond) or in a worker thread (models slow enough to stall other requests)."""

    _check_secret = field_validator("master_key", mode="before")(_secret_field)

    @model_validator(mode="after")
    def _default_role(self) -> ModelSettings:
        if "default" not in self.output:
            raise ValueError("output needs a 'default' role")
        return self

    def policy_for(self, role: str) -> OutputPolicy:
        """The hardening for ``role`` (``default`` when the role has none of its own)."""
        return self.output.get(role, self.output["default"])


class GatewaySettings(_Strict):
    """The whole gateway.toml."""

    server: ServerSettings = ServerSettings()
    auth: AuthSettings
    limits: LimitSettings = LimitSettings()
    detection: DetectionSettings = DetectionSettings()
    audit: AuditSettings
    models: tuple[ModelSettings, ...] = ()
    base_dir: Path = Path(".")
    """Folder of the config file (relative paths are resolved against it); not a TOML key."""

    @model_validator(mode="after")
    def _unique_models(self) -> GatewaySettings:
        names = [m.name for m in self.models]
        if len(names) != len(set(names)):
            raise ValueError("model names must be unique")
        return self

    @property
    def models_by_name(self) -> dict[str, ModelSettings]:
        """The models, by name."""
        return {m.name: m for m in self.models}

    def resolve(self, path: Path) -> Path:
        """``path`` relative to the config file's folder."""
        return path if path.is_absolute() else self.base_dir / path
