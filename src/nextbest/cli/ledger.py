"""`nextbest ledger`: balances, history, tiers, and the writes people make by hand.

Every write takes ``--key``, its idempotency key: running the same command again with the
same key changes nothing and says so; the same key with a different request is refused.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine, func, select

from nextbest.config import Settings
from nextbest.errors import NextbestError
from nextbest.ledger.service import Ledger
from nextbest.profiles.read import resolve_member
from nextbest.store import tables as t
from nextbest.store.engine import make_engine, upgrade

app = typer.Typer(
    help="The points ledger: balances, history, tiers, adjustments.", no_args_is_help=True
)

T = TypeVar("T")
MEMBER_HELP = "Member id, kind:value, email or +phone."


def _actor(by: str | None) -> str:
    return by or f"cli:{getpass.getuser()}"


def _fail(exc: Exception) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[red]{escape(str(exc))}[/]", highlight=False)
    return typer.Exit(1)


def _json(value: Any) -> str:
    return json.dumps(value, default=lambda o: o.isoformat() if isinstance(o, datetime) else str(o))


@contextmanager
def _engine() -> Iterator[Engine]:
    engine = make_engine(Settings())
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def _run(use: Callable[[Ledger, Settings], T]) -> T:
    """Run one use case; a ``NextbestError`` becomes a red line on stderr and exit 1."""
    settings = Settings()
    try:
        with _engine() as engine:
            return use(Ledger(engine), settings)
    except NextbestError as exc:
        raise _fail(exc) from None


def _member(ledger: Ledger, settings: Settings, ref: str) -> str:
    with ledger.engine.connect() as conn:
        return resolve_member(conn, ref, region=settings.default_region)


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


# --- reads ---------------------------------------------------------------------------------
@app.command("balance")
def balance(
    member: str = typer.Argument(..., help=MEMBER_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Spendable balance, points expiring soon, qualifying balance and tier."""
    view = _run(lambda ledger, s: ledger.account(_member(ledger, s, member)))
    if as_json:
        print(_json(view))
        return
    console = Console(highlight=False)
    currency = view["currency"]
    console.print(f"[bold]{view['member_id']}[/]: [bold]{view['balance']:,}[/] {currency}")
    if view["pending_expiry"]:
        console.print(f"{view['pending_expiry']:,} {currency} past their date, expiring")
    for lot in view["expiring_soon"]:
        console.print(f"{lot['points']:,} {currency} expire {_when(lot['expires_at'])}")
    tier = view["tier"]
    console.print(
        f"tier {tier['tier'] or '(none)'}; {view['qualifying']['balance']:,} "
        f"{view['qualifying']['currency']}"
        + (f", {tier['needed']:,} more for {tier['next_tier']}" if tier["next_tier"] else "")
    )
    program = view["program"]
    console.print(f"program {program['name']} version {program['version']}")


