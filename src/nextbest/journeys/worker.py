"""`nextbest worker`: triggers, journey steps and the delivery outbox, in one loop.

Safe to kill at any point and to run several at once (see ``runner``). Each pass reads new
events and ledger messages, scans score/segment/date triggers every ``scan_every`` seconds,
runs due steps, then hands due messages to the channels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from nextbest.config import Settings
from nextbest.decide.budget import ContactBudget
from nextbest.decide.log import DecisionLog
from nextbest.decide.service import DecisionService, budget_for, default_catalogue
from nextbest.ingest.pipeline import Ingestor
from nextbest.ingest.records import RawRecord
from nextbest.journeys.catalog import load_journeys
from nextbest.journeys.definition import Journey
from nextbest.journeys.runner import JourneyRunner
from nextbest.ledger.service import Ledger
from nextbest.store.engine import make_engine


@dataclass
class PassReport:
    entered: int = 0
    steps: int = 0
    sent: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class Worker:
    def __init__(
        self,
        settings: Settings,
        *,
        journeys: list[Journey] | None = None,
        budget: ContactBudget | None = None,
        channels: bool = True,
        scan_every: float = 3600.0,
        clock: Callable[[], datetime] | None = None,
        db: Engine | None = None,
    ) -> None:
        # ``clock`` lets tests walk members through days of waits; None is the wall clock.
        self.db = db if db is not None else make_engine(settings)
        catalogue = default_catalogue(settings.effective_catalogue_path())
        self.budget = budget or budget_for(settings, self.db)
        # The worker logs each decision before moving on: a crash must not lose one whose
        # contact slots were taken (flush_seconds=0 writes synchronously).
        self.decisions = DecisionService(
            self.db,
            catalogue,
            budget=self.budget,
            log=DecisionLog(self.db, flush_seconds=0),
            facts_ttl=0,
            region=settings.default_region,
            clock=clock,
        )
        ingestor = Ingestor(self.db, settings, clock=clock)

        def record(event: dict[str, Any]) -> None:
            ingestor.ingest_records(
                [RawRecord(location=f"journey:{event['event_id']}", data=event, raw="")],
                origin="journeys",
            )

        self.runner = JourneyRunner(
            self.db,
            journeys if journeys is not None else load_journeys(settings.effective_journeys_dir()),
            ledger=Ledger(self.db, clock=clock),
            decisions=self.decisions,
            record_event=record,
            clock=clock,
            default_timezone=catalogue.policy.default_timezone,
            lease_seconds=settings.journey_lease_seconds,
        )
        self.runner.apply()
        self.dispatcher: Any = None
        if channels:
            from nextbest.channels.dispatch import Dispatcher

            self.dispatcher = Dispatcher(
                self.db, settings, budget=self.budget, policy=catalogue.policy, clock=clock
            )
        self.scan_every = scan_every
        self._scanned = -float("inf")

    def run_once(self, *, limit: int = 200) -> PassReport:
        out = PassReport()
        for got in (self.runner.poll_events(), self.runner.poll_ledger()):
            out.entered += got.entered
        if time.monotonic() - self._scanned >= self.scan_every:
            out.entered += self.runner.scan().entered
            self._scanned = time.monotonic()
        due = self.runner.run_due(limit=limit)
        out.steps, out.by_kind = due.steps, due.by_kind
        if self.dispatcher is not None:
            out.sent = self.dispatcher.run_once(limit=limit).sent
        return out

    def run(
        self,
        *,
        poll_seconds: float = 1.0,
        stop: Callable[[], bool] = lambda: False,
        on_pass: Callable[[PassReport], None] | None = None,
    ) -> None:
        while not stop():
            got = self.run_once()
            if on_pass is not None:
                on_pass(got)
            if not (got.steps or got.entered or got.sent):
                time.sleep(poll_seconds)

    def close(self) -> None:
        self.decisions.close()
