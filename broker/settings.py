"""Settings from `DISCRETION_*` environment variables (see docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the broker needs to know about its deployment."""

    model_config = SettingsConfigDict(env_prefix="DISCRETION_", extra="ignore")

    environment: str = Field(default="development", pattern="^(development|production)$")
    data_dir: Path = Path(".discretion")
    database_url: str | None = None
    # SQLite only. "normal": a commit survives a crash of the broker, but an OS crash or power loss
    # can undo the commits since the last WAL checkpoint (at most about half a second: the
    # background checkpointer's interval), tokens already handed out included. "full" syncs
    # the WAL at every commit group, at a cost in throughput (docs/operations.md).
    sqlite_synchronous: str = Field(default="normal", pattern="^(normal|full)$")
    issuer: str = "http://127.0.0.1:8000"
    # Key-encryption key for signing keys at rest (32 bytes, base64url). In development it is created
    # in data_dir on first use; production refuses to start without it.
    key_encryption_key: str | None = Field(default=None, repr=False)
    # The access-token signature (docs/configuration.md): EdDSA (Ed25519) is the fastest; RS256 is
    # the one RFC 9068 section 2.1 requires every resource server to support. A change rotates the
    # signing key at the next start.
    access_token_signing_alg: str = Field(default="EdDSA", pattern="^(EdDSA|ES256|RS256)$")
    default_token_lifetime: int = Field(default=300, ge=1, le=3600)
    max_token_lifetime: int = Field(default=3600, ge=1, le=86400)
    assertion_max_lifetime: int = Field(default=300, ge=10, le=3600)
    clock_skew_seconds: int = Field(default=30, ge=0, le=300)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_level: str = "info"
    # Grant-log checkpoints: signed every N events or every T seconds (when there are new events),
    # whichever comes first, checked every poll interval; 0 seconds turns the time trigger off.
    checkpoint_every_events: int = Field(default=1000, ge=1)
    checkpoint_every_seconds: float = Field(default=60.0, ge=0)
    checkpoint_poll_seconds: float = Field(default=1.0, ge=0)
    # Expired tokens and revocation-feed entries are deleted this often (0: only by `discretion prune`).
    prune_interval_seconds: float = Field(default=60.0, ge=0)
    # The C2SP checkpoint origin line; defaults to the issuer's host and path plus /grant-log.
    checkpoint_origin: str | None = Field(default=None, pattern=r"^[^\s+]{1,200}$")
    # Redaction (docs/redaction.md). The secret keys per-recipient pseudonyms (32 bytes, base64url);
    # in development it is created in data_dir on first use, production refuses to start without it.
    redaction_secret: str | None = Field(default=None, repr=False)
    spacy_model: str | None = None  # an installed spaCy package or pipeline directory; never downloaded
    redaction_config: Path | None = None  # deployment recognizers (YAML/JSON)
    redaction_max_depth: int = Field(default=64, ge=2, le=512)
    redaction_time_budget_ms: int = Field(default=2000, ge=10, le=60000)
    log_format: str = Field(default="json", pattern="^(json|text)$")
    # The bearer token scrapers must present at /metrics; unset, /metrics is off (404).
    metrics_token: str | None = Field(default=None, repr=False, min_length=16)

    # Resilience (docs/resilience.md): "enforce" throttles and quarantines what the detector finds,
    # "dry_run" only records it, "off" runs no detector. It polls the grant log this often.
    resilience_mode: str = Field(default="enforce", pattern="^(off|dry_run|enforce)$")
    resilience_poll_seconds: float = Field(default=1.0, ge=0)
    # Where the detector runs: "worker" (a background thread of whichever worker holds its lease)
    # or "process" (a process of its own at lower CPU priority, which `discretion serve` with
    # several workers starts and sets for its workers: they then only enforce and count).
    resilience_detector: str = Field(default="worker", pattern="^(worker|process)$")

    @field_validator("issuer")
    @classmethod
    def _issuer_is_origin(cls, value: str) -> str:
        # RFC 8414 section 2: the issuer is an https URL without query or fragment; plain http
        # is tolerated for loopback development only (checked in _production_is_safe).
        if not value.startswith(("https://", "http://")) or "?" in value or "#" in value:
            raise ValueError("issuer must be an http(s) URL without query or fragment")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _production_is_safe(self) -> Settings:
        if self.environment == "production":
            if not self.issuer.startswith("https://"):
                raise ValueError("production needs an https issuer")
            if not self.key_encryption_key:
                raise ValueError("production needs DISCRETION_KEY_ENCRYPTION_KEY")
            if not self.redaction_secret:
                raise ValueError("production needs DISCRETION_REDACTION_SECRET")
        if self.default_token_lifetime > self.max_token_lifetime:
            raise ValueError("default_token_lifetime exceeds max_token_lifetime")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'discretion.db').resolve()}"

    @property
    def token_endpoint(self) -> str:
        """The token endpoint URL, also accepted as a client-assertion audience."""
        return self.issuer + "/oauth2/token"
