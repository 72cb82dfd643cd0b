"""Events arriving over HTTP reach the Parquet history; compaction merges small files."""

from __future__ import annotations

import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.api.app import create_app
from nextbest.config import Settings
from nextbest.ingest.history import EventHistory
from tests.api.api_support import auth, purchase


def test_http_events_reach_history_once_buffer_flushes(
    engine: Engine, keys: dict[str, str], settings: Settings
) -> None:
    history = EventHistory(settings.event_history_dir)
    with TestClient(create_app(settings, engine=engine)) as client:
        for start in (0, 3, 6):
            batch = [purchase(n, pos_card=f"c{n % 2}") for n in range(start, start + 3)]
            response = client.post("/v1/events", json=batch, headers=auth(keys["ingest"]))
            assert response.status_code == 200, response.text
        client.post("/v1/events", json=[purchase(0, pos_card="c0")], headers=auth(keys["ingest"]))
        assert history.files() == []  # small requests are buffered
    files = history.files()  # shutdown flushed the buffer into one file
    assert len(files) == 1
    ids = pq.read_table(files[0]).column("event_id").to_pylist()
    assert sorted(ids) == sorted(f"p-{n}" for n in range(9))  # the re-sent one only once


def test_compaction_merges_small_files_and_keeps_every_event(
    engine: Engine, keys: dict[str, str], settings: Settings
) -> None:
    history = EventHistory(settings.event_history_dir)
    for start in (0, 3, 6):
        with TestClient(create_app(settings, engine=engine)) as client:
            batch = [purchase(n, pos_card="c1") for n in range(start, start + 3)]
            client.post("/v1/events", json=batch, headers=auth(keys["ingest"]))
    assert len(history.files()) == 3
    assert history.compact(small_rows=10) == (3, 9)
    (only,) = history.files()
    assert pq.read_table(only).num_rows == 9
