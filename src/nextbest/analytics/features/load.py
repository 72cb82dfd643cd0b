"""Feature snapshots from the configured store: the entry point the commands use."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pyarrow as pa
from sqlalchemy import Engine

from nextbest.analytics.features import inputs
from nextbest.analytics.features.duckdb_run import DuckDBFeatures
from nextbest.analytics.features.spec import Snapshot
from nextbest.config import Settings
from nextbest.ledger.repository import active_program
from nextbest.store.engine import make_engine


def open_features(settings: Settings, engine: Engine | None = None) -> DuckDBFeatures:
    """The store's event history, merge map, attributes and ledger, loaded into DuckDB."""
    engine = engine or make_engine(settings)
    return DuckDBFeatures(
        events=settings.event_history_dir,
        member_map=inputs.member_map(engine),
        members=inputs.member_attributes(engine),
        ledger=inputs.ledger_postings(engine),
    )


def spend_currency(engine: Engine) -> str | None:
    with engine.connect() as conn:
        program = active_program(conn)
    return program.points.spendable if program else None


def midnight(day: date | datetime) -> datetime:
    if isinstance(day, datetime):
        return day.astimezone(UTC) if day.tzinfo else day.replace(tzinfo=UTC)
    return datetime.combine(day, time(), tzinfo=UTC)


def load_member_features(
    settings: Settings, *, as_of: date | datetime, labels: bool = False
) -> pa.Table:
    """One row per member with any event before ``as_of`` (midnight UTC for a date)."""
    engine = make_engine(settings)
    features = open_features(settings, engine)
    try:
        snapshot = Snapshot(
            as_of=midnight(as_of), spend_currency=spend_currency(engine), labels=labels
        )
        snapshot = replace(snapshot, categories=features.categories(snapshot))
        return features.snapshot(snapshot)
    finally:
        features.close()
        engine.dispose()
