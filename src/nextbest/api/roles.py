"""Roles and permissions: THE table of who may do what over the API (no HTTP here).

Every route declares one permission (``security.require_permission``); a key holds roles,
and each role grants a set of permissions. Keys made before roles existed hold *scopes*
(``admin``, ``decide``, ``ingest``, ``read``); each scope keeps granting exactly what it
granted before, so stored keys keep working.

Both live in the key's one ``scopes`` column, as words: a role is stored ``role:<name>``,
a legacy scope bare.

>>> sorted(ROLES["ingest"])
['events:write']
>>> "audit:read" in permissions_of(roles=("analyst",), scopes=())
True
>>> "ledger:adjust" in permissions_of(roles=("marketer",), scopes=())
False
>>> sorted(permissions_of(roles=(), scopes=("ingest",)))
['events:write', 'ledger:redeem']
>>> roles_granting("events:write")
('admin', 'ingest')
>>> split_grants("role:analyst read")
(('analyst',), ('read',))
"""

from __future__ import annotations

from collections.abc import Iterable

ROLE_PREFIX = "role:"

# Every permission a route may declare, with what it admits.
PERMISSIONS: dict[str, str] = {
    "events:write": "post events (ingestion)",
    "members:read": "read profiles and the identity review queue",
    "members:write": "accept or reject probable links, unmerge members",
    "ledger:read": "read balances, point history and tiers",
    "ledger:redeem": "spend a member's points on a reward",
    "ledger:adjust": "credit or debit points by hand, reverse entries",
    "decisions:decide": "ask for decisions (single, batch, assisted view)",
    "decisions:read": "read logged decisions",
    "inbox:read": "read a member's in-app messages",
    "inbox:write": "mark in-app messages read",
    "consents:write": "record a member's consents",
    "audit:read": "read the audit log",
    "privacy:erase": "export or erase a member's personal data",
    "keys:admin": "create and revoke API keys",
    "approvals:read": "see proposed changes and their outcome",
    "approvals:propose": "propose a change to offers, rules or journeys",
    "approvals:decide": "approve or reject a proposed change (never one's own)",
}

_ANALYST = frozenset(
    {"members:read", "ledger:read", "decisions:read", "inbox:read", "audit:read", "approvals:read"}
)

# THE table: each role's permissions. Least privilege: a role gets only what its job needs.
ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    # Read-only everywhere, the audit log included; never writes.
    "analyst": _ANALYST,
    # An analyst who may also ask for decisions and propose changes (someone else approves).
    "marketer": _ANALYST | {"decisions:decide", "approvals:propose"},
    # Tills, apps and pipelines that send events, nothing else.
    "ingest": frozenset({"events:write"}),
    # A person helping one member: their profile, points, assisted decisions, consents, inbox.
    "service_agent": frozenset(
        {
            "members:read",
            "ledger:read",
            "ledger:redeem",
            "decisions:decide",
            "consents:write",
            "inbox:read",
            "inbox:write",
        }
    ),
}

# Scopes of keys made before roles: each grants what it granted then.
LEGACY_SCOPES: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "decide": frozenset({"decisions:decide"}),
    "ingest": frozenset({"events:write", "ledger:redeem"}),
    "read": frozenset(
        {"members:read", "ledger:read", "decisions:read", "inbox:read", "inbox:write"}
    ),
}


def _checked(values: Iterable[str], known: Iterable[str], what: str) -> tuple[str, ...]:
    parts = tuple(values)
    unknown = sorted(set(parts) - set(known))
    if unknown:
        raise ValueError(f"unknown {what}(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return tuple(sorted(set(parts)))


def _words(text: str | Iterable[str]) -> list[str]:
    return text.replace(",", " ").split() if isinstance(text, str) else list(text)


def parse_roles(text: str | Iterable[str]) -> tuple[str, ...]:
    """Comma- or space-separated role names, checked against :data:`ROLES`, sorted, unique.

    >>> parse_roles("marketer, analyst")
    ('analyst', 'marketer')
    """
    return _checked(_words(text), ROLES, "role")


def parse_legacy_scopes(text: str | Iterable[str]) -> tuple[str, ...]:
    """Comma- or space-separated legacy scopes, checked, sorted, unique."""
    return _checked(_words(text), LEGACY_SCOPES, "scope")


def permissions_of(*, roles: Iterable[str], scopes: Iterable[str]) -> frozenset[str]:
    """Every permission the roles and legacy scopes grant together (unknown names grant none)."""
    granted: set[str] = set()
    for role in roles:
        granted |= ROLES.get(role, frozenset())
    for scope in scopes:
        granted |= LEGACY_SCOPES.get(scope, frozenset())
    return frozenset(granted)


def roles_granting(permission: str) -> tuple[str, ...]:
    """The roles that grant ``permission``, sorted: for error messages and docs."""
    return tuple(sorted(role for role, granted in ROLES.items() if permission in granted))


def split_grants(stored: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(roles, legacy_scopes)`` of a key's stored ``scopes`` column."""
    words = stored.split()
    roles = tuple(w.removeprefix(ROLE_PREFIX) for w in words if w.startswith(ROLE_PREFIX))
    scopes = tuple(w for w in words if not w.startswith(ROLE_PREFIX))
    return roles, scopes


def join_grants(*, roles: Iterable[str], scopes: Iterable[str]) -> str:
    """The stored form of roles and legacy scopes (inverse of :func:`split_grants`).

    >>> join_grants(roles=["analyst"], scopes=["read"])
    'role:analyst read'
    """
    return " ".join([*(ROLE_PREFIX + r for r in roles), *scopes])
