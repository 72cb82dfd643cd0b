"""Event-level measures as DuckDB queries over one table ``ev``.

``load_events`` builds ``ev`` from any relation in the event-history layout (the Parquet
history, or an Arrow table of validated raw records), extracting every audited payload
field in one JSON pass; the other functions are single aggregate queries over it, so
millions of events take seconds. Timestamps leave DuckDB as epoch seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from nextbest.audit.fields import FIELDS, PROFILE_ATTRIBUTES, FieldSpec, present_sql, type_filter
from nextbest.audit.model import OVERALL, FieldQuality, Freshness, SourceCounts

Conn = duckdb.DuckDBPyConnection


def connect() -> Conn:
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def one(conn: Conn, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
    """The single row of an aggregate query (DuckDB wants every result fetched to the end)."""
    rows = conn.execute(sql, params or []).fetchall()
    return tuple(rows[0])


def _column(index: int, spec: FieldSpec) -> str:
    return f"c{index}" if spec.json_path else spec.value


def load_events(conn: Conn, relation: str, *, merged: Mapping[str, str], dedupe: bool) -> None:
    """Create ``ev`` from ``relation``; ``member`` is the current member (after merges)."""
    paths = [s.json_path for s in FIELDS if s.json_path]
    conn.register(
        "merged_members",
        pa.table(
            {"member_id": list(merged), "survivor": list(merged.values())},
            schema=pa.schema([("member_id", pa.string()), ("survivor", pa.string())]),
        ),
    )
    extracted = ", ".join(
        f"x[{n + 1}] AS c{i}"
        for n, (i, _) in enumerate((i, s) for i, s in enumerate(FIELDS) if s.json_path)
    )
    distinct = "DISTINCT ON (event_id)" if dedupe else ""
    path_list = ", ".join(f"'{p}'" for p in paths)
    conn.execute(
        f"""
        CREATE OR REPLACE TABLE ev AS
        SELECT e.event_id, e.type, e.occurred_at, e.received_at, e.source, e.member_id,
               COALESCE(m.survivor, e.member_id) AS member, e.order_id, e.total, {extracted}
        FROM (
            SELECT {distinct} *, json_extract_string(payload, [{path_list}]) AS x
            FROM {relation}
        ) e
        LEFT JOIN merged_members m ON m.member_id = e.member_id
        """
    )
    conn.unregister("merged_members")


def source_counts(conn: Conn) -> list[SourceCounts]:
    rows = conn.execute(
        """
        SELECT source, GROUPING(source) AS whole,
               count(*),
               count(*) FILTER (WHERE member IS NULL),
               count(*) FILTER (WHERE type = 'purchase'),
               COALESCE(sum(total) FILTER (WHERE type = 'purchase'), 0),
               count(*) FILTER (WHERE type = 'purchase' AND member IS NULL),
               COALESCE(sum(total) FILTER (WHERE type = 'purchase' AND member IS NULL), 0)
        FROM ev GROUP BY GROUPING SETS ((source), ())
        """
    ).fetchall()
    types: dict[str, dict[str, int]] = {}
    for source, kind, count in _by_type(conn):
        types.setdefault(source, {})[kind] = count
    out = [
        SourceCounts(
            source=OVERALL if whole else source,
            events=events,
            by_type=types.get(OVERALL if whole else source, {}),
            unattributed_events=anon,
            purchases=purchases,
            spend=float(spend),
            unattributed_purchases=anon_purchases,
            unattributed_spend=float(anon_spend),
        )
        for source, whole, events, anon, purchases, spend, anon_purchases, anon_spend in rows
    ]
    return _overall_last(out, key=lambda s: (-s.events, s.source))


def _by_type(conn: Conn) -> list[tuple[str, str, int]]:
    rows = conn.execute(
        "SELECT CASE WHEN GROUPING(source) = 1 THEN ? ELSE source END, type, count(*) "
        "FROM ev GROUP BY GROUPING SETS ((source, type), (type)) ORDER BY 3 DESC, 2",
        [OVERALL],
    ).fetchall()
    return [(str(s), str(t), int(n)) for s, t, n in rows]


def _overall_last(rows: list[Any], *, key: Any) -> list[Any]:
    return sorted((r for r in rows if r.source != OVERALL), key=key) + [
        r for r in rows if r.source == OVERALL
    ]


def field_quality(conn: Conn) -> list[FieldQuality]:
    """Completeness and validity of every audited field, per source and overall."""
    aggregates: list[str] = []
    for i, spec in enumerate(FIELDS):
        value = _column(i, spec)
        scope = type_filter(spec)
        present = f"{scope} AND {present_sql(value)}"
        aggregates.append(f"count(*) FILTER (WHERE {scope})")
        aggregates.append(f"count(*) FILTER (WHERE {present})")
        bad = [check.bad.format(v=value) for check in spec.checks]
        if bad:
            aggregates.append(f"count(*) FILTER (WHERE {present} AND ({' OR '.join(bad)}))")
        aggregates.extend(f"count(*) FILTER (WHERE {present} AND {b})" for b in bad)
    rows = conn.execute(
        "SELECT CASE WHEN GROUPING(source) = 1 THEN ? ELSE source END, "
        + ", ".join(aggregates)
        + " FROM ev GROUP BY GROUPING SETS ((source), ())",
        [OVERALL],
    ).fetchall()
    out: list[FieldQuality] = []
    for row in rows:
        values = iter(row[1:])
        for spec in FIELDS:
            applicable, present = next(values), next(values)
            invalid = next(values) if spec.checks else None
            reasons = [(c.reason, next(values)) for c in spec.checks]
            out.append(
                FieldQuality(
                    field=spec.name,
                    source=row[0],
                    applicable=applicable,
                    present=present,
                    valid=None if invalid is None else present - invalid,
                    reasons=tuple(sorted(((r, n) for r, n in reasons if n), key=lambda x: -x[1])),
                )
            )
    order = {spec.name: i for i, spec in enumerate(FIELDS)}
    return sorted(out, key=lambda f: (order[f.field], f.source == OVERALL, f.source))


def order_duplicates(conn: Conn) -> tuple[int, int, int, float]:
    """(order ids, order ids on several purchases, extra purchase events, their spend)."""
    orders, repeated, extra, spend = one(
        conn,
        """
        SELECT count(*), count(*) FILTER (WHERE n > 1), COALESCE(sum(n - 1), 0),
               COALESCE(sum(spend - first_total), 0)
        FROM (
            SELECT order_id, count(*) AS n, sum(total) AS spend,
                   arg_min(total, (occurred_at, event_id)) AS first_total
            FROM ev WHERE type = 'purchase' AND order_id IS NOT NULL GROUP BY order_id
        )
        """,
    )
    return int(orders), int(repeated), int(extra), float(spend)


def lookalike_groups(conn: Conn) -> list[tuple[str, ...]]:
    """Groups of distinct members who stated the same name, birthday and postcode."""
    cols = {s.name: _column(i, s) for i, s in enumerate(FIELDS)}
    first, last = cols["first_name"], cols["last_name"]
    bday, post = cols["birthday"], cols["postcode"]
    rows = conn.execute(
        f"""
        SELECT list(DISTINCT member ORDER BY member)
        FROM ev
        WHERE type IN ('signup', 'profile_update') AND member IS NOT NULL
          AND {first} IS NOT NULL AND {last} IS NOT NULL
          AND {bday} IS NOT NULL AND {post} IS NOT NULL
        GROUP BY lower(trim({first})), lower(trim({last})), {bday},
                 upper(replace({post}, ' ', ''))
        HAVING count(DISTINCT member) > 1
        ORDER BY 1
        """
    ).fetchall()
    return [tuple(r[0]) for r in rows]


def member_sources(conn: Conn) -> tuple[int, dict[str, int]]:
    """(members seen in more than one source, members who ever stated each attribute)."""
    cols = {s.name: _column(i, s) for i, s in enumerate(FIELDS)}
    stated = PROFILE_ATTRIBUTES
    aggregates = ", ".join(
        f"count(DISTINCT member) FILTER (WHERE {present_sql(cols[a])})" for a in stated
    )
    (multi,) = one(
        conn,
        "SELECT count(*) FROM (SELECT member FROM ev WHERE member IS NOT NULL "
        "GROUP BY member HAVING count(DISTINCT source) > 1)",
    )
    row = one(conn, f"SELECT {aggregates} FROM ev WHERE type IN ('signup', 'profile_update')")
    return int(multi), dict(zip(stated, map(int, row), strict=True))


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def freshness(conn: Conn, *, as_of: datetime, window_days: int) -> list[Freshness]:
    """Newest events per source against ``as_of``, ingest lag, and recent silent days.

    Silent days are counted in the ``window_days`` days ending on the newest event's day
    (of any source): a source that stopped sending shows up even on an old snapshot.
    """
    rows = conn.execute(
        """
        SELECT CASE WHEN GROUPING(ev.source) = 1 THEN ? ELSE ev.source END AS src,
               count(*), epoch(min(occurred_at)), epoch(max(occurred_at)),
               epoch(max(received_at)),
               quantile_cont(epoch(received_at) - epoch(occurred_at), [0.5, 0.9, 0.99])
        FROM ev GROUP BY GROUPING SETS ((ev.source), ())
        """,
        [OVERALL],
    ).fetchall()
    active = {
        OVERALL if s is None else s: n
        for s, n in conn.execute(
            """
            WITH last AS (SELECT max(occurred_at)::DATE AS day FROM ev)
            SELECT source, count(DISTINCT occurred_at::DATE) FROM ev, last
            WHERE occurred_at::DATE > last.day - ?::INTEGER
            GROUP BY GROUPING SETS ((source), ())
            """,
            [window_days],
        ).fetchall()
    }
    out = []
    for source, events, first, latest, received, lags in rows:
        lag = (
            {}
            if lags is None or lags[0] is None
            else dict(zip(("p50", "p90", "p99"), map(float, lags), strict=True))
        )
        out.append(
            Freshness(
                source=source,
                events=events,
                first_occurred=_when(first),
                latest_occurred=_when(latest),
                latest_received=_when(received),
                age_days=None if latest is None else (as_of.timestamp() - latest) / 86_400,
                lag_seconds=lag,
                silent_days=window_days - active.get(source, 0),
                window_days=window_days,
            )
        )
    return _overall_last(out, key=lambda f: (-f.events, f.source))


def daily(conn: Conn) -> list[tuple[str, str, int]]:
    rows = conn.execute(
        "SELECT strftime(occurred_at::DATE, '%Y-%m-%d'), source, count(*) FROM ev "
        "GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    return [(str(d), str(s), int(n)) for d, s, n in rows]
