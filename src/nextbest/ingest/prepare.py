"""The CPU-heavy half of ingestion: decode, validate and reduce records to plain tuples.

It needs no database, so ``prepare`` runs in worker processes for files (one chunk each)
and inline for HTTP and stream batches. What it returns pickles cheaply: no pydantic
objects cross a process boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson

from nextbest.events import Rejection, check_event
from nextbest.events.types import Purchase
from nextbest.events.validate import event_id_of
from nextbest.ingest.records import RawRecord
from nextbest.ledger.from_events import LedgerFact, ledger_fact_of
from nextbest.profiles.state import Facts, facts_of
from nextbest.store.bulk import utc_text


class PreparedEvent(NamedTuple):
    event_id: str
    type: str
    schema_version: int
    at: float  # occurred_at as epoch seconds (cheaper to send between processes)
    occurred_text: str  # occurred_at as the stores' timestamp text (UTC)
    source: str
    keys: tuple[str, ...]  # normalised identifier keys
    payload: str  # the record as received (JSON)
    facts: Facts
    order_id: str | None
    total: float | None
    ledger: LedgerFact | None  # what moves points (purchases, returns, redemptions)


@dataclass(slots=True)
class PreparedBatch:
    events: list[PreparedEvent] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    duplicates: int = 0  # repeated event_id inside the batch
    units: int = 0  # progress units this batch stands for (bytes or rows)
    seconds: float = 0.0  # time spent preparing, wherever it ran

    # Sent column by column between processes: pickling tens of thousands of small
    # named tuples one by one cost more than rebuilding them on arrival.
    def __getstate__(self) -> dict[str, Any]:
        columns = [list(column) for column in zip(*self.events, strict=True)]
        return {
            "columns": columns,
            "rejections": self.rejections,
            "duplicates": self.duplicates,
            "units": self.units,
            "seconds": self.seconds,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.events = [PreparedEvent(*row) for row in zip(*state["columns"], strict=True)]
        self.rejections = state["rejections"]
        self.duplicates = state["duplicates"]
        self.units = state["units"]
        self.seconds = state["seconds"]


def prepare(
    records: list[RawRecord],
    *,
    now: datetime,
    tolerance: timedelta,
    region: str = "US",
    units: int = 0,
) -> PreparedBatch:
    out = PreparedBatch(units=units)
    seen: set[str] = set()
    for rec in records:
        if rec.error is not None or rec.data is None:
            field_name, reason = rec.error or ("(record)", "no data")
            out.rejections.append(Rejection(rec.location, field_name, reason, rec.raw, None))
            continue
        result = check_event(rec.data, now=now, future_tolerance=tolerance, region=region)
        if isinstance(result, tuple):
            raw = rec.raw or orjson.dumps(rec.data, default=str).decode()
            out.rejections.append(
                Rejection(rec.location, result[0], result[1], raw, event_id_of(rec.data))
            )
            continue
        if result.event_id in seen:
            out.duplicates += 1
            continue
        seen.add(result.event_id)
        purchase = result if isinstance(result, Purchase) else None
        facts = facts_of(result)
        at = facts[1]
        out.events.append(
            PreparedEvent(
                result.event_id,
                result.type,
                result.schema_version,
                at,
                utc_text(result.occurred_at),
                result.source.value,
                tuple(result.identifiers.keys()),
                orjson.dumps(rec.data, default=str).decode(),
                facts,
                purchase.order_id if purchase else None,
                purchase.total if purchase else None,
                ledger_fact_of(result),
            )
        )
    return out
