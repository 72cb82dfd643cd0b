"""What to fix first: candidate fixes from the measures, ranked by share affected times weight.

Each candidate's score is the share of the data it touches (spend, records, members or
values of a field) times the weight of its area, so that a lost attribution outranks a
formatting habit. The weights are a judgement, stated here so that they can be argued with.
"""

from __future__ import annotations

from nextbest.audit.model import (
    OVERALL,
    AuditReport,
    Duplicates,
    FieldQuality,
    Fix,
    Freshness,
    IdentityCoverage,
    Refusals,
    SourceCounts,
    share,
)
from nextbest.audit.numbers import money, pct

WEIGHTS = {
    "attribution": 1.0,  # spend nobody can be credited with
    "refusals": 1.0,  # records lost at the door
    "orders": 1.0,  # spend counted twice
    "identity": 0.8,  # one person split over several members
    "freshness": 0.6,  # decisions on old data
    "validity": 0.6,  # values that are probably wrong
    "contact": 0.4,  # members nobody can reach
    "completeness": 0.3,  # attributes never stated
    "format": 0.2,  # values repaired on ingest
    "resent": 0.2,  # re-sent events (dropped, but they cost work)
}
MIN_SHARE = 0.001  # below a tenth of a percent, not worth a line
STALE_DAYS = 2.0
FIELDS_FOR_COMPLETENESS = ("first_name", "last_name", "birthday", "postcode", "consents")


def _fix(area: str, affected: float | None, title: str, figure: str, impact: str) -> list[Fix]:
    if affected is None or affected < MIN_SHARE:
        return []
    return [Fix(area, title, figure, impact, round(affected * WEIGHTS[area], 6))]


def attribution(sources: tuple[SourceCounts, ...]) -> list[Fix]:
    total = next(s for s in sources if s.source == OVERALL)
    out: list[Fix] = []
    for s in sources:
        if s.source == OVERALL:
            continue
        if s.unattributed_spend:
            out += _fix(
                "attribution",
                share(s.unattributed_spend, total.spend),
                f"Capture an identifier on {s.source} purchases",
                f"{pct(s.unattributed_spend_share)} of {s.source} purchase spend "
                f"({money(s.unattributed_spend)} in {s.unattributed_purchases:,} purchases) "
                "carries no identifier",
                f"up to {pct(share(s.unattributed_spend, total.spend))} of all spend "
                "becomes attributable to members",
            )
        elif s.unattributed_events:
            out += _fix(
                "attribution",
                0.5 * (share(s.unattributed_events, total.events) or 0),
                f"Capture an identifier on {s.source} events",
                f"{s.unattributed_events:,} {s.source} events ({pct(s.unattributed_event_share)})"
                " carry no identifier",
                f"{pct(share(s.unattributed_events, total.events))} of all events gain a member",
            )
    return out


def refused(refusals: Refusals, accepted: int) -> list[Fix]:
    if not refusals.top:
        return []
    field, reason, count = refusals.top[0]
    records = share(refusals.total, refusals.total + accepted)
    return _fix(
        "refusals",
        records,
        f"Fix what the validator refuses, first '{field}'",
        f"{refusals.total:,} records refused ({pct(records)}); most often {field}: "
        f"{reason} ({count:,})",
        f"{pct(records)} more records usable",
    )


