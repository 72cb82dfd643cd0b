"""Erasure of one member's personal data across every store (right to be forgotten).

Everything that names the person goes: identifiers, the identity graph and review queue,
members (and those merged into it), profile, events, dead letters holding their raw records,
scores, decisions and outcomes, deliveries, inbox, journeys, contact counters, the ledger's
outbox messages and the audit rows about them, and their rows in the files under
``data_dir`` (direct-mail batches, the Parquet event history). The points ledger stays, as
finance needs its totals: accounts, entries, postings, lots and tiers are re-keyed to an
anonymous id (``erased_<hex>``, random, so it cannot be recomputed from the member id), with
reason texts dropped and every reference that named the person replaced by a salted hash.

With Redis configured, the member's contact-budget counters and the event-stream entries
naming them go too (``erasure_stores``). With identifiers stored hashed the identifier given
is hashed to find the member, and records kept as received (dead letters, stream entries)
are matched by hashing the identifiers they carry. What stays out of reach (copies held by
delivery providers, backups, trained artefacts found to name the member) is listed in the
report's ``unreachable``, with the reason.

The database work is one transaction (holding the identity-graph lock); the files are
rewritten and Redis cleared inside it, so a failure rolls everything back and the erasure
can be retried. The erasure itself is recorded in ``erasures`` with per-store counts, never
identifiers.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Table, delete, insert, or_, select, update

from nextbest.config import Settings
from nextbest.errors import NotFound
from nextbest.identity.hashing import HASHED_KEYS_FIELD, KeyHasher, key_hasher
from nextbest.members.erasure_stores import (
    BUDGET_PREFIX,
    RecordMatcher,
    erase_redis,
    models_naming,
    unreachable,
)
from nextbest.profiles.read import resolve_member
from nextbest.store import tables as t
from nextbest.store.engine import graph_transaction

ERASED = "erased"
MIN_TOKEN = 6  # shorter strings (order "o1", token "D1") would match unrelated text


@dataclass(frozen=True, slots=True)
class ErasureReport:
    erasure_id: str
    anonymous_id: str
    erased_at: datetime
    actor: str
    counts: dict[str, int]
    # store -> why it could not be erased from here
    unreachable: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure_id,
            "anonymous_id": self.anonymous_id,
            "erased_at": self.erased_at.isoformat(),
            "actor": self.actor,
            "counts": dict(self.counts),
            "unreachable": dict(self.unreachable),
        }


class Scrubber:
    """Replaces every personal token in a text: member ids by the anonymous id, the rest
    (identifiers, event and order ids) by a hash salted with the erasure id. Names are not
    tokens: too common to find a person by, they go with the rows keyed by member id.

    >>> s = Scrubber(salt="x", anonymous_id="erased_1", member_ids={"m_a"}, tokens={"L12345"})
    >>> s.text("member:m_a:pts")
    'member:erased_1:pts'
    >>> s.names("card l12345")
    True
    >>> s.text("earn:L12345-p1") == "earn:" + s.hashed("L12345") + "-p1"
    True
    """

    def __init__(
        self, *, salt: str, anonymous_id: str, member_ids: Iterable[str], tokens: Iterable[str]
    ) -> None:
        self.salt = salt
        self.anonymous_id = anonymous_id
        self.member_ids = set(member_ids)
        found = {x for x in tokens if len(x) >= MIN_TOKEN} | self.member_ids
        # Longest first, so a token inside another (an id inside a key) is not split.
        self.tokens = sorted(found, key=len, reverse=True)

    def hashed(self, token: str) -> str:
        digest = hashlib.sha256(f"{self.salt}:{token}".encode()).hexdigest()[:16]
        return f"{ERASED}_{digest}"

    def names(self, text: str | None) -> bool:
        if not text:
            return False
        low = text.lower()
        return any(tok.lower() in low for tok in self.tokens)

    def text(self, text: str) -> str:
        for tok in self.tokens:
            if tok in text:
                text = text.replace(
                    tok, self.anonymous_id if tok in self.member_ids else self.hashed(tok)
                )
        return text

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


PERSONAL_FIELDS = ("identifiers", "order_id", HASHED_KEYS_FIELD)
# Profile attributes that hold contact points (kept there when identifiers are hashed).
CONTACT_ATTRIBUTES = ("email", "phone")


def _group(conn: Connection, member: str) -> list[str]:
    """The member and every member merged into it (merges keep chains one hop long)."""
    folded = conn.execute(
        select(t.members.c.member_id).where(t.members.c.merged_into == member)
    ).scalars()
    return [member, *sorted(folded)]


def _tokens(conn: Connection, group: list[str]) -> tuple[set[str], set[str]]:
    """(event ids, personal tokens) of the group: identifier keys and values, event ids, and
    from the events' payloads the identifiers and order ids."""
    tokens: set[str] = set()
    for key in conn.execute(
        select(t.identifiers.c.key).where(t.identifiers.c.member_id.in_(group))
    ).scalars():
        tokens.add(key)
        tokens.add(key.split(":", 1)[-1])
    for (state,) in conn.execute(
        select(t.profiles.c.state).where(t.profiles.c.member_id.in_(group))
    ):
        attributes = orjson.loads(state).get("attributes") or {}
        for name in CONTACT_ATTRIBUTES:
            if isinstance(attributes.get(name), list) and isinstance(attributes[name][0], str):
                tokens.add(attributes[name][0])
    event_ids: set[str] = set()
    for event_id, payload in conn.execute(
        select(t.events.c.event_id, t.events.c.payload).where(t.events.c.member_id.in_(group))
    ):
        event_ids.add(event_id)
        data = orjson.loads(payload)
        if isinstance(data, dict):
            for name in PERSONAL_FIELDS:
                tokens.update(_strings(data.get(name)))
    return event_ids, tokens | event_ids


