"""Liability: totals add up across every breakdown, the expiring schedule, and the chart."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from nextbest.ledger.breakage import BreakageModel, fit_breakage, outstanding_points
from nextbest.ledger.flows import LotFlow, Outflow
from nextbest.ledger.liability import LiabilityLine, LiabilityReport, liability_report
from nextbest.ledger.liability_chart import write_liability_chart
from nextbest.ledger.program import add_months

AS_OF = datetime(2026, 6, 30, 12, tzinfo=UTC)
COST = 0.004


def random_lots(seed: int, n: int = 600) -> list[LotFlow]:
    """Lots over two years, some burned, some expired, some with no expiry at all."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 7, 1, tzinfo=UTC)
    lots = []
    for i in range(n):
        earned = start + timedelta(days=float(rng.uniform(0, 730)))
        points = int(rng.integers(10, 1000))
        expires = None if i % 5 == 0 else add_months(earned, 12)
        outflows: tuple[Outflow, ...] = ()
        if rng.random() < 0.5:
            burn_at = earned + timedelta(days=float(rng.uniform(0, 300)))
            outflows = (Outflow(burn_at, int(rng.integers(1, points + 1)), "burn"),)
        tier = ("gold", "silver", "bronze", None)[int(rng.integers(0, 4))]
        lots.append(LotFlow(f"l{i}", f"m{i % 250}", tier, earned, expires, points, outflows))
    return lots


@pytest.fixture(scope="module")
def lots() -> list[LotFlow]:
    return random_lots(7)


@pytest.fixture(scope="module")
def model(lots: list[LotFlow]) -> BreakageModel:
    return fit_breakage(lots, as_of=AS_OF, max_age_months=24, min_lots_at_risk=20)


def assert_adds_up(total: LiabilityLine, lines: tuple[LiabilityLine, ...]) -> None:
    assert sum(line.lots for line in lines) == total.lots
    assert sum(line.points for line in lines) == total.points
    assert math.isclose(sum(line.gross_liability for line in lines), total.gross_liability)
    if total.expected_breakage_points is None:
        assert all(line.expected_breakage_points is None for line in lines)
        assert all(line.net_liability is None for line in lines)
        return
    assert math.isclose(
        sum(line.expected_breakage_points or 0.0 for line in lines), total.expected_breakage_points
    )
    assert math.isclose(sum(line.net_liability or 0.0 for line in lines), total.net_liability or 0)


@pytest.mark.parametrize("with_model", [True, False])
def test_totals_equal_the_sum_of_each_breakdown(
    lots: list[LotFlow], model: BreakageModel, with_model: bool
) -> None:
    report = liability_report(
        lots, as_of=AS_OF, cost_per_point=COST, model=model if with_model else None
    )
    total = report.total
    assert total.points == sum(outstanding_points(lt, as_of=AS_OF) for lt in lots) > 0
    assert total.gross_liability == pytest.approx(total.points * COST)
    for breakdown in (report.by_tier, report.by_cohort, report.by_expiry_month):
        assert_adds_up(total, breakdown)
    assert sum(p for _, _, p in report.points_by_expiry_month_and_tier) == total.points
    assert [line.key for line in report.by_tier] == ["bronze", "gold", "silver", "none"]
    assert report.by_expiry_month[-1].key == "never"
    months = [line.key for line in report.by_expiry_month[:-1]]
    assert months == sorted(months) and all(len(m) == 7 and m[4] == "-" for m in months)


def test_net_liability_uses_the_model_like_expected_breakage(
    lots: list[LotFlow], model: BreakageModel
) -> None:
    report = liability_report(lots, as_of=AS_OF, cost_per_point=COST, model=model)
    estimate = model.expected_breakage(lots, as_of=AS_OF)
    assert report.total.points == estimate.outstanding_points
    assert report.total.expected_breakage_points == pytest.approx(estimate.expected_broken_points)
    assert report.total.net_liability == pytest.approx(
        report.total.gross_liability * (1 - estimate.share)
    )
    assert report.model_version == model.version


def test_no_model_gives_gross_only(lots: list[LotFlow]) -> None:
    report = liability_report(lots, as_of=AS_OF, cost_per_point=COST, model=None)
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["breakage_model"] is None
    assert payload["total"]["expected_breakage_points"] is None
    assert payload["total"]["net_liability"] is None
    assert payload["total"]["gross_liability"] == pytest.approx(report.total.points * COST)
    assert all(w["expected_breakage_points"] is None for w in payload["expiring"])


