"""Configuration from `HERALD_*` environment variables."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Published in earlier versions as the development default: it signs nothing, anywhere.
PUBLISHED_SECRET_KEYS = frozenset({"herald-development-secret-key-do-not-use-in-production"})
MINIMUM_SECRET_KEY_LENGTH = 32
SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name)


class ConfigurationError(RuntimeError):
    """Herald cannot start with the configuration it was given."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HERALD_", extra="ignore")

    env: Literal["production", "development", "test"] = "production"
    data_dir: Path = Path(".herald")
    database_url: str | None = None
    redis_url: str | None = None
    # The task queue's name in Redis: installs (or test runs) that share one Redis need their own,
    # or one install's workers take the other's kicks and drop them as unknown rows.
    queue_name: str = Field(default="herald", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    secret_key: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Embedded mode runs this many worker threads beside the API.
    embedded_workers: int = Field(default=2, ge=1, le=32)
    # On SIGTERM (or Ctrl-C), how long workers finish the tasks they are in and API processes
    # the requests they are serving before they stop; what a worker still holds then is released.
    shutdown_grace_seconds: int = Field(default=30, ge=0, le=3600)
    session_days: int = Field(default=14, ge=1, le=365)
    # PostgreSQL memory for each sort or hash of a full segment computation: with the server's
    # usual 4MB, grouping a month of events per profile spilled to disk and took 3x as long.
    segment_work_mem: str = Field(default="256MB", pattern=r"^[0-9]+(kB|MB|GB)$")
    log_level: str = "info"
    # "json": one JSON object a line, with request, organization and message ids (no bodies,
    # query strings or addresses); "text" for people reading a terminal.
    log_format: Literal["text", "json"] = "text"
    # GET /metrics answers only `Authorization: Bearer <this token>`; unset, /metrics is off.
    metrics_token: str | None = None
    # HOST:PORT where every process of the machine offers to serve /metrics apart from the API's
    # port (the first to bind serves; docs/operations.md). Unset: /metrics is on the API's port.
    metrics_bind: str | None = Field(
        default=None, pattern=r"^(\[[0-9a-fA-F:.]+\]|[^:\[\]]*):[0-9]{1,5}$"
    )
    # Where the processes of this machine keep their metric values for /metrics to add up;
    # default <data dir>/metrics. Empty it when the machine boots (systemd RuntimeDirectory).
    metrics_dir: Path | None = None
    # Rate limits (docs/rate-limits.md). Off only to measure what they cost (bench/ingest.py).
    rate_limits: bool = True
    # The most an owner may set for their organization, per window (for an organization and for
    # each of its keys alike); the built-in defaults are lowered to these when they are higher.
    rate_limit_ceiling_ingestion_per_second: int = Field(default=50_000, ge=1)
    rate_limit_ceiling_ingestion_per_minute: int = Field(default=3_000_000, ge=1)
    rate_limit_ceiling_management_per_second: int = Field(default=1_000, ge=1)
    rate_limit_ceiling_management_per_minute: int = Field(default=60_000, ge=1)
    # Requests without a key (tracking and unsubscribe links, provider webhooks) per client
    # address: image proxies and providers send many from one address, hence generous.
    rate_limit_public_per_second: int = Field(default=500, ge=1)
    rate_limit_public_per_minute: int = Field(default=15_000, ge=1)
    # The largest image the image library accepts, in bytes (docs/templates.md); at most 40 MB.
    image_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=40 * 1024 * 1024)
    # Soft bounces (a full mailbox, a deferral the provider gave up on) an address may have
    # before it is suppressed; hard bounces and complaints suppress at once (docs/email.md).
    soft_bounce_limit: int = Field(default=3, ge=1, le=100)
    # The deliverability guard pauses marketing email when bounces through a provider exceed
    # this share of the messages it sent in the window (complaints: above 0.3%).
    bounce_pause_rate: float = Field(default=0.05, gt=0, le=1)
    # The circuit breaker of each email provider in an organization's failover list
    # (docs/email.md, Failover): it opens after this many failed messages in a row...
    email_breaker_failures: int = Field(default=5, ge=1, le=100_000)
    # ...or when this share of the messages tried within the window failed, once the window
    # holds at least `email_breaker_window_minimum` of them...
    email_breaker_error_rate: float = Field(default=0.5, gt=0, le=1)
    email_breaker_window_seconds: float = Field(default=60, gt=0, le=86_400)
    email_breaker_window_minimum: int = Field(default=20, ge=1, le=1_000_000)
    # ...and stays open this long; then one worker sends a probe of this many messages, whose
    # success closes it again (its failure opens it for another cool-down).
    email_breaker_cool_down_seconds: float = Field(default=30, ge=0, le=86_400)
    email_breaker_probe_size: int = Field(default=1, ge=1, le=100)
    # Test-only: networks (CIDRs, comma-separated) that outbound HTTP may reach although they
    # are not public, for receivers on loopback; refused outside HERALD_ENV=test.
    outbound_allow: str = ""
    # DNS servers ("host" or "host:port", comma-separated) for Settings → Email's check of the
    # sending domain's SPF, DKIM and DMARC records; empty: the system's resolver.
    dns_servers: str = ""
    # Where Twilio's REST API is; tests and benchmarks point it at the fake Twilio.
    twilio_api_url: str = "https://api.twilio.com"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'herald.db').resolve()}"

    @property
    def resolved_metrics_dir(self) -> Path:
        return self.metrics_dir or self.data_dir / "metrics"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def cookies_secure(self) -> bool:
        return self.base_url.startswith("https://")

    def resolved_secret_key(self) -> str:
        """The key that signs tokens and encrypts credentials.

        An explicit key must be strong unless in development, and never a key that was
        published. With no key, the embedded default (SQLite) and development generate one and
        keep it in the data directory, so that no install signs links with a key anyone knows; a
        server deployment must set one, because every API process and worker has to share it.
        """
        key = self.secret_key
        if key:
            if key in PUBLISHED_SECRET_KEYS:
                raise ConfigurationError(
                    "HERALD_SECRET_KEY is a published key that anyone could sign links with; "
                    "leave it unset in development, or set a long random value."
                )
            if len(key) < MINIMUM_SECRET_KEY_LENGTH and self.env != "development":
                raise ConfigurationError(
                    "HERALD_SECRET_KEY is a default or shorter than "
                    f"{MINIMUM_SECRET_KEY_LENGTH} characters; set a long random value "
                    "(python -c 'import secrets; print(secrets.token_urlsafe(48))')."
                )
            return key
        if self.is_sqlite or self.env == "development":
            return _stored_secret_key(self.data_dir)
        raise ConfigurationError(
            "HERALD_SECRET_KEY must be set when Herald runs on a database server: every API "
            "process and worker has to share the same key."
        )


@lru_cache(maxsize=8)
def _stored_secret_key(data_dir: Path) -> str:
    # Cached: every signed link would otherwise read the file again.
    path = data_dir / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: if two processes start at once, one writes and the other reads the winner's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
