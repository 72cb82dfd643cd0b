"""Console users and their sessions (no HTTP here; the CLI and the pages share it).

Passwords are stored as scrypt (stdlib ``hashlib``) with a per-user salt and the cost in
the stored string, so the cost can rise later without breaking old hashes. A session is a
random token in a cookie; only its sha256 is stored, beside the CSRF token every form must
echo back. Creating, disabling a user and every login are audited.

>>> check_password("s3cret-pass", hash_password("s3cret-pass"))
True
>>> check_password("wrong", hash_password("s3cret-pass"))
False
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.api.roles import parse_roles, permissions_of
from nextbest.errors import Conflict, NotFound, Unauthorized
from nextbest.store import audit
from nextbest.store.engine import write_transaction
from nextbest.store.tables import console_sessions, console_users

MIN_PASSWORD = 10
SESSION_HOURS = 12
# scrypt cost: 16 MiB of memory per hash (OWASP's n=2**17 would cost 128 MiB per login).
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$digest`` (base64 parts)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=32,
    )
    return hmac.compare_digest(got, base64.b64decode(digest))


# A fixed hash to check against when the username is unknown, so both paths cost the same.
_DUMMY = hash_password("not-a-user-password", salt=b"\0" * 16)


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    username: str
    roles: tuple[str, ...]
    created_at: datetime
    disabled_at: datetime | None = None

    @property
    def permissions(self) -> frozenset[str]:
        return permissions_of(roles=self.roles, scopes=())

    def allows(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def actor(self) -> str:
        """Who this user is in the audit log."""
        return f"user:{self.username}"


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # the cookie value; only its hash is stored
    user: ConsoleUser
    csrf_token: str
    expires_at: datetime


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _user(row: Any) -> ConsoleUser:
    return ConsoleUser(
        username=row.username,
        roles=tuple(row.roles.split()),
        created_at=_aware(row.created_at) or row.created_at,
        disabled_at=_aware(row.disabled_at),
    )


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _checked(
    username: str, password: str, roles: str | Iterable[str]
) -> tuple[str, tuple[str, ...]]:
    """The stripped name and checked roles; ValueError naming what is wrong."""
    name = username.strip()
    if not name or len(name) > 128 or any(c.isspace() for c in name):
        raise ValueError("a username is 1 to 128 characters without spaces")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    checked = parse_roles(roles)
    if not checked:
        raise ValueError("a user needs at least one role")
    return name, checked


def create_user(
    engine: Engine,
    *,
    username: str,
    password: str,
    roles: str | Iterable[str],
    actor: str = "system",
    now: datetime | None = None,
) -> ConsoleUser:
    """Store a new user; raises ValueError for a bad name, password or role, Conflict if
    the name is taken."""
    name, checked = _checked(username, password, roles)
    created = now or datetime.now(UTC)
    with write_transaction(engine) as conn:
        taken = conn.execute(
            sa.select(console_users.c.username).where(console_users.c.username == name)
        ).first()
        if taken is not None:
            raise Conflict(f"console user {name!r} already exists")
        conn.execute(
            console_users.insert().values(
                username=name,
                password_hash=hash_password(password),
                roles=" ".join(checked),
                created_at=created,
                disabled_at=None,
            )
        )
        audit.record(
            conn,
            actor=actor,
            action="console_user_create",
            subject=f"user:{name}",
            detail={"roles": list(checked)},
            at=created,
        )
    return ConsoleUser(username=name, roles=checked, created_at=created)


def ensure_user(
    engine: Engine,
    *,
    username: str,
    password: str,
    roles: str | Iterable[str],
    actor: str = "system",
    now: datetime | None = None,
) -> ConsoleUser:
    """Create the user, or give an existing one this password and these roles (enabled
    again, other sessions ended). For the demo, which prints fresh credentials each run."""
    username, checked = _checked(username, password, roles)
    when = now or datetime.now(UTC)
    with write_transaction(engine) as conn:
        row = conn.execute(
            sa.select(console_users).where(console_users.c.username == username)
        ).first()
        if row is not None:
            conn.execute(
                console_users.update()
                .where(console_users.c.username == username)
                .values(
                    password_hash=hash_password(password), roles=" ".join(checked), disabled_at=None
                )
            )
            conn.execute(
                console_sessions.update()
                .where(
                    console_sessions.c.username == username, console_sessions.c.revoked_at.is_(None)
                )
                .values(revoked_at=when)
            )
            audit.record(
                conn,
                actor=actor,
                action="console_user_reset",
                subject=f"user:{username}",
                detail={"roles": list(checked)},
                at=when,
            )
            return ConsoleUser(
                username=username, roles=checked, created_at=_aware(row.created_at) or when
            )
    return create_user(
        engine, username=username, password=password, roles=checked, actor=actor, now=when
    )


def list_users(engine: Engine) -> list[ConsoleUser]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(console_users).order_by(console_users.c.username)).all()
    return [_user(row) for row in rows]


def disable_user(
    engine: Engine, username: str, *, actor: str = "system", now: datetime | None = None
) -> ConsoleUser:
    """Disable a user and end their sessions (audited)."""
    when = now or datetime.now(UTC)
    with write_transaction(engine) as conn:
        row = conn.execute(
            sa.select(console_users).where(console_users.c.username == username)
        ).first()
        if row is None:
            raise NotFound(f"no console user {username!r}")
        conn.execute(
            console_users.update()
            .where(console_users.c.username == username)
            .values(disabled_at=when)
        )
        conn.execute(
            console_sessions.update()
            .where(console_sessions.c.username == username, console_sessions.c.revoked_at.is_(None))
            .values(revoked_at=when)
        )
        audit.record(
            conn,
            actor=actor,
            action="console_user_disable",
            subject=f"user:{username}",
            detail={},
            at=when,
        )
    return _user(row)


def login(engine: Engine, username: str, password: str, *, now: datetime | None = None) -> Session:
    """A new session for a correct password of an enabled user; Unauthorized otherwise
    (one message for every failure, so it does not reveal which names exist)."""
    when = now or datetime.now(UTC)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(console_users).where(console_users.c.username == username.strip())
        ).first()
    ok = check_password(password, row.password_hash if row is not None else _DUMMY)
    if row is None or not ok or row.disabled_at is not None:
        raise Unauthorized("wrong username or password")
    user = _user(row)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = when + timedelta(hours=SESSION_HOURS)
    with write_transaction(engine) as conn:
        conn.execute(
            console_sessions.insert().values(
                session_hash=_hash_token(token),
                username=user.username,
                csrf_token=csrf,
                created_at=when,
                expires_at=expires,
                revoked_at=None,
            )
        )
        audit.record(
            conn,
            actor=user.actor,
            action="console_login",
            subject=f"user:{user.username}",
            detail={},
            at=when,
        )
    return Session(token=token, user=user, csrf_token=csrf, expires_at=expires)


def session_of(engine: Engine, token: str, *, now: datetime | None = None) -> Session | None:
    """The live session behind a cookie value, or None (unknown, expired, logged out, or
    the user disabled)."""
    when = now or datetime.now(UTC)
    s, u = console_sessions, console_users
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(s.c.csrf_token, s.c.expires_at, s.c.revoked_at, u)
            .join(u, u.c.username == s.c.username)
            .where(s.c.session_hash == _hash_token(token))
        ).first()
    if row is None or row.revoked_at is not None or row.disabled_at is not None:
        return None
    expires = _aware(row.expires_at) or row.expires_at
    if expires <= when:
        return None
    return Session(token=token, user=_user(row), csrf_token=row.csrf_token, expires_at=expires)


def logout(engine: Engine, token: str, *, now: datetime | None = None) -> None:
    when = now or datetime.now(UTC)
    with write_transaction(engine) as conn:
        conn.execute(
            console_sessions.update()
            .where(
                console_sessions.c.session_hash == _hash_token(token),
                console_sessions.c.revoked_at.is_(None),
            )
            .values(revoked_at=when)
        )


def csrf_ok(session: Session, presented: str | None) -> bool:
    """Whether a form's CSRF token is this session's (constant-time)."""
    return presented is not None and hmac.compare_digest(
        session.csrf_token.encode(), presented.encode()
    )
