"""The adapter protocol, and the adapters the settings configure.

An adapter sends one rendered message and says how it went; it never raises for a failed
delivery (the dispatcher treats an exception as a retryable failure all the same). Each
one passes ``message_id`` on, so a provider can drop a duplicate after a crash between the
send and its bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, runtime_checkable

from sqlalchemy import Engine

from nextbest.channels.message import DeliveryResult, OutboundMessage, Rendered
from nextbest.config import Settings


@runtime_checkable
class ChannelAdapter(Protocol):
    def send(
        self, rendered: Rendered, message: OutboundMessage, address: str | None
    ) -> DeliveryResult: ...


def adapters_from_settings(
    db: Engine, settings: Settings, *, clock: Callable[[], datetime] | None = None
) -> dict[str, ChannelAdapter]:
    """Every channel the settings make deliverable: in-app and direct mail always, email with
    an SMTP host, webhook, SMS and push with a URL (SMS and push fall back to webhook_url)."""
    from nextbest.channels.direct_mail import DirectMailAdapter
    from nextbest.channels.inbox import InboxAdapter
    from nextbest.channels.smtp import SmtpAdapter
    from nextbest.channels.webhook import WebhookAdapter

    out: dict[str, ChannelAdapter] = {
        "in_app": InboxAdapter(db),
        "direct_mail": DirectMailAdapter(db, settings.data_dir / "direct_mail", clock=clock),
    }
    if settings.smtp_host:
        out["email"] = SmtpAdapter.from_settings(settings)
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    for channel, url in (
        ("webhook", settings.webhook_url),
        ("sms", settings.sms_webhook_url or settings.webhook_url),
        ("push", settings.push_webhook_url or settings.webhook_url),
    ):
        if url:
            out[channel] = WebhookAdapter(
                url, secret=secret, timeout=settings.webhook_timeout_seconds
            )
    return out
