"""`nextbest decide MEMBER` and `nextbest decisions …`: decide, explain, batch, learn."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from nextbest.config import Settings

app = typer.Typer(help="The decision log, batch decisions and learning from outcomes.")


def _service(settings: Settings, catalogue: Path | None) -> Any:
    from nextbest.decide.service import DecisionService, budget_for, default_catalogue
    from nextbest.store.engine import make_engine

    db = make_engine(settings)
    return DecisionService(
        db,
        default_catalogue(catalogue or settings.effective_catalogue_path()),
        budget=budget_for(settings, db),
        facts_ttl=0,
        region=settings.default_region,
    )


def _request(
    at: datetime | None, channel: str | None, placement: str | None, seed: int, send_now: bool
) -> Any:
    from nextbest.decide.engine import Request

    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return Request(
        at=when.astimezone(UTC),
        channel=channel,
        placement=placement,
        seed=seed,
        send_now=send_now,
    )


def print_explanation(out: Console, view: dict[str, Any]) -> None:
    """The decision and its why, for a person at a terminal."""
    why = view.get("explanation") or {}
    action = view["action"]
    out.print(f"[bold]{action['name']}[/] ({action['id']}, {action['kind']}, {action['priority']})")
    out.print(
        f"member {view['member_id']}  channel {view['channel'] or '-'}  "
        f"send at {view['send_at'] or '-'}  propensity {view['propensity']:.4f}"
        + ("  [yellow]universal holdout[/]" if view["holdout"] else "")
    )
    out.print(f"why: {why.get('summary', '')}")
    if why.get("timing"):
        out.print(f"timing: {why['timing']}")
    if why.get("rules"):
        rules = Table("rule", "passed", title="rules of the chosen action")
        for r in why["rules"]:
            rules.add_row(str(r.get("rule") or r.get("channel")), "yes" if r["passed"] else "no")
        out.print(rules)
    if why.get("ranking"):
        ranking = Table("action", "score", "propensity", title="ranking (expected value)")
        for r in why["ranking"]:
            ranking.add_row(r["action"], f"{r['score']:.4f}", f"{r['propensity']:.4f}")
        out.print(ranking)
    if why.get("caps_hit"):
        out.print("caps hit: " + "; ".join(why["caps_hit"]))
    filtered = why.get("filtered") or {}
    if filtered:
        table = Table("action", "filtered because", title=f"{len(filtered)} actions filtered")
        for aid, reasons in filtered.items():
            table.add_row(aid, "; ".join(reasons))
        out.print(table)
    for name, score in (why.get("scores") or {}).items():
        drivers = ", ".join(
            f"{d.get('feature')}={d.get('value')} ({d.get('contribution'):+.3f})"
            for d in score.get("drivers") or []
            if isinstance(d, dict) and d.get("contribution") is not None
        )
        out.print(
            f"score {name} = {score['value']} (model {score['model_version']})"
            + (f"; drivers: {drivers}" if drivers else "")
        )
    out.print(f"policy {view['policy_version']}  catalogue {view['catalogue_version']}")


def decide(
    member: str = typer.Argument(..., help="Member id or any identifier (email:…, phone:…)."),
    channel: str | None = typer.Option(None, help="One channel or placement (pos, email, ...)."),
    placement: str | None = typer.Option(None, help="Placement, e.g. home_banner."),
    at: datetime | None = typer.Option(None, help="Decision time (default now, UTC)."),
    seed: int = typer.Option(0, help="Exploration seed."),
    send_now: bool = typer.Option(False, "--send-now", help="Skip send-time optimisation."),
    explain: bool = typer.Option(False, "--explain", help="Print every reason, not a summary."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Decide without taking contact slots or logging."
    ),
    catalogue: Path | None = typer.Option(None, help="Action catalogue file."),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
) -> None:
    """The next best action for a member now, and (with --explain) why."""
    from nextbest.errors import NotFound

    service = _service(Settings(), catalogue)
    request = _request(at, channel, placement, seed, send_now)
    try:
        view = service.preview(member, request) if dry_run else service.decide(member, request)
    except NotFound as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    finally:
        service.close()
    if as_json:
        print(json.dumps(view, default=str))
        return
    out = Console()
    if explain:
        print_explanation(out, view)
    else:
        a = view["action"]
        out.print(
            f"{a['id']} on {view['channel'] or '-'} at {view['send_at'] or '-'}: "
            f"{(view.get('explanation') or {}).get('summary', '')}"
        )


@app.command("batch")
def batch(
    score: str = typer.Option(..., help="Segment by this score (e.g. rfm, churn_risk)."),
    label: str | None = typer.Option(None, help="Members with this label of the score."),
    low: float | None = typer.Option(None, "--min", help="Score at least this."),
    high: float | None = typer.Option(None, "--max", help="Score at most this."),
    limit: int = typer.Option(1000, help="At most this many members."),
    channel: str | None = typer.Option(None, help="One channel for all."),
    at: datetime | None = typer.Option(None, help="Decision time (default now)."),
    seed: int = typer.Option(0, help="Exploration seed."),
    catalogue: Path | None = typer.Option(None, help="Action catalogue file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Decide for every member of a segment (each decision logged, slots taken)."""
    from nextbest.decide.segments import segment_members

    service = _service(Settings(), catalogue)
    request = _request(at, channel, None, seed, False)
    with service.db.connect() as conn:
        members = segment_members(conn, score=score, label=label, low=low, high=high, limit=limit)
    views = [service.decide(m, request, explain=False, resolved=True) for m in members]
    service.close()
    by_action = Counter(v["action"]["id"] for v in views)
    by_channel = Counter(v["channel"] or "-" for v in views if v["contacts"])
    summary = {
        "members": len(views),
        "contacts": sum(v["contacts"] for v in views),
        "by_action": dict(by_action.most_common()),
        "by_channel": dict(by_channel.most_common()),
    }
    if as_json:
        print(json.dumps(summary))
        return
    out = Console()
    out.print(f"{summary['members']:,} members, {summary['contacts']:,} contacts")
    table = Table("action", "decisions")
    for aid, n in by_action.most_common():
        table.add_row(aid, f"{n:,}")
    out.print(table)


