"""The load generator against the bare decision peer: counts, errors and statuses add up."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from nextbest.bench.decide_peer import serve
from nextbest.bench.loadgen import run_load

BODIES = [orjson.dumps({"member_id": f"m{i}", "channel": "app"}) for i in range(10)]


@pytest.fixture(scope="module")
def peer() -> Iterator[str]:
    with serve("nextbest.bench.decide_peer:bare_app") as base:
        yield base


def test_load_against_bare_peer_has_no_errors(peer: str) -> None:
    result = run_load(
        peer, "/v1/decisions", BODIES, connections=8, workers=2, duration_s=1.0, warmup_s=0.2
    )
    assert result.requests > 0
    assert result.errors == 0
    assert result.non_2xx == 0
    assert 0 < result.p50_ms <= result.p90_ms <= result.p99_ms <= result.max_ms
    assert result.rps == pytest.approx(result.requests / result.seconds, rel=0.01)
    assert result.as_dict()["requests"] == result.requests


def test_unknown_path_counts_as_non_2xx(peer: str) -> None:
    result = run_load(peer, "/nope", BODIES, connections=2, duration_s=0.3, warmup_s=0.1)
    assert result.requests > 0
    assert result.errors == 0
    assert result.non_2xx == result.requests


def test_refused_connections_count_as_errors() -> None:
    from nextbest.bench.http import _free_port

    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    result = run_load(url, "/v1/decisions", BODIES, connections=1, duration_s=0.2, warmup_s=0)
    assert result.requests == 0
    assert result.errors > 0