def test_to_dict_is_json_with_units_and_model_version(
    lots: list[LotFlow], model: BreakageModel
) -> None:
    report = liability_report(lots, as_of=AS_OF, cost_per_point=COST, model=model)
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["units"]["gross_liability"] == "program currency"
    assert payload["units"]["points"] == "points"
    assert payload["breakage_model"] == {
        "version": model.version,
        "fitted_as_of": "2026-06-30T12:00:00+00:00",
    }
    assert payload["total"]["points"] == report.total.points
    assert {line["key"] for line in payload["by_tier"]} == {"bronze", "gold", "silver", "none"}


def test_expiring_schedule_counts_the_right_lots() -> None:
    earned = datetime(2026, 1, 1, tzinfo=UTC)

    def lot(lot_id: str, member: str, days: float | None, points: int = 100) -> LotFlow:
        expires = None if days is None else AS_OF + timedelta(days=days)
        return LotFlow(lot_id, member, "gold", earned, expires, points)

    lots = [
        lot("past", "m0", -1),  # due to expire: not outstanding
        lot("now", "m0", 0),  # expires at as_of: not outstanding either
        lot("d10", "m1", 10, 10),
        lot("d30", "m1", 30, 30),  # on the 30-day boundary: inside
        lot("d45", "m2", 45, 45),
        lot("d75", "m3", 75, 75),
        lot("d120", "m4", 120, 120),
        lot("never", "m5", None, 1000),
        LotFlow(
            "used",
            "m6",
            None,
            earned,
            AS_OF + timedelta(days=5),
            50,
            (Outflow(earned + timedelta(days=3), 50, "burn"),),
        ),  # used up: not outstanding
    ]
    report = liability_report(lots, as_of=AS_OF, cost_per_point=0.01, model=None)
    schedule = {w.days: (w.lots, w.members, w.points) for w in report.expiring}
    assert schedule == {30: (2, 1, 40), 60: (3, 2, 85), 90: (4, 3, 160)}
    assert report.expiring[0].gross_liability == pytest.approx(0.40)
    assert report.total.lots == 6
    custom = liability_report(
        lots, as_of=AS_OF, cost_per_point=0.01, model=None, expiring_days=(7, 365)
    )
    assert [(w.days, w.points) for w in custom.expiring] == [(7, 0), (365, 280)]


def test_expected_breakage_in_the_expiring_schedule(model: BreakageModel) -> None:
    soon = LotFlow("s", "m1", None, add_months(AS_OF, -11), AS_OF + timedelta(days=20), 100)
    report = liability_report([soon], as_of=AS_OF, cost_per_point=1.0, model=model)
    share = model.breakage_share(soon, as_of=AS_OF)
    assert report.expiring[0].expected_breakage_points == pytest.approx(100 * share)
    assert report.total.net_liability == pytest.approx(100 * (1 - share))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cost_per_point": -0.01}, "cost_per_point"),
        ({"cost_per_point": math.nan}, "cost_per_point"),
        ({"expiring_days": (30, 0)}, "expiring_days"),
        ({"as_of": datetime(2026, 1, 1, tzinfo=UTC)}, "fitted as of 2026-06-30, after"),
    ],
)
def test_invalid_inputs(
    lots: list[LotFlow], model: BreakageModel, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"as_of": AS_OF, "cost_per_point": COST, "model": model}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        liability_report(lots, **args)  # type: ignore[arg-type]


def test_empty_report_is_zero() -> None:
    report = liability_report([], as_of=AS_OF, cost_per_point=COST, model=None)
    assert (report.total.points, report.total.gross_liability, report.by_tier) == (0, 0.0, ())


@pytest.mark.parametrize("suffix", [".png", ".svg"])
@pytest.mark.parametrize("with_model", [True, False])
def test_chart_writes_a_non_empty_file(
    tmp_path: Path,
    lots: list[LotFlow],
    model: BreakageModel,
    suffix: str,
    with_model: bool,
) -> None:
    report = liability_report(lots, as_of=AS_OF, cost_per_point=COST, model=model)
    path = write_liability_chart(
        report, tmp_path / f"liability{suffix}", model=model if with_model else None
    )
    data = path.read_bytes()
    assert len(data) > 1000
    if suffix == ".png":
        assert data.startswith(b"\x89PNG")
    else:
        assert b"<svg" in data[:2000]


def test_chart_of_nothing_and_unknown_suffix(tmp_path: Path) -> None:
    report: LiabilityReport = liability_report([], as_of=AS_OF, cost_per_point=COST, model=None)
    assert write_liability_chart(report, tmp_path / "empty.png").stat().st_size > 0
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        write_liability_chart(report, tmp_path / "chart.pdf")
