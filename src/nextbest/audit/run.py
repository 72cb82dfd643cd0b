"""The two audits: of the store (event history + identity graph) and of raw event files."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from nextbest.audit import coverage, fixes, measure, stored
from nextbest.audit.coverage import GraphFacts
from nextbest.audit.fields import FIELDS, FORMAT
from nextbest.audit.files import read_files
from nextbest.audit.model import AuditReport, Duplicates
from nextbest.config import Settings
from nextbest.errors import NotFound

WINDOW_DAYS = 90
FORMAT_REASONS = frozenset(c.reason for s in FIELDS for c in s.checks if c.severity == FORMAT)


def audit_store(
    engine: Engine,
    settings: Settings,
    *,
    as_of: datetime | None = None,
    window_days: int = WINDOW_DAYS,
    top: int = 10,
) -> AuditReport:
    """Audit what is stored: the Parquet event history and the identity graph.

    Re-sent event ids are not measurable here: ingestion keeps one copy of each.
    """
    started = time.perf_counter()
    history = sorted(settings.event_history_dir.glob("events-*.parquet"))
    if not history:
        raise NotFound(
            f"no event history in {settings.event_history_dir}; ingest files first, "
            "or audit the files themselves: nextbest audit FILE..."
        )
    relation = "read_parquet([" + ", ".join(_quote(p.as_posix()) for p in history) + "])"
    conn = measure.connect()
    rows, distinct = measure.one(conn, f"SELECT count(*), count(DISTINCT event_id) FROM {relation}")
    measure.load_events(
        conn,
        relation,
        merged=stored.merged_members(engine),
        dedupe=rows != distinct,  # files being compacted overlap briefly
    )
    return _assemble(
        conn,
        scope="store",
        inputs=(str(settings.event_history_dir), engine.url.render_as_string()),
        as_of=as_of or datetime.now(UTC),
        rows=int(rows),
        resent=None,
        refusal_rows=stored.dead_letter_counts(engine),
        graph=stored.graph_facts(engine),
        keys_of=lambda members: stored.member_keys(engine, members),
        started=started,
        window_days=window_days,
        top=top,
    )


def audit_files(
    paths: Sequence[Path],
    settings: Settings,
    *,
    as_of: datetime | None = None,
    window_days: int = WINDOW_DAYS,
    top: int = 10,
) -> AuditReport:
    """Audit raw event files (JSON Lines, CSV, Parquet) without ingesting them."""
    started = time.perf_counter()
    now = as_of or datetime.now(UTC)
    read = read_files(
        paths,
        now=now,
        tolerance=timedelta(seconds=settings.future_tolerance_seconds),
        region=settings.default_region,
    )
    conn = measure.connect()
    conn.register("raw_events", read.table)
    measure.load_events(conn, "raw_events", merged={}, dedupe=False)
    return _assemble(
        conn,
        scope="files",
        inputs=tuple(str(p) for p in paths),
        as_of=now,
        rows=read.rows,
        resent=read.resent,
        refusal_rows=read.refusals,
        graph=read.graph,
        keys_of=lambda members: {m: read.keys_of.get(m, []) for m in members},
        started=started,
        window_days=window_days,
        top=top,
    )


def _assemble(
    conn: measure.Conn,
    *,
    scope: str,
    inputs: tuple[str, ...],
    as_of: datetime,
    rows: int,
    resent: int | None,
    refusal_rows: list[tuple[str, str, int]],
    graph: GraphFacts,
    keys_of: Callable[[Collection[str]], dict[str, list[str]]],
    started: float,
    window_days: int,
    top: int,
) -> AuditReport:
    groups = measure.lookalike_groups(conn)
    orders, repeated, extra, double = measure.order_duplicates(conn)
    multi, stated = measure.member_sources(conn)
    looks = coverage.lookalikes(groups, keys_of({m for g in groups for m in g}))
    report = AuditReport(
        scope=scope,
        inputs=inputs,
        as_of=as_of,
        seconds=0.0,
        sources=tuple(measure.source_counts(conn)),
        fields=tuple(measure.field_quality(conn)),
        duplicates=Duplicates(
            rows=rows,
            resent_event_ids=resent,
            orders=orders,
            repeated_orders=repeated,
            extra_purchase_events=extra,
            double_counted_spend=double,
            lookalikes=looks,
        ),
        identity=coverage.coverage(graph, multi_source_members=multi, stated=stated),
        freshness=tuple(measure.freshness(conn, as_of=as_of, window_days=window_days)),
        refusals=coverage.refusals(refusal_rows),
        daily=tuple(measure.daily(conn)),
    )
    conn.close()
    return dataclasses.replace(
        report,
        fixes=fixes.rank(report, formats=FORMAT_REASONS, top=top),
        seconds=time.perf_counter() - started,
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
