"""Journey files: a trigger, steps, exits, a goal and a holdout, validated with line numbers.

A journey is YAML a marketer can read::

    journey: winback
    name: Win back members at risk
    trigger: {score: churn_risk, above: 0.6}
    holdout: 0.1
    goal: {event: purchase, within_days: 21}
    exit_on: [{event: purchase}]
    steps:
      - {id: offer, send: {channel: email, template: winback}}
      - {id: wait, wait: {event: purchase, hours: 72, timeout: nudge}}
      - {id: done, exit: converted}
      - {id: nudge, grant: {points: 50, reason: come back}}

Steps run in file order unless one names its ``next``; ``branch``, ``split`` and an event
``wait`` name where they go. Every reference is checked when the file loads, so a typo in a
step id is a line-numbered error, not a member stuck at run time. Pure: no IO here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nextbest.decide.expressions import Expression, ExpressionError, compile_expression
from nextbest.errors import NextbestError
from nextbest.events.types import EVENT_TYPES
from nextbest.yaml_lines import Loc, bad_date_line, duplicate_keys, line_of

NAMES = frozenset({"member", "scores", "ledger", "event", "vars"})
LEDGER_TOPICS = ("tier_changed", "points_expiring", "reward_redeemed", "redemption_refused")
DATE_FIELDS = ("birthday", "signup_anniversary")
SEND_CHANNELS = ("email", "sms", "push", "in_app", "webhook", "direct_mail")
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Share = Annotated[float, Field(ge=0, le=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- the file's shape ----------------------------------------------------------------------


class TriggerSpec(_Strict):
    """Exactly one of: an event (with a condition), a ledger message, a score crossing a
    threshold, entering a segment, or a date in the member's year."""

    event: str | None = None
    ledger: str | None = None
    score: str | None = None
    above: float | None = None
    below: float | None = None
    segment: str | None = None  # "score_name:label", e.g. "rfm:at risk"
    date: str | None = None
    days_before: int = Field(default=0, ge=0, le=366)
    when: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> TriggerSpec:
        kinds = [k for k in ("event", "ledger", "score", "segment", "date") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("give exactly one of event, ledger, score, segment or date")
        if self.score and (self.above is None) == (self.below is None):
            raise ValueError("a score trigger needs exactly one of above or below")
        return self


class WaitSpec(_Strict):
    hours: float | None = Field(default=None, ge=0)
    days: float | None = Field(default=None, ge=0)
    until: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")  # local
    event: str | None = None
    timeout: str | None = None  # step to take when the event does not come in time


class BranchSpec(_Strict):
    when: str
    then: str
    otherwise: str = Field(alias="else")


class ArmSpec(_Strict):
    share: Share
    next: str


class SendSpec(_Strict):
    channel: str
    template: Id
    purpose: Literal["marketing", "loyalty", "service"] = "marketing"
    priority: Literal["service", "retention", "marketing"] = "marketing"
    data: dict[str, Any] = Field(default_factory=dict)


class DecideSpec(_Strict):
    """Ask the decision engine among ``actions``; the chosen one is sent with its template
    (None: the action is not a message, e.g. do nothing)."""

    actions: dict[Id, Id | None]
    channel: str | None = None


class GrantSpec(_Strict):
    points: int = Field(ge=1, le=1_000_000)
    reason: str = Field(min_length=1, max_length=200)


class StepSpec(_Strict):
    id: Id
    next: str | None = None
    wait: WaitSpec | None = None
    branch: BranchSpec | None = None
    split: tuple[ArmSpec, ...] | None = None
    send: SendSpec | None = None
    decide: DecideSpec | None = None
    grant: GrantSpec | None = None
    update: dict[Id, str | int | float | bool] | None = None
    exit: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> StepSpec:
        kinds = [k for k in KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a step is exactly one of {', '.join(KINDS)}; this has {kinds}")
        return self


KINDS = ("wait", "branch", "split", "send", "decide", "grant", "update", "exit")


class ExitSpec(_Strict):
    event: str
    when: str | None = None


class GoalSpec(_Strict):
    event: str
    within_days: float = Field(default=14.0, gt=0)
    when: str | None = None


class ReentrySpec(_Strict):
    allowed: bool = False
    after_days: float = Field(default=0.0, ge=0)


class JourneySpec(_Strict):
    journey: Id
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    trigger: TriggerSpec
    steps: tuple[StepSpec, ...] = Field(min_length=1)
    exit_on: tuple[ExitSpec, ...] = ()
    goal: GoalSpec | None = None
    reentry: ReentrySpec = ReentrySpec()
    holdout: Share = 0.0


# --- the compiled journey ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    kind: str
    spec: Any  # the kind's spec (WaitSpec, SendSpec, ...)
    next: str | None  # the step after this one (None: the journey ends)
    when: Expression | None = None  # a branch's condition


@dataclass(frozen=True, slots=True)
class Condition:
    event: str
    when: Expression | None


@dataclass(frozen=True, slots=True)
class Journey:
    id: str
    name: str
    version: str  # content hash: instances keep the version they entered with
    source: str
    trigger: TriggerSpec
    trigger_when: Expression | None
    steps: dict[str, Step]
    first: str
    exit_on: tuple[Condition, ...]
    goal: GoalSpec | None
    goal_when: Expression | None
    reentry: ReentrySpec
    holdout: float
    description: str = ""
    order: tuple[str, ...] = field(default=())


class JourneyIssue(BaseModel):
    model_config = ConfigDict(frozen=True)
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "(file)"
        return f"{where}: {self.path or '(top)'}: {self.message}"


class JourneyError(NextbestError, ValueError):
    """A journey file failed validation; ``issues`` lists every problem with its line."""

    def __init__(self, source: str, issues: list[JourneyIssue]) -> None:
        self.source, self.issues = source, issues
        super().__init__("\n".join(f"{source}:{i}" for i in issues))


def load_journey(path: str | Path) -> Journey:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JourneyError(
            str(path), [JourneyIssue(line=None, path="", message=str(exc))]
        ) from None
    return parse_journey(text, source=str(path))


def parse_journey(text: str, *, source: str = "<journey>") -> Journey:
    """Validate a journey file; raises ``JourneyError`` naming each problem's line.

    >>> doc = "journey: j\\nname: J\\ntrigger: {event: purchase}\\n"
    >>> doc += "steps:\\n  - {id: a, next: b, exit: x}\\n"
    >>> try:
    ...     parse_journey(doc)
    ... except JourneyError as exc:
    ...     print(exc.issues[0])
    line 5: steps.0.next: no step 'b' (steps: a)
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        issue = JourneyIssue(line=line, path="", message=str(getattr(exc, "problem", exc)))
        raise JourneyError(source, [issue]) from None
    except ValueError as exc:
        issue = JourneyIssue(line=bad_date_line(text), path="", message=f"invalid date: {exc}")
        raise JourneyError(source, [issue]) from None
    issues: list[JourneyIssue] = []

    def add(loc: Loc, message: str) -> None:
        issues.append(
            JourneyIssue(line=line_of(root, loc), path=".".join(map(str, loc)), message=message)
        )

    for loc, key_line, key in duplicate_keys(root, ()):
        issues.append(
            JourneyIssue(
                line=key_line,
                path=".".join(map(str, (*loc, key))),
                message=f"duplicate key {key!r} (the last one would silently win)",
            )
        )
    if not isinstance(data, dict):
        add((), "a journey is a mapping (journey, name, trigger, steps, ...)")
        raise JourneyError(source, issues)
    try:
        spec = JourneySpec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        for err in errors:
            loc = tuple(p for p in err["loc"] if not str(p).endswith("]"))
            # A list whose items failed also reports itself "too short": say it once.
            deeper = any(e is not err and e["loc"][: len(loc)] == loc for e in errors)
            if err["type"] == "too_short" and deeper:
                continue
            add(loc, err["msg"].removeprefix("Value error, "))
        raise JourneyError(source, _sorted(issues)) from None
    journey = _compile(spec, text, add)
    if issues:
        raise JourneyError(source, _sorted(issues))
    assert journey is not None
    return journey


def _sorted(issues: list[JourneyIssue]) -> list[JourneyIssue]:
    return sorted(issues, key=lambda i: (i.line is None, i.line or 0))


def _compile(spec: JourneySpec, text: str, add: Any) -> Journey | None:
    def expr(source: str | None, loc: Loc) -> Expression | None:
        if source is None:
            return None
        try:
            return compile_expression(source, names=NAMES)
        except ExpressionError as exc:
            add(loc, f"{exc.reason} (column {exc.column})")
            return None

    def known_event(name: str, loc: Loc) -> None:
        if name not in EVENT_TYPES:
            add(loc, f"unknown event type {name!r}; known: {', '.join(EVENT_TYPES)}")

    trig = spec.trigger
    if trig.event:
        known_event(trig.event, ("trigger", "event"))
    if trig.ledger and trig.ledger not in LEDGER_TOPICS:
        add(
            ("trigger", "ledger"), f"unknown ledger message {trig.ledger!r}; known: {LEDGER_TOPICS}"
        )
    if trig.date and trig.date not in DATE_FIELDS:
        add(("trigger", "date"), f"unknown date {trig.date!r}; known: {', '.join(DATE_FIELDS)}")
    if trig.segment and ":" not in trig.segment:
        add(("trigger", "segment"), "a segment is 'score:label', e.g. 'rfm:at risk'")
    ids = [s.id for s in spec.steps]
    seen: dict[str, int] = {}
    for i, s in enumerate(spec.steps):
        if s.id in seen:
            add(("steps", i, "id"), f"duplicate step id {s.id!r} (first is step {seen[s.id]})")
        seen.setdefault(s.id, i)
    listed = ", ".join(ids)

    def ref(name: str | None, loc: Loc) -> None:
        if name is not None and name not in seen:
            add(loc, f"no step {name!r} (steps: {listed})")

    steps: dict[str, Step] = {}
    for i, s in enumerate(spec.steps):
        here: Loc = ("steps", i)
        kind = next(k for k in KINDS if getattr(s, k) is not None)
        body = getattr(s, kind)
        ref(s.next, (*here, "next"))
        default_next = s.next or (ids[i + 1] if i + 1 < len(ids) else None)
        when = None
        if kind == "branch":
            when = expr(body.when, (*here, "branch", "when"))
            ref(body.then, (*here, "branch", "then"))
            ref(body.otherwise, (*here, "branch", "else"))
        elif kind == "split":
            for j, arm in enumerate(body):
                ref(arm.next, (*here, "split", j, "next"))
            total = sum(a.share for a in body)
            if abs(total - 1.0) > 1e-9:
                add((*here, "split"), f"shares add up to {total:g}, not 1")
        elif kind == "wait":
            waits = [body.hours is not None or body.days is not None, body.until, body.event]
            if body.event:
                known_event(body.event, (*here, "wait", "event"))
                if body.hours is None and body.days is None:
                    add((*here, "wait"), "waiting for an event needs hours or days (the timeout)")
                ref(body.timeout, (*here, "wait", "timeout"))
            elif sum(bool(w) for w in waits) != 1:
                add(
                    (*here, "wait"),
                    "wait for a duration (hours/days), a local time (until) or an event",
                )
        elif kind == "send":
            if body.channel not in SEND_CHANNELS:
                add(
                    (*here, "send", "channel"),
                    f"unknown channel {body.channel!r}; known: {SEND_CHANNELS}",
                )
        elif kind == "decide" and not body.actions:
            add((*here, "decide", "actions"), "name at least one action")
        if kind == "exit":
            default_next = None
        steps[s.id] = Step(id=s.id, kind=kind, spec=body, next=default_next, when=when)

    exits = []
    for i, e in enumerate(spec.exit_on):
        known_event(e.event, ("exit_on", i, "event"))
        exits.append(Condition(e.event, expr(e.when, ("exit_on", i, "when"))))
    goal_when = None
    if spec.goal is not None:
        known_event(spec.goal.event, ("goal", "event"))
        goal_when = expr(spec.goal.when, ("goal", "when"))
    trigger_when = expr(trig.when, ("trigger", "when"))
    return Journey(
        id=spec.journey,
        name=spec.name,
        version=hashlib.sha256(text.encode()).hexdigest()[:12],
        source=text,
        trigger=trig,
        trigger_when=trigger_when,
        steps=steps,
        first=ids[0],
        exit_on=tuple(exits),
        goal=spec.goal,
        goal_when=goal_when,
        reentry=spec.reentry,
        holdout=spec.holdout,
        description=spec.description,
        order=tuple(ids),
    )
