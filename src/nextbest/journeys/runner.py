"""The durable journey engine: entries, timers, steps, exactly once in effect.

Instances live in ``journey_instances``. A worker *claims* due rows by pushing their
``due_at`` a lease ahead (on PostgreSQL under ``FOR UPDATE SKIP LOCKED``, so two workers
never claim the same row), then runs their steps. Each step ends in one transaction that
writes its ``journey_steps`` row, enqueues its send and moves the instance on, guarded by the
instance's ``seq``: a worker that lost its lease finds the row moved and rolls back.

Effects outside that transaction (a points grant, a decision, a profile update) carry the
key ``j:<instance>:<seq>``: killed between the effect and the commit, the worker (or another,
once the lease ends) re-runs the step with the same key, and the ledger, the decision log and
the event store each do it once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from nextbest.channels.message import OutboundMessage
from nextbest.channels.outbox import enqueue
from nextbest.decide.engine import Request, in_holdout
from nextbest.decide.facts import load_facts
from nextbest.decide.governance import zone
from nextbest.decide.service import DecisionService
from nextbest.events.identifiers import IDENTIFIER_KINDS
from nextbest.identity.hashing import carriable
from nextbest.journeys.definition import Journey, parse_journey
from nextbest.journeys.steps import ACTIVE, DONE, EXITED, HOLDOUT, Advance, Effect, run_step
from nextbest.ledger.service import Ledger
from nextbest.store import tables as t
from nextbest.store.engine import is_postgres, write_transaction

LEASE_SECONDS = 60.0
SETTLE_SECONDS = 2.0  # events younger than this may still be committing: read them next pass
MAX_STEPS_PER_CLAIM = 20  # a journey without waits cannot hold a worker forever


class _LeaseLost(Exception):
    """Another worker moved the instance on (our lease ran out): roll the step back."""


@dataclass
class RunReport:
    entered: int = 0
    steps: int = 0
    woken: int = 0
    exited: int = 0
    goals: int = 0
    lost_leases: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def instance_id(journey_id: str, member_id: str, entry_key: str) -> str:
    """Stable: the same trigger for the same member enters once."""
    digest = hashlib.blake2b(entry_key.encode(), digest_size=8).hexdigest()
    return f"{journey_id}:{member_id}:{digest}"


class JourneyRunner:
    """Runs journeys over one database; safe to run in several processes at once."""

    def __init__(
        self,
        db: Engine,
        journeys: Sequence[Journey],
        *,
        ledger: Ledger | None = None,
        decisions: DecisionService | None = None,
        record_event: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        lease_seconds: float = LEASE_SECONDS,
        default_timezone: str = "UTC",
    ) -> None:
        self.db = db
        self.journeys = {j.id: j for j in journeys}
        self._versions: dict[tuple[str, str], Journey] = {(j.id, j.version): j for j in journeys}
        self.ledger = ledger or Ledger(db)
        self.decisions = decisions
        self.record_event = record_event
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lease = lease_seconds
        self.default_timezone = default_timezone
        self._pg = is_postgres(db)
        self._insert: Any = postgresql.insert if self._pg else sqlite.insert

    # --- versions ------------------------------------------------------------------------
    def apply(self) -> None:
        """Record each journey's version (instances started on it keep it)."""
        now = self.clock()
        with write_transaction(self.db) as conn:
            for j in self.journeys.values():
                conn.execute(
                    update(t.journey_versions)
                    .where(t.journey_versions.c.journey_id == j.id)
                    .values(active=0)
                )
                stmt = self._insert(t.journey_versions).values(
                    journey_id=j.id, version=j.version, source=j.source, active=1, applied_at=now
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["journey_id", "version"], set_={"active": 1}
                    )
                )

    def _journey(self, conn: Connection, journey_id: str, version: str) -> Journey | None:
        got = self._versions.get((journey_id, version))
        if got is None:
            source = conn.execute(
                select(t.journey_versions.c.source).where(
                    t.journey_versions.c.journey_id == journey_id,
                    t.journey_versions.c.version == version,
                )
            ).scalar_one_or_none()
            if source is None:
                return None
            got = self._versions[(journey_id, version)] = parse_journey(source)
        return got

    # --- entries -------------------------------------------------------------------------
    def enter(
        self,
        conn: Connection,
        journey: Journey,
        member_id: str,
        *,
        entry_key: str,
        now: datetime,
        event: Mapping[str, Any] | None = None,
    ) -> bool:
        """Start ``journey`` for the member unless its re-entry rule forbids; idempotent."""
        rows = conn.execute(
            select(t.journey_instances.c.status, t.journey_instances.c.entered_at).where(
                t.journey_instances.c.journey_id == journey.id,
                t.journey_instances.c.member_id == member_id,
            )
        ).all()
        if any(r.status == ACTIVE for r in rows):
            return False
        if rows:
            if not journey.reentry.allowed:
                return False
            last = max(_utc(r.entered_at) for r in rows)
            if now - last < timedelta(days=journey.reentry.after_days):
                return False
        held = in_holdout(member_id, journey.holdout, salt=f"journey:{journey.id}")
        iid = instance_id(journey.id, member_id, entry_key)
        stmt = self._insert(t.journey_instances).values(
            instance_id=iid,
            journey_id=journey.id,
            version=journey.version,
            member_id=member_id,
            status=HOLDOUT if held else ACTIVE,
            step=None if held else journey.first,
            seq=0,
            due_at=None if held else now.timestamp(),
            waiting_for=None,
            holdout=int(held),
            vars=_json({"event": dict(event or {})}),
            entered_at=now,
            updated_at=now,
            ended_at=now if held else None,
        )
        return bool(conn.execute(stmt.on_conflict_do_nothing()).rowcount)

    def poll_events(self, *, limit: int = 5000) -> RunReport:
        """Read new events: entries, wake-ups of waits, exits and goals."""
        report = RunReport()
        now = self.clock()
        horizon = now - timedelta(seconds=SETTLE_SECONDS)
        with write_transaction(self.db) as conn:
            cursor = _cursor(conn, "events")
            at, eid = cursor.split("|", 1) if cursor else ("", "")
            q = select(
                t.events.c.event_id,
                t.events.c.type,
                t.events.c.occurred_at,
                t.events.c.received_at,
                t.events.c.member_id,
                t.events.c.payload,
            ).where(t.events.c.received_at <= horizon)
            if at:
                after = datetime.fromisoformat(at)
                q = q.where(
                    or_(
                        t.events.c.received_at > after,
                        and_(t.events.c.received_at == after, t.events.c.event_id > eid),
                    )
                )
            rows = conn.execute(
                q.order_by(t.events.c.received_at, t.events.c.event_id).limit(limit)
            ).all()
            for row in rows:
                if row.member_id is None:
                    continue
                member = _current(conn, row.member_id)
                event = {"type": row.type, **orjson.loads(row.payload)}
                self._on_event(conn, member, row.type, event, _utc(row.occurred_at), now, report)
            if rows:
                last = rows[-1]
                _set_cursor(
                    conn, "events", f"{_utc(last.received_at).isoformat()}|{last.event_id}", now
                )
        return report

    def _on_event(
        self,
        conn: Connection,
        member: str,
        kind: str,
        event: dict[str, Any],
        at: datetime,
        now: datetime,
        report: RunReport,
    ) -> None:
        scope = {"event": event}
        for j in self.journeys.values():
            trig = j.trigger
            if trig.event == kind and (j.trigger_when is None or j.trigger_when.holds(scope)):
                key = f"event:{event.get('event_id')}"
                report.entered += self.enter(conn, j, member, entry_key=key, now=now, event=event)
        instances = conn.execute(
            select(t.journey_instances).where(
                t.journey_instances.c.member_id == member,
                t.journey_instances.c.status.in_((ACTIVE, DONE, EXITED, HOLDOUT)),
            )
        ).all()
        for inst in instances:
            found = self._journey(conn, inst.journey_id, inst.version)
            if found is None:
                continue
            j = found
            if j.goal and inst.goal_at is None and j.goal.event == kind:
                entered = _utc(inst.entered_at)
                within = entered <= at <= entered + timedelta(days=j.goal.within_days)
                if within and (j.goal_when is None or j.goal_when.holds(scope)):
                    conn.execute(
                        update(t.journey_instances)
                        .where(t.journey_instances.c.instance_id == inst.instance_id)
                        .values(goal_at=at)
                    )
                    report.goals += 1
            if inst.status != ACTIVE:
                continue
            if any(e.event == kind and (e.when is None or e.when.holds(scope)) for e in j.exit_on):
                conn.execute(
                    update(t.journey_instances)
                    .where(t.journey_instances.c.instance_id == inst.instance_id)
                    .values(
                        status=EXITED,
                        exit_reason=f"exit on {kind}",
                        ended_at=now,
                        updated_at=now,
                        due_at=None,
                        seq=inst.seq + 1,
                    )
                )
                report.exited += 1
            elif inst.waiting_for == kind:
                v = orjson.loads(inst.vars)
                v["woke"] = kind
                v["woke_by"] = event
                conn.execute(
                    update(t.journey_instances)
                    .where(t.journey_instances.c.instance_id == inst.instance_id)
                    .values(vars=_json(v), due_at=now.timestamp(), waiting_for=None, updated_at=now)
                )
                report.woken += 1

    def poll_ledger(self, *, limit: int = 5000) -> RunReport:
        """The ledger's messages (tier changes, points expiring, ...) as triggers."""
        report = RunReport()
        wanted = {j.trigger.ledger for j in self.journeys.values() if j.trigger.ledger}
        if not wanted:
            return report
        now = self.clock()
        with write_transaction(self.db) as conn:
            last = int(_cursor(conn, "ledger") or 0)
            rows = conn.execute(
                select(t.outbox)
                .where(t.outbox.c.message_id > last)
                .order_by(t.outbox.c.message_id)
                .limit(limit)
            ).all()
            for row in rows:
                if row.topic not in wanted or row.member_id is None:
                    continue
                payload = {"type": row.topic, **orjson.loads(row.payload)}
                scope = {"event": payload}
                for j in self.journeys.values():
                    if j.trigger.ledger == row.topic and (
                        j.trigger_when is None or j.trigger_when.holds(scope)
                    ):
                        member = _current(conn, row.member_id)
                        report.entered += self.enter(
                            conn,
                            j,
                            member,
                            entry_key=f"ledger:{row.message_id}",
                            now=now,
                            event=payload,
                        )
            if rows:
                _set_cursor(conn, "ledger", str(rows[-1].message_id), now)
        return report

    def scan(self) -> RunReport:
        """Score, segment and date triggers, read from the stores (run it a few times a day)."""
        report = RunReport()
        now = self.clock()
        with write_transaction(self.db) as conn:
            for j in self.journeys.values():
                trig = j.trigger
                members: list[tuple[str, str]] = []
                if trig.score:
                    q = select(t.member_scores.c.member_id).where(
                        t.member_scores.c.name == trig.score
                    )
                    if trig.above is not None:
                        q = q.where(t.member_scores.c.value > trig.above)
                    else:
                        q = q.where(t.member_scores.c.value < trig.below)
                    key = f"score:{trig.score}:{trig.above}:{trig.below}:{now:%Y-%m-%d}"
                    members = [(m, key) for m in conn.execute(q).scalars()]
                elif trig.segment:
                    name, label = trig.segment.split(":", 1)
                    q = select(t.member_scores.c.member_id).where(
                        t.member_scores.c.name == name, t.member_scores.c.label == label
                    )
                    members = [
                        (m, f"segment:{trig.segment}:{now:%Y-%m-%d}")
                        for m in conn.execute(q).scalars()
                    ]
                elif trig.date:
                    members = self._dated(conn, j, now)
                for member, key in members:
                    report.entered += self.enter(conn, j, member, entry_key=key, now=now)
        return report

    def _dated(self, conn: Connection, j: Journey, now: datetime) -> list[tuple[str, str]]:
        target = (now + timedelta(days=j.trigger.days_before)).date()
        out: list[tuple[str, str]] = []
        for row in conn.execute(
            select(t.profiles.c.member_id, t.profiles.c.state)
            .join(t.members, t.members.c.member_id == t.profiles.c.member_id)
            .where(t.members.c.merged_into.is_(None))
        ):
            state = orjson.loads(row.state)
            if j.trigger.date == "birthday":
                text = (state.get("attributes", {}).get("birthday") or [None])[0]
            else:
                text = state.get("first_seen")
            if not text:
                continue
            try:
                day = datetime.fromisoformat(str(text)[:10]).date()
            except ValueError:
                continue
            if (day.month, day.day) == (target.month, target.day):
                out.append((row.member_id, f"date:{j.trigger.date}:{target.year}"))
        return out

    # --- steps ---------------------------------------------------------------------------
    def claim(self, *, limit: int = 100) -> list[Any]:
        """Due active instances, leased to this worker for ``lease`` seconds."""
        now = self.clock().timestamp()
        with write_transaction(self.db) as conn:
            q = (
                select(t.journey_instances)
                .where(t.journey_instances.c.status == ACTIVE, t.journey_instances.c.due_at <= now)
                .order_by(t.journey_instances.c.due_at)
                .limit(limit)
            )
            if self._pg:
                q = q.with_for_update(skip_locked=True)
            rows = list(conn.execute(q).all())
            if rows:
                conn.execute(
                    update(t.journey_instances)
                    .where(t.journey_instances.c.instance_id.in_([r.instance_id for r in rows]))
                    .values(due_at=now + self.lease)
                )
        return rows

    def run_due(self, *, limit: int = 100) -> RunReport:
        report = RunReport()
        for row in self.claim(limit=limit):
            self._advance(row, report)
        return report

    def _advance(self, row: Any, report: RunReport) -> None:
        with self.db.connect() as conn:
            journey = self._journey(conn, row.journey_id, row.version)
        if journey is None:
            return
        iid, seq, step_id = row.instance_id, row.seq, row.step
        vars_ = orjson.loads(row.vars)
        for _ in range(MAX_STEPS_PER_CLAIM):
            step = journey.steps.get(step_id) if step_id else None
            if step is None:
                return
            now = self.clock()
            env: dict[str, Any] = {"event": vars_.get("event", {})}
            local_now = now.astimezone(zone(None, self.default_timezone))
            # Only a condition or a local clock time needs the member's facts (four reads).
            if step.kind == "branch" or (step.kind == "wait" and step.spec.until):
                with self.db.connect() as conn:
                    facts = load_facts(conn, row.member_id, now=now)
                env.update(facts.env)
                local_now = now.astimezone(zone(facts.timezone, self.default_timezone))
            adv = run_step(
                journey, step, instance_id=iid, env=env, vars_=vars_, now=now, local_now=local_now
            )
            key = f"j:{iid}:{seq}"
            messages = [
                m for e in adv.effects if (m := self._effect(e, key, row, journey, step.id, now))
            ]
            if not self._commit(row, journey, step.id, seq, adv, messages, now):
                report.lost_leases += 1
                return
            report.steps += 1
            report.by_kind[step.kind] = report.by_kind.get(step.kind, 0) + 1
            seq, step_id, vars_ = seq + 1, adv.step, adv.vars
            if adv.done or adv.status != ACTIVE:
                return

    def _effect(
        self, effect: Effect, key: str, row: Any, journey: Journey, step: str, now: datetime
    ) -> OutboundMessage | None:
        spec = effect.spec
        if effect.kind == "send":
            return OutboundMessage(
                message_id=key,
                member_id=row.member_id,
                channel=spec.channel,
                template=spec.template,
                purpose=spec.purpose,
                priority=spec.priority,
                data=dict(spec.data),
                journey_id=journey.id,
                step=step,
            )
        if effect.kind == "grant":
            self.ledger.adjust(
                member_id=row.member_id,
                points=spec.points,
                reason=f"{journey.id}: {spec.reason}",
                idempotency_key=key,
                actor=f"journey:{journey.id}",
            )
            return None
        if effect.kind == "decide":
            if self.decisions is None:
                return None
            view = self.decisions.decide(
                row.member_id,
                Request(at=now, channel=spec.channel, actions=frozenset(spec.actions), key=key),
                explain=False,
                resolved=True,
            )
            template = spec.actions.get(view["action"]["id"])
            if not view["contacts"] or not template or view["channel"] is None:
                return None
            send_at = datetime.fromisoformat(view["send_at"]) if view.get("send_at") else None
            return OutboundMessage(
                message_id=key,
                member_id=row.member_id,
                channel=view["channel"],
                template=template,
                purpose="marketing",
                priority=view["action"]["priority"],
                data={"action": view["action"], "decision_id": view["decision_id"]},
                journey_id=journey.id,
                step=step,
                send_at=send_at,
                governed=True,
            )
        if effect.kind == "update" and self.record_event is not None:
            ids = self._identifiers(row.member_id)
            if ids:  # a member with no identifier cannot be addressed by an event
                self.record_event(
                    {
                        "event_id": key,
                        "type": "profile_update",
                        "source": "system",
                        "identifiers": ids,
                        "occurred_at": now.isoformat(),
                        "preferences": dict(spec),
                    }
                )
        return None

    def _identifiers(self, member_id: str) -> dict[str, str]:
        """One of the member's identifiers, as an event carries it."""
        with self.db.connect() as conn:
            keys = conn.execute(
                select(t.identifiers.c.key)
                .where(t.identifiers.c.member_id == member_id)
                .order_by(t.identifiers.c.key)
            ).scalars()
            # Stored hashed, only some kinds can be carried back (identity.hashing).
            for key in keys:
                kind, _sep, value = str(key).partition(":")
                if kind in IDENTIFIER_KINDS and carriable(str(key)):
                    return {kind: value}
        return {}

    def _commit(
        self,
        row: Any,
        journey: Journey,
        step: str,
        seq: int,
        adv: Advance,
        messages: list[OutboundMessage],
        now: datetime,
    ) -> bool:
        ended = adv.status in (DONE, EXITED)
        try:
            self._write_step(row, journey, step, seq, adv, messages, now, ended)
        except _LeaseLost:
            return False
        return True

    def _write_step(
        self,
        row: Any,
        journey: Journey,
        step: str,
        seq: int,
        adv: Advance,
        messages: list[OutboundMessage],
        now: datetime,
        ended: bool,
    ) -> None:
        with write_transaction(self.db) as conn:
            moved = conn.execute(
                update(t.journey_instances)
                .where(
                    t.journey_instances.c.instance_id == row.instance_id,
                    t.journey_instances.c.seq == seq,
                    t.journey_instances.c.status == ACTIVE,
                )
                .values(
                    seq=seq + 1,
                    step=adv.step,
                    status=adv.status,
                    due_at=adv.due_at,
                    waiting_for=adv.waiting_for,
                    vars=_json(adv.vars),
                    updated_at=now,
                    ended_at=now if ended else None,
                    exit_reason=adv.exit_reason,
                )
            ).rowcount
            if not moved:
                raise _LeaseLost(row.instance_id)
            conn.execute(
                self._insert(t.journey_steps)
                .values(
                    instance_id=row.instance_id,
                    seq=seq,
                    journey_id=journey.id,
                    step=step,
                    kind=journey.steps[step].kind,
                    outcome=adv.outcome[:200],
                    at=now,
                )
                .on_conflict_do_nothing()
            )
            for m in messages:
                enqueue(conn, m, now=now)

    def counts(self) -> dict[str, int]:
        with self.db.connect() as conn:
            return {
                r[0]: r[1]
                for r in conn.execute(
                    select(t.journey_instances.c.status, func.count()).group_by(
                        t.journey_instances.c.status
                    )
                )
            }


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _current(conn: Connection, member_id: str) -> str:
    merged = conn.execute(
        select(t.members.c.merged_into).where(t.members.c.member_id == member_id)
    ).scalar_one_or_none()
    return str(merged or member_id)


def _cursor(conn: Connection, name: str) -> str | None:
    got = conn.execute(
        select(t.journey_cursors.c.position).where(t.journey_cursors.c.name == name)
    ).scalar_one_or_none()
    return str(got) if got is not None else None


def _set_cursor(conn: Connection, name: str, position: str, now: datetime) -> None:
    insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(t.journey_cursors).values(name=name, position=position, updated_at=now)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["name"], set_={"position": position, "updated_at": now}
        )
    )
