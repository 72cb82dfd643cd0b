"""The action catalogue as a file: actions, contact policy, arbitration and learning.

A catalogue is written in YAML and validated strictly, like a loyalty program
(``ledger.program``): every problem names its line, its path and the reason, all of them at
once (``CatalogueError``), so a marketer fixes a file in one pass rather than one error at a
time. Expressions compile when the file loads, never per decision, and an expression error
also gives the column inside the expression. The result is the frozen ``Catalogue`` the
engine reads; its ``version`` is a hash of the file text, logged with every decision.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from nextbest.decide.actions import (
    CHANNELS,
    INBOUND,
    Action,
    Arbitration,
    Arm,
    Cap,
    Catalogue,
    ContactPolicy,
    Learning,
    PolicyExperiment,
    Priority,
    Suppression,
)
from nextbest.decide.expressions import (
    MAX_LENGTH,
    Expression,
    ExpressionError,
    compile_expression,
)
from nextbest.events.types import Purpose
from nextbest.yaml_lines import bad_date_line, duplicate_keys, line_of

DEMO_CATALOGUE = Path(__file__).parent / "catalogues" / "bean_and_bake.yaml"
DEFAULT_FORMULA = "uplift * value - cost"
NOTHING_ID = "do-nothing"
# What rules may read: the member's profile, their scores, their ledger and the moment.
RULE_NAMES = frozenset({"member", "scores", "ledger", "context"})
# The arbitration formula also sees the candidate's own numbers and the business levers.
FORMULA_NAMES = RULE_NAMES | frozenset(
    {"propensity", "uplift", "value", "cost", "context_weight", "lever", "levers"}
)

Loc = tuple[str | int, ...]
ZERO = compile_expression("0.0")

# --- the file's schema -----------------------------------------------------------------


def _expression_or_number(value: Any) -> float | str:
    # One error instead of pydantic's per-union-member pair (".float" and ".str" paths).
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PydanticCustomError(
            "expression_or_number", "Input should be an expression (text) or a number"
        )
    if isinstance(value, str):
        if not value.strip():
            raise PydanticCustomError("expression_empty", "an expression may not be empty")
        if len(value) > MAX_LENGTH:
            raise PydanticCustomError(
                "expression_long", "an expression is at most {n} characters", {"n": MAX_LENGTH}
            )
        return value
    if not math.isfinite(value):
        raise PydanticCustomError("number_finite", "a number must be finite")
    return float(value)


def _listify(value: Any) -> Any:
    """A single rule may be written as a string rather than a one-item list."""
    return [value] if isinstance(value, str) else value


def _as_utc(value: Any) -> Any:
    """Dates mean midnight UTC and naive times mean UTC: a validity window is unambiguous."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value  # pydantic says what is wrong with it
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time(), UTC)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Tag = Annotated[str, Field(min_length=1, max_length=64)]
Rule = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]
ExprOrNumber = Annotated[float | str, PlainValidator(_expression_or_number)]
NonNegative = Annotated[StrictFloat, Field(ge=0, allow_inf_nan=False)]
Count = Annotated[StrictInt, Field(ge=1)]
Hour = Annotated[StrictInt, Field(ge=0, le=23)]
When = Annotated[AwareDatetime, BeforeValidator(_as_utc)]
PriorityName = Literal["service", "retention", "marketing"]
LeverName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValidSpec(_Strict):
    """Validity window; either side may be open."""

    starts: When | None = Field(default=None, alias="from")
    until: When | None = None


class ActionSpec(_Strict):
    id: Id
    kind: Literal["offer", "message", "service", "nothing"]
    name: Text | None = None  # default: the id
    priority: PriorityName | None = None  # default: service for service actions, else marketing
    channels: tuple[str, ...] | None = None  # default: every channel for "nothing" only
    purpose: Purpose | None = None  # default: service for service actions, else marketing
    eligibility: Annotated[tuple[Rule, ...], BeforeValidator(_listify)] = ()
    valid: ValidSpec | None = None
    value: ExprOrNumber = 0.0
    response: ExprOrNumber = 0.0
    baseline: ExprOrNumber = 0.0
    cost: NonNegative = 0.0
    points: Annotated[StrictInt, Field(ge=0)] = 0
    offer_id: Id | None = None
    budget: Count | None = None
    member_cap: Count | None = None
    tags: tuple[Tag, ...] = ()
    weight: NonNegative = 1.0


