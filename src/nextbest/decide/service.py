"""The decision service: the pure engine wired to the stores, the budget and the log.

``decide`` resolves the member by any identifier, reads their facts (cached briefly), reads
the governance counters the catalogue may need, lets the engine decide, then takes the
chosen contact's slots atomically. When a concurrent decision took the last slot first, the
counters are read again and the engine decides again without it: a decision never reports
a contact the budget did not grant.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, select

from nextbest.config import Settings
from nextbest.decide.actions import Catalogue
from nextbest.decide.budget import ContactBudget, MemoryBudget
from nextbest.decide.catalogue import load_catalogue, parse_catalogue
from nextbest.decide.engine import Decision, MemberFacts, Request
from nextbest.decide.engine import Engine as DecisionEngine
from nextbest.decide.facts import FactsCache, TtlCache, load_facts
from nextbest.decide.learner import Learner
from nextbest.decide.log import DecisionLog
from nextbest.profiles.read import resolve_member
from nextbest.store import tables as t

MAX_RACES = 8  # re-decisions after losing a slot before settling on doing nothing
POLICY = "default"
LEARNER_CHECK_SECONDS = 30.0


def default_catalogue(path: Path | None = None) -> Catalogue:
    """The configured catalogue file, or the demo program's built-in one."""
    if path is not None:
        return load_catalogue(path)
    return parse_catalogue(builtin_catalogue_text(), source="bean_and_bake.yaml")


def builtin_catalogue_text() -> str:
    return (resources.files("nextbest.decide") / "catalogues" / "bean_and_bake.yaml").read_text()


def effective_catalogue_text(settings: Settings) -> str:
    """The text of the catalogue every process reads (an approved file, else the built-in)."""
    path = settings.effective_catalogue_path()
    return path.read_text(encoding="utf-8") if path is not None else builtin_catalogue_text()


def effective_catalogue(settings: Settings) -> Catalogue:
    """The catalogue every process reads: ``Settings.effective_catalogue_path`` or built-in."""
    return default_catalogue(settings.effective_catalogue_path())


def budget_for(settings: Settings, db: Engine) -> ContactBudget:
    """Redis when configured (shared by every process), else the database's counters."""
    if settings.redis_url:
        from nextbest.decide.budget_redis import RedisBudget

        return RedisBudget(settings.redis_url)
    from nextbest.decide.budget_sql import SqlBudget

    return SqlBudget(db)


def load_learner(db: Engine, *, prior_strength: float) -> Learner:
    with db.connect() as conn:
        row = conn.execute(
            select(t.policy_states.c.state).where(t.policy_states.c.policy == POLICY)
        ).first()
    if row is None:
        return Learner(prior_strength=prior_strength)
    return Learner.from_dict(orjson.loads(row.state))


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def request_view(request: Request) -> dict[str, Any]:
    return {
        "at": request.at.isoformat(),
        "channel": request.channel,
        "placement": request.placement,
        "location": request.location,
        "event": dict(request.event) if request.event else None,
        "send_now": request.send_now,
        "actions": sorted(request.actions) if request.actions is not None else None,
        "seed": request.seed,
        "key": request.key,
    }


def decision_view(decision: Decision, *, explain: bool = True) -> dict[str, Any]:
    """What the API returns: the action, channel and time, and (by default) why."""
    a = decision.action
    out: dict[str, Any] = {
        "decision_id": decision.decision_id,
        "member_id": decision.member_id,
        "decided_at": decision.at.isoformat(),
        "action": {
            "id": a.id,
            "kind": a.kind,
            "name": a.name,
            "priority": a.priority.name.lower(),
            "offer_id": a.offer_id,
            "points": a.points,
        },
        "channel": decision.channel,
        "send_at": _iso(decision.send_at),
        "contacts": decision.contacts,
        "propensity": decision.propensity,
        "holdout": decision.holdout,
        "catalogue_version": decision.catalogue_version,
        "policy_version": decision.policy_version,
        "model_versions": dict(decision.model_versions),
        "experiments": decision.experiments,
    }
    if explain:
        out["explanation"] = decision.why
    return out