def _delete(conn: Connection, table: Table, *where: Any) -> int:
    return conn.execute(delete(table).where(or_(*where))).rowcount or 0


def _delete_naming(
    conn: Connection,
    table: Table,
    key: str,
    columns: list[str],
    s: Scrubber,
    names: Callable[[str | None], bool] | None = None,
) -> int:
    """Delete the rows whose text columns name the person (a scan: these tables are small)."""
    pk = table.c[key]
    names = names or s.names
    doomed = [
        row[0]
        for row in conn.execute(select(pk, *(table.c[c] for c in columns)))
        if any(names(v) for v in row[1:])
    ]
    for chunk in _chunks(doomed):
        conn.execute(delete(table).where(pk.in_(chunk)))
    return len(doomed)


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _erase_personal(
    conn: Connection, group: list[str], event_ids: set[str], s: Scrubber, matcher: RecordMatcher
) -> dict[str, int]:
    counts: dict[str, int] = {}
    events = sorted(event_ids)
    decision_ids = list(
        conn.execute(
            select(t.decisions.c.decision_id).where(t.decisions.c.member_id.in_(group))
        ).scalars()
    )
    instance_ids = list(
        conn.execute(
            select(t.journey_instances.c.instance_id).where(
                t.journey_instances.c.member_id.in_(group)
            )
        ).scalars()
    )
    outcomes = 0
    for chunk in _chunks(decision_ids):
        outcomes += _delete(conn, t.decision_outcomes, t.decision_outcomes.c.decision_id.in_(chunk))
    for chunk in _chunks(events):
        outcomes += _delete(conn, t.decision_outcomes, t.decision_outcomes.c.event_id.in_(chunk))
    counts["decision_outcomes"] = outcomes
    counts["decisions"] = _delete(conn, t.decisions, t.decisions.c.member_id.in_(group))
    steps = 0
    for chunk in _chunks(instance_ids):
        steps += _delete(conn, t.journey_steps, t.journey_steps.c.instance_id.in_(chunk))
    counts["journey_steps"] = steps
    counts["journey_instances"] = _delete(
        conn, t.journey_instances, t.journey_instances.c.member_id.in_(group)
    )
    counts["deliveries"] = _delete(conn, t.deliveries, t.deliveries.c.member_id.in_(group))
    counts["inbox_messages"] = _delete(
        conn, t.inbox_messages, t.inbox_messages.c.member_id.in_(group)
    )
    counts["member_scores"] = _delete(conn, t.member_scores, t.member_scores.c.member_id.in_(group))
    counts["contact_counters"] = _delete(
        conn, t.contact_counters, *(t.contact_counters.c.key.like(f"m:{m}:%") for m in group)
    )
    counts["outbox"] = _delete(conn, t.outbox, t.outbox.c.member_id.in_(group)) + _delete_naming(
        conn, t.outbox, "message_id", ["payload"], s
    )
    counts["audit_log"] = _delete(
        conn, t.audit_log, t.audit_log.c.subject.in_(group)
    ) + _delete_naming(conn, t.audit_log, "audit_id", ["subject", "detail"], s)
    counts["link_candidates"] = _delete(
        conn,
        t.link_candidates,
        t.link_candidates.c.left_member.in_(group),
        t.link_candidates.c.right_member.in_(group),
    )
    counts["member_merges"] = _delete(
        conn,
        t.member_merges,
        t.member_merges.c.survivor_id.in_(group),
        t.member_merges.c.merged_id.in_(group),
    )
    counts["identifiers"] = _delete(conn, t.identifiers, t.identifiers.c.member_id.in_(group))
    counts["profiles"] = _delete(conn, t.profiles, t.profiles.c.member_id.in_(group))
    counts["events"] = _delete(conn, t.events, t.events.c.member_id.in_(group))
    counts["dead_letters"] = _delete_naming(
        conn, t.dead_letters, "dead_letter_id", ["raw", "reason", "event_id", "origin"], s, matcher
    )
    counts["members"] = _delete(conn, t.members, t.members.c.member_id.in_(group))
    return counts


