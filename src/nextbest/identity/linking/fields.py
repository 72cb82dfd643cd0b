"""What each column holds, from its name and from its values.

A column's *kind* decides how it is normalised, compared and blocked on. The name gives a
hint (``given_name`` → first name, ``zip`` → postcode); the values confirm or overrule it
(a column of which most values hold ``@`` is an email, whatever it is called).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import pyarrow as pa
import pyarrow.compute as pc


class Kind(StrEnum):
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    FULL_NAME = "full_name"
    DATE = "date"
    POSTCODE = "postcode"
    EMAIL = "email"
    PHONE = "phone"
    ADDRESS = "address"
    CITY = "city"
    STATE = "state"
    NUMBER = "number"
    IDENTIFIER = "identifier"
    CATEGORY = "category"
    TEXT = "text"


# Checked in order: the first pattern that matches the normalised column name wins.
_NAME_HINTS: tuple[tuple[Kind, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        (Kind.EMAIL, r"(^|_)e?_?mail(_|$)|email"),
        (Kind.PHONE, r"phone|mobile|(^|_)(tel|cell|msisdn)(_|$)|telephone"),
        (Kind.FIRST_NAME, r"given|first_?name|(^|_)(fname|forename|first|vorname|prenom)(_|$)"),
        (Kind.LAST_NAME, r"surname|last_?name|family_?name|(^|_)(lname|last|nachname)(_|$)"),
        (Kind.DATE, r"(^|_)(dob|birth|birthday|born|birthdate|date)(_|$)|date_of_birth|_date$"),
        (Kind.POSTCODE, r"post_?code|(^|_)zip|postal|(^|_)plz(_|$)"),
        (Kind.NUMBER, r"(street|house|building|flat|unit)_?(number|no|num)"),
        (Kind.ADDRESS, r"address|street|(^|_)addr|(^|_)line_?\d"),
        (Kind.CITY, r"city|suburb|town|locality|municipality"),
        (Kind.STATE, r"(^|_)(state|province|county|region|territory)(_|$)"),
        (Kind.IDENTIFIER, r"(^|_)(ssn|nin|passport|licen[cs]e|card|account)|soc_sec|_id$|^id_"),
        (Kind.FULL_NAME, r"(^|_)(full_?name|name)(_|$)"),
    )
)


@dataclass(frozen=True, slots=True)
class Profile:
    """What a sample of a column's non-null values looks like."""

    present: float  # share of rows with a non-empty value
    distinct: float  # distinct values / non-empty values
    distinct_count: int
    mean_length: float
    digits: float  # share of characters that are digits
    at_sign: float  # share of values containing '@'
    spaces: float  # share of values containing a space
    dates: float  # share of values that parse as a date
    is_temporal: bool  # the Arrow type is already a date or timestamp


def normalise_name(column: str) -> str:
    """Lower case, non-alphanumerics to ``_``.

    >>> normalise_name("Date of Birth"), normalise_name("eMail-Address")
    ('date_of_birth', 'email_address')
    """
    return re.sub(r"[^a-z0-9]+", "_", column.strip().lower()).strip("_")


def kind_from_name(column: str) -> Kind | None:
    """The kind a column's name suggests, if any.

    >>> [kind_from_name(c) for c in ("given_name", "surname", "zip", "soc_sec_id", "notes")]
    [<Kind.FIRST_NAME: 'first_name'>, <Kind.LAST_NAME: 'last_name'>, \
<Kind.POSTCODE: 'postcode'>, <Kind.IDENTIFIER: 'identifier'>, None]
    """
    name = normalise_name(column)
    for kind, pattern in _NAME_HINTS:
        if pattern.search(name):
            return kind
    return None


_DATE_PATTERNS = (
    re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:[ T].*)?$"),  # ISO, basic ISO
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
)
_DMY = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$")


