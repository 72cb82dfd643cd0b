"""Identifier keys stored as keyed hashes (opt-in: ``Settings.identity_hash_key``).

A normalised key ``kind:value`` is stored as ``kind:h:<hex>``, the hex being
HMAC-SHA256 of the whole key under the secret. The kind stays readable, because the
shared-identifier rules, channel addressing and quality reports go by kind; the value can
neither be read back nor recomputed from a list of likely emails without the secret. Every
lookup hashes what it is given the same way, so the same person still resolves to one member.

Pure: no database, no settings object; callers pass the secret.

>>> h = KeyHasher(b"k")
>>> key = h.key("email:ann@example.com")
>>> key.startswith("email:h:") and len(key) == len("email:h:") + 64
True
>>> h.key(key) == key, KeyHasher(b"other").key("email:ann@example.com") == key
(True, False)
>>> h.key("loyalty_id:" + key.split(":", 1)[1].upper()) == "loyalty_id:" + key.split(":", 1)[1]
True
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

HASH_MARK = "h:"
_HASHED_VALUE = re.compile(r"h:[0-9a-f]{64}")
# Stored event payloads carry the event's hashed keys here instead of ``identifiers``.
HASHED_KEYS_FIELD = "identifier_keys"
# Identifier kinds kept in the profile (as attributes of the same name) to address messages.
CONTACT_KINDS = ("email", "phone")


def is_hashed(key: str) -> bool:
    """Whether ``key`` is in the stored hashed form ``kind:h:<64 hex>``.

    >>> is_hashed("email:h:" + "0" * 64), is_hashed("email:ann@example.com")
    (True, False)
    """
    return _HASHED_VALUE.fullmatch(key.partition(":")[2]) is not None


# Kinds whose hashed value an event can carry back as is (token normalisation only
# upper-cases it); a hashed email or phone would be refused as not an address.
CARRIABLE_HASHED_KINDS = frozenset({"loyalty_id", "pos_card", "device_id"})


def carriable(key: str) -> bool:
    """Whether an event (an outcome, a consent change) can name the member by ``key``.

    >>> carriable("email:a@b.co"), carriable("email:h:" + "0" * 64)
    (True, False)
    >>> carriable("loyalty_id:h:" + "0" * 64)
    True
    """
    return not is_hashed(key) or key.partition(":")[0] in CARRIABLE_HASHED_KINDS


@dataclass(frozen=True, slots=True)
class KeyHasher:
    """Hashes normalised identifier keys with one secret (never shown in its repr)."""

    secret: bytes = field(repr=False)

    def key(self, key: str) -> str:
        """The stored form of ``key``; a key already hashed is returned as it is.

        A value in the hashed form (upper-cased by token normalisation, as when an outcome
        event names a member by a stored loyalty id) is taken as that hash, not hashed again.
        """
        kind, _, value = key.partition(":")
        lowered = value.lower()
        if _HASHED_VALUE.fullmatch(lowered):
            return f"{kind}:{lowered}"
        digest = hmac.new(self.secret, key.encode(), hashlib.sha256).hexdigest()
        return f"{kind}:{HASH_MARK}{digest}"

    def keys(self, keys: Iterable[str]) -> tuple[str, ...]:
        """Hashed keys, sorted (as ``Identifiers.keys`` sorts the plain ones)."""
        return tuple(sorted({self.key(k) for k in keys}))


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


def key_hasher(secret: _Secret | str | None) -> KeyHasher | None:
    """The hasher for a configured secret (pydantic ``SecretStr`` or text); None when off.

    >>> key_hasher(None) is None, key_hasher("s") == KeyHasher(b"s")
    (True, True)
    """
    if secret is None:
        return None
    text = secret if isinstance(secret, str) else secret.get_secret_value()
    if not text:
        raise ValueError("identity_hash_key is empty; unset it to store identifiers in plain")
    return KeyHasher(text.encode())


def hashed_payload(data: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """An event record as stored in hashed mode: its identifiers replaced by hashed keys.

    >>> hashed_payload({"type": "signup", "identifiers": {"email": "a@b.co"}}, ["email:h:1"])
    {'type': 'signup', 'identifier_keys': ['email:h:1']}
    """
    out = {k: v for k, v in data.items() if k != "identifiers"}
    out[HASHED_KEYS_FIELD] = list(keys)
    return out


def stored_keys(data: dict[str, Any]) -> tuple[str, ...] | None:
    """The hashed keys a stored payload carries (popping them), or None for a plain one.

    >>> record = {"type": "signup", "identifier_keys": ["email:h:1"]}
    >>> stored_keys(record), record
    (('email:h:1',), {'type': 'signup'})
    >>> stored_keys({"type": "signup"}) is None
    True
    """
    keys = data.pop(HASHED_KEYS_FIELD, None)
    if not isinstance(keys, list):
        return None
    return tuple(str(k) for k in keys)


def keep_contacts(
    attributes: dict[str, list[Any]],
    found: tuple[tuple[str, str], ...],
    *,
    at: float,
    event_id: str,
) -> None:
    """Record contact points as stated profile attributes: the latest (time, event) wins,
    as for every other stated value, so the result does not depend on arrival order.

    >>> attributes = {}
    >>> keep_contacts(attributes, (("email", "new@b.co"),), at=2.0, event_id="e2")
    >>> keep_contacts(attributes, (("email", "old@b.co"),), at=1.0, event_id="e1")
    >>> attributes
    {'email': ['new@b.co', 2.0, 'e2']}
    """
    for kind, value in found:
        held = attributes.get(kind)
        if held is None or (at, event_id) > (held[1], held[2]):
            attributes[kind] = [value, at, event_id]
