"""The action catalogue and contact policy as the decision engine sees them: frozen values.

``decide.catalogue`` builds these from a YAML file (validated, line-numbered errors); the
engine only reads them. Expressions are compiled once, when the catalogue loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from nextbest.decide.expressions import Expression

KINDS = ("offer", "message", "service", "nothing")
# Outbound channels carry a contact (consent, caps and quiet hours apply); inbound ones are
# placements where the member is in front of us (a till, the app, a call-centre agent).
OUTBOUND = ("email", "sms", "push", "in_app", "direct_mail", "phone", "webhook")
INBOUND = ("pos", "web", "app", "kiosk", "call_centre")
CHANNELS = OUTBOUND + INBOUND


class Priority(IntEnum):
    """Priority classes; a higher class always wins arbitration over a lower one."""

    MARKETING = 1
    RETENTION = 2
    SERVICE = 3


@dataclass(frozen=True, slots=True)
class Action:
    """One thing the engine may do for a member.

    ``response`` and ``baseline`` are the prior probabilities that the member responds when
    treated and when not (the learner refines them); ``value`` is what a response is worth.
    ``cost`` is the fixed cost of taking the action; points given cost
    ``points * cost_per_point * (1 - breakage)`` on top (see ``expected_cost``).
    """

    id: str
    kind: str  # one of KINDS
    name: str
    priority: Priority
    channels: tuple[str, ...]
    purpose: str  # the consent purpose: marketing, service, loyalty
    eligibility: tuple[Expression, ...] = ()
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    value: Expression | None = None
    response: Expression | None = None
    baseline: Expression | None = None
    cost: float = 0.0
    points: int = 0
    offer_id: str | None = None
    budget: int | None = None  # contacts over the whole validity window
    member_cap: int | None = None  # times one member may receive it, ever
    tags: frozenset[str] = frozenset()
    weight: float = 1.0  # a marketer's lever on this action (arbitration formula: ``lever``)

    def expected_cost(self, *, cost_per_point: float, breakage: float) -> float:
        """Fixed cost plus the points' expected cost; unredeemed points (breakage) cost nothing.

        >>> a = Action(id="a", kind="offer", name="a", priority=Priority.MARKETING,
        ...            channels=("email",), purpose="marketing", cost=0.5, points=200)
        >>> round(a.expected_cost(cost_per_point=0.01, breakage=0.25), 2)
        2.0
        """
        return self.cost + self.points * cost_per_point * (1.0 - breakage)


@dataclass(frozen=True, slots=True)
class Cap:
    """At most ``limit`` contacts per ``period`` (day or week, in the member's time zone);
    ``channel`` None counts every channel."""

    limit: int
    period: str  # "day" | "week"
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Suppression:
    """While ``when`` holds for the member, actions of these priority classes or tags are off."""

    name: str
    when: Expression
    priorities: frozenset[Priority] = frozenset()
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ContactPolicy:
    """Contact governance shared by every decision and every journey send."""

    caps: tuple[Cap, ...] = ()
    quiet_start: int | None = 21  # local hour quiet hours begin (inclusive)
    quiet_end: int | None = 8  # local hour they end (exclusive)
    quiet_channels: frozenset[str] = frozenset({"sms", "push", "phone"})
    cooldown_hours: float = 0.0  # after any contact, none for this long
    suppressions: tuple[Suppression, ...] = ()
    # Service actions pass frequency caps (a delayed-order apology must go out); consent,
    # quiet hours and suppression still apply.
    service_bypasses_caps: bool = True
    default_timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Arbitration:
    """How candidates are ranked: ``formula`` over ``propensity``, ``uplift``, ``value``,
    ``cost``, ``context_weight``, ``lever`` and ``levers`` (named business levers)."""

    formula: Expression
    source: str
    levers: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Learning:
    """Exploration and the universal holdout."""

    holdout_share: float = 0.05  # members who get nothing, ever (the universal control group)
    exploration: float = 0.05  # floor: each candidate gets at least exploration / K
    outcome_window_hours: float = 72.0  # a response counts if it comes within this window
    prior_strength: float = 20.0  # pseudo-observations behind each action's prior


@dataclass(frozen=True, slots=True)
class Arm:
    """One arm of a policy experiment: what it changes for its members (None: nothing)."""

    id: str
    share: float
    send_time: str | None = None  # "now": no waiting for the member's habitual hour
    channels: frozenset[str] | None = None  # only these channels
    exploration: float | None = None
    levers: dict[str, float] = field(default_factory=dict)
    without: frozenset[str] = frozenset()  # actions switched off for the arm


@dataclass(frozen=True, slots=True)
class PolicyExperiment:
    """A/B/n test of decision policies; the first arm is the control the others face."""

    id: str
    arms: tuple[Arm, ...]

    @property
    def control(self) -> Arm:
        return self.arms[0]

    @property
    def shares(self) -> tuple[float, ...]:
        return tuple(a.share for a in self.arms)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Everything a decision needs that comes from configuration."""

    version: str  # content hash of the file: logged with every decision
    actions: tuple[Action, ...]
    policy: ContactPolicy
    arbitration: Arbitration
    learning: Learning
    cost_per_point: float = 0.01
    breakage: float = 0.0
    experiments: tuple[PolicyExperiment, ...] = ()

    def action(self, action_id: str) -> Action:
        for a in self.actions:
            if a.id == action_id:
                return a
        raise KeyError(action_id)