def _rekey_ledger(conn: Connection, group: list[str], s: Scrubber) -> dict[str, int]:
    """Keep the ledger's sums, under the anonymous id and without personal references."""
    anon = s.anonymous_id
    acc = t.ledger_accounts
    accounts = conn.execute(select(acc).where(acc.c.member_id.in_(group))).all()
    merged: dict[str, dict[str, Any]] = {}
    for row in accounts:  # merged members' accounts fold into one per currency
        cur = merged.setdefault(
            row.currency,
            {
                "member_id": anon,
                "currency": row.currency,
                "balance": 0,
                "last_activity_at": None,
                "updated_at": row.updated_at,
            },
        )
        cur["balance"] += row.balance
        if row.last_activity_at is not None and (
            cur["last_activity_at"] is None or row.last_activity_at > cur["last_activity_at"]
        ):
            cur["last_activity_at"] = row.last_activity_at
        cur["updated_at"] = max(cur["updated_at"], row.updated_at)
    conn.execute(delete(acc).where(acc.c.member_id.in_(group)))
    if merged:
        conn.execute(insert(acc), list(merged.values()))

    e = t.ledger_entries
    entries = conn.execute(
        select(e.c.entry_id, e.c.idempotency_key, e.c.reference, e.c.detail).where(
            e.c.member_id.in_(group)
        )
    ).all()
    for row in entries:
        conn.execute(
            update(e)
            .where(e.c.entry_id == row.entry_id)
            .values(
                member_id=anon,
                idempotency_key=s.text(row.idempotency_key),
                reference=s.optional(row.reference),
                reason=ERASED,
                detail=s.text(row.detail),
            )
        )
    entry_ids = [row.entry_id for row in entries]

    p = t.ledger_postings
    where = [p.c.member_id.in_(group), *(p.c.entry_id.in_(c) for c in _chunks(entry_ids))]
    postings = conn.execute(
        select(p.c.posting_id, p.c.member_id, p.c.account, p.c.lot_id).where(or_(*where))
    ).all()
    for row in postings:
        conn.execute(
            update(p)
            .where(p.c.posting_id == row.posting_id)
            .values(
                member_id=None if row.member_id is None else anon,
                account=s.text(row.account),
                lot_id=s.optional(row.lot_id),
            )
        )

    lots = t.ledger_lots
    lot_rows = conn.execute(
        select(lots.c.lot_id, lots.c.member_id, lots.c.origin_member_id).where(
            or_(lots.c.member_id.in_(group), lots.c.origin_member_id.in_(group))
        )
    ).all()
    for row in lot_rows:
        conn.execute(
            update(lots)
            .where(lots.c.lot_id == row.lot_id)
            .values(
                lot_id=s.text(row.lot_id),
                member_id=anon if row.member_id in s.member_ids else row.member_id,
                origin_member_id=anon
                if row.origin_member_id in s.member_ids
                else row.origin_member_id,
            )
        )

    tiers = t.ledger_tiers
    survivor = group[0]
    tier_count = _delete(conn, tiers, tiers.c.member_id.in_(group[1:])) if group[1:] else 0
    tier_count += (
        conn.execute(
            update(tiers).where(tiers.c.member_id == survivor).values(member_id=anon)
        ).rowcount
        or 0
    )
    return {
        "ledger_accounts": len(accounts),
        "ledger_entries": len(entries),
        "ledger_postings": len(postings),
        "ledger_lots": len(lot_rows),
        "ledger_tiers": tier_count,
    }


