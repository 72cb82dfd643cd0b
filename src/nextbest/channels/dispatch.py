"""The dispatcher: claim due messages, govern, render, send, record the outcome.

One pass (``run_once``) claims a batch and handles each message on its own:

* governance first (consent, suppression rules, quiet hours, then caps and cool-down,
  see ``channels.governance``): no consent or a full cap suppresses the message with the
  reason, quiet hours move it to the end of the quiet period (not an attempt);
* the template is rendered before any contact slot is taken, so a broken template costs
  the member nothing; it is a dead letter (another attempt renders the same error);
* the adapter sends. Delivered: ``sent`` with the provider's id, and a
  ``message_delivered`` event goes through ingestion (its id derived from the message id,
  so it is recorded once). A retryable failure gives the slots back and waits with
  backoff; after ``max_attempts`` sends, or at once when the failure is permanent, the
  message is ``dead`` with the last error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

import orjson
from sqlalchemy import Engine

from nextbest.channels import outbox
from nextbest.channels.adapters import ChannelAdapter, adapters_from_settings
from nextbest.channels.engagement import message_event
from nextbest.channels.governance import verdict
from nextbest.channels.message import CHANNELS, DeliveryResult, OutboundMessage, Rendered
from nextbest.channels.recipients import (
    ADDRESS_KIND,
    Recipient,
    address,
    event_identifiers,
    recipient,
    template_context,
)
from nextbest.channels.retry import RetryPolicy
from nextbest.channels.templates import TemplateError, Templates
from nextbest.channels.tracking import instrument_html
from nextbest.config import Settings
from nextbest.decide.actions import ContactPolicy
from nextbest.decide.budget import ContactBudget
from nextbest.decide.governance import Slot
from nextbest.decide.service import budget_for, default_catalogue
from nextbest.ingest.pipeline import Ingestor
from nextbest.ingest.records import RawRecord

log = logging.getLogger(__name__)
NO_ADDRESS = {"email": "no email address", "sms": "no phone number", "push": "no device id"}


@dataclass(slots=True)
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    suppressed: int = 0
    deferred: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class Dispatcher:
    """Safe to run in several processes at once: a message is claimed by one of them."""

    def __init__(
        self,
        db: Engine,
        settings: Settings,
        *,
        adapters: Mapping[str, ChannelAdapter] | None = None,
        budget: ContactBudget | None = None,
        policy: ContactPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
        templates: Templates | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.adapters: Mapping[str, ChannelAdapter] = (
            adapters
            if adapters is not None
            else adapters_from_settings(db, settings, clock=self.clock)
        )
        self.budget = budget if budget is not None else budget_for(settings, db)
        self.policy = (
            policy
            if policy is not None
            else default_catalogue(settings.effective_catalogue_path()).policy
        )
        self.templates = templates or Templates(settings.channels_templates_dir)
        self.retry = RetryPolicy(
            max_attempts=settings.channels_max_attempts,
            base_seconds=settings.channels_backoff_seconds,
            cap_seconds=settings.channels_backoff_max_seconds,
        )
        self.ingestor = Ingestor(db, settings, clock=self.clock)

    def run_once(self, *, limit: int = 200) -> DispatchReport:
        """Handle up to ``limit`` due messages."""
        report = DispatchReport()
        now = self.clock()
        batch = outbox.claim(
            self.db,
            now=now.timestamp(),
            limit=limit,
            lease_seconds=self.settings.channels_lease_seconds,
        )
        report.claimed = len(batch)
        for claimed in batch:
            try:
                outcome = self._handle(claimed, self.clock())
            except Exception:
                # One bad row must not hold up the batch; its lease makes it due again.
                log.exception("could not dispatch %s", claimed.message.message_id)
                continue
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    # --- one message -------------------------------------------------------------------
    def _handle(self, claimed: outbox.Claimed, now: datetime) -> str:
        m = claimed.message
        expected = claimed.status
        if m.channel not in CHANNELS:
            return self._dead(m, expected, claimed.attempts, f"unknown channel {m.channel!r}")
        with self.db.connect() as conn:
            rec = recipient(conn, m.member_id, now=now)
        m = replace(m, member_id=rec.member_id)  # a merged member's survivor gets it
        says = verdict(self.policy, rec.facts, m, now=now)
        if says.suppress is not None:
            return self._suppressed(m, expected, says.suppress)
        if says.defer_until is not None:
            at = says.defer_until.timestamp()
            outbox.finish(self.db, m.message_id, expected=expected, next_attempt_at=at)
            return "deferred"
        to = address(rec, m.channel)
        if m.channel in ADDRESS_KIND and to is None:
            return self._suppressed(m, expected, NO_ADDRESS[m.channel])
        adapter = self.adapters.get(m.channel)
        if adapter is None:
            failure = DeliveryResult.failed(
                f"no adapter configured for {m.channel}", retryable=True
            )
            return self._failed(m, expected, claimed.attempts + 1, failure, (), now)
        try:
            rendered = self.templates.render(m.template, template_context(rec, m.data))
            rendered = self._tracked(m, rendered)
        except TemplateError as exc:
            return self._dead(m, expected, claimed.attempts, str(exc))
        ts = now.timestamp()
        full = self.budget.reserve(says.slots, now=ts)
        if full is not None:
            return self._suppressed(m, expected, full.reason)
        try:
            result = adapter.send(rendered, m, to)
        except Exception as exc:  # an adapter bug must not stop the batch; retry it
            log.exception("adapter for %s failed on %s", m.channel, m.message_id)
            result = DeliveryResult.failed(f"{type(exc).__name__}: {exc}", retryable=True)
        attempts = claimed.attempts + 1
        if not result.ok:
            return self._failed(m, expected, attempts, result, says.slots, now)
        outbox.finish(
            self.db,
            m.message_id,
            expected=expected,
            status=outbox.SENT,
            attempts=attempts,
            provider_id=(result.provider_id or "")[:200] or None,
            sent_at=now,
            last_error=None,
        )
        self._record_delivered(m, rec, now)
        return "sent"

    def _suppressed(self, m: OutboundMessage, expected: str, reason: str) -> str:
        outbox.finish(
            self.db, m.message_id, expected=expected, status=outbox.SUPPRESSED, last_error=reason
        )
        return "suppressed"

    def _dead(self, m: OutboundMessage, expected: str, attempts: int, error: str) -> str:
        outbox.finish(
            self.db,
            m.message_id,
            expected=expected,
            status=outbox.DEAD,
            attempts=attempts,
            last_error=error,
        )
        return "dead"

    def _failed(
        self,
        m: OutboundMessage,
        expected: str,
        attempts: int,
        result: DeliveryResult,
        slots: tuple[Slot, ...],
        now: datetime,
    ) -> str:
        # The contact never reached the member: give its cap and cool-down slots back.
        self.budget.release(slots, now=now.timestamp())
        error = result.error or "delivery failed"
        if self.retry.gives_up(attempts, retryable=result.retryable):
            return self._dead(m, expected, attempts, error)
        outbox.finish(
            self.db,
            m.message_id,
            expected=expected,
            status=outbox.RETRY,
            attempts=attempts,
            last_error=error,
            next_attempt_at=now.timestamp() + self.retry.delay(attempts, key=m.message_id),
        )
        return "retried"

    def _tracked(self, m: OutboundMessage, rendered: Rendered) -> Rendered:
        """An email's HTML with signed click links and an open pixel, when tracking is set."""
        base, secret = self.settings.tracking_base_url, self.settings.tracking_secret
        if m.channel != "email" or rendered.html is None or not base or secret is None:
            return rendered
        html = instrument_html(
            rendered.html, base=base, secret=secret.get_secret_value(), message_id=m.message_id
        )
        return replace(rendered, html=html)

    def _record_delivered(self, m: OutboundMessage, rec: Recipient, now: datetime) -> None:
        """The outcome event that experiments and decisions learn from; a failure here must
        not send the message again, so it is logged, not raised."""
        ids = event_identifiers(rec.keys)
        if ids is None:
            return
        event = message_event(
            "delivered",
            m.message_id,
            identifiers=ids,
            channel=m.channel,
            journey_id=m.journey_id,
            data=m.data,
            at=now,
        )
        raw = orjson.dumps(event).decode()
        try:
            self.ingestor.ingest_records(
                [RawRecord(location=f"delivery:{m.message_id}", data=event, raw=raw)],
                origin="channels",
            )
        except Exception:
            log.exception("could not record message_delivered for %s", m.message_id)

    def close(self) -> None:
        for adapter in self.adapters.values():
            closer = getattr(adapter, "close", None)
            if callable(closer):
                closer()
