"""Raw event files audited before ingestion, with the same validator ingestion runs.

Each record goes through ``prepare`` (decode, ``check_event``, normalise identifiers);
refusals are kept with their field and reason, accepted events become an Arrow table in
the event-history layout, and the pure identity graph resolves them in memory, so every
measure of a stored audit applies to files too. Nothing is written anywhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from nextbest.audit.coverage import GraphFacts
from nextbest.identity.graph import resolve
from nextbest.ingest.history import SCHEMA, EventHistory
from nextbest.ingest.prepare import PreparedEvent, prepare
from nextbest.ingest.readers import chunks_of, decode, detect_format


@dataclass(frozen=True, slots=True)
class ReadFiles:
    table: pa.Table  # accepted events, first copy of each event_id, history layout
    rows: int  # accepted records, re-sent copies included
    resent: int  # records whose event_id was already read
    refusals: list[tuple[str, str, int]]  # (field, reason, count)
    graph: GraphFacts
    keys_of: dict[str, list[str]]  # member -> identifier keys


def read_files(
    paths: Sequence[Path], *, now: datetime, tolerance: timedelta, region: str
) -> ReadFiles:
    events: dict[str, PreparedEvent] = {}
    refused: Counter[tuple[str, str]] = Counter()
    rows = resent = 0
    for path in paths:
        for chunk in chunks_of(path, detect_format(path)):
            batch = prepare(decode(chunk), now=now, tolerance=tolerance, region=region)
            refused.update((r.field, r.reason) for r in batch.rejections)
            rows += len(batch.events) + batch.duplicates
            resent += batch.duplicates
            for event in batch.events:
                if event.event_id in events:
                    resent += 1
                else:
                    events[event.event_id] = event
    fresh = list(events.values())
    res = resolve(fresh, known={}, first_seen={})
    keys_of: dict[str, list[str]] = {}
    for ident in res.new_identifiers:
        keys_of.setdefault(ident.member_id, []).append(ident.key)
    return ReadFiles(
        table=_table(fresh, res.event_member),
        rows=rows,
        resent=resent,
        refusals=[(f, r, n) for (f, r), n in refused.items()],
        graph=_facts(keys_of),
        keys_of=keys_of,
    )


def _facts(keys_of: dict[str, list[str]]) -> GraphFacts:
    kinds: Counter[str] = Counter()
    for keys in keys_of.values():
        kinds.update(_kinds(keys))
    return GraphFacts(
        members=len(keys_of),
        kind_members=dict(kinds),
        per_member=dict(Counter(len(keys) for keys in keys_of.values())),
        reachable=sum(1 for keys in keys_of.values() if {"email", "phone"} & _kinds(keys)),
    )


def _kinds(keys: list[str]) -> set[str]:
    return {key.split(":", 1)[0] for key in keys}


def _table(events: list[PreparedEvent], member_of: dict[str, str | None]) -> pa.Table:
    """The history layout; nothing was received yet, so ``received_at`` is null."""
    table = EventHistory._table(events, member_of=member_of, received_at=datetime.now(UTC))
    column = SCHEMA.get_field_index("received_at")
    return table.set_column(
        column, SCHEMA.field(column), pa.nulls(len(events), SCHEMA.field(column).type)
    )
