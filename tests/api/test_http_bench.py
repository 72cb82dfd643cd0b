"""The HTTP benchmark runs end to end (uvicorn subprocesses); no assertion on timings."""

from __future__ import annotations

from pathlib import Path

import pytest

from nextbest.bench.http import run_http_bench, sample_events
from nextbest.events import check_event


def test_sample_events_are_valid() -> None:
    from datetime import UTC, datetime, timedelta

    for event in sample_events(200, members=20):
        result = check_event(event, now=datetime.now(UTC), future_tolerance=timedelta(0))
        assert not isinstance(result, tuple), result


@pytest.mark.slow
def test_bench_runs_and_every_event_is_accepted(tmp_path: Path) -> None:
    figures = run_http_bench(events=300, batch=50, single=20, clients=2, work_dir=tmp_path)
    for target in ("sqlite", "peer_sqlite_raw"):
        assert figures[target]["batch"]["accepted"] == 300
        assert figures[target]["batch"]["failed_requests"] == 0
        assert figures[target]["single"]["accepted"] == 20
        assert figures[target]["batch"]["events_per_second"] > 0
    assert set(figures["ratios"]) == {"batch_ours_over_peer", "single_ours_over_peer"}
