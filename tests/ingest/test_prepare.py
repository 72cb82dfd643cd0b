from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

from nextbest.ingest.prepare import prepare
from nextbest.ingest.records import RawRecord
from tests.ingest.test_pipeline import records, story


def test_prepared_batch_survives_pickling_between_processes() -> None:
    batch = prepare(
        [*records(story()), RawRecord("line 9", None, "{", ("(record)", "bad JSON"))],
        now=datetime(2026, 6, 1, tzinfo=UTC),
        tolerance=timedelta(minutes=5),
        units=123,
    )
    batch.seconds = 1.5
    again = pickle.loads(pickle.dumps(batch))
    assert again.events == batch.events
    assert len(again.events) == 7
    assert (again.rejections, again.units, again.seconds) == (batch.rejections, 123, 1.5)


def test_empty_batch_pickles() -> None:
    batch = prepare([], now=datetime(2026, 6, 1, tzinfo=UTC), tolerance=timedelta(minutes=5))
    assert pickle.loads(pickle.dumps(batch)).events == []
