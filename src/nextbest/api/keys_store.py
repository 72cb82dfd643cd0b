"""API keys: create, list, revoke and verify (no HTTP here; the CLI and the API share it).

A key reads ``nbk_<key_id>_<secret>``. Only ``sha256(secret)`` is stored: the secret is
32 random bytes, so a fast hash is enough (no password stretching needed), and the
comparison is constant-time.

>>> parse_key("nbk_0123abcd0123abcd_s3cr-et_x")
('0123abcd0123abcd', 's3cr-et_x')
>>> parse_key("nope") is None
True
>>> parse_scopes("read, ingest")
('ingest', 'read')

A key holds roles (``nextbest.api.roles``); keys made before roles hold legacy scopes,
which keep granting what they granted. Creating and revoking a key appends to the audit log.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.api.roles import (
    LEGACY_SCOPES,
    ROLES,
    join_grants,
    parse_legacy_scopes,
    parse_roles,
    permissions_of,
    split_grants,
)
from nextbest.errors import Conflict, NotFound, Unauthorized
from nextbest.store import audit
from nextbest.store.engine import write_transaction
from nextbest.store.tables import api_keys

PREFIX = "nbk"
SCOPES = tuple(sorted(LEGACY_SCOPES))


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One stored key, without its secret."""

    key_id: str
    name: str
    scopes: tuple[str, ...]  # legacy scopes, of keys made before roles
    created_at: datetime
    revoked_at: datetime | None = None
    roles: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def permissions(self) -> frozenset[str]:
        return permissions_of(roles=self.roles, scopes=self.scopes)

    def allows(self, permission: str) -> bool:
        """Whether one of the key's roles (or legacy scopes) grants ``permission``."""
        return permission in self.permissions

    def describe(self) -> str:
        """``roles analyst, marketer`` / ``legacy scopes read``, for messages and listings."""
        parts = []
        if self.roles:
            parts.append(f"roles {', '.join(self.roles)}")
        if self.scopes:
            parts.append(f"legacy scopes {', '.join(self.scopes)}")
        return "; ".join(parts) or "no roles"


def parse_scopes(text: str | Iterable[str]) -> tuple[str, ...]:
    """Comma- or space-separated legacy scopes, checked against :data:`SCOPES`, sorted."""
    parts = parse_legacy_scopes(text)
    if not parts:
        raise ValueError(f"at least one scope is needed; known: {', '.join(SCOPES)}")
    return parts


def parse_key(presented: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key, else None."""
    if "\x00" in presented:
        return None  # never reaches a query (PostgreSQL refuses NUL in text)
    parts = presented.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every time we store is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _row_to_key(row: Any) -> ApiKey:
    roles, scopes = split_grants(row.scopes)
    return ApiKey(
        key_id=row.key_id,
        name=row.name,
        scopes=scopes,
        roles=roles,
        created_at=_aware(row.created_at) or row.created_at,
        revoked_at=_aware(row.revoked_at),
    )


def _audit_detail(key: ApiKey) -> dict[str, Any]:
    return {"name": key.name, "roles": list(key.roles), "scopes": list(key.scopes)}


_COLUMNS = (
    api_keys.c.key_id,
    api_keys.c.name,
    api_keys.c.scopes,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
)


def create_key(
    engine: Engine,
    *,
    name: str,
    roles: str | Iterable[str] = (),
    scopes: str | Iterable[str] = (),
    actor: str = "system",
    now: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key with ``roles`` (and/or legacy ``scopes``); returns it and the full
    secret token, which is never shown again. The creation is audited as ``actor``."""
    if not name.strip():
        raise ValueError("a key needs a name")
    checked_roles = parse_roles(roles)
    checked_scopes = parse_legacy_scopes(scopes)
    if not checked_roles and not checked_scopes:
        raise ValueError(
            f"a key needs at least one role; known: {', '.join(sorted(ROLES))} "
            f"(or a legacy scope: {', '.join(SCOPES)})"
        )
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    created = now or datetime.now(UTC)
    key = ApiKey(
        key_id=key_id,
        name=name.strip(),
        scopes=checked_scopes,
        roles=checked_roles,
        created_at=created,
    )
    with write_transaction(engine) as conn:
        conn.execute(
            api_keys.insert().values(
                key_id=key_id,
                name=key.name,
                secret_hash=_hash(secret),
                scopes=join_grants(roles=checked_roles, scopes=checked_scopes),
                created_at=created,
                revoked_at=None,
            )
        )
        audit.record(
            conn,
            actor=actor,
            action="api_key_create",
            subject=f"key:{key_id}",
            detail=_audit_detail(key),
            at=created,
        )
    return key, f"{PREFIX}_{key_id}_{secret}"


def actor_of(key: ApiKey | None) -> str:
    """Who a request acts as, for the audit log (``anonymous`` with keys switched off)."""
    return f"key:{key.key_id}:{key.name}" if key is not None else "anonymous"


def list_keys(engine: Engine) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*_COLUMNS).order_by(api_keys.c.created_at)).all()
    return [_row_to_key(row) for row in rows]


