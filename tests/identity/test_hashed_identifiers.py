"""Identifiers stored hashed (``identity_hash_key``): the graph, the events and the event
history hold no raw identifier, resolution groups events exactly as in plain mode, and every
lookup by a raw identifier still finds the member."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy import Engine

from nextbest.channels.recipients import address, event_identifiers, recipient
from nextbest.config import Settings
from nextbest.errors import NotFound
from nextbest.identity.hashing import is_hashed, key_hasher
from nextbest.ingest.history import EventHistory
from nextbest.ingest.pipeline import Ingestor
from nextbest.members.erasure import erase_member
from nextbest.members.merge import Evidence, merge_members
from nextbest.members.records import linking_records
from nextbest.members.unmerge import unmerge
from nextbest.profiles.read import member_view, resolve_member
from nextbest.store import tables as t
from nextbest.store.engine import graph_transaction, make_engine, upgrade
from tests.ingest.test_pipeline import T0, buy, ev, records

KEY = SecretStr("test-secret-one")
NOW = T0 + timedelta(days=1)
ANN_EMAIL = "ann.hashcase@example.com"
BOB_EMAIL = "bob.hashcase@example.com"
# Every raw identifier the events carry, as given and as normalised.
NEEDLES = (
    ANN_EMAIL,
    BOB_EMAIL,
    "dan.hashcase@example.com",
    "(415) 555-0134",
    "+14155550134",
    "415-555-0199",
    "+14155550199",
    "card-ann-1",
    "card-bob-2",
    "card-cy-3",
    "dev-ann-1",
    "dev-shared-9",
    "loy-ann-1",
    "loy-dan-4",
)


def events() -> list[dict[str, Any]]:
    """Four people and a guest: late links (merges), a shared family tablet, a bad record."""
    return [
        buy("p1", 0, 4.0, pos_card="card-ann-1"),
        ev("a1", "app_open", 1, identifiers={"device_id": "dev-ann-1"}),
        buy("p2", 2, 6.0, email="Ann.Hashcase@Example.com", phone="(415) 555-0134"),
        ev(
            "s1",
            "signup",
            3,
            identifiers={
                "pos_card": "card-ann-1",
                "email": ANN_EMAIL,
                "device_id": "dev-ann-1",
                "loyalty_id": "loy-ann-1",
            },
            first_name="Ann",
            consents=[{"channel": "email", "purpose": "marketing", "granted": True}],
        ),
        buy("b1", 4, 5.0, email=BOB_EMAIL, phone="415-555-0199"),
        buy("b2", 5, 7.0, phone="+14155550199", pos_card="card-bob-2"),
        buy("c1", 6, 2.0, pos_card="card-cy-3"),
        ev(
            "f1",
            "app_open",
            7,
            identifiers={"device_id": "dev-shared-9", "loyalty_id": "loy-ann-1"},
        ),
        ev(
            "f2",
            "app_open",
            8,
            identifiers={
                "device_id": "dev-shared-9",
                "loyalty_id": "loy-dan-4",
                "email": "dan.hashcase@example.com",
            },
        ),
        ev("f3", "app_open", 9, identifiers={"device_id": "dev-shared-9"}),
        buy("g1", 10, 3.0),  # guest: no identifiers
        {**buy("bad", 11, 9.0, email=BOB_EMAIL), "total": 99.0},  # refused: dead letter
    ]


def hashed(settings: Settings, key: SecretStr = KEY) -> Settings:
    return settings.model_copy(update={"identity_hash_key": key})


def ingest(engine: Engine, settings: Settings) -> None:
    """In chunks of three: later chunks link members earlier ones created (merges)."""
    history = EventHistory(settings.event_history_dir)
    chunked = settings.model_copy(update={"ingest_chunk_size": 3})
    report = Ingestor(engine, chunked, clock=lambda: NOW, history=history).ingest_records(
        records(events()), origin="test"
    )
    history.flush()
    assert (report.accepted, report.rejected) == (11, 1), report


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Any]:
    """Makes further empty SQLite databases: reference runs beside the ``engine`` under test."""
    made: list[Engine] = []

    def make(name: str) -> tuple[Engine, Settings]:
        settings = Settings(data_dir=tmp_path / name, database_url=None, redis_url=None)
        eng = make_engine(settings)
        upgrade(eng)
        made.append(eng)
        return eng, settings

    yield make
    for eng in made:
        eng.dispose()


def groups(engine: Engine) -> set[frozenset[str]]:
    """The partition of events by their current member (the guest's event aside)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                t.events.c.event_id,
                sa.func.coalesce(t.members.c.merged_into, t.members.c.member_id),
            ).join(t.members, t.members.c.member_id == t.events.c.member_id)
        ).all()
    by_member: dict[str, set[str]] = {}
    for event_id, member in rows:
        by_member.setdefault(member, set()).add(event_id)
    return {frozenset(v) for v in by_member.values()}


