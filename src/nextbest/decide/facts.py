"""What the engine knows of a member, read from the stores: profile, scores and ledger.

One connection, four reads (profile, scores, program, book). A short in-process cache keeps
hot members (a till asking twice during one checkout, a batch over a segment) off the
database; its staleness is bounded by ``ttl`` and every decision records the facts it saw.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import Connection, select

from nextbest.decide.engine import MemberFacts
from nextbest.ledger import repository as ledger_repo
from nextbest.ledger.tiers import progress
from nextbest.profiles.read import profile_fields
from nextbest.profiles.state import ProfileState
from nextbest.store import tables as t

K = TypeVar("K")
V = TypeVar("V")
EXPIRING_DAYS = 30  # ledger.points_expiring_30d
TOP_DRIVERS = 3


def _drivers(explanation: str | None) -> Any:
    if not explanation:
        return None
    why = orjson.loads(explanation)
    if isinstance(why, list):
        ranked = sorted(
            (d for d in why if isinstance(d, dict)),
            key=lambda d: -abs(float(d.get("contribution") or 0.0)),
        )
        return ranked[:TOP_DRIVERS]
    return why


def member_env(state: ProfileState, *, now: datetime) -> dict[str, Any]:
    """Profile fields as rules read them: counts rather than lists, days rather than dates."""
    fields = profile_fields(state)
    tickets = state.open_tickets
    fields["open_tickets"] = len(tickets)
    fields["open_ticket_ids"] = tickets
    now_ts = now.timestamp()
    fields["days_since_purchase"] = (
        None
        if state.last_purchase_at is None
        else round((now_ts - state.last_purchase_at) / 86400.0, 3)
    )
    fields["days_since_signup"] = (
        None
        if state.first_event_at is None
        else round((now_ts - state.first_event_at) / 86400.0, 3)
    )
    return fields


def _ledger(conn: Connection, member_id: str, now: datetime) -> dict[str, Any]:
    program = ledger_repo.active_program(conn)
    if program is None:
        return {"balance": 0, "tier": None, "points_expiring_30d": 0, "points_to_next_tier": None}
    book = ledger_repo.load_book(conn, program, [member_id], now=now, lock=False)
    acc = book.account(member_id)
    expiring = sum(lot.remaining for lot in book.expiring(member_id, now, EXPIRING_DAYS))
    standing = progress(program, tier=acc.tier.tier, qualifying=acc.balance(book.qualifying))
    return {
        "balance": acc.balance(book.spendable),
        "tier": acc.tier.tier,
        "points_expiring_30d": expiring,
        "points_to_next_tier": standing["needed"],
        "next_tier": standing["next_tier"],
    }


def load_facts(conn: Connection, member_id: str, *, now: datetime) -> MemberFacts:
    """The member's facts as of ``now`` (a member never seen gets empty ones)."""
    row = conn.execute(
        select(t.profiles.c.state).where(t.profiles.c.member_id == member_id)
    ).first()
    state = ProfileState.from_dict(orjson.loads(row.state)) if row else ProfileState()
    member = member_env(state, now=now)
    scores: dict[str, Any] = {}
    versions: dict[str, str] = {}
    drivers: dict[str, Any] = {}
    for sc in conn.execute(
        select(
            t.member_scores.c.name,
            t.member_scores.c.value,
            t.member_scores.c.label,
            t.member_scores.c.model_version,
            t.member_scores.c.explanation,
        ).where(t.member_scores.c.member_id == member_id)
    ):
        scores[sc.name] = sc.value if sc.value is not None else sc.label
        versions[sc.name] = sc.model_version
        got = _drivers(sc.explanation)
        if got is not None:
            drivers[sc.name] = got
    churn = scores.get("churn_risk")
    return MemberFacts(
        member_id=member_id,
        env={"member": member, "scores": scores, "ledger": _ledger(conn, member_id, now)},
        consent={k: bool(v[0]) for k, v in state.consent.items()},
        timezone=member.get("timezone"),
        active_hours=dict(state.active_hours),
        engagement=dict(state.engagement),
        churn_risk=float(churn) if isinstance(churn, (int, float)) else None,
        days_since_purchase=member["days_since_purchase"],
        purchases=state.purchase_count,
        drivers=drivers,
        model_versions=versions,
    )


class TtlCache(Generic[K, V]):
    """Values for ``ttl`` seconds, least recently used out first; thread-safe."""

    def __init__(self, *, ttl: float = 5.0, max_items: int = 100_000) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self._lock = threading.Lock()
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        if self.ttl <= 0:
            return None
        with self._lock:
            got = self._items.get(key)
            if got is None or time.monotonic() - got[0] > self.ttl:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return got[1]

    def set(self, key: K, value: V) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def forget(self, key: K) -> None:
        with self._lock:
            self._items.pop(key, None)


class FactsCache(TtlCache[str, MemberFacts]):
    """Member facts by member id; staleness bounded by ``ttl``."""

    def put(self, facts: MemberFacts) -> None:
        self.set(facts.member_id, facts)
