"""Two ingestors writing at once (as two API workers would) lose and double nothing."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.ingest.pipeline import Ingestor
from nextbest.profiles.read import member_view
from tests.ingest.test_pipeline import buy, counts, records


def purchases(start: int, stop: int) -> list[dict[str, Any]]:
    # Both writers hit the same five members, so their profile updates race.
    return [buy(f"p{n}", n / 10, 1.0 + n % 3, pos_card=f"card-{n % 5}") for n in range(start, stop)]


def test_concurrent_writers_keep_every_purchase_once(engine: Engine, settings: Settings) -> None:
    settings.ingest_chunk_size = 7
    overlap = purchases(0, 60)  # both send these: each must count once
    batches = [overlap + purchases(60, 120), overlap + purchases(120, 180)]
    errors: list[BaseException] = []

    def run(rows: list[dict[str, Any]]) -> None:
        try:
            Ingestor(engine, settings).ingest_records(records(rows), origin="test")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(rows,)) for rows in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert counts(engine)["events"] == 180
    expected = {f"card-{m}": (0, 0.0) for m in range(5)}
    for n in range(180):
        count, spend = expected[f"card-{n % 5}"]
        expected[f"card-{n % 5}"] = (count + 1, spend + 1.0 + n % 3)
    for card, (count, spend) in expected.items():
        profile = member_view(engine, f"pos_card:{card}")["profile"]
        assert (profile["purchase_count"], profile["spend"]) == (count, spend)
