"""Events arriving over HTTP reach the Parquet history; compaction merges the small files."""

from __future__ import annotations

import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from nextbest.config import Settings
from nextbest.ingest.history import EventHistory
from tests.api.api_support import auth, purchase


def test_http_events_reach_history_and_compaction_keeps_every_event(
    client: TestClient, keys: dict[str, str], settings: Settings
) -> None:
    for start in (0, 3, 6):
        batch = [purchase(n, pos_card=f"c{n % 2}") for n in range(start, start + 3)]
        response = client.post("/v1/events", json=batch, headers=auth(keys["ingest"]))
        assert response.status_code == 200, response.text
    client.post("/v1/events", json=[purchase(0, pos_card="c0")], headers=auth(keys["ingest"]))
    history = EventHistory(settings.event_history_dir)
    assert len(history.files()) == 3  # the re-sent duplicate wrote nothing
    assert history.compact(small_rows=10) == (3, 9)
    files = history.files()
    assert len(files) == 1
    ids = pq.read_table(files[0]).column("event_id").to_pylist()
    assert sorted(ids) == sorted(f"p-{n}" for n in range(9))
