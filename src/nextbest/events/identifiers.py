"""Identifiers an event carries, normalised so that one person's values compare equal.

Normalisation is pure and cached: the same few identifiers recur across a member's events.

>>> normalize_email("  Jane.Doe@Example.COM ")
'jane.doe@example.com'
>>> normalize_phone("(415) 555-0134", region="US")
'+14155550134'
>>> normalize_token(" ab-12 ")
'AB-12'
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

# Deliberately loose (RFC 5322 is not what tills produce) but rejects what cannot be mailed.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")

IDENTIFIER_KINDS = ("email", "phone", "device_id", "loyalty_id", "pos_card")


def normalize_email(value: str) -> str:
    """Trim and case-fold; raise ValueError when the value is not an email address."""
    email = value.strip().casefold()
    if not _EMAIL.match(email):
        raise ValueError(f"not an email address: {value!r}")
    return email


@lru_cache(maxsize=1 << 18)
def normalize_phone(value: str, *, region: str = "US") -> str:
    """Parse to E.164; numbers without a country code are read in ``region``."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {value!r} ({exc})") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"not a possible phone number: {value!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_token(value: str) -> str:
    """Card numbers, loyalty ids and device ids: trimmed, upper-cased, never empty."""
    token = value.strip().upper()
    if not token:
        raise ValueError("empty identifier")
    return token


# Cards, loyalty ids and devices: trimmed and upper-cased in pydantic's core (no Python call).
Token = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=200)
]


class Identifiers(BaseModel):
    """Every identifier one event carries. Values are normalised on validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str | None = None
    phone: str | None = None
    device_id: Token | None = None
    loyalty_id: Token | None = None
    pos_card: Token | None = None
    external_ids: dict[str, str] = Field(
        default_factory=dict, description="Other systems' ids, keyed by system name."
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else normalize_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Numbers without a country code are read in the region the validation context
        # names (settings.default_region), US when none is given.
        if value is None or not value.strip():
            return None
        region = (info.context or {}).get("region", "US")
        return normalize_phone(value, region=region)

    @field_validator("external_ids")
    @classmethod
    def _external(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for system, ident in value.items():
            name = system.strip().lower()
            if not name or ":" in name:
                raise ValueError(f"bad external id system name {system!r}")
            if ident.strip():
                out[name] = ident.strip()
        return out

    def keys(self) -> list[str]:
        """Graph keys ``kind:value``, sorted, one per identifier present.

        >>> Identifiers(email="A@b.co", pos_card="c1").keys()
        ['email:a@b.co', 'pos_card:C1']
        """
        keys = [f"{kind}:{getattr(self, kind)}" for kind in IDENTIFIER_KINDS if getattr(self, kind)]
        keys.extend(f"ext:{system}:{ident}" for system, ident in self.external_ids.items())
        keys.sort()
        return keys


def parse_key(text: str, *, region: str = "US") -> str:
    """Turn user input (``email:x``, ``phone:+1…`` or a bare value) into a graph key.

    >>> parse_key("Jane@Example.com")
    'email:jane@example.com'
    >>> parse_key("pos_card:c-1")
    'pos_card:C-1'
    """
    kind, sep, value = text.partition(":")
    if sep and kind in IDENTIFIER_KINDS:
        if kind == "email":
            return f"email:{normalize_email(value)}"
        if kind == "phone":
            return f"phone:{normalize_phone(value, region=region)}"
        return f"{kind}:{normalize_token(value)}"
    if sep and kind == "ext":
        return f"ext:{value}"
    if "@" in text:
        return f"email:{normalize_email(text)}"
    if text.strip().startswith("+"):
        return f"phone:{normalize_phone(text, region=region)}"
    raise ValueError(f"cannot tell which identifier {text!r} is; write it as kind:value")
