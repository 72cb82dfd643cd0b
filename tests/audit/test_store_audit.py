"""The audit of a store finds exactly the defects planted in a small program (both stores)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from nextbest.audit.model import OVERALL, AuditReport
from nextbest.audit.run import audit_store
from nextbest.config import Settings
from nextbest.errors import NotFound
from tests.audit.data import RECEIVED, ingest
from tests.ingest.test_pipeline import T0

AS_OF = T0 + timedelta(days=10)


@pytest.fixture
def report(engine: Engine, settings: Settings) -> AuditReport:
    ingest(engine, settings)
    return audit_store(engine, settings, as_of=AS_OF, window_days=7)


def field(report: AuditReport, name: str, source: str = OVERALL) -> tuple[int, int, int | None]:
    fq = next(f for f in report.fields if f.field == name and f.source == source)
    return fq.applicable, fq.present, fq.valid


def test_counts_and_unattributed_spend_per_source(report: AuditReport) -> None:
    sources = {s.source: s for s in report.sources}
    assert [s.source for s in report.sources][-1] == OVERALL
    assert sources[OVERALL].events == 8  # the refused record is not an event
    pos = sources["pos"]
    assert (pos.events, pos.purchases, pos.spend) == (3, 2, 10.0)
    assert (pos.unattributed_events, pos.unattributed_purchases) == (1, 1)
    assert pos.unattributed_spend == 6.0 and pos.unattributed_spend_share == 0.6
    assert sources[OVERALL].spend == 30.0 and sources[OVERALL].unattributed_spend_share == 0.2
    assert sources["web"].by_type == {"purchase": 1, "signup": 1}
    assert sources[OVERALL].by_type["purchase"] == 4


def test_field_completeness_and_validity(report: AuditReport) -> None:
    assert field(report, "postcode") == (3, 2, 2)  # Bob signed up without one
    assert field(report, "postcode", "kiosk") == (1, 0, 0)
    assert field(report, "identifiers.email") == (8, 3, 2)  # one misspelt domain
    assert field(report, "identifiers.phone", "call_centre") == (1, 1, 0)  # not E.164
    assert field(report, "identifiers (any)", "pos") == (3, 2, None)
    email = next(f for f in report.fields if f.field == "identifiers.email" and f.source == "pos")
    assert email.reasons == (("domain looks like a misspelt common provider", 1),)


def test_duplicate_orders_and_lookalike_members(report: AuditReport) -> None:
    d = report.duplicates
    assert d.resent_event_ids is None  # the store keeps one copy per event id
    assert (d.orders, d.repeated_orders, d.extra_purchase_events) == (3, 1, 1)
    assert d.double_counted_spend == 10.0
    look = d.lookalikes
    assert (look.groups, look.members, look.possible_merges) == (1, 2, 1)
    assert look.disagreeing == {"email": 1}  # ann@example.com vs ann@gmial.com


def test_identity_coverage(report: AuditReport) -> None:
    i = report.identity
    # card-1; ann@example.com; ann@gmial.com + card-2; dev-9; the call-centre phone
    assert i.members == 5
    assert i.with_kind == {"device_id": 1, "email": 2, "phone": 1, "pos_card": 2}
    assert i.reachable == 3
    assert i.identifiers == 6 and i.identifiers_per_member["max"] == 2.0
    assert i.multi_source_members == 1  # Bob: an app purchase, a kiosk signup
    assert i.stated == {"first_name": 3, "last_name": 3, "birthday": 2, "postcode": 2}
    assert (i.merges, i.merged_members) == (0, 0)


def test_freshness_and_refusals(report: AuditReport) -> None:
    overall = next(f for f in report.freshness if f.source == OVERALL)
    assert overall.latest_occurred == T0 + timedelta(hours=7)
    assert overall.latest_received == RECEIVED
    assert overall.age_days == pytest.approx(10 - 7 / 24)
    assert overall.lag_seconds["p50"] == pytest.approx((48 - 3.5) * 3600)
    pos = next(f for f in report.freshness if f.source == "pos")
    assert pos.silent_days == 6  # one active day in a seven-day window
    assert report.refusals.total == 1
    assert report.refusals.by_field == {"identifiers.email": 1}


def test_fixes_are_ranked_with_their_figures(report: AuditReport) -> None:
    titles = [f.title for f in report.fixes]
    assert titles[0] == "Load recent events from pos, web, app, call_centre, kiosk"
    attribution = next(f for f in report.fixes if f.area == "attribution")
    assert "60.0% of pos purchase spend (6.00 in 1 purchases)" in attribution.figure
    assert attribution.impact.startswith("up to 20.0% of all spend")
    assert [f.score for f in report.fixes] == sorted((f.score for f in report.fixes), reverse=True)
    assert {"orders", "identity", "refusals", "validity", "completeness"} <= {
        f.area for f in report.fixes
    }


def test_store_without_history_says_what_to_do(engine: Engine, settings: Settings) -> None:
    with pytest.raises(NotFound, match="nextbest audit FILE"):
        audit_store(engine, settings)
