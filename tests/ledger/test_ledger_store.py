"""The ledger over a real store, SQLite and PostgreSQL alike (the ``engine`` fixture)."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest
from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.errors import Conflict, InsufficientPoints, InvalidRequest, NotFound
from nextbest.ingest.pipeline import Ingestor
from nextbest.ledger.service import Ledger
from tests.ingest.test_pipeline import records
from tests.ledger.support import SIMPLE, apply_program, at, balances, member_ids, outbox, purchase


def ledger(engine: Engine, when: datetime) -> Ledger:
    return Ledger(engine, clock=lambda: when)


def one_member(engine: Engine, settings: Settings, rows: list[dict[str, object]]) -> str:
    Ingestor(engine, settings).ingest_records(records(rows), origin="test")
    (member,) = member_ids(engine)
    return member


def test_purchases_earn_once_by_the_rules_and_explain_why(
    engine: Engine, settings: Settings
) -> None:
    apply_program(engine, SIMPLE)
    rows = [purchase(1, total=40.0), purchase(2, total=30.0, category="beans", at=at(1))]
    member = one_member(engine, settings, rows)
    Ingestor(engine, settings).ingest_records(records(rows), origin="again")  # re-sent
    view = ledger(engine, at(2)).account(member)
    assert view["balance"] == 40 + 60
    assert view["qualifying"]["balance"] == 100
    history = ledger(engine, at(2)).history(member)
    assert [h["kind"] for h in history] == ["earn", "earn"]
    beans = history[0]
    assert [r["rule"] for r in beans["detail"]["rules"]] == ["base", "multiplier:category=beans"]
    assert beans["program_version"]
    assert ledger(engine, at(2)).check() == []


def test_redemption_is_idempotent_and_never_overspends(engine: Engine, settings: Settings) -> None:
    apply_program(engine, SIMPLE)
    member = one_member(engine, settings, [purchase(1, total=150.0)])
    led = ledger(engine, at(1))
    first = led.redeem(member_id=member, reward_id="coffee", idempotency_key="till-1")
    again = led.redeem(member_id=member, reward_id="coffee", idempotency_key="till-1")
    assert first["entry_id"] == again["entry_id"] and again["replayed"] is True
    assert led.account(member)["balance"] == 50
    with pytest.raises(Conflict, match="different request"):
        led.redeem(member_id=member, reward_id="mug", idempotency_key="till-1")
    with pytest.raises(InsufficientPoints, match="has 50 pts, needs 100"):
        led.redeem(member_id=member, reward_id="coffee", idempotency_key="till-2")
    with pytest.raises(NotFound, match="unknown reward 'tea'"):
        led.redeem(member_id=member, reward_id="tea", idempotency_key="till-3")
    with pytest.raises(Conflict, match="for tiers gold"):
        led.redeem(member_id=member, reward_id="vip", idempotency_key="till-4")
    assert led.account(member)["balance"] == 50
    assert len(outbox(engine, "reward_redeemed")) == 1
    assert led.check() == []


def test_stock_runs_out(engine: Engine, settings: Settings) -> None:
    apply_program(engine, SIMPLE)
    member = one_member(engine, settings, [purchase(1, total=1200.0)])
    led = ledger(engine, at(1))
    led.redeem(member_id=member, reward_id="mug", idempotency_key="m1")
    with pytest.raises(Conflict, match="out of stock"):
        led.redeem(member_id=member, reward_id="mug", idempotency_key="m2")


def test_reversal_restores_and_happens_once(engine: Engine, settings: Settings) -> None:
    apply_program(engine, SIMPLE)
    member = one_member(engine, settings, [purchase(1, total=120.0)])
    led = ledger(engine, at(1))
    burn = led.redeem(member_id=member, reward_id="coffee", idempotency_key="b1")
    back = led.reverse(
        entry_id=burn["entry_id"], reason="till error", idempotency_key="r1", actor="ops"
    )
    assert back["points"] == 100 and back["reverses"] == burn["entry_id"]
    assert led.account(member)["balance"] == 120
    with pytest.raises(Conflict, match="already reversed"):
        led.reverse(entry_id=burn["entry_id"], reason="again", idempotency_key="r2", actor="ops")
    earn = next(h for h in led.history(member) if h["kind"] == "earn")
    led.reverse(entry_id=earn["entry_id"], reason="fraud", idempotency_key="r3", actor="ops")
    assert led.account(member)["balance"] == 0
    assert led.account(member)["qualifying"]["balance"] == 0
    assert led.check() == []


def test_adjustments_need_a_reason_and_are_audited(engine: Engine, settings: Settings) -> None:
    from nextbest.store import audit

    apply_program(engine, SIMPLE)
    member = one_member(engine, settings, [purchase(1, total=10.0)])
    led = ledger(engine, at(1))
    with pytest.raises(InvalidRequest, match="needs a reason"):
        led.adjust(member_id=member, points=5, reason=" ", idempotency_key="a0", actor="ops")
    led.adjust(member_id=member, points=25, reason="goodwill", idempotency_key="a1", actor="ops")
    with pytest.raises(InsufficientPoints):
        led.adjust(member_id=member, points=-100, reason="typo", idempotency_key="a2", actor="ops")
    led.adjust(member_id=member, points=-30, reason="typo", idempotency_key="a3", actor="ops")
    assert led.account(member)["balance"] == 5
    with engine.connect() as conn:
        log = audit.entries(conn, subject=member)
    assert [e["detail"]["points"] for e in log] == [-30, 25]
    assert {e["actor"] for e in log} == {"ops"}


def test_returns_claw_back_proportionally_and_never_below_zero(
    engine: Engine, settings: Settings
) -> None:
    apply_program(engine, SIMPLE)
    ret = {
        "type": "purchase_returned",
        "event_id": "r1",
        "occurred_at": at(2).isoformat(),
        "source": "pos",
        "identifiers": {"loyalty_id": "L1"},
        "order_id": "o1",
        "amount": 50.0,
    }
    member = one_member(engine, settings, [purchase(1, total=200.0), ret])
    led = ledger(engine, at(3))
    assert led.account(member)["balance"] == 150  # 200 earned, a quarter refunded
    led.redeem(member_id=member, reward_id="coffee", idempotency_key="b1")
    full = {**ret, "event_id": "r2", "occurred_at": at(4).isoformat(), "amount": 150.0}
    report = Ingestor(engine, settings).ingest_records(records([full]), origin="test")
    # 150 points are owed back, but only 50 remain: capped at the balance.
    assert report.points.clawed_back == 50
    assert led.account(member)["balance"] == 0
    assert led.check() == []


def test_lots_expire_first_in_first_out(engine: Engine, settings: Settings) -> None:
    apply_program(engine, SIMPLE)
    member = one_member(
        engine, settings, [purchase(1, total=80.0), purchase(2, total=70.0, at=at(100))]
    )
    led = ledger(engine, at(120))
    led.redeem(member_id=member, reward_id="coffee", idempotency_key="b1")  # 80 old + 20 new
    assert ledger(engine, at(170)).account(member)["expiring_soon"] == []
    counts = ledger(engine, at(290)).run_due()
    assert counts["expired_points"] == 50  # the second lot's 50 left, 6 months after day 100
    assert counts["notices"] == 0
    assert ledger(engine, at(290)).account(member)["balance"] == 0
    assert ledger(engine, at(290)).check() == []


def test_expiring_soon_is_announced_once(engine: Engine, settings: Settings) -> None:
    apply_program(engine, SIMPLE)
    one_member(engine, settings, [purchase(1, total=80.0)])
    assert ledger(engine, at(170)).run_due()["notices"] == 1
    assert ledger(engine, at(171)).run_due()["notices"] == 0
    (payload,) = outbox(engine, "points_expiring")
    assert orjson.loads(payload)["points"] == 80


def test_tiers_upgrade_at_once_and_downgrade_after_grace(
    engine: Engine, settings: Settings
) -> None:
    apply_program(engine, SIMPLE)
    member = one_member(engine, settings, [purchase(1, total=310.0)])
    led = ledger(engine, at(1))
    assert led.account(member)["tier"]["tier"] == "gold"
    changes = [orjson.loads(p) for p in outbox(engine, "tier_changed")]
    assert [(c["from"], c["to"], c["reason"]) for c in changes] == [(None, "gold", "enrolled")]
    # A year on the qualifying points leave the window: grace first, then the downgrade.
    ledger(engine, at(366)).run_due()
    assert ledger(engine, at(366)).account(member)["tier"]["tier"] == "gold"
    assert ledger(engine, at(366)).account(member)["tier"]["grace_until"] is not None
    ledger(engine, at(377)).run_due()
    assert ledger(engine, at(377)).account(member)["tier"]["tier"] == "green"
    assert orjson.loads(outbox(engine, "tier_changed")[-1])["reason"] == "downgrade"


def test_refused_redemption_events_are_kept_with_their_reason(
    engine: Engine, settings: Settings
) -> None:
    apply_program(engine, SIMPLE)
    burn = {
        "type": "reward_redeemed",
        "event_id": "x1",
        "occurred_at": at(1).isoformat(),
        "source": "app",
        "identifiers": {"loyalty_id": "L1"},
        "reward_id": "coffee",
    }
    member = one_member(engine, settings, [purchase(1, total=60.0), burn])
    history = ledger(engine, at(2)).history(member)
    assert history[0]["kind"] == "refused"
    assert "has 60 pts, needs 100" in history[0]["detail"]["reason"]
    assert len(outbox(engine, "redemption_refused")) == 1
    assert balances(engine)[(member, "pts")] == 60


def test_reversing_a_burn_after_its_lot_expired_gives_a_fresh_lot(
    engine: Engine, settings: Settings
) -> None:
    apply_program(engine, SIMPLE)
    member = one_member(engine, settings, [purchase(1, total=150.0)])
    burn = ledger(engine, at(10)).redeem(member_id=member, reward_id="coffee", idempotency_key="b")
    ledger(engine, at(200)).run_due()  # the lot's other 50 expire
    back = ledger(engine, at(210)).reverse(
        entry_id=burn["entry_id"], reason="late fix", idempotency_key="r", actor="ops"
    )
    assert back["points"] == 100
    (lot,) = {p["lot_id"] for p in back["postings"] if p["account"].startswith("member:")}
    assert lot.startswith(back["entry_id"])  # a new lot, not the expired one reopened
    assert ledger(engine, at(211)).run_due()["expired_points"] == 0
    assert ledger(engine, at(211)).account(member)["balance"] == 100
    later = ledger(engine, at(400))
    assert later.run_due()["expired_points"] == 100  # six months after the reversal
    assert later.check() == []


def test_client_keys_cannot_take_the_ledgers_own(engine: Engine, settings: Settings) -> None:
    apply_program(engine, SIMPLE)
    member = one_member(engine, settings, [purchase(1, total=150.0)])
    led = ledger(engine, at(1))
    led.adjust(member_id=member, points=5, reason="x", idempotency_key="earn:p2", actor="t")
    Ingestor(engine, settings).ingest_records(records([purchase(2, total=20.0)]), origin="t")
    assert led.account(member)["balance"] == 150 + 5 + 20


def test_lot_histories_read_back_match_the_lots(engine: Engine, settings: Settings) -> None:
    """What liability and breakage read: each lot's outflows leave exactly its remainder."""
    import sqlalchemy as sa

    from nextbest.ledger import repository as repo
    from nextbest.ledger.reporting import lot_flows, run_liability
    from nextbest.store import tables as t

    apply_program(engine, SIMPLE)
    member = one_member(
        engine, settings, [purchase(1, total=150.0), purchase(2, total=90.0, at=at(30))]
    )
    led = ledger(engine, at(40))
    burn = led.redeem(member_id=member, reward_id="coffee", idempotency_key="b1")
    led.redeem(member_id=member, reward_id="coffee", idempotency_key="b2")
    led.reverse(entry_id=burn["entry_id"], reason="void", idempotency_key="r1", actor="t")
    ledger(engine, at(200)).run_due()
    with engine.connect() as conn:
        program = repo.active_program(conn)
        assert program is not None
        flows = {f.lot_id: f for f in lot_flows(conn, program)}
        stored = dict(
            conn.execute(
                sa.select(t.ledger_lots.c.lot_id, t.ledger_lots.c.remaining).where(
                    t.ledger_lots.c.currency == "pts"
                )
            ).all()
        )
    assert {k: f.remaining for k, f in flows.items()} == stored
    kinds = sorted(o.kind for f in flows.values() for o in f.outflows)
    # b2 drew on both lots; the voided b1 and its reversal leave no trace; lot 1 expired.
    assert kinds == ["burn", "burn", "expire"]
    run = run_liability(list(flows.values()), program, as_of=at(100))
    assert run.report.total.points == 150 + 90 - 100


def test_a_redemption_commits_whole_or_not_at_all(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox write fails last: postings, balance and lots must roll back with it."""
    from nextbest.ledger import repository as repo
    from nextbest.store import tables as t

    apply_program(engine, SIMPLE)
    member = one_member(engine, settings, [purchase(1, total=150.0)])
    led = ledger(engine, at(1))
    real = repo.insert_rows

    def failing(conn: object, table: object, *args: object, **kwargs: object) -> None:
        if table is t.outbox:
            raise RuntimeError("outbox down")
        real(conn, table, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(repo, "insert_rows", failing)
    with pytest.raises(RuntimeError, match="outbox down"):
        led.redeem(member_id=member, reward_id="coffee", idempotency_key="k")
    monkeypatch.setattr(repo, "insert_rows", real)
    assert led.account(member)["balance"] == 150
    assert [h["kind"] for h in led.history(member)] == ["earn"]
    assert led.check() == []
    led.redeem(member_id=member, reward_id="coffee", idempotency_key="k")  # the retry works
    assert led.account(member)["balance"] == 50