def parses_as_date(value: str) -> bool:
    """Whether ``value`` reads as a calendar date in a common format.

    >>> [parses_as_date(v) for v in ("1985-02-11", "19851102", "11/02/1985", "19851302", "42")]
    [True, True, True, False, False]
    """
    value = value.strip()
    for pattern in _DATE_PATTERNS:
        found = pattern.match(value)
        if found:
            year, month, day = (int(part) for part in found.groups())
            return _valid(year, month, day)
    found = _DMY.match(value)
    if found:
        a, b, year = (int(part) for part in found.groups())
        return _valid(year, b, a) or _valid(year, a, b)
    return False


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return 1800 <= year <= 2200


def profile(column: pa.Array | pa.ChunkedArray, *, sample: int = 20_000) -> Profile:
    """Summarise a column from (at most) its first ``sample`` non-empty values."""
    n = len(column)
    is_temporal = pa.types.is_temporal(column.type)
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    nonempty = pc.filter(text, pc.fill_null(pc.not_equal(text, ""), False))
    present = len(nonempty) / n if n else 0.0
    values = [str(v) for v in nonempty.slice(0, sample).to_pylist()]
    if not values:
        return Profile(present, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, is_temporal)
    distinct_count = int(pc.count_distinct(nonempty).as_py())
    chars = sum(len(v) for v in values)
    digit_chars = sum(sum(ch.isdigit() for ch in v) for v in values)
    return Profile(
        present=present,
        distinct=distinct_count / len(nonempty),
        distinct_count=distinct_count,
        mean_length=chars / len(values),
        digits=digit_chars / chars if chars else 0.0,
        at_sign=sum("@" in v for v in values) / len(values),
        spaces=sum(" " in v for v in values) / len(values),
        dates=1.0 if is_temporal else sum(parses_as_date(v) for v in values) / len(values),
        is_temporal=is_temporal,
    )


def kind_from_values(p: Profile) -> Kind:
    """The kind a column's values suggest when its name says nothing (or lies)."""
    if p.at_sign >= 0.8:
        return Kind.EMAIL
    if p.dates >= 0.9:
        return Kind.DATE
    if p.digits >= 0.65 and 9 <= p.mean_length <= 18 and p.distinct >= 0.3:
        return Kind.PHONE if p.digits < 0.999 or p.mean_length <= 13 else Kind.IDENTIFIER
    if p.digits >= 0.95:
        if p.distinct >= 0.5 and p.mean_length >= 5:
            return Kind.IDENTIFIER
        return Kind.NUMBER
    if p.distinct_count <= 60 and p.distinct < 0.5:
        return Kind.CATEGORY
    if p.mean_length > 40 or (p.spaces > 0.8 and p.mean_length > 25):
        return Kind.TEXT
    if p.spaces > 0.5:
        return Kind.ADDRESS if p.digits > 0.05 else Kind.FULL_NAME
    return Kind.CATEGORY if p.distinct < 0.001 else Kind.TEXT if p.mean_length > 25 else Kind.CITY


def _name_agrees(kind: Kind, p: Profile) -> bool:
    """Whether the values are consistent with the kind the name suggests."""
    if kind is Kind.EMAIL:
        return p.at_sign >= 0.5
    if kind is Kind.DATE:
        return p.dates >= 0.5
    if kind is Kind.PHONE:
        return p.digits >= 0.5
    if kind in (Kind.FIRST_NAME, Kind.LAST_NAME, Kind.CITY, Kind.STATE):
        return p.digits < 0.2 and p.at_sign < 0.2
    if kind is Kind.FULL_NAME:
        return p.digits < 0.2 and p.at_sign < 0.2 and p.dates < 0.5
    if kind is Kind.POSTCODE:
        return p.mean_length <= 10
    return p.at_sign < 0.5


def infer_kind(column: str, p: Profile) -> Kind:
    """A column's kind: its name's hint when the values agree, else the values' own.

    >>> p = profile(pa.array(["ann@x.org", "bo@y.com", None]))
    >>> infer_kind("contact", p), infer_kind("email", p), infer_kind("first_name", p)
    (<Kind.EMAIL: 'email'>, <Kind.EMAIL: 'email'>, <Kind.EMAIL: 'email'>)
    """
    hinted = kind_from_name(column)
    if hinted is not None and _name_agrees(hinted, p):
        return hinted
    return kind_from_values(p)
