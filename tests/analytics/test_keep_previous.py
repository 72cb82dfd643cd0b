"""A scoring run keeps the run before's RFM segments (for segment migration)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from nextbest.analytics import registry
from nextbest.store import tables as t
from nextbest.store.engine import write_transaction

AT = datetime(2025, 1, 1, tzinfo=UTC)


def _row(member: str, label: str) -> tuple[object, ...]:
    return (member, "rfm", 111.0, label, "rfm-1", AT, AT, None)


def test_keep_previous_copies_the_latest_run_and_replaces_an_older_copy(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        registry.write_scores(conn, [_row("m_a", "loyal"), _row("m_b", "lost")])
        registry.keep_previous(conn, "rfm", "rfm_previous")
        registry.write_scores(conn, [_row("m_a", "champions"), _row("m_b", "lost")])
        registry.keep_previous(conn, "rfm", "rfm_previous")  # the second run's copy wins
        registry.write_scores(conn, [_row("m_a", "at risk")])
    s = t.member_scores
    with engine.connect() as conn:
        got = dict(
            conn.execute(select(s.c.member_id, s.c.label).where(s.c.name == "rfm_previous")).all()
        )
        now = dict(conn.execute(select(s.c.member_id, s.c.label).where(s.c.name == "rfm")).all())
    assert got == {"m_a": "champions", "m_b": "lost"}
    assert now == {"m_a": "at risk", "m_b": "lost"}
