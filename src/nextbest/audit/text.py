"""The audit as a terminal report (Rich): the fixes first, then the measures behind them."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from nextbest.audit.model import OVERALL, AuditReport, FieldQuality, share
from nextbest.audit.numbers import duration, money, pct


def print_report(report: AuditReport, console: Console) -> None:
    for part in renderables(report):
        console.print(part)
        console.print()


def renderables(report: AuditReport) -> list[RenderableType]:
    return [
        _header(report),
        _fixes(report),
        _sources(report),
        _types(report),
        _fields(report),
        _duplicates(report),
        _identity(report),
        _refusals(report),
    ]


def _header(r: AuditReport) -> RenderableType:
    o = r.overall
    title = Text("nextbest data-readiness audit", style="bold")
    lines = [
        f"{r.scope}: {', '.join(r.inputs)}",
        f"as of {r.as_of:%Y-%m-%d %H:%M} UTC · {o.events:,} events from "
        f"{len(r.source_names())} sources · {r.identity.members:,} members · "
        f"{o.purchases:,} purchases, spend {money(o.spend)} · audited in {r.seconds:.1f} s",
    ]
    return Group(title, *(Text(line) for line in lines))


def _fixes(r: AuditReport) -> RenderableType:
    table = Table(title="What to fix first", title_justify="left", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("fix", ratio=2)
    table.add_column("measured", ratio=3)
    table.add_column("impact", ratio=2)
    for i, fix in enumerate(r.fixes, 1):
        table.add_row(str(i), f"[bold]{fix.title}[/] [dim]({fix.area})[/]", fix.figure, fix.impact)
    if not r.fixes:
        table.add_row("", "nothing measured above the threshold", "", "")
    return table


def _sources(r: AuditReport) -> RenderableType:
    fresh = {f.source: f for f in r.freshness}
    table = Table(title="Sources: volume, attribution, freshness", title_justify="left")
    for name, justify in [
        ("source", "left"),
        ("events", "right"),
        ("purchases", "right"),
        ("spend", "right"),
        ("events w/o member", "right"),
        ("spend w/o member", "right"),
        ("newest event", "right"),
        ("age", "right"),
        ("ingest lag p50 / p90", "right"),
        ("silent days", "right"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for s in r.sources:
        f = fresh.get(s.source)
        lag = f.lag_seconds if f else {}
        table.add_row(
            s.source,
            f"{s.events:,}",
            f"{s.purchases:,}",
            money(s.spend),
            f"{s.unattributed_events:,} ({pct(s.unattributed_event_share)})",
            f"{money(s.unattributed_spend)} ({pct(s.unattributed_spend_share)})",
            f"{f.latest_occurred:%Y-%m-%d}" if f and f.latest_occurred else "-",
            duration(f.age_days * 86_400) if f and f.age_days is not None else "-",
            f"{duration(lag['p50'])} / {duration(lag['p90'])}" if lag else "-",
            f"{f.silent_days} of {f.window_days}" if f else "-",
            style="bold" if s.source == OVERALL else None,
        )
    return table


def _types(r: AuditReport) -> RenderableType:
    sources = r.source_names()
    table = Table(title="Events by type and source", title_justify="left")
    table.add_column("type")
    for name in [*sources, OVERALL]:
        table.add_column(name, justify="right")
    by_source = {s.source: s.by_type for s in r.sources}
    for kind in r.overall.by_type:
        cells = [by_source[name].get(kind, 0) for name in [*sources, OVERALL]]
        table.add_row(kind, *(f"{n:,}" if n else "·" for n in cells))
    return table


def _fields(r: AuditReport) -> RenderableType:
    sources = r.source_names()
    table = Table(
        title="Fields: completeness per source; validity of the values present",
        title_justify="left",
    )
    table.add_column("field")
    for name in [*sources, OVERALL]:
        table.add_column(name, justify="right")
    table.add_column("valid", justify="right")
    table.add_column("top reason for invalid values")
    cells: dict[tuple[str, str], FieldQuality] = {(f.field, f.source): f for f in r.fields}
    for row in r.field_rows():
        values = []
        for name in [*sources, OVERALL]:
            fq = cells[(row.field, name)]
            values.append(pct(fq.completeness) if fq.applicable else "·")
        reason = f"{row.reasons[0][0]} ({row.reasons[0][1]:,})" if row.reasons else ""
        table.add_row(row.field, *values, pct(row.validity), reason)
    return table


def _duplicates(r: AuditReport) -> RenderableType:
    d = r.duplicates
    look = d.lookalikes
    if d.resent_event_ids is None:
        resent = "not measurable in the store (one copy kept per event_id); audit the files"
    else:
        resent = f"{d.resent_event_ids:,} of {d.rows:,} records"
        resent += f" ({pct(share(d.resent_event_ids, d.rows))})"
    kinds = ", ".join(f"{k} {n:,}" for k, n in look.disagreeing.items()) or "-"
    return _pairs(
        "Duplicates",
        [
            ("re-sent event ids", resent),
            (
                "order ids on several purchases",
                f"{d.repeated_orders:,} of {d.orders:,} orders; {d.extra_purchase_events:,} extra "
                f"events, {money(d.double_counted_spend)} spend counted twice",
            ),
            (
                "members that look like one person",
                f"{look.groups:,} groups, {look.members:,} members (same name, birthday, postcode)",
            ),
            ("  groups whose identifiers disagree", kinds),
        ],
    )


def _identity(r: AuditReport) -> RenderableType:
    i = r.identity
    per = i.identifiers_per_member
    rows = [
        ("members", f"{i.members:,}"),
        *(
            (f"  with {kind}", f"{n:,} ({pct(share(n, i.members))})")
            for kind, n in i.with_kind.items()
        ),
        ("  with an email or phone", f"{i.reachable:,} ({pct(share(i.reachable, i.members))})"),
        (
            "identifiers per member",
            f"mean {per['mean']:.2f}, median {per['p50']:.0f}, p90 {per['p90']:.0f}, "
            f"max {per['max']:.0f}",
        ),
        (
            "members seen in several sources",
            f"{i.multi_source_members:,} ({pct(share(i.multi_source_members, i.members))})",
        ),
        *(
            (f"  who stated {attr}", f"{n:,} ({pct(share(n, i.members))})")
            for attr, n in i.stated.items()
        ),
        (
            "merges",
            "-" if i.merges is None else f"{i.merges:,} ({i.merged_members or 0:,} members merged)",
        ),
    ]
    return _pairs("Identity coverage", rows)


def _refusals(r: AuditReport) -> RenderableType:
    ref = r.refusals
    if not ref.total:
        return Text("Refused records (dead letters): none", style="bold")
    table = Table(title=f"Refused records (dead letters): {ref.total:,}", title_justify="left")
    table.add_column("field")
    table.add_column("reason")
    table.add_column("records", justify="right")
    for field, reason, count in ref.top:
        table.add_row(field, reason, f"{count:,}")
    return table


def _pairs(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("measure")
    table.add_column("value")
    for name, value in rows:
        table.add_row(name, value)
    return table
