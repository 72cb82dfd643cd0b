"""Breakage: recover a known redemption hazard from simulated lots, and backtest it."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime

import numpy as np
import pytest

from nextbest.ledger.breakage import (
    BreakageModel,
    InsufficientHistory,
    backtest,
    fit_breakage,
    lot_age_months,
    outstanding_points,
)
from nextbest.ledger.flows import LotFlow, Outflow, OutflowKind
from nextbest.ledger.program import add_months

# monthly redemption hazard by lot age, with a rush in the month before a 12-month expiry
TRUE_HAZARD = (0.10, 0.08, 0.07, 0.06, 0.05, 0.05, 0.05, 0.05, 0.05, 0.06, 0.08, 0.15)
EXPIRY_MONTHS = len(TRUE_HAZARD)
START = datetime(2023, 1, 1, tzinfo=UTC)


def at_age(earned: datetime, age: float) -> datetime:
    k = math.floor(age)
    start, end = add_months(earned, k), add_months(earned, k + 1)
    return start + (end - start) * (age - k)


def simulate(
    rng: np.random.Generator, *, lots: int, months: int, clawback_rate: float = 0.01
) -> list[LotFlow]:
    """Lots earned uniformly over ``months``, their whole future already written out.

    Each month a lot's remaining points are burned in one go with the true hazard (lumpy,
    as members redeem whole rewards), at a uniform time in the month; a few lots lose part
    of their points to a clawback at random, independent of redemption; what is left
    expires after ``EXPIRY_MONTHS``.
    """
    span = (add_months(START, months) - START).total_seconds()
    out = []
    for i in range(lots):
        earned = datetime.fromtimestamp(START.timestamp() + rng.uniform(0, span), tz=UTC)
        points = remaining = int(rng.integers(20, 500))
        flows: list[Outflow] = []
        for k, hazard in enumerate(TRUE_HAZARD):
            events: list[tuple[float, OutflowKind]] = []
            if rng.random() < clawback_rate:
                events.append((k + rng.random(), "clawback"))
            if rng.random() < hazard:
                events.append((k + rng.random(), "burn"))
            for age, kind in sorted(events):
                if remaining:
                    p = remaining if kind == "burn" else int(rng.integers(1, remaining + 1))
                    flows.append(Outflow(at_age(earned, age), p, kind))
                    remaining -= p
        expires = add_months(earned, EXPIRY_MONTHS)
        if remaining:
            flows.append(Outflow(expires, remaining, "expire"))
        tier = ("gold", "silver", None)[i % 3]
        out.append(LotFlow(f"l{i}", f"m{i % 3000}", tier, earned, expires, points, tuple(flows)))
    return out


@pytest.fixture(scope="module")
def world() -> list[LotFlow]:
    return simulate(np.random.default_rng(20260630), lots=8000, months=36)


def lot(
    earned: datetime,
    *,
    points: int = 100,
    expires: datetime | None = None,
    outflows: tuple[Outflow, ...] = (),
    lot_id: str = "l",
) -> LotFlow:
    return LotFlow(lot_id, "m1", None, earned, expires, points, outflows)


def test_fit_recovers_the_true_hazard(world: list[LotFlow]) -> None:
    model = fit_breakage(world, as_of=add_months(START, 36), max_age_months=EXPIRY_MONTHS)
    error = np.abs(np.array(model.hazards) - TRUE_HAZARD)
    # burns are whole lots of 20-499 points, so the standard error is that of ~0.78 x the
    # lots at risk: about 0.004 at age 0 and 0.008 at age 11 (~2,600 lots, hazard 0.15)
    assert error.max() < 0.025
    assert error.mean() < 0.006
    assert model.pooled_from == EXPIRY_MONTHS  # every age well observed: nothing pooled
    true_breakage = float(np.prod(1 - np.array(TRUE_HAZARD)))
    assert model.survival(0, EXPIRY_MONTHS) == pytest.approx(true_breakage, abs=0.02)


def test_backtest_error_is_small(world: list[LotFlow]) -> None:
    bt = backtest(
        world,
        cutoff=add_months(START, 24),
        as_of=add_months(START, 36),
        max_age_months=EXPIRY_MONTHS,
    )
    assert bt.lots_evaluated > 1500
    assert bt.lots_unresolved == 0  # a 12-month expiry settles every lot within the year
    assert bt.points_clawed_back > 0
    assert bt.abs_error_pp < 3.0
    assert bt.lot_abs_error_pp < 3.0
    assert json.loads(json.dumps(bt.to_dict()))["abs_error_pp"] == bt.abs_error_pp


def test_fit_ignores_what_happened_after_as_of(world: list[LotFlow]) -> None:
    as_of = add_months(START, 20)
    # the world already holds every lot's future; cut it back to what was known at as_of
    known = [
        dataclasses.replace(lt, outflows=tuple(o for o in lt.outflows if o.at <= as_of))
        for lt in world
        if lt.earned_at <= as_of
    ]
    full, cut = fit_breakage(world, as_of=as_of), fit_breakage(known, as_of=as_of)
    assert full.to_dict() == cut.to_dict()
    assert full.version == cut.version


def test_a_lot_nobody_redeems_breaks_fully() -> None:
    history = [
        lot(
            add_months(START, i),
            expires=add_months(START, i + 3),
            outflows=(Outflow(add_months(START, i + 3), 100, "expire"),),
            lot_id=f"l{i}",
        )
        for i in range(12)
    ]
    as_of = add_months(START, 14)
    model = fit_breakage(history, as_of=as_of, max_age_months=6, min_lots_at_risk=1)
    assert set(model.hazards) == {0.0}
    fresh = lot(as_of, expires=add_months(as_of, 3))
    assert model.breakage_share(fresh, as_of=as_of) == 1.0
    estimate = model.expected_breakage([fresh], as_of=as_of)
    assert estimate == (100, 100.0)
    assert estimate.share == 1.0


def test_partial_months_follow_the_uniform_within_month_rule() -> None:
    model = BreakageModel(
        as_of=START,
        hazards=(0.2, 0.4, 0.1),
        raw_hazards=(0.2, 0.4, 0.1),
        points_at_risk=(10, 10, 10),
        effective_points_at_risk=(10.0, 10.0, 10.0),
        lots_at_risk=(1, 1, 1),
        points_burned=(2, 4, 1),
        points_withdrawn=(0, 0, 0),
        pooled_from=3,
        min_lots_at_risk=1,
    )
    earned = START
    half_into_month_1 = at_age(earned, 1.5)
    expiring = lot(earned, expires=at_age(earned, 2.5))
    # from age 1.5 to 2.5: the rest of month 1, then half of month 2
    expected = (1 - 0.4) / (1 - 0.5 * 0.4) * (1 - 0.5 * 0.1)
    assert model.breakage_share(expiring, as_of=half_into_month_1) == pytest.approx(expected)
    # no expiry: unredeemed at the horizon (3 months) counts as broken
    never = lot(earned)
    assert model.breakage_share(never, as_of=earned) == pytest.approx(0.8 * 0.6 * 0.9)
    assert model.breakage_share(never, as_of=at_age(earned, 3.2)) == 1.0
    # an expiry beyond the horizon is cut to it
    late = lot(earned, expires=add_months(earned, 24))
    assert model.breakage_share(late, as_of=earned) == pytest.approx(0.8 * 0.6 * 0.9)
    # past its expiry a lot breaks fully and is no longer outstanding
    assert model.breakage_share(expiring, as_of=at_age(earned, 2.5)) == 1.0
    assert outstanding_points(expiring, as_of=at_age(earned, 2.5)) == 0


def test_thin_tail_ages_share_one_pooled_hazard() -> None:
    # 40 lots observed to age 2, 3 of them to age 5: ages past 1 rest on 3 lots
    young = [
        lot(
            START,
            outflows=(Outflow(at_age(START, 1.5), 50, "burn"),) if i % 2 else (),
            lot_id=f"y{i}",
        )
        for i in range(37)
    ]
    young = [dataclasses.replace(lt, expires_at=add_months(START, 2)) for lt in young]
    old = [
        lot(START, outflows=(Outflow(at_age(START, 3.5), 10, "burn"),), lot_id=f"o{i}")
        for i in range(3)
    ]
    model = fit_breakage(young + old, as_of=add_months(START, 5), max_age_months=8)
    assert model.lots_at_risk[:3] == (40, 40, 3)
    assert model.pooled_from == 2  # age 1 is the last with >= 30 lots at risk
    tail = model.hazards[2:]
    assert len(set(tail)) == 1
    # pooled over ages 1 and older: burns / effective points at risk
    pooled = sum(model.points_burned[1:]) / sum(model.effective_points_at_risk[1:])
    assert tail[0] == pytest.approx(pooled)
    assert model.hazards[1] == model.raw_hazards[1]
    ages = model.to_dict()["ages"]
    assert [a["pooled"] for a in ages[:3]] == [False, False, True]
    assert ages[7]["raw_hazard"] is None  # nobody reached age 7: extrapolated


def test_clawbacks_and_censoring_leave_the_risk_set_without_an_event() -> None:
    earned = START
    lots = [
        lot(
            earned,
            outflows=(
                Outflow(at_age(earned, 0.25), 40, "clawback"),
                Outflow(at_age(earned, 0.5), 30, "burn"),
            ),
        ),
        lot(earned, lot_id="l2"),
    ]
    model = fit_breakage(lots, as_of=at_age(earned, 1.5), max_age_months=2, min_lots_at_risk=1)
    # month 0: 200 at risk, 40 clawed back with 3/4 of the month unexposed
    assert model.points_at_risk == (200, 130)
    assert model.raw_hazards[0] == pytest.approx(30 / (200 - 40 * 0.75))
    # month 1: 130 at risk, all censored at mid-month by as_of
    assert model.points_withdrawn == (40, 130)
    assert model.effective_points_at_risk[1] == pytest.approx(65)
    assert model.raw_hazards[1] == 0.0


def test_batch_breakage_equals_the_sum_of_lot_shares(world: list[LotFlow]) -> None:
    as_of = add_months(START, 30)
    model = fit_breakage(world, as_of=as_of)
    estimate = model.expected_breakage(world, as_of=as_of)
    by_lot = [(outstanding_points(lt, as_of=as_of), lt) for lt in world]
    assert estimate.outstanding_points == sum(p for p, _ in by_lot)
    assert estimate.expected_broken_points == pytest.approx(
        sum(p * model.breakage_share(lt, as_of=as_of) for p, lt in by_lot)
    )
    assert 0.0 < estimate.share < 1.0


def test_version_is_a_content_hash_and_to_dict_is_json(world: list[LotFlow]) -> None:
    a = fit_breakage(world, as_of=add_months(START, 30))
    b = fit_breakage(list(reversed(world)), as_of=add_months(START, 30))
    c = fit_breakage(world, as_of=add_months(START, 31))
    assert a.version == b.version != c.version
    payload = json.loads(json.dumps(a.to_dict()))
    assert payload["version"] == a.version
    assert len(payload["ages"]) == a.max_age_months
    assert payload["ages"][-1]["cumulative_redeemed"] == pytest.approx(
        1 - a.survival(0, a.max_age_months)
    )


def test_lot_age_counts_calendar_months() -> None:
    earned = datetime(2026, 1, 31, 9, tzinfo=UTC)
    assert lot_age_months(earned, add_months(earned, 12)) == 12.0
    assert lot_age_months(earned, earned) == 0.0
    assert lot_age_months(earned, datetime(2025, 1, 1, tzinfo=UTC)) == 0.0
    assert 1.0 < lot_age_months(earned, datetime(2026, 3, 1, tzinfo=UTC)) < 1.1


CUTOFF, AS_OF = datetime(2026, 6, 30, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC)
EARLY = datetime(2026, 1, 1, tzinfo=UTC)
OPEN_LOT = lot(EARLY, expires=datetime(2027, 6, 1, tzinfo=UTC))  # outstanding, unsettled
USED_LOT = lot(EARLY, outflows=(Outflow(datetime(2026, 3, 1, tzinfo=UTC), 100, "burn"),))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: fit_breakage([], as_of=CUTOFF), InsufficientHistory, "no lot earned by then"),
        (
            lambda: fit_breakage([lot(AS_OF)], as_of=CUTOFF),
            InsufficientHistory,
            "before as_of 2026-06-30",
        ),
        (lambda: fit_breakage([OPEN_LOT], as_of=CUTOFF, max_age_months=0), ValueError, "max_age"),
        (lambda: fit_breakage([OPEN_LOT], as_of=CUTOFF, min_lots_at_risk=0), ValueError, "min_"),
        (
            lambda: backtest([OPEN_LOT], cutoff=AS_OF, as_of=CUTOFF),
            ValueError,
            "must come after cutoff",
        ),
        (
            lambda: backtest([], cutoff=CUTOFF, as_of=AS_OF),
            InsufficientHistory,
            "backtest at cutoff 2026-06-30: no points at risk",
        ),
        (
            lambda: backtest([USED_LOT], cutoff=CUTOFF, as_of=AS_OF),
            InsufficientHistory,
            "no lots outstanding at cutoff 2026-06-30",
        ),
        (
            lambda: backtest([OPEN_LOT, USED_LOT], cutoff=CUTOFF, as_of=AS_OF),
            InsufficientHistory,
            "no lots outstanding at cutoff 2026-06-30 resolve by 2026-12-31",
        ),
    ],
)
def test_invalid_inputs_say_what_is_missing(call: object, error: type, message: str) -> None:
    assert callable(call)
    with pytest.raises(error, match=message):
        call()


def test_backtest_leaves_clawed_back_points_out() -> None:
    history = [
        lot(
            EARLY,
            expires=datetime(2026, 4, 1, tzinfo=UTC),
            outflows=(Outflow(datetime(2026, 2, 1, tzinfo=UTC), 100, "burn"),) if i < 5 else (),
            lot_id=f"h{i}",
        )
        for i in range(10)
    ]
    fresh = lot(
        CUTOFF,
        expires=datetime(2026, 9, 30, tzinfo=UTC),
        outflows=(
            Outflow(datetime(2026, 7, 10, tzinfo=UTC), 20, "clawback"),
            Outflow(datetime(2026, 8, 1, tzinfo=UTC), 30, "burn"),
            Outflow(datetime(2026, 9, 30, tzinfo=UTC), 50, "expire"),
        ),
        lot_id="fresh",
    )
    bt = backtest([*history, fresh], cutoff=CUTOFF, as_of=AS_OF, min_lots_at_risk=1)
    assert (bt.lots_evaluated, bt.points_evaluated, bt.points_clawed_back) == (1, 80, 20)
    assert bt.actual_share == pytest.approx(50 / 80)


def test_outflows_beyond_the_lot_never_make_the_risk_set_negative() -> None:
    overdrawn = lot(
        START,
        outflows=(
            Outflow(at_age(START, 0.5), 80, "burn"),
            Outflow(at_age(START, 0.7), 80, "clawback"),  # only 20 were left
        ),
    )
    model = fit_breakage(
        [overdrawn], as_of=add_months(START, 3), max_age_months=3, min_lots_at_risk=1
    )
    assert model.points_at_risk == (100, 0, 0)
    assert model.points_withdrawn == (20, 0, 0)
    assert model.lots_at_risk == (1, 0, 0)