class CapSpec(_Strict):
    limit: Count
    period: Literal["day", "week"]
    channel: str | None = None  # None: every channel together


class QuietHoursSpec(_Strict):
    start: Hour = 21
    end: Hour = 8
    channels: tuple[str, ...] = ("sms", "push", "phone")


class SuppressionSpec(_Strict):
    name: Text
    when: Rule
    priorities: tuple[PriorityName, ...] = ()
    tags: tuple[Tag, ...] = ()


class PolicySpec(_Strict):
    caps: tuple[CapSpec, ...] = ()
    quiet_hours: QuietHoursSpec | None = QuietHoursSpec()  # null: no quiet hours
    cooldown_hours: Annotated[StrictFloat, Field(ge=0, le=24 * 366, allow_inf_nan=False)] = 0.0
    service_bypasses_caps: StrictBool = True
    default_timezone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    suppressions: tuple[SuppressionSpec, ...] = ()


class ArbitrationSpec(_Strict):
    formula: Rule = DEFAULT_FORMULA
    levers: dict[LeverName, Annotated[StrictFloat, Field(allow_inf_nan=False)]] = Field(
        default_factory=dict
    )


class LearningSpec(_Strict):
    holdout_share: Annotated[StrictFloat, Field(ge=0, le=0.5)] = 0.05
    exploration: Annotated[StrictFloat, Field(gt=0, lt=1)] = 0.05
    outcome_window_hours: Annotated[StrictFloat, Field(gt=0, le=24 * 366)] = 72.0
    prior_strength: Annotated[StrictFloat, Field(gt=0, le=1e6)] = 20.0


class ArmSpec(_Strict):
    id: Text
    share: Annotated[StrictFloat, Field(gt=0, le=1)]
    send_time: Literal["habitual", "now"] | None = None
    channels: tuple[str, ...] | None = None
    exploration: Annotated[StrictFloat, Field(gt=0, lt=1)] | None = None
    levers: dict[LeverName, Annotated[StrictFloat, Field(allow_inf_nan=False)]] = Field(
        default_factory=dict
    )
    without: tuple[Text, ...] = ()


