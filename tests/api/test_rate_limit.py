"""Per-key token buckets: deterministic, on an injected clock (never a timed test)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.api.app import create_app
from nextbest.api.keys_store import create_key
from nextbest.api.ratelimit import TokenBuckets
from nextbest.config import Settings
from tests.api.api_support import auth


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_admits_burst_then_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") == 0.0  # another key has its own bucket
    clock.now += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 60  # refills to the burst, never beyond
    assert [buckets.take("a") for _ in range(4)][-1] == pytest.approx(0.5)


def test_zero_rate_admits_everything() -> None:
    buckets = TokenBuckets(rate=0, burst=1, clock=Clock())
    assert all(buckets.take("a") == 0.0 for _ in range(1000))


def test_burst_must_be_positive() -> None:
    with pytest.raises(ValueError, match="burst"):
        TokenBuckets(rate=1, burst=0)


def test_api_answers_429_with_retry_after_per_key(settings: Settings, engine: Engine) -> None:
    limited = settings.model_copy(update={"api_rate_per_second": 0.5, "api_rate_burst": 2})
    app = create_app(limited, engine=engine)
    clock = Clock()
    app.state.rate_limiter = TokenBuckets(rate=0.5, burst=2, clock=clock)
    _a, token_a = create_key(engine, name="a", roles="analyst")
    _b, token_b = create_key(engine, name="b", roles="analyst")
    _c, token_c = create_key(engine, name="c", roles="ingest")
    url = "/v1/members/email:nobody@example.com"
    with TestClient(app) as client:
        assert [client.get(url, headers=auth(token_a)).status_code for _ in range(2)] == [404, 404]
        over = client.get(url, headers=auth(token_a))
        assert over.status_code == 429, over.text
        assert over.headers["Retry-After"] == "2"
        assert over.json()["type"].endswith(":rate-limited")
        assert over.headers["content-type"].startswith("application/problem+json")
        assert "rate limit" in over.json()["detail"]
        # Another key is not slowed by the first; a refused key spends no tokens.
        assert client.get(url, headers=auth(token_b)).status_code == 404
        for _ in range(5):
            assert client.get(url, headers=auth(token_c)).status_code == 403
        assert client.post("/v1/events", content=b"{", headers=auth(token_c)).status_code == 400
        clock.now += 2.0
        assert client.get(url, headers=auth(token_a)).status_code == 404
        assert client.get(url, headers=auth(token_a)).status_code == 429


def test_settings_build_the_limiter(settings: Settings, engine: Engine) -> None:
    app = create_app(
        settings.model_copy(update={"api_rate_per_second": 7.0, "api_rate_burst": 9}),
        engine=engine,
    )
    buckets: TokenBuckets = app.state.rate_limiter
    assert (buckets.rate, buckets.burst) == (7.0, 9)
