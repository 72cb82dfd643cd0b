"""The audit as one self-contained HTML page: inline CSS, charts as inline SVG, no scripts."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from nextbest.audit import charts
from nextbest.audit.model import OVERALL, AuditReport
from nextbest.audit.numbers import duration, money, pct


def render_html(report: AuditReport) -> str:
    env = Environment(
        loader=PackageLoader("nextbest.audit", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(pct=pct, money=money, duration=duration)
    svg = {
        "heatmap": charts.completeness_heatmap(report),
        "unattributed": charts.unattributed_spend(report),
        "daily": charts.daily_events(report),
        "identity": charts.identity_coverage(report),
    }
    return env.get_template("report.html.j2").render(
        r=report,
        overall=OVERALL,
        sources=report.source_names(),
        by_source={s.source: s.by_type for s in report.sources},
        fresh={f.source: f for f in report.freshness},
        # Drawn by Matplotlib, which escapes the labels (source and field names) in its SVG.
        charts={name: Markup(text) for name, text in svg.items()},
    )
