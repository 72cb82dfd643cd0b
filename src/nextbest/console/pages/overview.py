"""Console page: the overview. Tiles and charts of the program's state (figures from
``console.overview_data``, cached for a minute)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from markupsafe import Markup

from nextbest.console import charts
from nextbest.console.overview_data import (
    ACTIVE_DAYS,
    AT_RISK_SEGMENTS,
    CHURN_AT_RISK,
    Overview,
    overview,
)
from nextbest.console.web import MembersRead, engine_of, render, settings_of

router = APIRouter(prefix="/console")


def _charts(o: Overview) -> dict[str, Markup]:
    months = [(m.month, m.revenue) for m in o.months]
    active = [(m.month, float(m.active)) for m in o.months]
    return {
        "revenue": Markup(
            charts.line_chart("revenue-by-month", months, label="Revenue per month (purchases)")
        ),
        "active": Markup(
            charts.line_chart("active-by-month", active, label="Members with a purchase, per month")
        ),
        "segments": Markup(
            charts.bar_chart(
                "members-per-segment",
                [(label, float(n)) for label, n in o.segments],
                label="Members per RFM segment",
            )
        ),
    }


@router.get("/")
async def overview_page(request: Request, session: MembersRead) -> Response:
    figures = await run_in_threadpool(overview, engine_of(request), settings_of(request))
    return render(
        request,
        "overview.html.j2",
        {
            "o": figures,
            "charts": _charts(figures),
            "active_days": ACTIVE_DAYS,
            "at_risk_segments": AT_RISK_SEGMENTS,
            "churn_at_risk": CHURN_AT_RISK,
        },
    )
