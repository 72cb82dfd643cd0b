"""Console page: segments. The RFM grid as a heat map, migration between scoring runs and
the micro-segments (figures from ``console.segments_data``, cached for a minute)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from markupsafe import Markup

from nextbest.console import charts
from nextbest.console.segments_data import SCORE_RFM_PREVIOUS, Segments, segments
from nextbest.console.web import MembersRead, engine_of, render

router = APIRouter(prefix="/console")


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _charts(s: Segments) -> dict[str, Markup]:
    rs, fs, counts, tips = s.grid()
    rows, cols = [f"R{r}" for r in rs], [f"F{f}" for f in fs]
    out = {
        "rfm": Markup(
            charts.heat_map(
                "rfm-grid",
                rows=rows,
                cols=cols,
                values=[[None if v is None else float(v) for v in row] for row in counts],
                label="Members by recency (rows) and frequency (columns) score",
                row_title="recency score",
                col_title="frequency score",
                tooltips=tips,
            )
        ),
        "monetary": Markup(
            charts.heat_map(
                "rfm-monetary",
                rows=rows,
                cols=cols,
                values=s.monetary_grid(),
                label="Average order value by recency and frequency score",
                row_title="recency score",
                col_title="frequency score",
                fmt=_money,
            )
        ),
    }
    if s.migration is not None:
        m = s.migration
        out["migration"] = Markup(
            charts.heat_map(
                "segment-migration",
                rows=list(m.rows),
                cols=list(m.cols),
                values=[[float(v) if v else None for v in row] for row in m.counts.tolist()],
                label="Members moving from the previous run's segment (rows) to the latest's",
                col_title="latest run",
                row_title="previous run",
                cell_width=78,
            )
        )
    return out


@router.get("/segments")
async def segments_page(request: Request, session: MembersRead) -> Response:
    figures = await run_in_threadpool(segments, engine_of(request))
    return render(
        request,
        "segments.html.j2",
        {"s": figures, "charts": _charts(figures), "previous_name": SCORE_RFM_PREVIOUS},
    )
