"""The overview, segments and experiments pages: figures checked against the seeded data and
the capabilities they come from, permissions, and an empty store."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from nextbest.analytics import registry
from nextbest.config import Settings
from nextbest.console import overview_data, segments_data
from nextbest.console.experiments_data import plan_of
from nextbest.console.figures_cache import FIGURES, TtlCache
from nextbest.experiments.report import experiments_report
from nextbest.ingest.pipeline import Ingestor
from nextbest.ledger.reporting import last_activity, lot_flows, run_liability
from nextbest.ledger.repository import active_program
from nextbest.ledger.service import Ledger
from nextbest.store import tables as t
from nextbest.store.engine import write_transaction
from tests.experiments import test_report as experiment_store
from tests.ingest.test_pipeline import records
from tests.ledger.support import SIMPLE, apply_program, at, purchase

PAGES = ("/console/", "/console/segments", "/console/experiments")
# (loyalty id, purchase number, total, day): three members, the last event on day 120.
PURCHASES = (
    ("L1", 1, 240.0, 0),
    ("L1", 2, 30.0, 100),
    ("L2", 3, 25.0, 10),
    ("L3", 4, 60.0, 120),
)
SCORED_AT = at(121)


@pytest.fixture(autouse=True)
def fresh_figures() -> Iterator[None]:
    FIGURES.clear()  # each test's database is new; never read another test's figures
    yield
    FIGURES.clear()


def member_of(engine: Engine, loyalty_id: str) -> str:
    with engine.connect() as conn:
        member: str = conn.execute(
            sa.select(t.identifiers.c.member_id).where(
                t.identifiers.c.key == f"loyalty_id:{loyalty_id}"
            )
        ).scalar_one()
    return member


def scores(engine: Engine, rows: list[tuple[str, str, float | None, str | None]]) -> None:
    """Score rows as the scoring job writes them (``registry.write_scores``)."""
    full = [
        (m, name, v, label, f"{name}-v1", SCORED_AT, SCORED_AT, None) for m, name, v, label in rows
    ]
    with write_transaction(engine) as conn:
        registry.write_scores(conn, full)


@pytest.fixture
def seeded(engine: Engine, settings: Settings) -> dict[str, str]:
    """Purchases ingested under a program (points earned), two redemptions of which one is
    reversed, and RFM and churn scores for the three members."""
    apply_program(engine, SIMPLE)
    rows = [
        purchase(n, total=total, at=at(day), ids={"loyalty_id": lid})
        for lid, n, total, day in PURCHASES
    ]
    Ingestor(engine, settings).ingest_records(records(rows), origin="test")
    ids = {lid: member_of(engine, lid) for lid in ("L1", "L2", "L3")}
    ledger = Ledger(engine, clock=lambda: at(101))
    ledger.redeem(member_id=ids["L1"], reward_id="coffee", idempotency_key="b1")
    voided = ledger.redeem(member_id=ids["L1"], reward_id="coffee", idempotency_key="b2")
    ledger.reverse(entry_id=voided["entry_id"], reason="void", idempotency_key="r1", actor="t")
    scores(
        engine,
        [
            (ids["L1"], "rfm", 545.0, "champions"),
            (ids["L2"], "rfm", 231.0, "at risk"),
            (ids["L3"], "rfm", 515.0, "new"),
            (ids["L1"], "churn_risk", 0.1, None),
            (ids["L2"], "churn_risk", 0.8, None),
        ],
    )
    return ids


def test_overview_figures_equal_the_seeded_data(
    engine: Engine, settings: Settings, seeded: dict[str, str]
) -> None:
    o = overview_data.compute_overview(engine, settings)
    latest = max(at(day) for *_, day in PURCHASES)
    assert o.latest_event == latest
    assert o.members == 3
    since = latest - timedelta(days=90)
    recent = [p for p in PURCHASES if at(p[3]) > since]
    assert o.active == len({p[0] for p in recent}) == 2
    assert o.revenue_recent == pytest.approx(sum(p[2] for p in recent))
    assert o.revenue_all == pytest.approx(sum(p[2] for p in PURCHASES))
    assert o.purchases == len(PURCHASES)
    by_month: dict[str, tuple[float, set[str]]] = {}
    for lid, _, total, day in PURCHASES:
        key = at(day).strftime("%Y-%m")
        revenue, who = by_month.get(key, (0.0, set()))
        by_month[key] = (revenue + total, who | {lid})
    assert [(m.month, round(m.revenue, 6), m.active) for m in o.months] == [
        (k, round(v, 6), len(w)) for k, (v, w) in sorted(by_month.items())
    ]
    assert dict(o.segments) == {"champions": 1, "at risk": 1, "new": 1}
    assert (o.rfm_scored, o.at_risk_rfm) == (3, 1)
    assert (o.churn_scored, o.at_risk_churn) == (2, 1)
    # SIMPLE earns a point per unit spent; the reversed redemption does not count.
    assert o.points_earned == sum(int(p[2]) for p in PURCHASES)
    assert o.points_redeemed == 100
    assert o.redemption_rate == pytest.approx(100 / o.points_earned)


def test_liability_is_what_the_ledger_reports(
    engine: Engine, settings: Settings, seeded: dict[str, str]
) -> None:
    owed = overview_data.compute_overview(engine, settings).liability
    with engine.connect() as conn:
        program = active_program(conn)
        when = last_activity(conn)
        assert program is not None and when is not None
        report = run_liability(lot_flows(conn, program), program, as_of=when).report
        a = t.ledger_accounts
        spendable = a.c.currency == program.points.spendable
        balances = conn.execute(sa.select(sa.func.sum(a.c.balance)).where(spendable)).scalar()
    assert owed is not None
    assert owed.points == report.total.points == balances == 355 - 100
    assert owed.gross == pytest.approx(report.total.gross_liability)
    assert owed.gross == pytest.approx(owed.points * 0.01)  # SIMPLE's cost per point
    assert owed.breakage_share == report.total.breakage_share
    assert owed.currency == program.currency


def number(html: str, element_id: str) -> float:
    found = re.search(rf'id="{element_id}".*?data-value="([^"]+)"', html, re.S)
    assert found is not None, element_id
    return float(found.group(1))


def test_the_overview_page_shows_the_tiles_and_charts(
    console: TestClient, login: Callable[[str], str], seeded: dict[str, str]
) -> None:
    login("analyst")
    response = console.get("/console/")
    assert response.status_code == 200
    html = response.text
    assert number(html, "tile-revenue") == pytest.approx(30.0 + 60.0)  # the last 90 days
    assert number(html, "revenue-all") == pytest.approx(355.0)
    assert number(html, "tile-liability") == pytest.approx(2.55)
    assert re.search(r'id="tile-members".*?>3</div>', html, re.S)
    assert re.search(r'id="tile-active".*?>2</div>', html, re.S)
    assert "28.2%" in html  # 100 of 355 points redeemed
    for chart in ("revenue-by-month", "active-by-month", "members-per-segment"):
        assert f'data-chart="{chart}"' in html
    assert "No experiment has data yet" in html


def rfm_grid(html: str) -> list[float]:
    svg = re.search(r'<svg[^>]*data-chart="rfm-grid".*?</svg>', html, re.S)
    assert svg is not None
    return [float(v) for v in re.findall(r'class="cell"[^>]*data-value="([^"]+)"', svg.group(0))]


def test_the_rfm_heat_map_counts_every_scored_member(
    engine: Engine, console: TestClient, login: Callable[[str], str], seeded: dict[str, str]
) -> None:
    codes = [100 * r + 10 * f + 3 for r in range(1, 6) for f in range(1, 6) for _ in range(r)]
    scores(engine, [(f"x{i}", "rfm", float(c), "lost") for i, c in enumerate(codes)])
    figures = segments_data.compute_segments(engine)
    assert figures.scored == len(codes) + 3
    assert sum(c.members for c in figures.cells) == figures.scored
    five_five = next(c for c in figures.cells if (c.r, c.f) == (5, 5))
    assert five_five.members == 5
    champion = next(c for c in figures.cells if (c.r, c.f) == (5, 4))
    assert champion.members == 5 + 1  # L1's 545
    assert champion.mean_monetary == pytest.approx((240 + 30) / 2)  # only L1 has a profile
    login("marketer")
    html = console.get("/console/segments").text
    assert sum(rfm_grid(html)) == figures.scored
    assert 'data-chart="rfm-monetary"' in html
    assert "Only one scoring run is stored" in html


def test_migration_between_the_last_two_runs(
    engine: Engine, console: TestClient, login: Callable[[str], str], seeded: dict[str, str]
) -> None:
    ids = seeded
    scores(
        engine,
        [
            (ids["L1"], "rfm_previous", 455.0, "loyal"),
            (ids["L2"], "rfm_previous", 455.0, "loyal"),
            ("gone", "rfm_previous", 111.0, "lost"),
        ],
    )
    m = segments_data.compute_segments(engine).migration
    assert m is not None
    cell = {(a, b): int(m.counts[i, j]) for i, a in enumerate(m.rows) for j, b in enumerate(m.cols)}
    assert cell[("loyal", "champions")] == 1
    assert cell[("loyal", "at risk")] == 1
    assert cell[("(entered)", "new")] == 1  # L3 had no segment in the previous run
    assert cell[("lost", "(left)")] == 1
    assert int(m.counts.sum()) == 4
    login("analyst")
    html = console.get("/console/segments").text
    assert 'data-chart="segment-migration"' in html and 'id="migration-table"' in html


def test_micro_segments_are_listed_with_their_descriptions(
    engine: Engine, console: TestClient, login: Callable[[str], str], seeded: dict[str, str]
) -> None:
    rows: list[tuple[str, str, float | None, str | None]] = [
        (f"m{i}", "microsegment", None, "coffee regulars" if i < 3 else "lunch <one-time> buyers")
        for i in range(5)
    ]
    scores(engine, rows)
    figures = segments_data.compute_segments(engine)
    assert [(s.description, s.members) for s in figures.micro] == [
        ("coffee regulars", 3),
        ("lunch <one-time> buyers", 2),
    ]
    login("analyst")
    html = console.get("/console/segments").text
    assert "lunch &lt;one-time&gt; buyers" in html and "<one-time>" not in html


def test_the_experiments_page_shows_what_the_report_computes(
    engine: Engine,
    settings: Settings,
    console: TestClient,
    login: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The report's own fixture store, moved into the past so every window has closed.
    monkeypatch.setattr(experiment_store, "T0", datetime(2025, 3, 1, 9, tzinfo=UTC))
    experiment_store._store(engine)
    plan, share = plan_of(settings)
    expected = {
        r.experiment: r
        for r in experiments_report(engine, now=datetime.now(UTC), plan=plan, holdout_share=share)
    }
    assert set(expected) == {"journey:welcome", "journey:broken", "decisions:universal"}
    login("analyst")
    html = console.get("/console/experiments").text
    for name, report in expected.items():
        section = re.search(
            rf'<section class="card experiment" id="{name}".*?</section>', html, re.S
        )
        assert section is not None, name
        text = section.group(0)
        assert f"{report.treated:,} treated, {report.holdout:,} holdout" in text
        assert len(re.findall(r"<tr data-metric=", text)) == len(report.rows)
        for row in report.rows:
            assert f"{row.ci[0]:+.4g} to {row.ci[1]:+.4g}" in text
            assert row.verdict in text
        assert 'data-chart="lift-' in text
    broken = re.search(r'id="journey:broken".*?</section>', html, re.S)
    assert broken is not None and "mismatch" in broken.group(0)
    overview = console.get("/console/").text
    assert 'href="/console/experiments#journey:welcome"' in overview  # a headline lift


@pytest.mark.parametrize("path", PAGES)
def test_the_ingest_role_is_refused(
    console: TestClient, login: Callable[[str], str], path: str
) -> None:
    login("ingest")
    assert console.get(path).status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_an_empty_store_renders_every_page(
    console: TestClient, login: Callable[[str], str], path: str
) -> None:
    login("admin")
    response = console.get(path)
    assert response.status_code == 200
    assert "No data yet" in response.text or "no data" in response.text


def test_an_empty_overview_says_so(console: TestClient, login: Callable[[str], str]) -> None:
    login("admin")
    html = console.get("/console/").text
    assert 'id="overview-empty"' in html
    assert "No experiment has data yet" in html
    assert "no program is active" in html


def test_figures_are_cached_for_a_minute(
    engine: Engine, settings: Settings, seeded: dict[str, str]
) -> None:
    first = overview_data.overview(engine, settings)
    Ingestor(engine, settings).ingest_records(
        records([purchase(9, total=5.0, at=at(121), ids={"loyalty_id": "L9"})]), origin="t"
    )
    assert overview_data.overview(engine, settings) is first  # within the minute
    FIGURES.clear()
    assert overview_data.overview(engine, settings).members == first.members + 1


def test_the_ttl_cache_recomputes_after_its_time() -> None:
    now = [0.0]
    cache = TtlCache(ttl=60, clock=lambda: now[0])
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get("k", compute) == 1
    now[0] = 59.9
    assert cache.get("k", compute) == 1
    now[0] = 60.0
    assert cache.get("k", compute) == 2
    assert cache.get("other", compute) == 3


def test_a_merged_members_purchases_count_once(engine: Engine, settings: Settings) -> None:
    rows = [
        purchase(1, total=10.0, at=at(0), ids={"loyalty_id": "L7"}),
        purchase(2, total=20.0, at=at(1), ids={"email": "seven@example.com"}),
        purchase(3, total=30.0, at=at(2), ids={"loyalty_id": "L7", "email": "seven@example.com"}),
    ]
    ingest = Ingestor(engine, settings)
    ingest.ingest_records(records(rows[:2]), origin="test")  # two members
    ingest.ingest_records(records(rows[2:]), origin="test")  # then one links them
    with engine.connect() as conn:
        merged = conn.execute(
            sa.select(sa.func.count()).where(t.members.c.merged_into.is_not(None))
        ).scalar_one()
    assert merged == 1  # the third purchase linked the two identifiers
    o = overview_data.compute_overview(engine, settings)
    assert (o.members, o.active, o.purchases) == (1, 1, 3)
    assert [(m.month, m.active) for m in o.months] == [("2025-03", 1)]
    assert o.revenue_all == pytest.approx(60.0)


def test_a_stale_value_is_answered_while_one_thread_refreshes_it() -> None:
    import threading

    now = [0.0]
    cache = TtlCache(ttl=60, clock=lambda: now[0])
    release = threading.Event()
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        if len(calls) > 1:
            release.wait(10)
        return len(calls)

    assert cache.get("k", compute, stale_while_refreshing=True) == 1  # nothing yet: computed
    now[0] = 61.0
    # Stale: answered at once, twice, while a single refresh runs in the background.
    assert cache.get("k", compute, stale_while_refreshing=True) == 1
    assert cache.get("k", compute, stale_while_refreshing=True) == 1
    release.set()
    for _ in range(200):
        if cache.peek("k") == 2:
            break
        threading.Event().wait(0.01)
    assert cache.peek("k") == 2
    assert len(calls) == 2  # one refresh, not one per load


def test_a_big_ledgers_liability_is_outstanding_points_first_then_the_full_run(
    engine: Engine, settings: Settings, seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    monkeypatch.setattr(overview_data, "LIABILITY_SYNC_LOTS", 0)  # every ledger is "big"
    overview_data.LIABILITY_RUNS.clear()
    full = overview_data.compute_overview(engine, settings).liability  # engine: the fast path
    assert full is not None
    assert full.net is None and full.breakage_share is None
    assert "in the background" in full.problems[0]
    with engine.connect() as conn:
        synchronous, _ = overview_data.liability(conn, full.as_of)  # no engine: the full run
    assert synchronous is not None
    assert full.points == synchronous.points == 255  # open points, both ways
    assert full.gross == pytest.approx(synchronous.gross)
    for _ in range(500):  # the background run lands in its cache
        again = overview_data.compute_overview(engine, settings).liability
        if again is not None and again.problems != full.problems:
            break
        threading.Event().wait(0.02)
    assert again == synchronous