def _replace(path: Path, write: Callable[[Path], None]) -> None:
    partial = path.with_name(path.name + ".erasing")
    write(partial)
    os.replace(partial, path)


def _write_csv(target: Path, fields: list[str], rows: list[dict[str, str]]) -> None:
    with target.open("w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, fieldnames=fields)
        out.writeheader()
        out.writerows(rows)


def _erase_direct_mail(folder: Path, s: Scrubber) -> int:
    removed = 0
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
        kept = [
            r
            for r in rows
            if r.get("member_id") not in s.member_ids and not any(s.names(v) for v in r.values())
        ]
        if len(kept) == len(rows):
            continue
        removed += len(rows) - len(kept)

        _replace(path, functools.partial(_write_csv, fields=fields, rows=kept))
    return removed


def _erase_event_history(folder: Path, event_ids: set[str], s: Scrubber) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    removed = 0
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        table = pq.read_table(path)
        names = set(table.column_names)
        drop = pa.array([False] * table.num_rows)
        if "member_id" in names:
            drop = pc.or_(
                drop,
                pc.fill_null(
                    pc.is_in(table["member_id"], pa.array(sorted(s.member_ids), type=pa.string())),
                    False,
                ),
            )
        if "event_id" in names:
            ids = pa.array(sorted(event_ids), type=pa.string())
            drop = pc.or_(drop, pc.fill_null(pc.is_in(table["event_id"], ids), False))
        if "payload" in names:
            naming = [s.names(v) for v in table["payload"].to_pylist()]
            drop = pc.or_(drop, pa.array(naming))
        gone = pc.sum(drop).as_py() or 0
        if not gone:
            continue
        removed += gone
        kept = table.filter(pc.invert(drop))
        if kept.num_rows == 0:
            path.unlink()
            continue
        _replace(path, functools.partial(_write_parquet, kept))
    return removed


def _write_parquet(table: Any, target: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, target, compression="zstd")


@dataclass(frozen=True, slots=True)
class _Where:
    """Where the member's data lives beyond the database tables."""

    data_dir: Path
    history_dir: Path
    region: str
    hasher: KeyHasher | None
    redis_url: str | None
    redis_prefix: str
    stream: str | None


def _erase(
    conn: Connection, identifier: str, *, salt: str, anonymous_id: str, where: _Where
) -> tuple[dict[str, int], dict[str, str]]:
    try:
        member = resolve_member(conn, identifier, region=where.region, hasher=where.hasher)
    except NotFound:
        raise NotFound(
            f"no member with identifier {identifier!r} (never known, or already erased)"
        ) from None
    group = _group(conn, member)
    event_ids, tokens = _tokens(conn, group)
    scrub = Scrubber(salt=salt, anonymous_id=anonymous_id, member_ids=group, tokens=tokens)
    keys = set(
        conn.execute(
            select(t.identifiers.c.key).where(t.identifiers.c.member_id.in_(group))
        ).scalars()
    )
    matcher = RecordMatcher(scrub.names, hasher=where.hasher, keys=keys, region=where.region)
    counts = {"members_in_group": len(group)}
    counts |= _rekey_ledger(conn, group, scrub)
    counts |= _erase_personal(conn, group, event_ids, scrub, matcher)
    naming_models = models_naming(conn, scrub.names)
    counts["model_artefacts_naming"] = sum(len(v) for v in naming_models.values())
    # Files and Redis last, still inside the transaction: if one fails, nothing commits
    # and the erasure can run again (each step is idempotent).
    counts["direct_mail_rows"] = _erase_direct_mail(where.data_dir / "direct_mail", scrub)
    counts["event_history_rows"] = _erase_event_history(where.history_dir, event_ids, scrub)
    if where.redis_url is not None:
        import redis

        client = redis.Redis.from_url(where.redis_url)
        try:
            counts |= erase_redis(
                client, group, prefix=where.redis_prefix, stream=where.stream, names=matcher
            )
        finally:
            client.close()
    return counts, unreachable(counts, naming_models)


def erase_member(
    engine: Engine,
    identifier: str,
    *,
    data_dir: Path,
    history_dir: Path | None = None,
    actor: str,
    region: str = "US",
    now: datetime | None = None,
    settings: Settings | None = None,
    redis_prefix: str = BUDGET_PREFIX,
) -> ErasureReport:
    """Erase the member behind ``identifier``; raises NotFound (also when already erased).

    ``history_dir`` is the Parquet event history (default ``data_dir/events``); flush any
    buffered writer of it first. ``settings`` brings the stores configured beyond the
    database: Redis (``redis_url``: budget counters under ``redis_prefix``, the event
    stream) and hashed identifiers (``identity_hash_key``).
    """
    erased_at = now or datetime.now(UTC)
    erasure_id = f"er_{uuid.uuid4().hex}"
    anonymous_id = f"{ERASED}_{uuid.uuid4().hex[:16]}"
    where = _Where(
        data_dir=data_dir,
        history_dir=history_dir or data_dir / "events",
        region=region,
        hasher=key_hasher(settings.identity_hash_key) if settings else None,
        redis_url=settings.redis_url if settings else None,
        redis_prefix=redis_prefix,
        stream=settings.stream_name if settings else None,
    )
    sqlite = engine.dialect.name == "sqlite"
    with graph_transaction(engine) as conn:
        if sqlite:  # zero deleted content in the file instead of leaving it in free space
            conn.exec_driver_sql("PRAGMA secure_delete=ON")
        try:
            counts, out_of_reach = _erase(
                conn, identifier, salt=erasure_id, anonymous_id=anonymous_id, where=where
            )
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA secure_delete=OFF")
        conn.execute(
            insert(t.erasures).values(
                erasure_id=erasure_id,
                anonymous_id=anonymous_id,
                erased_at=erased_at,
                actor=actor,
                counts=orjson.dumps(counts, option=orjson.OPT_SORT_KEYS).decode(),
            )
        )
    if sqlite:  # old page images stay in the write-ahead log until it is truncated
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return ErasureReport(erasure_id, anonymous_id, erased_at, actor, counts, out_of_reach)
