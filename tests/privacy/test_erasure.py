"""DELETE /v1/members/{identifier}: nothing that names the person is left, in any table or
file, while the ledger's totals stay and other members are untouched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.api.app import create_app
from nextbest.api.keys_store import create_key
from nextbest.config import Settings
from nextbest.journeys.definition import parse_journey
from nextbest.journeys.runner import JourneyRunner
from nextbest.ledger.service import Ledger
from nextbest.store import tables as t
from tests.channels.support import NOW
from tests.journeys.test_runner import JOURNEY, Clock
from tests.ledger.support import apply_program
from tests.privacy.support import ERASED, KEPT, Person, build_member


@pytest.fixture
def open_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_require_keys": False})


@pytest.fixture
def client(open_settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(open_settings, engine=engine)) as test_client:
        yield test_client


def enter_journey(engine: Engine) -> None:
    """Both members enter the welcome journey and take its first steps."""
    clock = Clock(NOW + timedelta(minutes=1))
    runner = JourneyRunner(
        engine, [parse_journey(JOURNEY)], ledger=Ledger(engine, clock=clock), clock=clock
    )
    runner.apply()
    assert runner.poll_events().entered == 2
    assert runner.run_due().steps >= 2


def table_texts(engine: Engine) -> dict[str, list[str]]:
    """Every text value of every table, by table name."""
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            cols = [c for c in table.columns if isinstance(c.type, sa.String)]
            if not cols:
                continue
            rows = conn.execute(sa.select(*cols)).all()
            out[table.name] = [str(v) for row in rows for v in row if v is not None]
    return out


def file_texts(root: Path) -> dict[str, str]:
    """Every file under ``root`` as text (Parquet read into its values, the SQLite database
    and its log as bytes: deleted rows must not linger in free pages)."""
    out: dict[str, str] = {}
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            out[str(path)] = orjson.dumps(pq.read_table(path).to_pylist(), default=str).decode()
        else:
            out[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    return out


def naming(texts: dict[str, list[str]] | dict[str, str], person: Person) -> list[str]:
    found = []
    for where, values in texts.items():
        blob = (values if isinstance(values, str) else "\n".join(values)).lower()
        found += [f"{where}: {n}" for n in person.needles() if n.lower() in blob]
    return found


def ledger_sums(engine: Engine) -> tuple[dict[str, int], dict[str, int], int]:
    with engine.connect() as conn:
        balances = dict(
            conn.execute(
                sa.select(
                    t.ledger_accounts.c.currency, sa.func.sum(t.ledger_accounts.c.balance)
                ).group_by(t.ledger_accounts.c.currency)
            ).all()
        )
        postings = dict(
            conn.execute(
                sa.select(
                    t.ledger_postings.c.currency,
                    sa.func.sum(sa.func.abs(t.ledger_postings.c.amount)),
                ).group_by(t.ledger_postings.c.currency)
            ).all()
        )
        entries = conn.execute(
            sa.select(sa.func.count()).select_from(t.ledger_entries)
        ).scalar_one()
    return balances, postings, entries


def kept_in_files(root: Path) -> dict[str, int]:
    """Lines (rows) naming the other member, per data file (the database aside)."""
    return {
        k: v.lower().count(KEPT.email)
        for k, v in file_texts(root).items()
        if "nextbest.db" not in k and KEPT.email in v.lower()
    }


def member_rows(engine: Engine, member: str) -> dict[str, int]:
    counted = {}
    with engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            if "member_id" in table.c:
                counted[table.name] = conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(table.c.member_id == member)
                ).scalar_one()
    return counted


def test_erasure_leaves_nothing_naming_the_member(
    client: TestClient, engine: Engine, open_settings: Settings
) -> None:
    apply_program(engine)
    erased = build_member(engine, open_settings, ERASED)
    kept = build_member(engine, open_settings, KEPT)
    enter_journey(engine)
    data_dir = open_settings.data_dir
    # The set-up really spread the person everywhere the test then looks.
    before = naming(table_texts(engine), erased)
    for table in ("events", "identifiers", "profiles", "decisions", "deliveries", "journey_"):
        assert any(f.startswith(table) for f in before), (table, before)
    assert any("dead_letters" in f for f in before)
    assert any("direct_mail" in f for f in naming(file_texts(data_dir), erased))
    assert any(".parquet" in f for f in naming(file_texts(data_dir), erased))
    with engine.connect() as conn:
        points = conn.execute(
            sa.select(sa.func.sum(t.ledger_accounts.c.balance)).where(
                t.ledger_accounts.c.member_id == erased.member_id
            )
        ).scalar_one()
    assert points > 0  # purchases earned under the demo program
    sums = ledger_sums(engine)
    kept_rows = member_rows(engine, kept.member_id)
    kept_files = kept_in_files(data_dir)

    got = client.delete(f"/v1/members/loyalty_id:{ERASED.loyalty_id}")
    assert got.status_code == 200, got.text
    report = got.json()
    assert report["anonymous_id"].startswith("erased_")
    assert report["actor"] == "anonymous"
    counts = report["counts"]
    assert counts["events"] >= 5 and counts["identifiers"] == 4 and counts["members"] == 1
    assert counts["direct_mail_rows"] == 1 and counts["event_history_rows"] >= 5
    assert counts["dead_letters"] == 1 and counts["decisions"] == 1
    assert counts["deliveries"] == 3 and counts["inbox_messages"] == 1
    assert counts["journey_instances"] == 1 and counts["journey_steps"] >= 1

    assert naming(table_texts(engine), erased) == []
    assert naming(file_texts(data_dir), erased) == []
    assert ledger_sums(engine) == sums
    with engine.connect() as conn:
        anon = conn.execute(
            sa.select(sa.func.sum(t.ledger_accounts.c.balance)).where(
                t.ledger_accounts.c.member_id == report["anonymous_id"]
            )
        ).scalar_one()
        reasons = set(
            conn.execute(
                sa.select(t.ledger_entries.c.reason).where(
                    t.ledger_entries.c.member_id == report["anonymous_id"]
                )
            ).scalars()
        )
        (row,) = conn.execute(sa.select(t.erasures)).all()
    assert anon == points and reasons == {"erased"}
    assert row.erasure_id == report["erasure_id"] and orjson.loads(row.counts) == counts
    # The other member lost nothing.
    assert member_rows(engine, kept.member_id) == kept_rows
    assert kept_in_files(data_dir) == kept_files
    assert client.get(f"/v1/members/{KEPT.email}").status_code == 200

    for identifier in (f"loyalty_id:{ERASED.loyalty_id}", erased.member_id, ERASED.email):
        again = client.delete(f"/v1/members/{identifier}")
        assert again.status_code == 404, again.text
        assert "already erased" in again.json()["detail"]
    assert client.get(f"/v1/members/{erased.member_id}").status_code == 404


def test_erasure_needs_an_admin_key(engine: Engine, settings: Settings) -> None:
    _key, token = create_key(engine, name="app", scopes="read")
    with TestClient(create_app(settings, engine=engine)) as c:
        path = "/v1/members/loyalty_id:NOBODY1"
        assert c.delete(path).status_code == 401
        assert c.delete(path, headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_erasure_takes_the_members_merged_into_it(
    client: TestClient, engine: Engine, open_settings: Settings
) -> None:
    apply_program(engine)
    base = {"occurred_at": "2026-01-05T10:00:00+00:00", "source": "app"}
    rows = [
        {**base, "type": "signup", "event_id": "mg-1", "identifiers": {"loyalty_id": "MERGE01"}},
        {**base, "type": "app_open", "event_id": "mg-2", "identifiers": {"device_id": "DEVMG02"}},
        {
            **base,
            "type": "app_open",
            "event_id": "mg-3",
            "identifiers": {"loyalty_id": "MERGE01", "device_id": "DEVMG02"},
        },
    ]
    from nextbest.ingest.pipeline import Ingestor
    from tests.ingest.test_pipeline import records

    ingestor = Ingestor(engine, open_settings)
    merges = sum(ingestor.ingest_records(records([r]), origin="test").merges for r in rows)
    assert merges == 1
    with engine.connect() as conn:
        before = conn.execute(sa.select(t.members.c.member_id)).scalars().all()
    assert len(before) == 2

    got = client.delete("/v1/members/device_id:DEVMG02")
    assert got.status_code == 200, got.text
    assert got.json()["counts"]["members_in_group"] == 2
    assert got.json()["counts"]["member_merges"] == 1
    texts = table_texts(engine)
    for member in before:
        assert naming(texts, Person("MERGE01", "", "", "DEVMG02", "", "", member)) == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.members)).scalar_one() == 0
    for member in before:
        assert client.delete(f"/v1/members/{member}").status_code == 404