class ExperimentSpec(_Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    arms: Annotated[tuple[ArmSpec, ...], Field(min_length=2, max_length=10)]


class CatalogueSpec(_Strict):
    catalogue: Text  # the catalogue's name
    cost_per_point: NonNegative = 0.01
    breakage: Annotated[StrictFloat, Field(ge=0, le=1)] = 0.0
    policy: PolicySpec = PolicySpec()
    arbitration: ArbitrationSpec = ArbitrationSpec()
    learning: LearningSpec = LearningSpec()
    experiments: tuple[ExperimentSpec, ...] = ()
    actions: tuple[ActionSpec, ...]


# --- errors ------------------------------------------------------------------------------


class CatalogueIssue(BaseModel):
    model_config = ConfigDict(frozen=True)

    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "(file)"
        return f"{where}: {self.path or '(top)'}: {self.message}"


class CatalogueError(ValueError):
    """A catalogue file failed validation; ``issues`` lists every problem with its line."""

    def __init__(self, source: str, issues: list[CatalogueIssue]) -> None:
        self.source = source
        self.issues = issues
        super().__init__("\n".join(f"{source}:{issue}" for issue in issues))


class _Issues:
    """Collects problems against the YAML node tree, so each one gets its line."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root
        self.items: list[CatalogueIssue] = []

    def add(self, loc: Loc, message: str) -> None:
        self.items.append(
            CatalogueIssue(
                line=line_of(self.root, loc),
                path=".".join(str(p) for p in loc),
                message=message,
            )
        )

    def line(self, loc: Loc) -> int | None:
        return line_of(self.root, loc)

    def sorted(self) -> list[CatalogueIssue]:
        return sorted(self.items, key=lambda i: (i.line is None, i.line or 0))


# --- loading -----------------------------------------------------------------------------


def load_catalogue(path: str | Path) -> Catalogue:
    """Read and validate a catalogue file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(
            str(path), [CatalogueIssue(line=None, path="", message=str(exc))]
        ) from None
    return parse_catalogue(text, source=str(path))


def parse_catalogue(text: str, *, source: str = "<catalogue>") -> Catalogue:
    """Validate catalogue text and compile its expressions; raises ``CatalogueError``.

    >>> doc = "catalogue: c\\nactions:\\n  - {id: a, kind: offer, channels: [fax]}\\n"
    >>> try:
    ...     parse_catalogue(doc)
    ... except CatalogueError as exc:
    ...     print(exc.issues[0])
    line 3: actions.0.channels.0: unknown channel 'fax'
    >>> [a.id for a in parse_catalogue("catalogue: c\\nactions: []\\n").actions]
    ['do-nothing']
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        message = str(getattr(exc, "problem", None) or exc)
        raise CatalogueError(
            source, [CatalogueIssue(line=line, path="", message=message)]
        ) from None
    except ValueError as exc:
        # YAML takes 2026-13-01 for a date and fails building it outside YAMLError.
        issue = CatalogueIssue(line=bad_date_line(text), path="", message=f"invalid date: {exc}")
        raise CatalogueError(source, [issue]) from None
    issues = _Issues(root)
    for loc, key_line, key in duplicate_keys(root, ()):
        issues.items.append(
            CatalogueIssue(
                line=key_line,
                path=".".join(str(p) for p in (*loc, key)),
                message=f"duplicate key {key!r} (the last one would silently win)",
            )
        )
    if not isinstance(data, dict):
        issues.add((), "a catalogue is a mapping of sections (catalogue, policy, actions, ...)")
        raise CatalogueError(source, issues.sorted())
    try:
        spec = CatalogueSpec.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            issues.add(tuple(err["loc"]), err["msg"])
        raise CatalogueError(source, issues.sorted()) from None
    catalogue = _build(spec, issues, version=hashlib.sha256(text.encode()).hexdigest()[:12])
    if issues.items:
        raise CatalogueError(source, issues.sorted())
    return catalogue


def _build(spec: CatalogueSpec, issues: _Issues, *, version: str) -> Catalogue:
    """Cross-check and compile; problems go to ``issues`` (the result is then discarded)."""
    actions = [_action(i, a, issues) for i, a in enumerate(spec.actions)]
    _check_actions(spec, issues)
    if not any(a.kind == "nothing" for a in spec.actions):
        actions.append(
            Action(
                id=NOTHING_ID,
                kind="nothing",
                name="Do nothing",
                priority=Priority.MARKETING,
                channels=CHANNELS,
                purpose=Purpose.SERVICE.value,
                value=ZERO,
                response=ZERO,
                baseline=ZERO,
            )
        )
    return Catalogue(
        version=version,
        actions=tuple(actions),
        policy=_policy(spec.policy, issues),
        arbitration=_arbitration(spec.arbitration, issues),
        learning=Learning(
            holdout_share=float(spec.learning.holdout_share),
            exploration=float(spec.learning.exploration),
            outcome_window_hours=float(spec.learning.outcome_window_hours),
            prior_strength=float(spec.learning.prior_strength),
        ),
        cost_per_point=float(spec.cost_per_point),
        breakage=float(spec.breakage),
        experiments=_experiments(spec, issues),
    )


def _experiments(spec: CatalogueSpec, issues: _Issues) -> tuple[PolicyExperiment, ...]:
    """Policy experiments: unique ids, arms with unique ids whose shares add up to 1, known
    channels and levers the arbitration formula has."""
    out: list[PolicyExperiment] = []
    seen: set[str] = set()
    for i, e in enumerate(spec.experiments):
        here: Loc = ("experiments", i)
        if e.id in seen:
            issues.add((*here, "id"), f"duplicate experiment id {e.id!r}")
        seen.add(e.id)
        total = sum(a.share for a in e.arms)
        if abs(total - 1.0) > 1e-6:
            issues.add((*here, "arms"), f"arm shares add up to {total:g}, not 1")
        arm_ids: set[str] = set()
        arms: list[Arm] = []
        for j, a in enumerate(e.arms):
            at: Loc = (*here, "arms", j)
            if a.id in arm_ids:
                issues.add((*at, "id"), f"duplicate arm id {a.id!r}")
            arm_ids.add(a.id)
            for k, channel in enumerate(a.channels or ()):
                _known_channel(channel, (*at, "channels", k), issues)
            for name in a.levers:
                if name not in spec.arbitration.levers:
                    issues.add(
                        (*at, "levers", name),
                        f"unknown lever {name!r}: arbitration.levers has "
                        f"{', '.join(sorted(spec.arbitration.levers)) or 'none'}",
                    )
            known = {x.id for x in spec.actions}
            for k, action_id in enumerate(a.without):
                if action_id not in known:
                    issues.add((*at, "without", k), f"unknown action {action_id!r}")
            arms.append(
                Arm(
                    id=a.id,
                    share=float(a.share),
                    send_time=a.send_time,
                    channels=frozenset(a.channels) if a.channels is not None else None,
                    exploration=a.exploration,
                    levers={k: float(v) for k, v in a.levers.items()},
                    without=frozenset(a.without),
                )
            )
        out.append(PolicyExperiment(id=e.id, arms=tuple(arms)))
    return tuple(out)


_NOTHING_TAKES = (
    "eligibility",
    "valid",
    "value",
    "response",
    "baseline",
    "cost",
    "points",
    "offer_id",
    "budget",
    "member_cap",
)


def _action(i: int, a: ActionSpec, issues: _Issues) -> Action:
    here: Loc = ("actions", i)
    channels = _channels(a, here, issues)
    eligibility = tuple(
        e
        for j, rule in enumerate(a.eligibility)
        if (e := _compile(rule, RULE_NAMES, (*here, "eligibility", j), issues)) is not None
    )
    parts = {
        part: _expression(getattr(a, part), (*here, part), issues, probability=part != "value")
        for part in ("value", "response", "baseline")
    }
    starts = a.valid.starts if a.valid else None
    ends = a.valid.until if a.valid else None
    if starts is not None and ends is not None and starts >= ends:
        issues.add(
            (*here, "valid", "until"),
            f"until ({ends.isoformat()}) must be after from ({starts.isoformat()})",
        )
    if a.kind == "nothing":
        for name in _NOTHING_TAKES:
            if name in a.model_fields_set:
                issues.add((*here, name), f"an action of kind nothing takes no {name}")
    default = "service" if a.kind == "service" else "marketing"
    return Action(
        id=a.id,
        kind=a.kind,
        name=a.name or a.id,
        priority=Priority[(a.priority or default).upper()],
        channels=channels,
        purpose=(a.purpose.value if a.purpose is not None else default),
        eligibility=eligibility,
        starts_at=starts,
        ends_at=ends,
        value=parts["value"],
        response=parts["response"],
        baseline=parts["baseline"],
        cost=float(a.cost),
        points=a.points,
        offer_id=a.offer_id,
        budget=a.budget,
        member_cap=a.member_cap,
        tags=frozenset(a.tags),
        weight=float(a.weight),
    )


def _channels(a: ActionSpec, here: Loc, issues: _Issues) -> tuple[str, ...]:
    if a.channels is None:
        if a.kind == "nothing":
            return CHANNELS
        issues.add(here, f"an action of kind {a.kind} needs channels")
        return ()
    if not a.channels:
        issues.add((*here, "channels"), "give at least one channel")
    for j, channel in enumerate(a.channels):
        _known_channel(channel, (*here, "channels", j), issues)
    return tuple(dict.fromkeys(a.channels))


def _known_channel(channel: str, loc: Loc, issues: _Issues) -> bool:
    if channel in CHANNELS:
        return True
    issues.add(loc, f"unknown channel {channel!r}")
    return False


def _check_actions(spec: CatalogueSpec, issues: _Issues) -> None:
    """Rules across actions: unique ids, a single "do nothing", the reserved id."""
    first: dict[str, int] = {}
    nothing: int | None = None
    for i, a in enumerate(spec.actions):
        if a.id in first:
            line = issues.line(("actions", first[a.id], "id"))
            issues.add(("actions", i, "id"), f"duplicate id {a.id!r} (first on line {line})")
        first.setdefault(a.id, i)
        if a.kind == "nothing":
            if nothing is None:
                nothing = i
            else:
                issues.add(
                    ("actions", i, "kind"),
                    "only one action may be of kind nothing "
                    f"(already {spec.actions[nothing].id!r})",
                )
    if nothing is None and NOTHING_ID in first:
        issues.add(
            ("actions", first[NOTHING_ID], "id"),
            f"{NOTHING_ID!r} names the built-in do-nothing action: rename this action or make "
            "it kind nothing",
        )


def _policy(p: PolicySpec, issues: _Issues) -> ContactPolicy:
    here: Loc = ("policy",)
    for i, cap in enumerate(p.caps):
        loc: Loc = (*here, "caps", i, "channel")
        if (
            cap.channel is not None
            and _known_channel(cap.channel, loc, issues)
            and cap.channel in INBOUND
        ):
            issues.add(
                loc, f"caps count outbound contacts; {cap.channel!r} is an inbound placement"
            )
    quiet = p.quiet_hours
    if quiet is not None:
        if quiet.start == quiet.end:
            issues.add(
                (*here, "quiet_hours", "end"),
                "start and end are equal, so there are no quiet hours (write quiet_hours: null)",
            )
        for j, channel in enumerate(quiet.channels):
            _known_channel(channel, (*here, "quiet_hours", "channels", j), issues)
    try:
        ZoneInfo(p.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        issues.add((*here, "default_timezone"), f"unknown time zone {p.default_timezone!r}")
    suppressions = []
    for i, s in enumerate(p.suppressions):
        loc = (*here, "suppressions", i)
        if not s.priorities and not s.tags:
            issues.add(loc, "a suppression needs priorities or tags to switch off")
        when = _compile(s.when, RULE_NAMES, (*loc, "when"), issues)
        if when is not None:
            suppressions.append(
                Suppression(
                    name=s.name,
                    when=when,
                    priorities=frozenset(Priority[n.upper()] for n in s.priorities),
                    tags=frozenset(s.tags),
                )
            )
    return ContactPolicy(
        caps=tuple(Cap(limit=c.limit, period=c.period, channel=c.channel) for c in p.caps),
        quiet_start=quiet.start if quiet else None,
        quiet_end=quiet.end if quiet else None,
        quiet_channels=frozenset(quiet.channels) if quiet else frozenset(),
        cooldown_hours=float(p.cooldown_hours),
        suppressions=tuple(suppressions),
        service_bypasses_caps=p.service_bypasses_caps,
        default_timezone=p.default_timezone,
    )


_LEVER_USE = re.compile(r"(?<![\w.])levers\s*\.\s*([A-Za-z_]\w*)")


def _arbitration(a: ArbitrationSpec, issues: _Issues) -> Arbitration:
    loc: Loc = ("arbitration", "formula")
    formula = _compile(a.formula, FORMULA_NAMES, loc, issues)
    if formula is not None:
        # A misspelt lever would read as null and silently zero every score.
        for m in _LEVER_USE.finditer(a.formula):
            if m.group(1) not in a.levers:
                known = ", ".join(sorted(a.levers)) or "none defined"
                issues.add(
                    loc,
                    f"column {m.start(1) + 1}: unknown lever {m.group(1)!r} (levers: {known})",
                )
    return Arbitration(
        formula=formula or ZERO,
        source=a.formula,
        levers={k: float(v) for k, v in a.levers.items()},
    )


def _expression(
    value: float | str, loc: Loc, issues: _Issues, *, probability: bool
) -> Expression | None:
    """A number is a constant expression (computed once by the engine); text is a rule."""
    if isinstance(value, str):
        return _compile(value, RULE_NAMES, loc, issues)
    if probability and not 0.0 <= value <= 1.0:
        issues.add(loc, f"a probability must be between 0 and 1, not {value:g}")
    return compile_expression(repr(float(value)))


def _compile(source: str, names: frozenset[str], loc: Loc, issues: _Issues) -> Expression | None:
    try:
        expr = compile_expression(source)
    except ExpressionError as exc:
        issues.add(loc, f"column {exc.column}: {exc.reason}")
        return None
    unknown = sorted(expr.roots - names)
    if unknown:
        known = ", ".join(sorted(names))
        column = _name_column(source, unknown[0])
        issues.add(loc, f"column {column}: unknown name {unknown[0]!r} (known: {known})")
        return None
    return expr


_STRING_OR_NAME = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|(?<![\w.])[A-Za-z_]\w*")


def _name_column(source: str, name: str) -> int:
    """Where a root name first appears (outside string literals), 1-based."""
    for m in _STRING_OR_NAME.finditer(source):
        if m.group() == name:
            return m.start() + 1
    return 1
