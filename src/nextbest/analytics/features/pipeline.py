"""The batch feature pipeline, written once as SQL views over four input tables.

Inputs (registered by the runner under these names):

- ``events``: the Parquet event history (event_id, type, occurred_at, source, member_id,
  total, payload JSON);
- ``member_map``: member_id -> survivor_id, so events follow merges made after ingestion;
- ``members``: member_id, timezone, birthday (stated attributes from the profiles);
- ``ledger``: member_id, occurred_at, currency, amount, kind (member postings).

``statements(snapshot, dialect)`` returns (view, SQL) pairs; the last view, ``features``,
has one row per member with any event before the snapshot, ordered by member_id. Engine
differences are confined to :mod:`nextbest.analytics.features.dialect`.
"""

from __future__ import annotations

from nextbest.analytics.features.dialect import Dialect
from nextbest.analytics.features.spec import CATEGORICAL, FEATURES, Snapshot, safe_name

INPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": ("event_id", "type", "occurred_at", "source", "member_id", "total", "payload"),
    "member_map": ("member_id", "survivor_id"),
    "members": ("member_id", "timezone", "birthday"),
    "ledger": ("member_id", "occurred_at", "currency", "amount", "kind"),
}


# Double literals on both engines (Spark reads 1.0 as a DECIMAL, and AVG keeps its scale).
_ONE, _ZERO = "CAST(1 AS DOUBLE)", "CAST(0 AS DOUBLE)"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def statements(snapshot: Snapshot, dialect: Dialect) -> list[tuple[str, str]]:
    d = dialect
    at = snapshot.as_of_literal

    def since(days: int) -> str:
        return d.plus_days(at, -days)

    views: list[tuple[str, str]] = []
    views.append(
        (
            "ev",
            f"""
SELECT e.event_id, e.type, e.occurred_at, e.source, e.total, e.payload,
       COALESCE(m.survivor_id, e.member_id) AS member_id
FROM events e LEFT JOIN member_map m ON e.member_id = m.member_id
WHERE e.member_id IS NOT NULL AND e.occurred_at < {at}""",
        )
    )
    views.append(
        (
            "pur",
            f"""
SELECT p.member_id, p.event_id, p.occurred_at, p.total, p.source, p.payload,
       {d.days_between(at, "p.occurred_at")} AS age_days,
       hour(p.loc) AS local_hour, {d.iso_dow("p.loc")} AS local_dow,
       {d.to_date("p.loc")} AS local_day
FROM (
  SELECT ev.*, {d.local("ev.occurred_at", "COALESCE(mb.timezone, 'UTC')")} AS loc
  FROM ev LEFT JOIN members mb ON ev.member_id = mb.member_id
  WHERE ev.type = 'purchase'
) p""",
        )
    )
    views.append(
        (
            "lines",
            f"""
SELECT member_id, l.sku AS sku, l.category AS category,
       l.quantity AS quantity, l.quantity * l.unit_price AS amount
FROM (SELECT member_id, {d.purchase_lines("payload")} AS l FROM pur) x""",
        )
    )
    views.append(
        (
            "pur_agg",
            """
SELECT member_id,
  MIN(age_days) AS recency_days,
  COUNT(*) AS frequency,
  COUNT(DISTINCT local_day) AS purchase_days,
  AVG(total) AS monetary,
  SUM(total) AS spend,
  MAX(age_days) AS first_purchase_days,
  SUM(CASE WHEN age_days < 30 THEN 1 ELSE 0 END) AS purchases_30d,
  SUM(CASE WHEN age_days < 90 THEN 1 ELSE 0 END) AS purchases_90d,
  SUM(CASE WHEN age_days < 30 THEN total ELSE 0 END) AS spend_30d,
  SUM(CASE WHEN age_days < 90 THEN total ELSE 0 END) AS spend_90d,
  SUM(CASE WHEN age_days >= 90 AND age_days < 180 THEN total ELSE 0 END) AS spend_prev_90d,
  AVG(CASE WHEN local_dow <= 5 THEN ONE ELSE ZERO END) AS weekday_share,
  AVG(CASE WHEN local_hour < 11 AND local_hour >= 5 THEN ONE ELSE ZERO END) AS morning_share,
  AVG(CASE WHEN source = 'app' THEN ONE ELSE ZERO END) AS app_share
FROM pur GROUP BY member_id""".replace("ONE", _ONE).replace("ZERO", _ZERO),
        )
    )
    ev_counts = {
        "messages_90d": ("message_delivered", 90),
        "opens_90d": ("message_opened", 90),
        "clicks_90d": ("message_clicked", 90),
        "unsubscribes": ("message_unsubscribed", None),
        "app_opens_30d": ("app_open", 30),
        "views_30d": ("product_view", 30),
        "cart_adds_30d": ("cart_add", 30),
        "carts_abandoned_30d": ("cart_abandoned", 30),
        "tickets_180d": ("service_ticket_opened", 180),
        "rewards_180d": ("reward_redeemed", 180),
        "returns_180d": ("purchase_returned", 180),
    }
    counts = []
    for name, (kind, days) in ev_counts.items():
        window = f" AND occurred_at >= {since(days)}" if days else ""
        counts.append(f"  SUM(CASE WHEN type = '{kind}'{window} THEN 1 ELSE 0 END) AS {name}")
    rating = f"CAST({d.json_text('payload', '$.rating')} AS DOUBLE)"
    ticket = d.json_text("payload", "$.ticket_id")
    views.append(
        (
            "ev_agg",
            f"""
SELECT member_id,
{",".join(chr(10) + c for c in counts)},
  {d.days_between(at, "MIN(occurred_at)")} AS tenure_days,
  {d.days_between(at, "MAX(occurred_at)")} AS days_since_event,
  AVG(CASE WHEN type = 'feedback' THEN {rating} END) AS mean_rating,
  COUNT(DISTINCT CASE WHEN type = 'service_ticket_opened' THEN {ticket} END)
    - COUNT(DISTINCT CASE WHEN type = 'service_ticket_closed' THEN {ticket} END) AS open_tickets
FROM ev GROUP BY member_id""",
        )
    )
    currency = _quote(snapshot.spend_currency or "")
    views.append(
        (
            "ledger_agg",
            f"""
SELECT COALESCE(m.survivor_id, l.member_id) AS member_id,
  SUM(l.amount) AS points_balance,
  SUM(CASE WHEN l.amount > 0 AND l.occurred_at >= {since(90)} THEN l.amount ELSE 0 END)
    AS points_earned_90d,
  SUM(CASE WHEN l.amount < 0 AND l.occurred_at >= {since(180)} THEN -l.amount ELSE 0 END)
    AS points_burned_180d
FROM ledger l LEFT JOIN member_map m ON l.member_id = m.member_id
WHERE l.occurred_at < {at} AND l.currency = {currency}
GROUP BY COALESCE(m.survivor_id, l.member_id)""",
        )
    )
    views.extend(_tops(d))
    shares = ",\n".join(
        f"  SUM(CASE WHEN category = {_quote(c)} THEN amount ELSE 0 END)"
        f" / NULLIF(SUM(amount), 0) AS share_{safe_name(c)}"
        for c in snapshot.categories
    )
    if shares:
        views.append(("cat_share", f"SELECT member_id,\n{shares}\nFROM lines GROUP BY member_id"))
    views.append(("features", _final(snapshot, d)))
    if snapshot.labels:
        views.append(("labels", _labels(snapshot, d)))
    return views