def revoke_key(
    engine: Engine, key_id: str, *, actor: str = "system", now: datetime | None = None
) -> ApiKey:
    """Mark a key revoked (audited as ``actor``); raises NotFound for an unknown id,
    Conflict if already revoked."""
    with write_transaction(engine) as conn:
        row = conn.execute(sa.select(*_COLUMNS).where(api_keys.c.key_id == key_id)).first()
        if row is None:
            raise NotFound(f"no API key {key_id!r}")
        key = _row_to_key(row)
        if not key.active:
            raise Conflict(f"API key {key_id!r} was already revoked at {key.revoked_at}")
        when = now or datetime.now(UTC)
        conn.execute(api_keys.update().where(api_keys.c.key_id == key_id).values(revoked_at=when))
        audit.record(
            conn,
            actor=actor,
            action="api_key_revoke",
            subject=f"key:{key_id}",
            detail=_audit_detail(key),
            at=when,
        )
    return dataclasses.replace(key, revoked_at=when)


def verify_key(engine: Engine, presented: str) -> ApiKey:
    """The active key matching ``presented``; raises Unauthorized otherwise."""
    parsed = parse_key(presented)
    if parsed is None:
        raise Unauthorized("malformed API key (expected nbk_<key_id>_<secret>)")
    key_id, secret = parsed
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(*_COLUMNS, api_keys.c.secret_hash).where(api_keys.c.key_id == key_id)
        ).first()
    # Hash even when the id is unknown so both paths cost the same.
    digest = _hash(secret)
    stored = row.secret_hash if row is not None else "0" * 64
    if row is None or not hmac.compare_digest(digest, stored):
        raise Unauthorized("unknown API key")
    key = _row_to_key(row)
    if not key.active:
        raise Unauthorized(f"API key {key_id} was revoked")
    return key


class KeyCache:
    """Verified keys kept for ``ttl`` seconds so the hot path skips the hash and the query.

    A revocation takes effect within ``ttl`` at worst (revoking through this cache's
    :meth:`forget` makes it immediate in this process). Only successes are cached, so
    a stream of bad keys cannot fill it; it is bounded by ``max_size`` all the same.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float = 10.0,
        max_size: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._ttl = ttl
        self._max_size = max_size
        self._clock = clock
        self._entries: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def peek(self, presented: str) -> ApiKey | None:
        """The cached key for ``presented`` if still fresh; never touches the database."""
        hit = self._entries.get(presented)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        return None

    def verify(self, presented: str) -> ApiKey:
        """The key for ``presented`` (cached, or verified and cached); raises Unauthorized."""
        cached = self.peek(presented)
        if cached is not None:
            return cached
        now = self._clock()
        key = verify_key(self._engine, presented)
        with self._lock:
            if len(self._entries) >= self._max_size:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self._max_size:
                    self._entries.clear()
            self._entries[presented] = (now + self._ttl, key)
        return key

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._entries = {k: v for k, v in self._entries.items() if v[1].key_id != key_id}
