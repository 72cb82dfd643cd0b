"""The next-best-action decision, pure: eligibility, governance, scoring, arbitration, exploration.

For one member and moment the engine walks every action of the catalogue:

1. **eligibility**: validity window, the action's rules, suppression rules;
2. **governance** per channel: consent for the action's purpose, quiet hours, frequency caps,
   cool-down, per-member caps and budgets (by the usage a ``ContactBudget`` reported);
3. **scoring**: expected incremental value ``uplift * value - cost`` where uplift is the
   response probability if treated minus if not (catalogue priors, corrected by the
   learner) times the chance the member sees it on that channel; the channel with the best
   predicted engagement carries the action; the catalogue's arbitration formula (with the
   marketers' levers) ranks;
4. **arbitration**: only the highest priority class present competes (service over
   retention over marketing); "do nothing" competes unless a service action is due;
5. **exploration**: Thompson win rates with a floor give each candidate its propensity, and
   the action is drawn from them with a seeded generator (same seed and state, same
   decision).

Nothing here reads a clock, a database or the network: time, member facts and usage come in,
a ``Decision`` (with the slots to reserve and the whole explanation) comes out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from nextbest.decide.actions import (
    INBOUND,
    OUTBOUND,
    Action,
    Arm,
    Catalogue,
    PolicyExperiment,
    Priority,
)
from nextbest.decide.governance import (
    Slot,
    action_slots,
    budget_key,
    caps_cover,
    consent_reason,
    contact_slots,
    full_slot,
    member_cap_key,
    zone,
)
from nextbest.decide.hashing import pick, unit_uniform
from nextbest.decide.learner import CONTROL, Learner, context_features, propensities
from nextbest.decide.timing import engagement, send_time

DEFAULT_FORMULA = "uplift * value - cost"


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """What the engine knows of a member: the expression environment and a few typed facts."""

    member_id: str
    env: Mapping[str, Any]  # {"member": …, "scores": …, "ledger": …}
    consent: Mapping[str, bool] = field(default_factory=dict)
    timezone: str | None = None
    active_hours: Mapping[str, int] = field(default_factory=dict)
    engagement: Mapping[str, int] = field(default_factory=dict)
    churn_risk: float | None = None
    days_since_purchase: float | None = None
    purchases: int = 0
    drivers: Mapping[str, Any] = field(default_factory=dict)  # score -> its top drivers
    model_versions: Mapping[str, str] = field(default_factory=dict)  # score -> model version


@dataclass(frozen=True, slots=True)
class Request:
    """The moment of a decision. ``channel`` asks for one channel or placement (a till, the
    app, a call-centre screen); None lets each action use its best outbound channel."""

    at: datetime
    channel: str | None = None
    placement: str | None = None
    location: str | None = None
    event: Mapping[str, Any] | None = None
    send_now: bool = False
    actions: frozenset[str] | None = None  # only these (a journey's decide step)
    exclude: frozenset[tuple[str, str]] = frozenset()  # (action, channel) that lost a race
    seed: int = 0
    key: str | None = None  # idempotency key of the request


@dataclass(slots=True)
class Candidate:
    """One action as the engine weighed it; ``reasons`` empty means it competed."""

    action_id: str
    priority: str
    channel: str | None = None
    reasons: list[str] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    p_treated: float = 0.0
    p_control: float = 0.0
    seen: float = 1.0
    uplift: float = 0.0
    value: float = 0.0
    cost: float = 0.0
    score: float = 0.0
    score_sd: float = 0.0
    propensity: float = 0.0
    send_at: datetime | None = None
    timing: str = ""
    slots: list[Slot] = field(default_factory=list)
    features: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action_id, "priority": self.priority}
        if self.reasons:
            out["filtered"] = self.reasons
            if self.rules:
                out["rules"] = self.rules
            return out
        out.update(
            channel=self.channel,
            rules=self.rules,
            p_treated=round(self.p_treated, 6),
            p_control=round(self.p_control, 6),
            seen=round(self.seen, 6),
            uplift=round(self.uplift, 6),
            value=round(self.value, 4),
            cost=round(self.cost, 4),
            score=round(self.score, 6),
            score_sd=round(self.score_sd, 6),
            propensity=self.propensity,
            send_at=self.send_at.isoformat() if self.send_at else None,
        )
        return out


@dataclass(slots=True)
class Decision:
    decision_id: str
    member_id: str
    at: datetime
    action: Action
    channel: str | None
    send_at: datetime | None
    propensity: float
    holdout: bool
    candidates: list[Candidate]
    slots: list[Slot]
    features: list[float]
    catalogue_version: str
    policy_version: str
    model_versions: Mapping[str, str]
    why: dict[str, Any]
    # Policy experiments: {experiment: {arm, share, control, control_share}}.
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def contacts(self) -> bool:
        """Whether carrying it out contacts the member (and so takes governance slots)."""
        return self.action.kind != "nothing" and self.channel in OUTBOUND


def decision_id(member_id: str, at: datetime, seed: int, key: str | None) -> str:
    """Deterministic id: a retried request (same key) gets the same decision id."""
    text = f"{member_id}|{key or at.isoformat()}|{seed}"
    return "d_" + hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def in_holdout(member_id: str, share: float, *, salt: str = "universal") -> bool:
    """Stable assignment to the universal holdout by hashing; it never changes for a member.

    >>> sum(in_holdout(f"m_{i}", 0.1) for i in range(10_000))
    981
    """
    return unit_uniform(salt, member_id) < share


def arms_of(experiments: Sequence[PolicyExperiment], member_id: str) -> dict[str, Arm]:
    """The member's arm in each policy experiment: hashed with the experiment's id as salt,
    so it is stable, never changes, and is independent across experiments.

    >>> from nextbest.decide.actions import Arm, PolicyExperiment
    >>> e = PolicyExperiment("send-time", (Arm("habitual", 0.5), Arm("now", 0.5, "now")))
    >>> sorted({arms_of([e], f"m_{i}")["send-time"].id for i in range(20)})
    ['habitual', 'now']
    """
    return {
        e.id: e.arms[pick(unit_uniform(f"experiment:{e.id}", member_id), e.shares)]
        for e in experiments
    }


def experiment_view(
    experiments: Sequence[PolicyExperiment], arms: Mapping[str, Arm]
) -> dict[str, dict[str, Any]]:
    """What the log keeps of the member's arms: enough to read the experiment without the
    catalogue (the planned shares of the arm and of the control)."""
    out: dict[str, dict[str, Any]] = {}
    for e in experiments:
        arm = arms.get(e.id)
        if arm is not None:
            out[e.id] = {
                "arm": arm.id,
                "share": arm.share,
                "control": e.control.id,
                "control_share": e.control.share,
            }
    return out


def _apply_arms(m: _Moment, arms: Mapping[str, Arm], levers: Mapping[str, float]) -> None:
    m.arms = dict(arms)
    for arm in arms.values():
        if arm.channels is not None:
            m.channels = arm.channels if m.channels is None else m.channels & arm.channels
        if arm.levers:
            m.levers = {**(m.levers if m.levers is not None else levers), **arm.levers}
        m.without |= arm.without


def _number(expr: Any, env: Mapping[str, Any]) -> float:
    if expr is None:
        return 0.0
    v = expr.evaluate(env)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return 0.0
    return float(v)


def _clip(p: float) -> float:
    return min(max(p, 0.0), 1.0)


@dataclass(frozen=True, slots=True)
class _Verdict:
    """One channel for one kind of contact at this moment: refused (``refused`` says why,
    prefixed with the channel) or open, with its send time, slots and engagement."""

    channel: str
    refused: str | None
    seen: float = 0.0
    at: datetime | None = None
    timing: str = ""
    slots: tuple[Slot, ...] = ()
    full: Slot | None = None  # the first slot already at its limit


class _Moment:
    """What one decision computes once and every action shares: send times, per-channel
    verdicts (consent, quiet hours, caps), rule and suppression results, expression values.
    Two hundred actions on five channels reduce to a few dozen distinct checks."""

    __slots__ = (
        "arms",
        "caps_hit",
        "channels",
        "contact",
        "env",
        "facts",
        "groups",
        "levers",
        "local_now",
        "request",
        "rules",
        "suppressions",
        "times",
        "usage",
        "values",
        "verdicts",
        "without",
    )

    def __init__(
        self,
        facts: MemberFacts,
        request: Request,
        env: dict[str, Any],
        local_now: datetime,
        usage: Mapping[str, int],
    ) -> None:
        self.facts, self.request, self.env = facts, request, env
        self.local_now, self.usage = local_now, usage
        self.times: dict[tuple[str, bool], tuple[datetime | None, str]] = {}
        self.contact: dict[tuple[str, datetime], tuple[Slot, ...]] = {}
        self.verdicts: dict[tuple[str, str, bool, bool], _Verdict] = {}
        self.groups: dict[tuple[tuple[str, ...], str, bool, bool], tuple[_Verdict, ...]] = {}
        self.rules: dict[str, tuple[bool, dict[str, Any]]] = {}
        self.suppressions: dict[str, bool] = {}
        self.values: dict[str, float] = {}
        self.caps_hit: set[str] = set()
        # Policy experiments: the member's arms and what they change.
        self.arms: dict[str, Arm] = {}
        self.channels: frozenset[str] | None = None
        self.levers: dict[str, float] | None = None
        self.without: frozenset[str] = frozenset()


class Engine:
    """Decides for one member at a time over a compiled catalogue and a learner."""

    def __init__(self, catalogue: Catalogue, learner: Learner | None = None) -> None:
        self.catalogue = catalogue
        self.learner = learner or Learner(prior_strength=catalogue.learning.prior_strength)
        self.nothing = next(a for a in catalogue.actions if a.kind == "nothing")
        self._formula = catalogue.arbitration.formula
        self._default_formula = catalogue.arbitration.source.replace(" ", "") == (
            DEFAULT_FORMULA.replace(" ", "")
        )
        self._costs = {
            a.id: a.expected_cost(
                cost_per_point=catalogue.cost_per_point, breakage=catalogue.breakage
            )
            for a in catalogue.actions
        }
        self._priority = {a.id: a.priority.name.lower() for a in catalogue.actions}
        self._capped = {a.id: caps_cover(catalogue.policy, a) for a in catalogue.actions}
        # One action per distinct (channels, purpose, urgency, caps) signature: the verdicts
        # of the others are the same, so ``slot_keys`` walks a dozen actions, not hundreds.
        heads: dict[tuple[object, ...], Action] = {}
        for a in catalogue.actions:
            sig = (a.channels, a.purpose, a.priority is Priority.SERVICE, self._capped[a.id])
            heads.setdefault(sig, a)
        self._group_heads = list(heads.values())
        self._budget_keys = [budget_key(a.id) for a in catalogue.actions if a.budget is not None]
        self._member_capped = [a.id for a in catalogue.actions if a.member_cap is not None]
        # Expressions without names are constants: computed once here, not per decision.
        self._const: dict[tuple[str, str], float] = {}
        for a in catalogue.actions:
            for part in ("value", "response", "baseline"):
                expr = getattr(a, part)
                if expr is not None and not expr.roots:
                    self._const[(a.id, part)] = _number(expr, {})

    @property
    def policy_version(self) -> str:
        return f"{self.catalogue.version}.l{self.learner.version}"

    def _part(self, action: Action, part: str, m: _Moment) -> float:
        got = self._const.get((action.id, part))
        if got is not None:
            return got
        expr = getattr(action, part)
        if expr is None:
            return 0.0
        # Many actions share a value model: evaluate each distinct expression once.
        got = m.values.get(expr.source)
        if got is None:
            got = m.values[expr.source] = _number(expr, m.env)
        return got

    def context(self, facts: MemberFacts, request: Request) -> tuple[dict[str, Any], datetime]:
        """The expression environment for this moment, and the member's local time."""
        policy = self.catalogue.policy
        local_now = request.at.astimezone(zone(facts.timezone, policy.default_timezone))
        env = dict(facts.env)
        env["context"] = {
            "channel": request.channel,
            "placement": request.placement,
            "location": request.location,
            "hour": local_now.hour,
            "weekday": local_now.weekday(),
            "event": dict(request.event or {}),
        }
        return env, local_now

    def _moment(self, facts: MemberFacts, request: Request, usage: Mapping[str, int]) -> _Moment:
        env, local_now = self.context(facts, request)
        return _Moment(facts, request, env, local_now, usage)

    def slot_keys(self, facts: MemberFacts, request: Request) -> list[str]:
        """Every counter a decision may consult: read them once, then ``decide``.

        Slots are those of the send time (a contact deferred past midnight takes the next
        day's cap), as ``decide`` names them."""
        m = self._moment(facts, request, {})
        keys: set[str] = set()
        for action in self._group_heads:
            for v in self._verdicts(action, m):
                keys.update(s.key for s in v.slots)
        keys.update(self._budget_keys)
        keys.update(member_cap_key(facts.member_id, a) for a in self._member_capped)
        return sorted(keys)

    def _timed(self, channel: str, send_now: bool, m: _Moment) -> tuple[datetime | None, str]:
        """The send time on ``channel``, computed once per channel and urgency: a service
        action goes now, a marketing one at the member's best hour."""
        timed = m.times.get((channel, send_now))
        if timed is None:
            timed = m.times[(channel, send_now)] = send_time(
                self.catalogue.policy,
                channel=channel,
                local_now=m.local_now,
                active_hours=m.facts.active_hours,
                send_now=send_now,
            )
        return timed

    def _channels(self, action: Action, request: Request) -> tuple[str, ...]:
        if request.channel is not None:
            return (request.channel,) if request.channel in action.channels else ()
        return tuple(c for c in action.channels if c in OUTBOUND)

    def _verdicts(self, action: Action, m: _Moment) -> tuple[_Verdict, ...]:
        """The verdict on each channel of ``action``: shared by every action with the same
        channels, purpose, urgency and exposure to caps."""
        send_now = m.request.send_now or action.priority is Priority.SERVICE
        capped = self._capped[action.id]
        group_key = (action.channels, action.purpose, send_now, capped)
        group = m.groups.get(group_key)
        if group is None:
            group = m.groups[group_key] = tuple(
                self._verdict(channel, action, send_now, capped, m)
                for channel in self._channels(action, m.request)
            )
        return group

    def _verdict(
        self, channel: str, action: Action, send_now: bool, capped: bool, m: _Moment
    ) -> _Verdict:
        key = (channel, action.purpose, send_now, capped)
        got = m.verdicts.get(key)
        if got is not None:
            return got
        why_not = consent_reason(
            m.facts.consent, channel=channel, purpose=action.purpose, kind=action.kind
        )
        if why_not is not None:
            got = _Verdict(channel, f"{channel}: {why_not}")
        else:
            at, timing = self._timed(channel, send_now, m)
            if at is None:
                got = _Verdict(channel, f"{channel}: {timing}")
            else:
                slots: tuple[Slot, ...] = ()
                if capped and channel not in INBOUND:
                    slots = m.contact.get((channel, at), ())
                    if not slots:
                        slots = m.contact[(channel, at)] = tuple(
                            contact_slots(
                                self.catalogue.policy,
                                member_id=m.facts.member_id,
                                channel=channel,
                                local_at=at,
                            )
                        )
                got = _Verdict(
                    channel,
                    None,
                    seen=engagement(m.facts.engagement, channel),
                    at=at,
                    timing=timing,
                    slots=slots,
                    full=full_slot(slots, m.usage) if m.usage else None,
                )
        m.verdicts[key] = got
        return got

    def _rules_pass(self, action: Action, cand: Candidate, m: _Moment) -> bool:
        for rule in action.eligibility:
            got = m.rules.get(rule.source)
            if got is None:
                ok = rule.holds(m.env)
                got = m.rules[rule.source] = (ok, {"rule": rule.source, "passed": ok})
            cand.rules.append(got[1])
            if not got[0]:
                cand.reasons.append(f"rule not met: {rule.source}")
                return False
        return True

    def decide(self, facts: MemberFacts, request: Request, usage: Mapping[str, int]) -> Decision:
        cat = self.catalogue
        did = decision_id(facts.member_id, request.at, request.seed, request.key)
        if in_holdout(facts.member_id, cat.learning.holdout_share):
            return self._holdout(facts, request, did)
        arms = arms_of(cat.experiments, facts.member_id)
        if any(a.send_time == "now" for a in arms.values()):
            request = replace(request, send_now=True)
        m = self._moment(facts, request, usage)
        if arms:
            _apply_arms(m, arms, cat.arbitration.levers)

        candidates: list[Candidate] = []
        competing: list[tuple[Candidate, Action]] = []
        for action in cat.actions:
            cand = Candidate(action_id=action.id, priority=self._priority[action.id])
            candidates.append(cand)
            if action.kind == "nothing":
                cand.channel = request.channel
                competing.append((cand, action))
                continue
            if request.actions is not None and action.id not in request.actions:
                cand.reasons.append("not offered at this step")
                continue
            if m.without and action.id in m.without:
                cand.reasons.append("switched off in the member's experiment arm")
                continue
            if action.starts_at is not None and request.at < action.starts_at:
                cand.reasons.append(f"not valid before {action.starts_at.isoformat()}")
                continue
            if action.ends_at is not None and request.at >= action.ends_at:
                cand.reasons.append(f"expired at {action.ends_at.isoformat()}")
                continue
            if not self._rules_pass(action, cand, m):
                continue
            hit = self._suppressed(action, m)
            if hit is not None:
                cand.reasons.append(f"suppressed: {hit}")
                continue
            self._pick_channel(cand, action, m)
            if not cand.reasons:
                competing.append((cand, action))

        chosen, cands = self._arbitrate(competing, m)
        rng = np.random.default_rng(
            [request.seed, int(did[2:18], 16) & 0xFFFFFFFF, self.learner.version]
        )
        means = np.array([c.score for c, _a in cands])
        sds = np.array([c.score_sd for c, _a in cands])
        exploration = next(
            (a.exploration for a in arms.values() if a.exploration is not None),
            cat.learning.exploration,
        )
        probs = propensities(means, sds, exploration=exploration, rng=rng)
        for (c, _a), p in zip(cands, probs.tolist(), strict=True):
            c.propensity = p
        if len(cands) < len(competing):
            kept = {id(c) for c, _a in cands}
            for c, _a in competing:
                if id(c) not in kept:
                    c.reasons.append(f"outranked: a {chosen.name.lower()} action is due")
        pick = int(rng.choice(len(cands), p=probs))
        cand, action = cands[pick]
        why = self._why(cand, action, cands, candidates, m, chosen)
        if arms:
            why["experiments"] = {e: a.id for e, a in arms.items()}
        return Decision(
            decision_id=did,
            member_id=facts.member_id,
            at=request.at,
            action=action,
            channel=cand.channel,
            send_at=cand.send_at,
            propensity=cand.propensity,
            holdout=False,
            candidates=candidates,
            slots=cand.slots,
            features=cand.features,
            catalogue_version=cat.version,
            policy_version=self.policy_version,
            model_versions=facts.model_versions,
            why=why,
            experiments=experiment_view(cat.experiments, arms),
        )

    def _suppressed(self, action: Action, m: _Moment) -> str | None:
        for rule in self.catalogue.policy.suppressions:
            covers = action.priority in rule.priorities or bool(action.tags & rule.tags)
            if not covers:
                continue
            on = m.suppressions.get(rule.name)
            if on is None:
                on = m.suppressions[rule.name] = rule.when.holds(m.env)
            if on:
                return rule.name
        return None

    def _pick_channel(self, cand: Candidate, action: Action, m: _Moment) -> None:
        """Keep the channel the member is likeliest to see among those governance allows."""
        own: list[Slot] = []
        own_full: Slot | None = None
        if action.member_cap is not None or action.budget is not None:
            own = action_slots(action, member_id=m.facts.member_id)
            own_full = full_slot(own, m.usage)
        exclude = m.request.exclude
        ends = action.ends_at
        best: _Verdict | None = None
        refused: list[str] = []
        for v in self._verdicts(action, m):
            if m.channels is not None and v.channel not in m.channels:
                refused.append(f"{v.channel}: not in the member's experiment arm")
                continue
            if exclude and (action.id, v.channel) in exclude:
                refused.append(f"{v.channel}: its last slot went to a concurrent decision")
                continue
            if v.refused is not None:
                refused.append(v.refused)
                continue
            if ends is not None and v.at is not None and v.at >= ends:
                refused.append(f"{v.channel}: would go out after it expires at {ends.isoformat()}")
                continue
            full = v.full
            if own_full is not None and (full is None or own_full.key < full.key):
                full = own_full
            if full is not None:
                refused.append(f"{v.channel}: {full.reason}")
                if full.reason.startswith(("cap ", "member cap ")):
                    m.caps_hit.add(full.reason)
                continue
            if best is None or v.seen > best.seen:
                best = v
        if best is None:
            cand.reasons.extend(refused or ["no channel of this action fits the request"])
            return
        cand.channel, cand.seen, cand.send_at, cand.timing = (
            best.channel,
            best.seen,
            best.at,
            best.timing,
        )
        cand.slots = sorted((*best.slots, *own), key=lambda s: s.key) if own else list(best.slots)
        if refused:
            cand.rules.extend({"channel": r, "passed": False} for r in refused)

    def _arbitrate(
        self, competing: list[tuple[Candidate, Action]], m: _Moment
    ) -> tuple[Priority, list[tuple[Candidate, Action]]]:
        """Score the competitors and keep the highest priority class present."""
        top = max((a.priority for _c, a in competing if a.kind != "nothing"), default=None)
        if top is None:
            kept = [(c, a) for c, a in competing if a.kind == "nothing"]
            top = Priority.MARKETING
        elif top is Priority.SERVICE:
            kept = [(c, a) for c, a in competing if a.priority is top and a.kind != "nothing"]
        else:
            kept = [(c, a) for c, a in competing if a.priority is top or a.kind == "nothing"]
        facts = m.facts
        # The features differ only by the channel's engagement: one row per distinct value.
        rows: dict[float, list[float]] = {}
        for c, _a in kept:
            if c.seen not in rows:
                rows[c.seen] = context_features(
                    churn_risk=facts.churn_risk,
                    days_since_purchase=facts.days_since_purchase,
                    purchases=facts.purchases,
                    engagement=c.seen,
                ).tolist()
            c.features = rows[c.seen]
        xs = np.array([c.features for c, _a in kept], dtype=np.float64).reshape(len(kept), -1)
        mean, sd = self.learner.correction([a.id for _c, a in kept], xs)
        control, _sd = self.learner.correction([CONTROL] * len(kept), xs)
        levers = self.catalogue.arbitration.levers if m.levers is None else m.levers
        scope: dict[str, Any] | None = None
        if not self._default_formula:
            scope = dict(m.env)
            scope["levers"] = levers
        for (c, a), mu, ctrl, spread in zip(
            kept, mean.tolist(), control.tolist(), sd.tolist(), strict=True
        ):
            if a.kind == "nothing":
                continue
            # Python floats, not numpy scalars: candidates and the explanation go to JSON.
            p_treat = _clip(self._part(a, "response", m) + mu)
            p_ctrl = _clip(self._part(a, "baseline", m) + ctrl)
            c.p_treated, c.p_control = p_treat, p_ctrl
            c.uplift = c.seen * (p_treat - p_ctrl)
            c.value = self._part(a, "value", m)
            c.cost = self._costs[a.id]
            spread *= c.seen
            if scope is None:
                c.score = c.uplift * c.value - c.cost
                c.score_sd = spread * abs(c.value)
            else:
                c.score = self._score(c, a, scope, c.uplift)
                c.score_sd = abs(self._score(c, a, scope, c.uplift + spread) - c.score)
        return top, kept

    def _score(self, c: Candidate, a: Action, scope: dict[str, Any], uplift: float) -> float:
        """The arbitration formula over the member's facts and this candidate's numbers
        (``scope`` is the decision's, reused: only the candidate's names change)."""
        scope["propensity"] = c.p_control + uplift
        scope["uplift"] = uplift
        scope["value"] = c.value
        scope["cost"] = c.cost
        scope["context_weight"] = c.seen
        scope["lever"] = a.weight
        return _number(self._formula, scope)

    def _holdout(self, facts: MemberFacts, request: Request, did: str) -> Decision:
        cand = Candidate(
            action_id=self.nothing.id,
            priority=self.nothing.priority.name.lower(),
            channel=request.channel,
            propensity=1.0,
        )
        return Decision(
            decision_id=did,
            member_id=facts.member_id,
            at=request.at,
            action=self.nothing,
            channel=request.channel,
            send_at=None,
            propensity=1.0,
            holdout=True,
            candidates=[cand],
            slots=[],
            features=[],
            catalogue_version=self.catalogue.version,
            policy_version=self.policy_version,
            model_versions=facts.model_versions,
            why={
                "summary": "member is in the universal holdout: no action, ever "
                f"({self.catalogue.learning.holdout_share:.0%} of members)",
            },
        )

    def _why(
        self,
        cand: Candidate,
        action: Action,
        competed: Sequence[tuple[Candidate, Action]],
        candidates: Sequence[Candidate],
        m: _Moment,
        top: Priority,
    ) -> dict[str, Any]:
        """The explanation: what won and why, what lost and why, the scores behind it."""
        facts = m.facts
        texts = [r.source for r in action.eligibility] + [
            e.source for e in (action.value, action.response, action.baseline) if e is not None
        ]
        used = sorted(
            name for name in facts.model_versions if any(f"scores.{name}" in t for t in texts)
        )
        ranked = sorted(competed, key=lambda ca: -ca[0].score)
        summary = (
            f"{action.name} ({action.id})"
            + (f" on {cand.channel}" if cand.channel else "")
            + f": expected incremental value {cand.score:.2f}"
            + f" = uplift {cand.uplift:.3f} x value {cand.value:.2f} - cost {cand.cost:.2f}"
            if action.kind != "nothing"
            else f"do nothing: no action with a better expected value was due (class {top.name})"
        )
        return {
            "summary": summary,
            "priority_class": top.name.lower(),
            "rules": cand.rules,
            "timing": cand.timing,
            "ranking": [
                {"action": c.action_id, "score": round(c.score, 6), "propensity": c.propensity}
                for c, _a in ranked[:5]
            ],
            "filtered": {c.action_id: c.reasons for c in candidates if c.reasons},
            # A cap filtered a whole candidate or one of its channels.
            "caps_hit": sorted(m.caps_hit),
            "scores": {
                name: {
                    "value": facts.env.get("scores", {}).get(name),
                    "model_version": facts.model_versions[name],
                    "drivers": facts.drivers.get(name),
                }
                for name in used
            },
            "learner": {"version": self.learner.version, "propensity": cand.propensity},
        }