def _tops(d: Dialect) -> list[tuple[str, str]]:
    """The argmax columns; ties go to the alphabetically first value, on both engines.

    Weights are rounded to 6 decimals first: float sums depend on summation order, which
    differs between engines and plans, and must not decide a tie.
    """

    def top(name: str, source: str, key: str, weight: str) -> tuple[str, str]:
        return (
            name,
            f"""
SELECT member_id, {key} AS value FROM (
  SELECT member_id, {key}, ROW_NUMBER() OVER (
    PARTITION BY member_id ORDER BY {weight} DESC, {key} ASC) AS rn
  FROM (SELECT member_id, {key}, ROUND(SUM(w), 6) AS {weight}
        FROM (SELECT member_id, {key}, {{w}} AS w FROM {source} WHERE {key} IS NOT NULL) s
        GROUP BY member_id, {key}) g
) r WHERE rn = 1""",
        )

    daypart = (
        "CASE WHEN local_hour < 5 THEN 'night' WHEN local_hour < 11 THEN 'morning' "
        "WHEN local_hour < 14 THEN 'midday' WHEN local_hour < 17 THEN 'afternoon' "
        "WHEN local_hour < 22 THEN 'evening' ELSE 'night' END"
    )
    out = []
    for name, source, key, w in (
        ("top_cat", "lines", "category", "amount"),
        ("top_sku_v", "lines", "sku", "quantity"),
        ("top_channel_v", "pur", "source", "1"),
    ):
        view, sql = top(name, source, key, "weight")
        out.append((view, sql.replace("{w}", w)))
    view, sql = top(
        "top_daypart_v",
        f"(SELECT member_id, {daypart} AS daypart FROM pur) dp",
        "daypart",
        "weight",
    )
    out.append((view, sql.replace("{w}", "1")))
    return out


