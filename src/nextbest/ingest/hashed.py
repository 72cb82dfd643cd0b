"""Ingestion in hashed-identifier mode: what a batch stores instead of raw identifiers.

Each prepared event's keys become their hashes (resolution then works on hashed keys only)
and its stored payload carries the hashed keys instead of the ``identifiers`` object, so
neither the events table nor the Parquet history holds a raw identifier. The email and phone
needed to send are taken out first, to be kept in the member's profile: the one place a
contact point lives in this mode, deleted by erasure with the profile.
"""

from __future__ import annotations

import orjson

from nextbest.identity.hashing import CONTACT_KINDS, KeyHasher, hashed_payload, keep_contacts
from nextbest.ingest.prepare import PreparedBatch, PreparedEvent

__all__ = ["Contacts", "hash_batch", "keep_contacts"]

Contacts = dict[str, tuple[tuple[str, str], ...]]  # event id -> ((kind, value), ...)


def hash_batch(prepared: PreparedBatch, hasher: KeyHasher) -> tuple[PreparedBatch, Contacts]:
    """The batch with hashed keys and payloads, and the contact points its events carried."""
    contacts: Contacts = {}
    events: list[PreparedEvent] = []
    for event in prepared.events:
        found = tuple(
            (kind, value)
            for kind, _, value in (key.partition(":") for key in event.keys)
            if kind in CONTACT_KINDS
        )
        if found:
            contacts[event.event_id] = found
        keys = hasher.keys(event.keys)
        payload = orjson.dumps(hashed_payload(orjson.loads(event.payload), keys)).decode()
        events.append(event._replace(keys=keys, payload=payload))
    out = PreparedBatch(
        events=events,
        rejections=prepared.rejections,
        duplicates=prepared.duplicates,
        units=prepared.units,
        seconds=prepared.seconds,
    )
    return out, contacts