@app.command("learn")
def learn(
    at: datetime | None = typer.Option(None, help="Settle windows closed by then (default now)."),
    catalogue: Path | None = typer.Option(None, help="Action catalogue file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Credit decisions with their outcome events and update the learner."""
    from nextbest.decide.outcomes import learn_from_outcomes
    from nextbest.decide.service import default_catalogue
    from nextbest.store.engine import make_engine

    settings = Settings()
    db = make_engine(settings)
    now = (at or datetime.now(UTC)).astimezone(UTC)
    report = learn_from_outcomes(
        db, default_catalogue(catalogue or settings.effective_catalogue_path()), now=now
    )
    if as_json:
        print(json.dumps(report.to_dict()))
        return
    out = Console()
    out.print(
        f"settled {report.settled:,} decisions ({report.converted:,} converted, "
        f"{report.outcomes:,} outcome events); learned from {report.learned:,}; "
        f"learner version {report.learner_version}"
    )


@app.command("log")
def log(
    member: str = typer.Argument(..., help="Member id or any identifier."),
    limit: int = typer.Option(20, help="Newest this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
) -> None:
    """A member's logged decisions, newest first."""
    from nextbest.decide.log import rows_for_member
    from nextbest.profiles.read import resolve_member
    from nextbest.store.engine import make_engine

    settings = Settings()
    db = make_engine(settings)
    with db.connect() as conn:
        member_id = resolve_member(conn, member, region=settings.default_region)
    rows = list(rows_for_member(db, member_id, limit=limit))
    if as_json:
        for r in rows:
            print(json.dumps(r, default=str))
        return
    table = Table("decided at", "action", "channel", "propensity", "reward")
    for r in rows:
        table.add_row(
            f"{r['decided_at']:%Y-%m-%d %H:%M}",
            r["action_id"],
            r["channel"] or "-",
            f"{r['propensity']:.4f}",
            "-" if r["reward"] is None else f"{r['reward']:g}",
        )
    Console().print(table)


@app.command("evaluate")
def evaluate(
    policy: list[str] = typer.Option(
        ["greedy", "uniform"],
        "--policy",
        help="logged, greedy, uniform or without:<action id>; repeat for several.",
    ),
    since: datetime | None = typer.Option(None, help="Decisions from then on."),
    until: datetime | None = typer.Option(None, help="Decisions before then."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Off-policy estimates (IPS, SNIPS, DM, DR) of other policies on the logged decisions."""
    from nextbest.experiments.policy_eval import evaluate_policy
    from nextbest.experiments.policy_log import load_logged
    from nextbest.store.engine import make_engine

    loaded = load_logged(make_engine(Settings()), since=since, until=until)
    counts = {
        "evaluated": len(loaded.decisions),
        "unsettled": loaded.unsettled,
        "holdout": loaded.holdout,
        "unreadable": loaded.unreadable,
    }
    if not loaded.decisions:
        raise typer.BadParameter(
            f"no settled decision to evaluate on ({counts}); run `nextbest decisions learn`"
        )
    try:
        values = [evaluate_policy(name, loaded.decisions) for name in policy]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--policy") from exc
    if as_json:
        units = {"value": "mean reward per decision (conversions)", "ratio_to_logged": "ratio"}
        print(
            json.dumps(
                {"decisions": counts, "policies": [v.as_dict() for v in values], "units": units}
            )
        )
        return
    table = Table(
        "policy",
        "estimator",
        "value",
        "95% interval",
        "ratio to logged",
        title=(
            f"{counts['evaluated']:,} settled decisions (logged value "
            f"{values[0].logged_value:.4f}); {loaded.unsettled:,} unsettled, "
            f"{loaded.holdout:,} in the holdout"
        ),
    )
    for v in values:
        for name, e in v.estimates.items():
            ratio = e.value / v.logged_value if v.logged_value else float("nan")
            table.add_row(
                v.policy,
                name.upper(),
                f"{e.value:.4f}",
                f"[{e.low:.4f}, {e.high:.4f}]",
                f"{ratio:.3f}",
            )
    Console().print(table)
