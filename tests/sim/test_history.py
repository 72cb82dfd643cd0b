"""Batch history: determinism, validity of every row, identifiers, truth coverage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from nextbest.events import check_event
from nextbest.events.flat import unflatten
from nextbest.events.identifiers import normalize_phone
from nextbest.events.types import EVENT_TYPES
from nextbest.sim import SimConfig, simulate_to_dir

CONFIG = SimConfig(members=600, months=2, seed=3, start=date(2025, 1, 1))
NOW = datetime(2025, 3, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate_to_dir(CONFIG, out, "parquet")
    return out


def test_same_seed_same_bytes(run: Path, tmp_path: Path) -> None:
    simulate_to_dir(CONFIG, tmp_path, "parquet")
    for rel in ("events/events-00000.parquet", "truth/records.parquet", "truth/persons.parquet"):
        assert (run / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_every_row_validates(run: Path) -> None:
    table = pq.read_table(run / "events" / "events-00000.parquet")
    seen = set()
    for row in table.to_pylist():
        result = check_event(unflatten(row), now=NOW, future_tolerance=timedelta(0))
        assert not isinstance(result, tuple), (row, result)
        seen.add(row["type"])
    assert seen >= set(EVENT_TYPES) - {"message_unsubscribed", "offer_redeemed"}
    ts = table["occurred_at"].to_pylist()
    assert ts == sorted(ts)
    assert len(set(table["event_id"].to_pylist())) == table.num_rows


def test_truth_covers_every_event(run: Path) -> None:
    events = pq.read_table(run / "events" / "events-00000.parquet")
    records = pq.read_table(run / "truth" / "records.parquet")
    assert records["event_id"].to_pylist() == events["event_id"].to_pylist()
    persons = pq.read_table(run / "truth" / "persons.parquet")
    assert persons.num_rows == CONFIG.members
    assert set(records["person_id"].to_pylist()) <= set(persons["person_id"].to_pylist())
    kinds = set(persons["incentive_type"].to_pylist())
    assert kinds == {"persuadable", "sure_thing", "lost_cause", "sleeping_dog"}


def test_identifier_mess_is_present(run: Path) -> None:
    events = pq.read_table(run / "events" / "events-00000.parquet")
    purchases = events.filter(pc.equal(events["type"], "purchase"))
    ident_cols = [c for c in events.column_names if c.startswith("identifiers.")]
    guest = sum(
        all(purchases[c][i].as_py() is None for c in ident_cols) for i in range(purchases.num_rows)
    )
    assert 0.03 < guest / purchases.num_rows < 0.5
    phones = [p for p in events["identifiers.phone"].to_pylist() if p]
    assert any(p.startswith("(") for p in phones) and any("." in p for p in phones)
    for p in phones[:300]:
        normalize_phone(p)
    persons = pq.read_table(run / "truth" / "persons.parquet")
    typos = set(persons["email_typo"].drop_null().to_pylist())
    assert typos & set(events["identifiers.email"].drop_null().to_pylist())
    assert persons["pos_card2"].drop_null().length() > 0


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_other_formats(tmp_path: Path, fmt: str) -> None:
    summary = simulate_to_dir(SimConfig(members=80, months=1, seed=2), tmp_path, fmt)
    assert summary.events > 0
    assert summary.event_files[0].suffix == f".{fmt}"
    if fmt == "jsonl":
        import orjson

        for line in summary.event_files[0].read_bytes().splitlines():
            result = check_event(orjson.loads(line), now=NOW, future_tolerance=timedelta(0))
            assert not isinstance(result, tuple), result