def _final(snapshot: Snapshot, d: Dialect) -> str:
    at = snapshot.as_of_literal
    age_years = f"FLOOR({d.days_between(at, 'CAST(mb.birthday AS TIMESTAMP)')} / 365.25)"
    age_band = (
        f"CASE WHEN mb.birthday IS NULL THEN 'unknown' WHEN {age_years} < 25 THEN '18-24' "
        f"WHEN {age_years} < 35 THEN '25-34' WHEN {age_years} < 45 THEN '35-44' "
        f"WHEN {age_years} < 55 THEN '45-54' WHEN {age_years} < 65 THEN '55-64' ELSE '65+' END"
    )
    purchase = {
        "recency_days",
        "frequency",
        "purchase_days",
        "monetary",
        "spend",
        "first_purchase_days",
        "purchases_30d",
        "purchases_90d",
        "spend_30d",
        "spend_90d",
        "spend_prev_90d",
        "weekday_share",
        "morning_share",
        "app_share",
    }
    zero_if_missing = {
        "frequency",
        "purchase_days",
        "spend",
        "purchases_30d",
        "purchases_90d",
        "spend_30d",
        "spend_90d",
        "spend_prev_90d",
        "points_balance",
        "points_earned_90d",
        "points_burned_180d",
    }
    derived = {
        "mean_gap_days": "CASE WHEN p.frequency > 1 THEN (p.first_purchase_days - p.recency_days)"
        " / (p.frequency - 1) END",
        "overdue_ratio": "CASE WHEN p.frequency > 1 AND p.first_purchase_days > p.recency_days"
        " THEN p.recency_days / ((p.first_purchase_days - p.recency_days) / (p.frequency - 1))"
        " END",
    }
    ledger_cols = {"points_balance", "points_earned_90d", "points_burned_180d"}
    cols = ["a.member_id AS member_id"]
    for name in FEATURES:
        if name in derived:
            expr = derived[name]
        elif name in purchase:
            expr = f"p.{name}"
        elif name in ledger_cols:
            expr = f"lg.{name}"
        else:
            expr = f"a.{name}"
        if name in zero_if_missing:
            expr = f"COALESCE({expr}, 0)"
        cols.append(f"CAST({expr} AS DOUBLE) AS {name}")
    cols += [f"s.share_{safe_name(c)} AS share_{safe_name(c)}" for c in snapshot.categories]
    tops = {"top_category": "tc", "top_sku": "ts", "top_daypart": "td", "top_channel": "tch"}
    cols += [f"{alias}.value AS {name}" for name, alias in tops.items()]
    cols.append(f"{age_band} AS age_band")
    cols.append("COALESCE(mb.timezone, 'unknown') AS region")
    assert [c.split(" AS ")[-1] for c in cols[-6:]] == list(CATEGORICAL), cols[-6:]
    share_join = "LEFT JOIN cat_share s ON a.member_id = s.member_id" if snapshot.categories else ""
    return f"""
SELECT {", ".join(cols)}
FROM ev_agg a
LEFT JOIN pur_agg p ON a.member_id = p.member_id
LEFT JOIN ledger_agg lg ON a.member_id = lg.member_id
LEFT JOIN members mb ON a.member_id = mb.member_id
LEFT JOIN top_cat tc ON a.member_id = tc.member_id
LEFT JOIN top_sku_v ts ON a.member_id = ts.member_id
LEFT JOIN top_daypart_v td ON a.member_id = td.member_id
LEFT JOIN top_channel_v tch ON a.member_id = tch.member_id
{share_join}"""