def duplicates(dup: Duplicates, spend: float, members: int) -> list[Fix]:
    out: list[Fix] = []
    if dup.repeated_orders:
        out += _fix(
            "orders",
            share(dup.double_counted_spend, spend) or share(dup.extra_purchase_events, dup.orders),
            "De-duplicate purchases that repeat an order id",
            f"{dup.repeated_orders:,} order ids on {dup.extra_purchase_events:,} extra purchase "
            f"events ({money(dup.double_counted_spend)} spend counted twice)",
            f"{pct(share(dup.double_counted_spend, spend))} of spend stops being double-counted",
        )
    look = dup.lookalikes
    if look.groups:
        kinds = ", ".join(f"{k} in {n:,}" for k, n in look.disagreeing.items()) or "none"
        out += _fix(
            "identity",
            share(look.possible_merges, members),
            "Review members that look like the same person",
            f"{look.groups:,} groups of {look.members:,} members share name, birthday and "
            f"postcode; identifiers of one kind disagree: {kinds}",
            f"up to {look.possible_merges:,} members ({pct(share(look.possible_merges, members))})"
            " fold into the person they duplicate",
        )
    if dup.resent_event_ids:
        out += _fix(
            "resent",
            share(dup.resent_event_ids, dup.rows),
            "Stop re-sending events already delivered",
            f"{dup.resent_event_ids:,} of {dup.rows:,} records repeat an event_id",
            f"{pct(share(dup.resent_event_ids, dup.rows))} less ingestion work",
        )
    return out


def fields(rows: list[FieldQuality], formats: frozenset[str]) -> list[Fix]:
    out: list[Fix] = []
    for f in rows:
        if f.source != OVERALL:
            continue
        for reason, count in f.reasons:
            area = "format" if reason in formats else "validity"
            worst = _worst_source(rows, f.field, reason)
            out += _fix(
                area,
                share(count, f.present),
                f"Clean {f.field}: {reason}",
                f"{count:,} of {f.present:,} values ({pct(share(count, f.present))}){worst}",
                f"{pct(share(count, f.present))} of {f.field} values usable as sent",
            )
        if f.field in FIELDS_FOR_COMPLETENESS and f.completeness is not None:
            missing = f.applicable - f.present
            out += _fix(
                "completeness",
                share(missing, f.applicable),
                f"Ask for {f.field} when members sign up",
                f"{missing:,} of {f.applicable:,} signups ({pct(share(missing, f.applicable))}) "
                f"without {f.field}",
                f"{pct(share(missing, f.applicable))} more signups complete",
            )
    return out


def _worst_source(rows: list[FieldQuality], field: str, reason: str) -> str:
    """ ", most in web (1.8% of its values)" when several sources send the field."""
    per_source = [
        (dict(f.reasons).get(reason, 0), f)
        for f in rows
        if f.field == field and f.source != OVERALL and f.present
    ]
    if len(per_source) < 2:
        return ""
    count, worst = max(per_source, key=lambda cf: (cf[0], cf[1].source))
    return f", most in {worst.source} ({pct(share(count, worst.present))} of its values)"


def contact(identity: IdentityCoverage) -> list[Fix]:
    unreachable = identity.members - identity.reachable
    return _fix(
        "contact",
        share(unreachable, identity.members),
        "Collect an email or phone from members who have neither",
        f"{unreachable:,} members ({pct(share(unreachable, identity.members))}) hold neither",
        f"{pct(share(unreachable, identity.members))} more members reachable by owned channels",
    )


def stale(freshness: tuple[Freshness, ...]) -> list[Fix]:
    rows = [f for f in freshness if f.source != OVERALL]
    late = [f for f in rows if f.age_days is not None and f.age_days > STALE_DAYS]
    if not late:
        return []
    total = sum(f.events for f in rows)
    newest = min(f.age_days or 0 for f in late)
    names = ", ".join(f.source for f in late)
    return _fix(
        "freshness",
        share(sum(f.events for f in late), total),
        f"Load recent events from {names}",
        f"the newest event from {len(late)} of {len(rows)} sources is {newest:,.0f}+ days old",
        "profiles, scores and triggers work on current behaviour",
    )


def rank(report: AuditReport, *, formats: frozenset[str], top: int = 10) -> tuple[Fix, ...]:
    overall = report.overall
    candidates = [
        *attribution(report.sources),
        *refused(report.refusals, overall.events),
        *duplicates(report.duplicates, overall.spend, report.identity.members),
        *fields(list(report.fields), formats),
        *contact(report.identity),
        *stale(report.freshness),
    ]
    candidates.sort(key=lambda f: (-f.score, f.title))
    return tuple(candidates[:top])