@app.command("history")
def history(
    member: str = typer.Argument(..., help=MEMBER_HELP),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="Newest entries to show."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """Ledger entries, newest first, with the rules or reason behind each."""
    entries = _run(lambda ledger, s: ledger.history(_member(ledger, s, member), limit=limit))
    if as_json:
        print(_json(entries))
        return
    table = Table(title=f"ledger entries of {member} (newest {len(entries)})")
    for col in ("entry", "at", "kind", "points", "qualifying", "reference", "why"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(
            e["entry_id"],
            _when(e["occurred_at"]),
            e["kind"],
            f"{e['points']:+,}",
            f"{e['qualifying']:+,}",
            e["reference"] or "",
            _why(e),
        )
    Console().print(table)


def _why(entry: dict[str, Any]) -> str:
    detail = entry["detail"]
    if entry["reason"]:
        return str(entry["reason"])
    if "rules" in detail:
        return ", ".join(f"{r['rule']} {r['points']:+}" for r in detail["rules"])
    if "reason" in detail:
        return str(detail["reason"])
    if entry["kind"] == "burn":
        return f"{detail.get('quantity', 1)} x {detail.get('reward_id')}"
    return ""


@app.command("tier")
def tier(
    member: str = typer.Argument(..., help=MEMBER_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Tier, its benefits, the qualifying balance, the next tier and what it still needs."""
    view = _run(lambda ledger, s: ledger.account(_member(ledger, s, member)))
    status = {
        **view["tier"],
        "member_id": view["member_id"],
        "currency": view["qualifying"]["currency"],
    }
    if as_json:
        print(_json(status))
        return
    console = Console(highlight=False)
    console.print(f"[bold]{view['member_id']}[/]: tier [bold]{status['tier'] or '(none)'}[/]")
    if status["since"]:
        console.print(f"since {_when(status['since'])}")
    if status["benefits"]:
        console.print(f"benefits: {', '.join(status['benefits'])}")
    console.print(f"qualifying: {status['qualifying']:,} {status['currency']} ({status['basis']})")
    if status["next_tier"]:
        console.print(
            f"next: {status['next_tier']} at {status['next_threshold']:,}, "
            f"{status['needed']:,} more"
        )
    else:
        console.print("next: none (top tier)")
    if status["grace_until"]:
        console.print(f"[yellow]below its threshold: kept until {_when(status['grace_until'])}[/]")


# --- writes --------------------------------------------------------------------------------
def _print_entry(done: dict[str, Any], what: str, as_json: bool) -> None:
    if as_json:
        print(_json(done))
        return
    again = " (replayed: this key was used already, nothing changed)" if done["replayed"] else ""
    Console(highlight=False, soft_wrap=True).print(
        f"{what}: entry {done['entry_id']} ({done['kind']}), {done['points']:+,} points{again}"
    )


@app.command("adjust", context_settings={"ignore_unknown_options": True})
def adjust(
    member: str = typer.Argument(..., help=MEMBER_HELP),
    points: int = typer.Argument(..., help="Points to credit; negative to debit."),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit log)."),
    key: str = typer.Option(..., "--key", help="Idempotency key: a retry with it is a no-op."),
    by: str | None = typer.Option(None, "--by", help="Who (default: cli:<user>)."),
    as_json: bool = typer.Option(False, "--json", help="Print the entry as JSON."),
) -> None:
    """Credit or debit points by hand, with a reason."""
    done = _run(
        lambda ledger, s: ledger.adjust(
            member_id=_member(ledger, s, member),
            points=points,
            reason=reason,
            idempotency_key=key,
            actor=_actor(by),
        )
    )
    _print_entry(done, f"adjusted {done['member_id']}", as_json)


@app.command("redeem")
def redeem(
    member: str = typer.Argument(..., help=MEMBER_HELP),
    reward: str = typer.Argument(..., help="A reward id of the active program."),
    quantity: int = typer.Option(1, "--quantity", min=1, max=100),
    key: str = typer.Option(..., "--key", help="Idempotency key: a retry with it is a no-op."),
    as_json: bool = typer.Option(False, "--json", help="Print the entry as JSON."),
) -> None:
    """Spend points on a reward."""
    done = _run(
        lambda ledger, s: ledger.redeem(
            member_id=_member(ledger, s, member),
            reward_id=reward,
            quantity=quantity,
            idempotency_key=key,
            actor=_actor(None),
        )
    )
    _print_entry(done, f"redeemed {quantity} x {reward} for {done['member_id']}", as_json)


@app.command("reverse")
def reverse(
    entry_id: str = typer.Argument(..., help="The entry to undo (le_…, from `ledger history`)."),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit log)."),
    key: str = typer.Option(..., "--key", help="Idempotency key: a retry with it is a no-op."),
    by: str | None = typer.Option(None, "--by", help="Who (default: cli:<user>)."),
    as_json: bool = typer.Option(False, "--json", help="Print the entry as JSON."),
) -> None:
    """Undo an earn, redemption, adjustment or clawback with a mirror entry."""
    done = _run(
        lambda ledger, _s: ledger.reverse(
            entry_id=entry_id, reason=reason, idempotency_key=key, actor=_actor(by)
        )
    )
    _print_entry(done, f"reversed {entry_id}", as_json)


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date or time: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@app.command("run-due")
def run_due(
    as_of: str | None = typer.Option(
        None, "--as-of", help="ISO date or time (a date is its 00:00 UTC; default: now)."
    ),
) -> None:
    """The daily job: expire due points, re-evaluate tiers, queue expiring-soon notices."""
    when = _as_of(as_of)
    counts = _run(lambda ledger, _s: ledger.run_due(as_of=when))
    Console(highlight=False).print(
        f"{counts['members']:,} members checked: {counts['expired_entries']:,} expiries "
        f"({counts['expired_points']:,} points), {counts['notices']:,} expiring-soon notices"
    )


@app.command("check")
def check() -> None:
    """Re-derive every balance and lot from the postings; exit 1 on any mismatch."""
    try:
        with _engine() as engine:
            problems = Ledger(engine).check()
            accounts, entries = _sizes(engine)
    except NextbestError as exc:
        raise _fail(exc) from None
    if problems:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        for problem in problems:
            err.print(f"[red]{escape(problem)}[/]")
        err.print(f"[red]{len(problems)} problem(s) in the ledger[/]")
        raise typer.Exit(1)
    print(f"ledger balances: {accounts:,} accounts, {entries:,} entries")


def _sizes(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        accounts = conn.execute(
            select(func.count(func.distinct(t.ledger_accounts.c.member_id)))
        ).scalar_one()
        entries = conn.execute(select(func.count()).select_from(t.ledger_entries)).scalar_one()
    return int(accounts), int(entries)
