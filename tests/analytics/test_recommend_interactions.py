"""The interactions adapter on a tiny simulated history: simulator output and event history."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from nextbest.analytics.interactions import (
    read_history,
    read_interactions,
    read_simulation,
)
from nextbest.config import Settings
from nextbest.ingest.service import ingest_file
from nextbest.sim import SimConfig, simulate_to_dir
from nextbest.sim.catalogue import CATEGORIES, build_catalogue
from nextbest.store.engine import make_engine, upgrade

CONFIG = SimConfig(members=300, months=2, seed=3, start=date(2025, 1, 1))


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate_to_dir(CONFIG, out, "parquet")
    return out


@pytest.fixture(scope="module")
def history(sim: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("store")
    settings = Settings(data_dir=data, database_url=None, redis_url=None, ingest_workers=0)
    engine = make_engine(settings)
    upgrade(engine)
    for part in sorted((sim / "events").glob("events-*.parquet")):
        assert ingest_file(engine, settings, part).rejected == 0
    engine.dispose()
    return settings.event_history_dir


def _quantity(lines_json: list[str]) -> Counter[str]:
    """SKU -> total quantity, parsed in Python from each purchase's lines."""
    out: Counter[str] = Counter()
    for text in lines_json:
        for line in orjson.loads(text):
            out[line["sku"]] += int(line["quantity"])
    return out


def test_simulation_lines_and_true_persons(sim: Path) -> None:
    x = read_simulation(sim)
    events = pq.read_table(sim / "events")
    purchases = events.filter(pc.equal(events["type"], "purchase"))
    expected = _quantity(purchases["lines"].to_pylist())
    got: Counter[str] = Counter()
    for item, weight in zip(x.item.tolist(), x.weight.tolist(), strict=True):
        got[item] += int(weight)
    assert got == expected
    persons = set(pq.read_table(sim / "truth" / "persons.parquet")["person_id"].to_pylist())
    assert set(x.members()) <= persons
    assert set(x.item.tolist()) <= set(build_catalogue().skus)
    assert (x.at[1:] >= x.at[:-1]).all()  # ordered by time
    start = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    assert x.at.min() >= start - 86_400


def test_category_level_maps_skus(sim: Path) -> None:
    sku, cat = read_simulation(sim), read_simulation(sim, level="category")
    assert cat.weight.sum() == sku.weight.sum()
    assert set(cat.item.tolist()) <= set(CATEGORIES)
    catalogue = build_catalogue()
    category_of = {
        s: CATEGORIES[int(c)] for s, c in zip(catalogue.skus, catalogue.categories, strict=True)
    }
    by_cat: Counter[str] = Counter()
    for item, weight in zip(sku.item.tolist(), sku.weight.tolist(), strict=True):
        by_cat[category_of[item]] += weight
    got: Counter[str] = Counter()
    for item, weight in zip(cat.item.tolist(), cat.weight.tolist(), strict=True):
        got[item] += weight
    assert got == by_cat


def test_end_is_exclusive_and_pushed_down(sim: Path) -> None:
    end = datetime(2025, 2, 1, tzinfo=UTC)
    before = read_simulation(sim, end=end)
    assert len(before) > 0
    assert int(before.at.max()) < end.timestamp()
    assert len(before) == len(read_simulation(sim).window(end=int(end.timestamp())))
    with pytest.raises(ValueError, match="timezone-aware"):
        read_simulation(sim, end=datetime(2025, 2, 1))


def test_history_has_resolved_members_and_every_line(history: Path) -> None:
    x = read_history(history)
    table = pq.read_table(history)
    purchases = table.filter(pc.equal(table["type"], "purchase"))
    resolved = purchases.filter(pc.is_valid(purchases["member_id"]))
    payloads = [orjson.loads(p) for p in resolved["payload"].to_pylist()]
    expected = _quantity([orjson.dumps(p["lines"]).decode() for p in payloads])
    assert resolved.num_rows > 0
    assert x.weight.sum() == sum(expected.values())
    assert set(x.members()) == set(resolved["member_id"].to_pylist())
    # auto-detection: a history directory is read as a history
    assert len(read_interactions(history)) == len(x)


def test_history_deduplicates_events_seen_in_two_files(history: Path, tmp_path: Path) -> None:
    copy = tmp_path / "events"
    shutil.copytree(history, copy)
    for f in sorted(copy.glob("events-*.parquet")):
        shutil.copy(f, f.with_name(f.stem + "-again.parquet"))
    assert read_history(copy).weight.sum() == read_history(history).weight.sum()


def test_simulation_is_detected(sim: Path) -> None:
    assert len(read_interactions(sim)) == len(read_simulation(sim))


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no event history files"):
        read_history(tmp_path)
    with pytest.raises(ValueError, match="level must be one of sku, category"):
        read_simulation(tmp_path, level="brand")  # type: ignore[arg-type]
