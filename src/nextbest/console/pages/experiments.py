"""Console page: experiments. Every experiment the report measures, with lift and 95%
interval per metric, sample sizes, the sample-ratio check and the fixed-horizon call
(``nextbest.experiments.report``, through ``console.experiments_data``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from markupsafe import Markup

from nextbest.console import charts
from nextbest.console.experiments_data import experiments
from nextbest.console.web import DecisionsRead, engine_of, render, settings_of
from nextbest.experiments.report import ExperimentReport

router = APIRouter(prefix="/console")
CALLED = ("better", "worse", "no difference")  # verdicts of a horizon reached, split sound


def _chart(report: ExperimentReport) -> Markup:
    items = [
        charts.Interval(row.metric, row.relative, *row.relative_ci)
        for row in report.rows
        if row.relative is not None and row.relative_ci is not None
    ]
    name = "lift-" + "".join(c if c.isalnum() else "-" for c in report.experiment)
    return Markup(
        charts.interval_chart(
            name,
            items,
            label=f"{report.experiment}: relative lift per metric, treated vs holdout, "
            "95% interval",
            empty="no relative lift to draw: the holdout's mean is 0 (absolute lifts below)"
            if report.rows
            else "no data yet",
        )
    )


@router.get("/experiments")
async def experiments_page(request: Request, session: DecisionsRead) -> Response:
    found = await run_in_threadpool(experiments, engine_of(request), settings_of(request))
    return render(
        request,
        "experiments.html.j2",
        {
            "found": found,
            "reports": [(r, _chart(r)) for r in found.reports],
            "called": CALLED,
        },
    )
