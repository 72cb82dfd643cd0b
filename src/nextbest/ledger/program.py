"""The loyalty program as a file: currencies, earn rules, rewards, tiers, expiry, returns.

A program is written in YAML and validated strictly; every error names the line, the path
and the reason, all of them at once (``ProgramError``). The validated ``Program`` is frozen
and carries a ``version`` (a hash of its content) that every posting it produced records.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nextbest.yaml_lines import bad_date_line, line_of

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Factor = Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]
Points = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Currencies(_Strict):
    """Names of the two point currencies, and what one spendable point costs the brand."""

    spendable: Id = "points"
    qualifying: Id = "tier_points"
    cost_per_point: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.01


class Multiplier(_Strict):
    """Base points x ``factor`` on lines of a SKU or a category (a SKU rule wins)."""

    sku: Id | None = None
    category: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    factor: Factor


class Promotion(_Strict):
    """A time-boxed, optionally targeted bonus, with an optional budget of points.

    ``factor`` multiplies the base points of the eligible lines (2 = double points; the
    bonus is the part above the base); ``bonus`` adds fixed points per qualifying purchase.
    """

    id: Id
    starts: date
    ends: date  # exclusive
    factor: Factor | None = None
    bonus: Points | None = None
    min_total: Annotated[float, Field(ge=0)] = 0.0
    categories: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    tiers: tuple[Id, ...] = ()
    budget: Points | None = None  # total points this promotion may award


class Caps(_Strict):
    per_member_per_day: Points | None = None  # spendable points, all rules together


class Earn(_Strict):
    base_per_unit: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] = 1.0
    multipliers: tuple[Multiplier, ...] = ()
    channels: dict[str, Factor] = Field(default_factory=dict)  # purchase channel → factor
    promotions: tuple[Promotion, ...] = ()
    caps: Caps = Caps()


class Reward(_Strict):
    id: Id
    name: Annotated[str, Field(min_length=1, max_length=200)]
    points: Annotated[int, Field(gt=0)]
    stock: Points | None = None  # None: unlimited
    tiers: tuple[Id, ...] = ()  # eligible tiers; empty: everyone


class TierLevel(_Strict):
    id: Id
    threshold: Annotated[int, Field(ge=0)]  # qualifying amount to reach it
    earn_multiplier: Factor = 1.0
    benefits: tuple[str, ...] = ()


class Window(_Strict):
    kind: Literal["rolling", "calendar"] = "rolling"
    months: Annotated[int, Field(ge=1, le=120)] = 12  # rolling windows only


class Tiers(_Strict):
    """Qualification on qualifying points (base points) or on spend, in a window."""

    basis: Literal["points", "spend"] = "points"
    window: Window = Window()
    downgrade_grace_days: Annotated[int, Field(ge=0, le=3650)] = 30
    levels: tuple[TierLevel, ...] = ()


class Expiry(_Strict):
    """Spendable points expire per lot ``months`` after earning, or all on inactivity."""

    kind: Literal["lot", "inactivity", "never"] = "never"
    months: Annotated[int, Field(ge=1, le=240)] = 12
    notify_days: Annotated[int, Field(ge=0, le=365)] = 30  # "expiring soon" notice


class Returns(_Strict):
    """What a refund does to the points its purchase earned.

    ``proportional``: points x refunded / order total; ``full``: all of them at any refund;
    ``none``: points stay. Clawbacks beyond the balance are capped at it unless
    ``allow_negative`` holds (the member then owes the difference).
    """

    clawback: Literal["proportional", "full", "none"] = "proportional"
    allow_negative: bool = False


class Program(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    points: Currencies = Currencies()
    rounding: Literal["floor", "round", "ceil"] = "floor"
    earn: Earn = Earn()
    rewards: tuple[Reward, ...] = ()
    tiers: Tiers = Tiers()
    expiry: Expiry = Expiry()
    returns: Returns = Returns()

    @cached_property
    def version(self) -> str:
        """Content hash: the same program always has the same version (computed once)."""
        canonical = orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()[:12]

    def reward(self, reward_id: str) -> Reward | None:
        return next((r for r in self.rewards if r.id == reward_id), None)

    def level(self, tier: str | None) -> TierLevel | None:
        return next((lvl for lvl in self.tiers.levels if lvl.id == tier), None)

    def lot_expiry(self, earned_at: datetime) -> datetime | None:
        """When a spendable lot earned at ``earned_at`` expires (per-lot expiry only)."""
        return add_months(earned_at, self.expiry.months) if self.expiry.kind == "lot" else None

    def qualifying_expiry(self, earned_at: datetime) -> datetime:
        """When qualifying points leave the tier window: qualifying lots age out then."""
        window = self.tiers.window
        if window.kind == "calendar":
            return datetime.combine(date(earned_at.year + 1, 1, 1), time(), earned_at.tzinfo)
        return add_months(earned_at, window.months)


def add_months(at: datetime, months: int) -> datetime:
    """The same day and time ``months`` later (clamped to the month's last day).

    >>> from datetime import UTC
    >>> add_months(datetime(2026, 8, 31, 9, tzinfo=UTC), 6).isoformat()
    '2027-02-28T09:00:00+00:00'
    """
    total = at.month - 1 + months
    year, month = at.year + total // 12, total % 12 + 1
    for day in range(at.day, 27, -1):
        try:
            return at.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return at.replace(year=year, month=month, day=min(at.day, 28))


def cap_day(at: datetime) -> str:
    """The day a daily cap counts in: the UTC calendar day of the purchase.

    >>> from datetime import UTC
    >>> cap_day(datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    '2026-03-01'
    """
    return at.astimezone(UTC).date().isoformat()


# --- loading with line numbers -------------------------------------------------------------


class ProgramIssue(BaseModel):
    model_config = ConfigDict(frozen=True)

    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "(file)"
        return f"{where}: {self.path or '(top)'}: {self.message}"


class ProgramError(ValueError):
    """A program file failed validation; ``issues`` lists every problem with its line."""

    def __init__(self, source: str, issues: list[ProgramIssue]) -> None:
        self.source = source
        self.issues = issues
        super().__init__(f"{source}: " + "; ".join(str(i) for i in issues))


def load_program(path: Path) -> Program:
    """Read and validate a program file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProgramError(
            str(path), [ProgramIssue(line=None, path="", message=str(exc))]
        ) from None
    return parse_program(text, source=str(path))


def parse_program(text: str, *, source: str = "<program>") -> Program:
    """Validate program text; raises ``ProgramError`` naming each bad line.

    >>> try:
    ...     parse_program("name: Cafe\\nrounding: up\\n")
    ... except ProgramError as exc:
    ...     print(exc.issues[0])
    line 2: rounding: Input should be 'floor', 'round' or 'ceil'
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        message = str(getattr(exc, "problem", None) or exc)
        raise ProgramError(source, [ProgramIssue(line=line, path="", message=message)]) from None
    except ValueError as exc:
        # YAML takes 2026-13-01 for a date and fails building it outside YAMLError.
        issue = ProgramIssue(line=bad_date_line(text), path="", message=f"invalid date: {exc}")
        raise ProgramError(source, [issue]) from None
    if not isinstance(data, dict):
        raise ProgramError(
            source, [ProgramIssue(line=1, path="", message="a program is a mapping of sections")]
        )
    try:
        program = Program.model_validate(data)
    except ValidationError as exc:
        issues = [
            ProgramIssue(
                line=line_of(root, err["loc"]),
                path=".".join(str(p) for p in err["loc"]),
                message=err["msg"],
            )
            for err in exc.errors()
        ]
        raise ProgramError(source, issues) from None
    problems = cross_check(program)
    if problems:
        raise ProgramError(
            source,
            [
                ProgramIssue(
                    line=line_of(root, loc), path=".".join(str(p) for p in loc), message=msg
                )
                for loc, msg in problems
            ],
        )
    return program


def cross_check(program: Program) -> list[tuple[tuple[str | int, ...], str]]:
    """Rules that span fields: unique ids, rising thresholds, references that exist."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    levels = program.tiers.levels
    tier_ids = {lvl.id for lvl in levels}
    groups: tuple[tuple[tuple[str, ...], tuple[Reward | TierLevel | Promotion, ...]], ...] = (
        (("rewards",), program.rewards),
        (("tiers", "levels"), levels),
        (("earn", "promotions"), program.earn.promotions),
    )
    for where, items in groups:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.id in seen:
                out.append(((*where, i, "id"), f"duplicate id {item.id!r}"))
            seen.add(item.id)
    for i, lvl in enumerate(levels):
        if i == 0 and lvl.threshold != 0:
            out.append((("tiers", "levels", 0, "threshold"), "the first tier starts at 0"))
        if i > 0 and lvl.threshold <= levels[i - 1].threshold:
            out.append(
                (
                    ("tiers", "levels", i, "threshold"),
                    f"thresholds must rise: {lvl.threshold} after {levels[i - 1].threshold}",
                )
            )
    for i, promo in enumerate(program.earn.promotions):
        if promo.ends <= promo.starts:
            out.append((("earn", "promotions", i, "ends"), "ends must be after starts"))
        if (promo.factor is None) == (promo.bonus is None):
            out.append((("earn", "promotions", i), "give exactly one of factor or bonus"))
        for tier in promo.tiers:
            if tier not in tier_ids:
                out.append((("earn", "promotions", i, "tiers"), f"unknown tier {tier!r}"))
    for i, reward in enumerate(program.rewards):
        for tier in reward.tiers:
            if tier not in tier_ids:
                out.append((("rewards", i, "tiers"), f"unknown tier {tier!r}"))
    for i, rule in enumerate(program.earn.multipliers):
        if (rule.sku is None) == (rule.category is None):
            out.append((("earn", "multipliers", i), "give exactly one of sku or category"))
    if program.points.spendable == program.points.qualifying:
        out.append((("points", "qualifying"), "must differ from the spendable currency"))
    return out
