"""A fresh app per test on each database, with one key per legacy scope (roles: test_roles)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.api.app import create_app
from nextbest.api.keys_store import create_key
from nextbest.config import Settings


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


@pytest.fixture
def keys(engine: Engine) -> dict[str, str]:
    """A token per legacy scope set: ``ingest``, ``read``, ``admin``, ``both``."""
    tokens = {}
    for name, scopes in [
        ("ingest", "ingest"),
        ("read", "read"),
        ("admin", "admin"),
        ("both", "ingest,read"),
    ]:
        _key, tokens[name] = create_key(engine, name=name, scopes=scopes)
    return tokens