def shape(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:

        def count(table: sa.Table, *where: Any) -> int:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar()
                or 0
            )

        return {
            "members": count(t.members, t.members.c.merged_into.is_(None)),
            "merged": count(t.members, t.members.c.merged_into.is_not(None)),
            "merges": count(t.member_merges),
            "identifiers": count(t.identifiers),
            "shared": count(t.identifiers, t.identifiers.c.shared_at.is_not(None)),
            "kinds": sorted(conn.execute(sa.select(t.identifiers.c.kind)).scalars()),
        }


def texts(engine: Engine, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every text value of every table (but ``skip``), lower-cased, by table."""
    out: dict[str, str] = {}
    with engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            cols = [c for c in table.columns if isinstance(c.type, sa.String)]
            if not cols or table.name in skip:
                continue
            rows = conn.execute(sa.select(*cols)).all()
            out[table.name] = "\n".join(str(v) for r in rows for v in r if v is not None).lower()
    return out


def history_text(settings: Settings) -> str:
    files = sorted(settings.event_history_dir.glob("*.parquet"))
    assert files
    return orjson.dumps([pq.read_table(f).to_pylist() for f in files], default=str).decode()


def raw_found(blobs: dict[str, str]) -> list[str]:
    return [f"{where}: {n}" for where, blob in blobs.items() for n in NEEDLES if n.lower() in blob]


def test_hashed_mode_stores_no_raw_identifier_and_groups_as_plain(
    engine: Engine, settings: Settings, fresh: Any
) -> None:
    plain_engine, plain_settings = fresh("plain")
    ingest(plain_engine, plain_settings)
    on = hashed(settings)
    ingest(engine, on)

    # Resolution: the same members, merges, shared keys and grouping of events.
    assert shape(engine) == shape(plain_engine)
    assert groups(engine) == groups(plain_engine)
    assert len(groups(engine)) >= 4 and shape(engine)["merges"] >= 2
    assert shape(engine)["shared"] == 1  # the family tablet stopped linking

    with engine.connect() as conn:
        keys = list(conn.execute(sa.select(t.identifiers.c.key, t.identifiers.c.kind)))
        anchors = [a for a in conn.execute(sa.select(t.identifiers.c.anchors)).scalars() if a]
        dead = conn.execute(sa.select(t.dead_letters.c.raw)).scalars().one()
    assert keys and all(is_hashed(k) and k.startswith(f"{kind}:h:") for k, kind in keys)
    assert anchors and all(is_hashed(a) for text in anchors for a in text.split(" "))
    # The plain run does hold them (so the scan below can fail).
    assert raw_found(texts(plain_engine)) and NEEDLES[0] in history_text(plain_settings)
    # No table (profiles and dead letters aside, see below) and no history file holds one.
    assert raw_found(texts(engine, skip=("profiles", "dead_letters"))) == []
    assert raw_found({"history": history_text(on).lower()}) == []
    # The profile keeps only the contact points needed to send: email and phone.
    in_profiles = raw_found({"profiles": texts(engine)["profiles"]})
    assert sorted(in_profiles) == sorted(
        f"profiles: {n}"
        for n in (ANN_EMAIL, BOB_EMAIL, "dan.hashcase@example.com", "+14155550134", "+14155550199")
    )
    # A refused record is kept as received, for repair (erasure matches it by its hashes).
    assert BOB_EMAIL in dead


def test_lookups_by_raw_identifier_find_the_member(engine: Engine, settings: Settings) -> None:
    on = hashed(settings)
    ingest(engine, on)
    hasher = key_hasher(KEY)
    view = member_view(engine, "  ANN.Hashcase@example.com ", hasher=hasher)
    assert {i["key"].split(":h:")[0] for i in view["identifiers"]} >= {"email", "pos_card"}
    assert view["profile"]["email"] == ANN_EMAIL
    assert view["profile"]["phone"] == "+14155550134"
    with engine.connect() as conn:
        member = view["member_id"]
        for given in ("phone:(415) 555-0134", "pos_card:CARD-ANN-1", "loyalty_id:loy-ann-1"):
            assert resolve_member(conn, given, hasher=hasher) == member
        stored = view["identifiers"][0]["key"]
        assert resolve_member(conn, stored, hasher=hasher) == member  # the hashed key itself
        with pytest.raises(NotFound):  # without the key, a raw identifier matches nothing
            resolve_member(conn, ANN_EMAIL)
        with pytest.raises(NotFound):
            resolve_member(conn, ANN_EMAIL, hasher=key_hasher("another secret"))
        # Sending: addresses come from the profile, not from the hashed keys.
        rec = recipient(conn, member, now=NOW)
        assert address(rec, "email") == ANN_EMAIL and address(rec, "sms") == "+14155550134"
        outcome_ids = event_identifiers(rec.keys)
    # An outcome event names the member by a hashed key it can carry; it resolves back.
    assert outcome_ids is not None and set(outcome_ids) == {"loyalty_id"}
    back = ev("o1", "app_open", 20, identifiers=outcome_ids)
    report = Ingestor(engine, on, clock=lambda: NOW).ingest_records(records([back]), origin="t")
    assert (report.accepted, report.members_created) == (1, 0)
    with engine.connect() as conn:
        got = conn.execute(sa.select(t.events.c.member_id).where(t.events.c.event_id == "o1"))
        assert got.scalar_one() == member
        # Probabilistic linking still compares raw email and phone, from the profile.
        table = linking_records(conn).to_pylist()
    ann = next(r for r in table if r["member_id"] == member)
    assert (ann["email"], ann["phone"], ann["first_name"]) == (ANN_EMAIL, "+14155550134", "ann")


def test_another_key_stores_other_values(engine: Engine, settings: Settings, fresh: Any) -> None:
    ingest(engine, hashed(settings))
    other_engine, other_settings = fresh("other")
    ingest(other_engine, hashed(other_settings, SecretStr("test-secret-two")))

    def stored(eng: Engine) -> set[str]:
        with eng.connect() as conn:
            return set(conn.execute(sa.select(t.identifiers.c.key)).scalars())

    one, two = stored(engine), stored(other_engine)
    assert len(one) == len(two) and one.isdisjoint(two)
    assert sorted(k.split(":h:")[0] for k in one) == sorted(k.split(":h:")[0] for k in two)
    assert groups(engine) == groups(other_engine)


def test_erasure_in_hashed_mode_finds_the_person_everywhere(
    engine: Engine, settings: Settings
) -> None:
    on = hashed(settings)
    ingest(engine, on)
    report = erase_member(
        engine, BOB_EMAIL, data_dir=on.data_dir, actor="test", settings=on, now=NOW
    )
    counts = report.counts
    assert counts["identifiers"] == 3 and counts["events"] == 2
    assert counts["dead_letters"] == 1  # matched by hashing the raw record's identifiers
    bob = [n for n in NEEDLES if "bob" in n or "0199" in n]
    blobs = texts(engine) | {"history": history_text(on).lower()}
    assert [f for f in raw_found(blobs) if any(b.lower() in f for b in bob)] == []
    assert "backups" in report.unreachable
    with engine.connect() as conn, pytest.raises(NotFound):
        resolve_member(conn, BOB_EMAIL, hasher=key_hasher(KEY))


def test_unmerge_works_on_hashed_keys(engine: Engine, settings: Settings) -> None:
    """Unmerge re-resolves the group's events from the hashed keys their payloads keep."""
    on = hashed(settings)
    ingest(engine, on)
    before = groups(engine)
    hasher = key_hasher(KEY)
    with graph_transaction(engine) as conn:
        ann = resolve_member(conn, ANN_EMAIL, hasher=hasher)
        cy = resolve_member(conn, "pos_card:card-cy-3", hasher=hasher)
        _, merged = merge_members(
            conn, ann, cy, kind="manual", evidence=Evidence(reason="test"), actor="t", now=NOW
        )
    assert groups(engine) != before
    report = unmerge(engine, on, member_id=merged, actor="t", reason="not the same person")
    assert report.identifiers_moved >= 1
    assert groups(engine) == before
    # The contact points stay with the member whose events stated them.
    assert member_view(engine, ANN_EMAIL, hasher=hasher)["profile"]["email"] == ANN_EMAIL
    assert "email" not in member_view(engine, cy, hasher=hasher)["profile"]