def _labels(snapshot: Snapshot, d: Dialect) -> str:
    """What happened after the snapshot: the targets of the models (training only)."""
    at = snapshot.as_of_literal
    horizon = max(snapshot.churn_days, snapshot.next_purchase_days, snapshot.value_days)
    until = d.plus_days(at, horizon)
    age = d.days_between("e.occurred_at", at)
    cats = ",\n".join(
        f"    MAX(CASE WHEN ln.category = {_quote(c)} AND age < {snapshot.propensity_days}"
        f" THEN 1 ELSE 0 END) AS next_{safe_name(c)}"
        for c in snapshot.categories
    )
    cat_join = cat_cols = ""
    if cats:
        cat_join = f"""LEFT JOIN (
  SELECT member_id,
{cats}
  FROM (SELECT member_id, age, {d.purchase_lines("payload")} AS ln FROM fut) x
  GROUP BY member_id
) lc ON f.member_id = lc.member_id"""
        cat_cols = "".join(
            f",\n  COALESCE(lc.next_{safe_name(c)}, 0) AS next_{safe_name(c)}"
            for c in snapshot.categories
        )
    return f"""
WITH fut AS (
  SELECT COALESCE(m.survivor_id, e.member_id) AS member_id, e.total, e.payload, {age} AS age
  FROM events e LEFT JOIN member_map m ON e.member_id = m.member_id
  WHERE e.type = 'purchase' AND e.member_id IS NOT NULL
    AND e.occurred_at >= {at} AND e.occurred_at < {until}
), fut_agg AS (
  SELECT member_id,
    SUM(CASE WHEN age < {snapshot.churn_days} THEN 1 ELSE 0 END) AS purchases_next,
    MIN(CASE WHEN age < {snapshot.next_purchase_days} THEN age END) AS days_to_next,
    SUM(CASE WHEN age < {snapshot.value_days} THEN total ELSE 0 END) AS value_next
  FROM fut GROUP BY member_id
)
SELECT f.member_id AS member_id,
  CAST(COALESCE(fa.purchases_next, 0) AS DOUBLE) AS purchases_next,
  CASE WHEN COALESCE(fa.purchases_next, 0) = 0 THEN 1 ELSE 0 END AS churned,
  CAST(fa.days_to_next AS DOUBLE) AS days_to_next,
  CAST(COALESCE(fa.value_next, 0) AS DOUBLE) AS value_next{cat_cols}
FROM ev_agg f LEFT JOIN fut_agg fa ON f.member_id = fa.member_id
{cat_join}"""


# An empty ``events`` input with the history's columns (no Parquet written yet).
EVENTS_SCHEMA_SQL = (
    "SELECT CAST(NULL AS VARCHAR) AS event_id, CAST(NULL AS VARCHAR) AS type,"
    " CAST(NULL AS TIMESTAMP) AS occurred_at, CAST(NULL AS VARCHAR) AS source,"
    " CAST(NULL AS VARCHAR) AS member_id, CAST(NULL AS DOUBLE) AS total,"
    " CAST(NULL AS VARCHAR) AS payload WHERE 1 = 0"
)


def categories_sql() -> str:
    """The product categories bought before the snapshot, sorted (share columns follow)."""
    return "SELECT DISTINCT category FROM lines WHERE category IS NOT NULL ORDER BY category"


def result_sql(snapshot: Snapshot) -> str:
    """The pipeline's output: features (and labels when asked), one row per member, sorted."""
    if not snapshot.labels:
        return "SELECT * FROM features ORDER BY member_id"
    labels = ", ".join(f"l.{c}" for c in snapshot.label_columns)
    return (
        f"SELECT f.*, {labels} FROM features f JOIN labels l ON f.member_id = l.member_id"
        " ORDER BY f.member_id"
    )


def span_sql() -> str:
    return (
        "SELECT MIN(occurred_at) AS first, MAX(occurred_at) AS last FROM events"
        " WHERE type = 'purchase'"
    )
