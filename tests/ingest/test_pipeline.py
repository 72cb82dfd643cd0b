"""The ingestion pipeline against real stores (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.events.flat import FLAT_COLUMNS, flatten
from nextbest.ingest.history import EventHistory
from nextbest.ingest.pipeline import Ingestor
from nextbest.ingest.readers import read_file
from nextbest.ingest.records import IngestReport, RawRecord
from nextbest.ingest.service import ingest_file
from nextbest.profiles.read import member_view
from nextbest.store import tables as t

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)


def ev(event_id: str, kind: str, hours: float, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "event_id": event_id,
        "occurred_at": (T0 + timedelta(hours=hours)).isoformat(),
        "source": fields.pop("source", "app"),
        **fields,
    }


def buy(event_id: str, hours: float, total: float, **ids: str) -> dict[str, Any]:
    return ev(
        event_id,
        "purchase",
        hours,
        source="pos",
        identifiers=ids,
        order_id=f"o-{event_id}",
        lines=[{"sku": "latte", "category": "coffee", "quantity": 1, "unit_price": total}],
        total=total,
    )


def story() -> list[dict[str, Any]]:
    """One person seen through three sources, linked late by a signup; one guest."""
    return [
        buy("p1", 0, 4.0, pos_card="card-1"),
        ev("a1", "app_open", 1, identifiers={"device_id": "dev-1"}),
        buy("p2", 2, 6.0, email="Ann@Example.com"),
        ev(
            "s1",
            "signup",
            3,
            identifiers={"pos_card": "card-1", "email": "ann@example.com", "device_id": "dev-1"},
            first_name="Ann",
            consents=[{"channel": "email", "purpose": "marketing", "granted": True}],
        ),
        ev(
            "t1",
            "service_ticket_opened",
            4,
            identifiers={"device_id": "dev-1"},
            ticket_id="T1",
            topic="app crash",
        ),
        buy("g1", 5, 3.0),  # guest: no identifiers
        ev(
            "u1",
            "profile_update",
            6,
            identifiers={"email": "ann@example.com"},
            consents=[{"channel": "email", "purpose": "marketing", "granted": False}],
        ),
    ]


def records(rows: list[dict[str, Any]]) -> list[RawRecord]:
    return [RawRecord(f"line {i + 1}", r, orjson.dumps(r).decode()) for i, r in enumerate(rows)]


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in (
                ("events", t.events),
                ("members", t.members),
                ("identifiers", t.identifiers),
                ("merges", t.member_merges),
                ("profiles", t.profiles),
                ("dead", t.dead_letters),
            )
        }


@pytest.mark.parametrize("chunk", [1, 3, 100])
def test_story_resolves_to_one_member_whatever_the_chunking(
    engine: Engine, settings: Settings, chunk: int
) -> None:
    settings.ingest_chunk_size = chunk
    report = Ingestor(engine, settings).ingest_records(records(story()), origin="test")
    assert (report.accepted, report.rejected, report.anonymous) == (7, 0, 1)
    view = member_view(engine, "pos_card:CARD-1")
    assert {i["key"] for i in view["identifiers"]} == {
        "pos_card:CARD-1",
        "email:ann@example.com",
        "device_id:DEV-1",
    }
    assert member_view(engine, "ann@example.com")["member_id"] == view["member_id"]
    profile = view["profile"]
    assert profile["purchase_count"] == 2
    assert profile["spend"] == 10.0
    assert profile["average_order_value"] == 5.0
    assert profile["open_tickets"] == ["T1"]
    assert profile["consent"] == {"email/marketing": False}  # the later statement wins
    assert profile["first_name"] == "Ann"
    assert profile["event_count"] == 6
    c = counts(engine)
    assert (c["events"], c["members"] - c["merges"], c["profiles"]) == (7, 1, 1)
    if chunk == 1:  # arriving one by one, three members were born and merged by s1
        assert [m["event_id"] for m in view["merged_from"]] == ["s1", "s1"]


def test_reingesting_is_a_no_op(engine: Engine, settings: Settings) -> None:
    ingestor = Ingestor(engine, settings)
    ingestor.ingest_records(records(story()), origin="test")
    before = counts(engine)
    view = member_view(engine, "device_id:dev-1")
    again = ingestor.ingest_records(records(story()), origin="test")
    assert (again.accepted, again.duplicates) == (0, 7)
    assert counts(engine) == before
    assert member_view(engine, "device_id:dev-1") == view


def test_bad_records_are_dead_lettered_and_good_ones_kept(
    engine: Engine, settings: Settings
) -> None:
    rows = [
        *story()[:2],
        {"type": "purchase", "event_id": "bad1", "occurred_at": T0.isoformat(), "source": "pos"},
        ev("future", "app_open", 24 * 3650),
        ev("x", "levitate", 1),
    ]
    recs = [*records(rows), RawRecord("line 6", None, "{oops", ("(record)", "bad JSON"))]
    ingestor = Ingestor(engine, settings, clock=lambda: datetime(2026, 6, 1, tzinfo=UTC))
    report = ingestor.ingest_records(recs, origin="file:x.jsonl")
    assert (report.accepted, report.rejected) == (2, 4)
    got = {(r.location, r.field) for r in report.rejections}
    assert got == {
        ("line 3", "order_id"),
        ("line 4", "occurred_at"),
        ("line 5", "type"),
        ("line 6", "(record)"),
    }
    ingestor.ingest_records(recs, origin="file:x.jsonl")
    c = counts(engine)
    assert (c["events"], c["dead"]) == (2, 4)


def test_files_in_every_format_ingest_the_same(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    import csv

    import pyarrow as pa

    rows = story()
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    flat = [{c: flatten(r).get(c) for c in FLAT_COLUMNS} for r in rows]
    with (tmp_path / "e.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FLAT_COLUMNS)
        w.writeheader()
        w.writerows([{k: ("" if v is None else v) for k, v in r.items()} for r in flat])
    pq.write_table(
        pa.table({c: [None if r[c] is None else str(r[c]) for r in flat] for c in FLAT_COLUMNS}),
        tmp_path / "e.parquet",
    )
    for name in ("e.jsonl", "e.csv", "e.parquet"):
        decoded = [r.data for r in read_file(tmp_path / name)]
        assert len(decoded) == len(rows), name
    first = ingest_file(engine, settings, tmp_path / "e.csv")
    assert first.accepted == 7
    for name in ("e.jsonl", "e.parquet"):
        assert ingest_file(engine, settings, tmp_path / name).duplicates == 7
    history = EventHistory(settings.event_history_dir)
    table = pq.read_table(history.files())
    assert table.num_rows == 7
    assert sorted(table.column("event_id").to_pylist()) == sorted(r["event_id"] for r in rows)


def test_profiles_do_not_depend_on_arrival_order(engine: Engine, settings: Settings) -> None:
    rows = story()
    random.Random(5).shuffle(rows)
    settings.ingest_chunk_size = 2
    Ingestor(engine, settings).ingest_records(records(rows), origin="test")
    profile = member_view(engine, "email:ann@example.com")["profile"]
    assert profile["consent"] == {"email/marketing": False}
    assert (profile["purchase_count"], profile["spend"], profile["event_count"]) == (2, 10.0, 6)


def test_shared_device_is_flagged_in_the_store_and_stops_linking(
    engine: Engine, settings: Settings
) -> None:
    ingestor = Ingestor(engine, settings)
    ingestor.ingest_records(
        records([ev("s1", "app_open", 0, identifiers={"device_id": "tab", "loyalty_id": "L1"})]),
        origin="test",
    )
    report = ingestor.ingest_records(
        records([ev("s2", "app_open", 1, identifiers={"device_id": "tab", "loyalty_id": "L2"})]),
        origin="test",
    )
    assert (report.merges, report.members_created) == (0, 1)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(t.identifiers.c.anchors, t.identifiers.c.shared_at).where(
                t.identifiers.c.key == "device_id:TAB"
            )
        ).one()
    assert row.anchors == "loyalty_id:L1"
    assert row.shared_at is not None
    assert (
        member_view(engine, "loyalty_id:L1")["member_id"]
        != member_view(engine, "loyalty_id:L2")["member_id"]
    )


def test_simulated_csv_ingests_without_rejections(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """CSV cells are text: the schema version "1" must still read as the number 1."""
    from nextbest.sim import SimConfig, simulate_to_dir

    simulate_to_dir(SimConfig(members=30, months=1, seed=3), tmp_path / "sim", "csv")
    report = IngestReport()
    for part in sorted((tmp_path / "sim" / "events").glob("*.csv")):
        report.add(ingest_file(engine, settings, part))
    assert report.accepted > 0
    assert report.rejected == 0