class DecisionService:
    """Thread-safe; one per process (the API app, a batch run, a journey worker)."""

    def __init__(
        self,
        db: Engine,
        catalogue: Catalogue,
        *,
        budget: ContactBudget | None = None,
        learner: Learner | None = None,
        log: DecisionLog | None = None,
        facts_ttl: float = 5.0,
        region: str = "US",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.catalogue = catalogue
        self.budget = budget if budget is not None else MemoryBudget()
        # Without a learner given, the saved posterior is read at the first decision.
        self.engine = DecisionEngine(catalogue, learner)
        self._learner_checked = -LEARNER_CHECK_SECONDS if learner is None else time.monotonic()
        self.log = log if log is not None else DecisionLog(db)
        self.facts = FactsCache(ttl=facts_ttl)
        # Identifier to member, as fresh as the facts: a merge shows within ``facts_ttl``.
        self.members: TtlCache[str, str] = TtlCache(ttl=facts_ttl)
        self.region = region
        self.clock = clock or (lambda: datetime.now(UTC))
        self._learner_lock = threading.Lock()
        self.races = 0

    # --- reads -----------------------------------------------------------------------
    def member_id(self, identifier: str) -> str:
        """Member id behind any identifier (raises NotFound)."""
        got = self.members.get(identifier)
        if got is None:
            with self.db.connect() as conn:
                got = resolve_member(conn, identifier, region=self.region)
            self.members.set(identifier, got)
        return got

    def member_facts(self, member_id: str, *, now: datetime) -> MemberFacts:
        got = self.facts.get(member_id)
        if got is None:
            with self.db.connect() as conn:
                got = load_facts(conn, member_id, now=now)
            self.facts.put(got)
        return got

    def refresh_learner(self, *, force: bool = False) -> None:
        """Pick up the posterior ``decide learn`` saved (checked every 30 s at most)."""
        if not force and time.monotonic() - self._learner_checked < LEARNER_CHECK_SECONDS:
            return
        with self._learner_lock:
            self._learner_checked = time.monotonic()
            with self.db.connect() as conn:
                version = conn.execute(
                    select(t.policy_states.c.version).where(t.policy_states.c.policy == POLICY)
                ).scalar_one_or_none()
            if version is not None and version != self.engine.learner.version:
                learner = load_learner(
                    self.db, prior_strength=self.catalogue.learning.prior_strength
                )
                self.engine = DecisionEngine(self.catalogue, learner)

    def use_catalogue(self, catalogue: Catalogue) -> None:
        """Decide with ``catalogue`` from now on (an approved change), keeping the learner.

        Only this process changes at once; other processes (journey workers, batch runs,
        other API workers) read the approved file at their next start."""
        with self._learner_lock:
            self.engine = DecisionEngine(catalogue, self.engine.learner)
            self.catalogue = catalogue

    # --- the decision ----------------------------------------------------------------
    def decide(
        self,
        identifier: str,
        request: Request | None = None,
        *,
        explain: bool = True,
        resolved: bool = False,
    ) -> dict[str, Any]:
        """Decide for the member behind ``identifier``; a request key decides once."""
        request = request or Request(at=self.clock())
        if request.key:
            seen = self.log.by_request_key(request.key)
            if seen is not None:
                record = seen["record"]
                parsed = orjson.loads(record) if isinstance(record, str) else record
                out: dict[str, Any] = dict(parsed["response"])  # a copy: the log keeps its own
                out["replayed"] = True
                if not explain:
                    out.pop("explanation", None)
                return out
        self.refresh_learner()
        member_id = identifier if resolved else self.member_id(identifier)
        facts = self.member_facts(member_id, now=request.at)
        decision = self.decide_facts(facts, request)
        view = decision_view(decision)
        row = self._row(decision, request, view)
        # Serialised here, not in the writer thread: a batch built there holds the GIL for
        # milliseconds and shows up in every concurrent decision's p99.
        record = self._record(decision, request, facts, view)
        row["record"] = orjson.dumps(record, default=str).decode()
        self.log.append(row)
        if not explain:
            return {k: v for k, v in view.items() if k != "explanation"}
        return view

    def preview(self, identifier: str, request: Request | None = None) -> dict[str, Any]:
        """The decision as it would be now, without taking slots or logging it."""
        request = request or Request(at=self.clock())
        self.refresh_learner()
        facts = self.member_facts(self.member_id(identifier), now=request.at)
        usage = self.budget.usage(self.engine.slot_keys(facts, request), now=request.at.timestamp())
        view = decision_view(self.engine.decide(facts, request, usage))
        view["preview"] = True
        return view

    def decide_facts(self, facts: MemberFacts, request: Request) -> Decision:
        """Decide and take the contact's slots; on a lost race, decide again."""
        engine = self.engine
        now = request.at.timestamp()
        usage = self.budget.usage(engine.slot_keys(facts, request), now=now)
        for _race in range(MAX_RACES):
            decision = engine.decide(facts, request, usage)
            if not decision.slots:
                return decision
            full = self.budget.reserve(decision.slots, now=now)
            if full is None:
                return decision
            self.races += 1
            # Someone took the slot between our read and our reserve: read again and keep
            # this (action, channel) out, so the loop ends even if counters keep moving.
            usage = self.budget.usage(engine.slot_keys(facts, request), now=now)
            pair = (decision.action.id, decision.channel or "")
            request = replace(request, exclude=request.exclude | {pair})
        nothing = replace(request, actions=frozenset())
        return engine.decide(facts, nothing, usage)

    def _row(self, decision: Decision, request: Request, view: Mapping[str, Any]) -> dict[str, Any]:
        """The log row, its ``record`` (context, candidates, response) added by the caller."""
        return {
            "decision_id": decision.decision_id,
            "request_key": request.key,
            "member_id": decision.member_id,
            "decided_at": decision.at,
            "action_id": decision.action.id,
            "channel": decision.channel,
            "send_at": decision.send_at,
            "propensity": decision.propensity,
            "holdout": int(decision.holdout),
            "contacted": int(decision.contacts),
            "catalogue_version": decision.catalogue_version,
            "policy_version": decision.policy_version,
        }

    def _record(
        self,
        decision: Decision,
        request: Request,
        facts: MemberFacts,
        view: Mapping[str, Any],
    ) -> dict[str, Any]:
        return {
            "request": request_view(request),
            "facts": {
                "env": facts.env,
                "context": self.engine.context(facts, request)[0]["context"],
                "consent": dict(facts.consent),
                "timezone": facts.timezone,
            },
            "features": decision.features,
            "candidates": [c.as_dict() for c in decision.candidates],
            "slots": [s.key for s in decision.slots],
            "response": view,
        }

    def close(self) -> None:
        self.log.close()
