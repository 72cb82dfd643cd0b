"""One linking record per current member: what probabilistic linking compares.

Names, birthday and postcode come from the profile (latest statement wins); the email and
phone are the member's earliest seen of each kind, already normalised by ingestion. With
identifiers stored hashed those keys hold no comparable value: the email and phone come from
the profile's contact points instead (the latest stated), so linking still compares raw
values, in the one store that keeps them in that mode.
Members with nothing comparable (say, a loyalty card seen only at the till) are left out.
"""

from __future__ import annotations

import orjson
import pyarrow as pa
from sqlalchemy import Connection, text

from nextbest.identity.hashing import is_hashed

COLUMNS = ("member_id", "first_name", "last_name", "birthday", "postcode", "email", "phone")
_ATTRIBUTES = ("first_name", "last_name", "birthday", "postcode")
_CONTACTS = ("email", "phone")  # profile contact points, kept in hashed-identifier mode


def linking_records(conn: Connection) -> pa.Table:
    rows: dict[str, dict[str, str | None]] = {}
    contacts = conn.execute(
        text(
            "SELECT i.member_id, i.kind, i.key FROM identifiers i"
            " JOIN members m ON m.member_id = i.member_id"
            " WHERE m.merged_into IS NULL AND i.kind IN ('email', 'phone')"
            " ORDER BY i.first_seen_at, i.key"
        )
    )
    for member, kind, key in contacts:
        if is_hashed(key):
            continue
        row = rows.setdefault(member, {})
        row.setdefault(kind, key.partition(":")[2])
    for member, state in conn.execute(text("SELECT member_id, state FROM profiles")):
        attributes = orjson.loads(state).get("attributes") or {}
        picked = {name: _clean(attributes[name][0]) for name in _ATTRIBUTES if name in attributes}
        for name in _CONTACTS:
            if name in attributes and (member not in rows or name not in rows[member]):
                picked[name] = attributes[name][0]
        if any(picked.values()):
            rows.setdefault(member, {}).update(picked)
    members = sorted(rows)
    return pa.table(
        {
            "member_id": pa.array(members, pa.string()),
            **{
                column: pa.array([rows[m].get(column) for m in members], pa.string())
                for column in COLUMNS[1:]
            },
        }
    )


def _clean(value: object) -> str | None:
    """Names compare case- and space-insensitively.

    >>> _clean("  Mary  Ann "), _clean(""), _clean(None)
    ('mary ann', None, None)
    """
    if value is None:
        return None
    cleaned = " ".join(str(value).split()).lower()
    return cleaned or None
