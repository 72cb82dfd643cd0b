"""`nextbest program`: validate, apply, show and try out the loyalty program file."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from nextbest.config import Settings
from nextbest.errors import NextbestError
from nextbest.ledger import repository as repo
from nextbest.ledger.earn import EarnContext, Line, PurchaseFacts, quote_purchase
from nextbest.ledger.program import Program, ProgramError, parse_program
from nextbest.ledger.service import NoProgram
from nextbest.store import tables as t
from nextbest.store.engine import make_engine, upgrade, write_transaction

app = typer.Typer(
    help="The loyalty program file: earn rules, rewards, tiers, expiry.", no_args_is_help=True
)

DEFAULT_CATEGORY = "other"


def _fail(exc: Exception | str) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[red]{escape(str(exc))}[/]", highlight=False)
    return typer.Exit(1)


def _summary(program: Program) -> str:
    return (
        f"{program.name} version {program.version}: {len(program.rewards)} rewards, "
        f"{len(program.tiers.levels)} tiers, {len(program.earn.promotions)} promotions"
    )


def _read(path: Path) -> tuple[str, Program]:
    """The file's text and its validated program; else every issue as ``FILE:LINE: path:
    message`` on stderr, and exit 1."""
    try:
        text = path.read_text(encoding="utf-8")
        return text, parse_program(text, source=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        print(f"{path}: (file): {reason}", file=sys.stderr)
        raise typer.Exit(1) from None
    except ProgramError as exc:
        for issue in exc.issues:
            where = f"{path}:{issue.line}" if issue.line is not None else str(path)
            print(f"{where}: {issue.path or '(top)'}: {issue.message}", file=sys.stderr)
        raise typer.Exit(1) from None


@app.command("validate")
def validate(
    file: Path = typer.Argument(..., dir_okay=False, help="A program file (YAML)."),
) -> None:
    """Check a program file; every problem is named with its line."""
    _, program = _read(file)
    print(f"ok: {_summary(program)}")


@app.command("apply")
def apply(
    file: Path = typer.Argument(..., dir_okay=False, help="A program file (YAML)."),
    by: str | None = typer.Option(None, "--by", help="Who applies it (default: cli:<user>)."),
) -> None:
    """Validate a program file and make it the active program."""
    source, program = _read(file)
    engine = make_engine(Settings())
    try:
        upgrade(engine)
        with write_transaction(engine) as conn:
            changed = repo.save_program(
                conn,
                program,
                source=source,
                actor=by or f"cli:{getpass.getuser()}",
                now=datetime.now(UTC),
            )
    finally:
        engine.dispose()
    if changed:
        print(f"applied {_summary(program)}")
    else:
        print(f"version {program.version} of {program.name} is already active; nothing changed")


@app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="Print the program as JSON.")) -> None:
    """The active program: when and by whom it was applied, its rules, rewards and tiers."""
    engine = make_engine(Settings())
    try:
        upgrade(engine)
        with engine.connect() as conn:
            program = repo.active_program(conn)
            applied = None
            if program is not None:
                applied = conn.execute(
                    select(t.ledger_programs.c.applied_at, t.ledger_programs.c.applied_by).where(
                        t.ledger_programs.c.version == program.version
                    )
                ).first()
    finally:
        engine.dispose()
    if program is None:
        raise _fail(
            NoProgram("no loyalty program is active; apply one with `nextbest program apply`")
        )
    applied_at = _iso(applied.applied_at) if applied is not None else None
    applied_by = applied.applied_by if applied is not None else None
    if as_json:
        out = {
            "version": program.version,
            "applied_at": applied_at,
            "applied_by": applied_by,
            "program": program.model_dump(mode="json"),
        }
        print(json.dumps(out))
        return
    console = Console()
    console.print(f"[bold]{_summary(program)}[/]")
    console.print(f"applied {applied_at} by {applied_by}")
    console.print(_program_tables(program))


def _iso(value: datetime | str) -> str:
    if isinstance(value, str):  # SQLite may hand back text
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


def _program_tables(program: Program) -> Table:
    points = program.points
    earn = program.earn
    table = Table(title="program", show_header=False)
    table.add_row("currency", program.currency)
    table.add_row(
        "points",
        f"spendable {points.spendable}, qualifying {points.qualifying}, "
        f"cost {points.cost_per_point:g} {program.currency} per point",
    )
    table.add_row("rounding", program.rounding)
    table.add_row("base", f"{earn.base_per_unit:g} per {program.currency}")
    for rule in earn.multipliers:
        what = f"sku {rule.sku}" if rule.sku is not None else f"category {rule.category}"
        table.add_row("multiplier", f"x{rule.factor:g} on {what}")
    for channel, factor in earn.channels.items():
        table.add_row("channel", f"x{factor:g} on {channel}")
    for promo in earn.promotions:
        what = f"x{promo.factor:g}" if promo.factor is not None else f"+{promo.bonus}"
        budget = f", budget {promo.budget}" if promo.budget is not None else ""
        table.add_row(
            "promotion", f"{promo.id}: {what} from {promo.starts} to {promo.ends}{budget}"
        )
    if earn.caps.per_member_per_day is not None:
        table.add_row("cap", f"{earn.caps.per_member_per_day} per member per day")
    for reward in program.rewards:
        extra = "" if reward.stock is None else f", stock {reward.stock}"
        extra += f", tiers {', '.join(reward.tiers)}" if reward.tiers else ""
        table.add_row("reward", f"{reward.id} ({reward.name}): {reward.points}{extra}")
    tiers = program.tiers
    window = (
        f"rolling {tiers.window.months} months" if tiers.window.kind == "rolling" else "calendar"
    )
    for level in tiers.levels:
        benefits = f"; {', '.join(level.benefits)}" if level.benefits else ""
        table.add_row(
            "tier",
            f"{level.id} from {level.threshold} ({tiers.basis}, {window}), "
            f"earn x{level.earn_multiplier:g}{benefits}",
        )
    expiry = program.expiry
    table.add_row(
        "expiry",
        "never"
        if expiry.kind == "never"
        else f"{expiry.kind} after {expiry.months} months, notice {expiry.notify_days} days",
    )
    returns = program.returns
    table.add_row(
        "returns",
        f"clawback {returns.clawback}" + (", may go negative" if returns.allow_negative else ""),
    )
    return table


def parse_line(text: str) -> Line:
    """``SKU:CATEGORY:QTY:PRICE`` as a purchase line.

    >>> parse_line("beans-1kg:beans:2:12.5")
    Line(sku='beans-1kg', category='beans', quantity=2, unit_price=12.5)
    """
    parts = text.split(":")
    if len(parts) != 4:
        raise typer.BadParameter(f"{text!r}: expected SKU:CATEGORY:QTY:PRICE", param_hint="--line")
    sku, category, qty, price = parts
    try:
        quantity, unit_price = int(qty), float(price)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: QTY is a whole number and PRICE a number", param_hint="--line"
        ) from None
    if not sku or not category or quantity <= 0 or unit_price < 0:
        raise typer.BadParameter(
            f"{text!r}: needs a SKU, a category, QTY > 0 and PRICE >= 0", param_hint="--line"
        )
    return Line(sku, category, quantity, unit_price)


def _at(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date or time: {text!r}", param_hint="--at") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _active() -> Program:
    engine = make_engine(Settings())
    try:
        upgrade(engine)
        with engine.connect() as conn:
            program = repo.active_program(conn)
    finally:
        engine.dispose()
    if program is None:
        raise NoProgram(
            "no loyalty program is active; apply one with `nextbest program apply` or pass --file"
        )
    return program


@app.command("simulate")
def simulate(
    total: float = typer.Option(..., "--total", min=0, help="What the member paid."),
    lines: list[str] = typer.Option(
        [],
        "--line",
        help="SKU:CATEGORY:QTY:PRICE, repeatable (default: one line of category 'other').",
    ),
    channel: str = typer.Option("store", "--channel", help="store, app, web, kiosk or phone."),
    tier: str | None = typer.Option(None, "--tier", help="The member's tier."),
    earned_today: int = typer.Option(
        0, "--earned-today", min=0, help="Points already earned today (daily cap)."
    ),
    at: str | None = typer.Option(None, "--at", help="When, ISO (default: now)."),
    file: Path | None = typer.Option(
        None, "--file", dir_okay=False, help="A program file (default: the active program)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """What a purchase would earn, rule by rule, without writing anything.

    Promotion budgets count as unspent.
    """
    parsed = tuple(parse_line(x) for x in lines) or (
        Line("item", DEFAULT_CATEGORY, 1, round(total, 2)),
    )
    gross = sum(line.quantity * line.unit_price for line in parsed)
    if total > gross + 0.015:
        raise typer.BadParameter(
            f"total {total:.2f} is more than the lines add up to ({gross:.2f})",
            param_hint="--total",
        )
    when = _at(at)
    try:
        program = _read(file)[1] if file is not None else _active()
    except NextbestError as exc:
        raise _fail(exc) from None
    if tier is not None and program.level(tier) is None:
        known = ", ".join(level.id for level in program.tiers.levels) or "none"
        raise typer.BadParameter(f"unknown tier {tier!r}; known: {known}", param_hint="--tier")
    purchase = PurchaseFacts("simulated", when, total, channel, parsed)
    quote = quote_purchase(program, purchase, EarnContext(tier=tier, earned_today=earned_today))
    out: dict[str, Any] = {
        "program": {"name": program.name, "version": program.version},
        "at": when.isoformat(),
        "points": quote.points,
        "qualifying": quote.qualifying,
        "currency": program.points.spendable,
        "qualifying_currency": program.points.qualifying,
        "rules": quote.explain(),
        "promotions": dict(quote.promotions),
    }
    if as_json:
        print(json.dumps(out))
        return
    table = Table(title=f"what {total:.2f} {program.currency} on {channel} earns")
    table.add_column("rule")
    table.add_column("points", justify="right")
    table.add_column("why")
    for part in quote.parts:
        table.add_row(part.rule, f"{part.points:+,}", part.why)
    console = Console()
    console.print(table)
    console.print(
        f"spendable: [bold]{quote.points:,}[/] {program.points.spendable}; "
        f"qualifying: [bold]{quote.qualifying:,}[/] {program.points.qualifying}"
    )
    console.print(f"program {program.name} version {program.version}", highlight=False)
