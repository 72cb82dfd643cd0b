"""Settings, built on demand by entry points (never at import)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from nextbest.identity.graph import SharedPolicy


class Settings(BaseSettings):
    """Every knob of nextbest; each reads from ``NEXTBEST_<NAME>`` or a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="NEXTBEST_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path(".nextbest"), description="Embedded stores live here.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is a SQLite file in data_dir. "
        "Production: postgresql+psycopg://user@host/db",
    )
    redis_url: str | None = Field(default=None, description="redis://host:6379/0 when used.")
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL"] = Field(
        default="NORMAL",
        description="SQLite fsync level in WAL mode: NORMAL survives a crash of the process, "
        "FULL also a power loss.",
    )
    sqlite_cache_mib: int = Field(
        default=256, ge=2, description="SQLite page cache per connection, in MiB."
    )
    default_region: str = Field(
        default="US", description="Region for phone numbers written without a country code."
    )
    future_tolerance_seconds: int = Field(
        default=300, description="Events dated further ahead than this are rejected."
    )
    ingest_chunk_size: int = Field(
        default=50_000,
        ge=1,
        description="Events per transaction; bigger chunks write each touched profile less often.",
    )
    ingest_workers: int = Field(
        default_factory=lambda: max(1, min(4, (os.cpu_count() or 2) - 1)),
        ge=0,
        description="Processes that validate file chunks while the main one writes (0: inline).",
    )
    identity_shared_kinds: set[str] = Field(
        default={"device_id"},
        description="Identifier kinds that several persons may share (a family tablet).",
    )
    identity_anchor_kinds: set[str] = Field(
        default={"loyalty_id"},
        description="Identifier kinds that belong to one person only.",
    )
    identity_shared_limit: int = Field(
        default=1,
        ge=1,
        description="A shareable identifier seen with more anchors than this stops linking.",
    )
    identity_hash_key: SecretStr | None = Field(
        default=None,
        description=(
            "Opt-in: store identifier keys as HMAC-SHA256 under this secret (kind:h:<hex>),"
            " in the identity graph and in stored event payloads; lookups hash what they are"
            " given. The email and phone needed to send are then kept only in the member's"
            " profile (attributes email, phone), which erasure deletes; rejected records in"
            " the dead letters stay as received. Set it before the first ingest and never"
            " change it: keys stored under another secret no longer match."
        ),
    )
    link_merge_probability: float = Field(
        default=0.99,
        gt=0,
        le=1,
        description="Probabilistic links at or above this merge (1: none merge unreviewed).",
    )
    link_review_probability: float = Field(
        default=0.80,
        gt=0,
        le=1,
        description="Links from here up to the merge threshold wait for a person's review.",
    )
    decide_catalogue: Path | None = Field(
        default=None,
        description="Action catalogue file for decisions; default the demo program's.",
    )
    decide_facts_ttl: float = Field(
        default=5.0,
        ge=0,
        description="Seconds a member's facts stay cached between decisions (0: always read).",
    )
    decide_threads: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Threads deciding per API process: the engine is CPU-bound, so a few.",
    )
    journeys_dir: Path | None = Field(
        default=None,
        description="Folder of journey files; default the built-in templates.",
    )
    journey_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a worker holds the instances it claimed before another may.",
    )
    # --- channels (delivery adapters and outbox) ---
    channels_max_attempts: int = Field(
        default=5, ge=1, description="Sends of one message before it becomes a dead letter."
    )
    channels_backoff_seconds: float = Field(
        default=30.0, gt=0, description="Wait after the first failed send; doubles each time."
    )
    channels_backoff_max_seconds: float = Field(
        default=3600.0, gt=0, description="Longest wait between two sends of one message."
    )
    channels_lease_seconds: float = Field(
        default=300.0,
        gt=0,
        description="A claimed message is due again after this if its worker died mid-send.",
    )
    channels_templates_dir: Path | None = Field(
        default=None, description="Folder of message templates; default the built-in ones."
    )
    smtp_host: str | None = Field(default=None, description="SMTP relay; unset: no email.")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = Field(default="Bean & Bake <rewards@localhost>", description="From header.")
    smtp_starttls: bool = Field(default=False, description="Upgrade the connection with TLS.")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_url: str | None = Field(
        default=None, description="Where webhook messages go (and SMS/push without their own)."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC key of the X-Nextbest-Signature header."
    )
    sms_webhook_url: str | None = Field(default=None, description="SMS provider webhook.")
    push_webhook_url: str | None = Field(default=None, description="Push provider webhook.")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    tracking_base_url: str | None = Field(
        default=None,
        description="Public base URL of this API: emails get signed open and click links.",
    )
    tracking_secret: SecretStr | None = Field(
        default=None, description="HMAC key of the open and click links (needed with the URL)."
    )
    stream_name: str = "nextbest:events"
    stream_group: str = "nextbest-ingest"
    api_require_keys: bool = Field(
        default=True, description="Require an API key on /v1 routes (off only for local demos)."
    )
    api_rate_per_second: float = Field(
        default=1000.0,
        ge=0,
        description=(
            "Requests per second each API key may sustain (0: no limit). Each worker process"
            " limits on its own, so N workers admit up to N times this."
        ),
    )
    api_rate_burst: int = Field(
        default=2000, ge=1, description="Requests an API key may send at once before the limit."
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'nextbest.db').as_posix()}"

    @property
    def shared_policy(self) -> SharedPolicy:
        return SharedPolicy(
            kinds=frozenset(self.identity_shared_kinds),
            anchor_kinds=frozenset(self.identity_anchor_kinds),
            limit=self.identity_shared_limit,
        )

    @property
    def event_history_dir(self) -> Path:
        """Parquet event history that batch analytics read."""
        return self.data_dir / "events"

    # --- where the program's approved files live (``nextbest.agents`` writes them) ---
    def writable_catalogue_path(self) -> Path:
        """Where an approved catalogue is written: the configured file, else the data dir's."""
        return self.decide_catalogue or self.data_dir / "program" / "catalogue.yaml"

    def effective_catalogue_path(self) -> Path | None:
        """The catalogue file every process reads; None: the built-in demo catalogue.

        A configured file is always it (missing, it is an error, not a silent fallback)."""
        if self.decide_catalogue is not None:
            return self.decide_catalogue
        path = self.writable_catalogue_path()
        return path if path.is_file() else None

    def writable_journeys_dir(self) -> Path:
        """Where approved journey files are written: the configured folder, else the data
        dir's (seeded with the built-in templates when first written)."""
        return self.journeys_dir or self.data_dir / "program" / "journeys"

    def effective_journeys_dir(self) -> Path | None:
        """The journey folder every process reads; None: the built-in templates."""
        if self.journeys_dir is not None:
            return self.journeys_dir
        path = self.writable_journeys_dir()
        return path if path.is_dir() else None
