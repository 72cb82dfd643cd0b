"""Signed JSON webhooks (``httpx``): the webhook channel, and SMS and push providers.

The body is signed with HMAC-SHA256 (see ``signing``); ``verify_signature`` is what a
receiver runs. 2xx is delivered; 408, 429 and 5xx, timeouts and refused connections are
retried; any other 4xx means the receiver will never take this request, so it is final.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from nextbest.channels.message import DeliveryResult, OutboundMessage, Rendered
from nextbest.channels.signing import HEADER, sign, verify_signature

__all__ = ["HEADER", "WebhookAdapter", "payload", "verify_signature"]

ID_HEADER = "X-Nextbest-Message-Id"
RETRY_STATUSES = {408, 425, 429}


def payload(rendered: Rendered, message: OutboundMessage, address: str | None) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "member_id": message.member_id,
        "channel": message.channel,
        "to": address,
        "template": message.template,
        "subject": rendered.subject,
        "text": rendered.text,
        "html": rendered.html,
        "purpose": message.purpose,
        "journey_id": message.journey_id,
        "data": dict(message.data),
    }


def _provider_id(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("id") is not None:
        return str(body["id"])[:200]
    header = response.headers.get("X-Provider-Id")
    return str(header) if header else None


class WebhookAdapter:
    def __init__(
        self,
        url: str,
        *,
        secret: str | None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.secret = secret
        self.clock = clock
        # One client per adapter: connections are kept alive across a batch.
        self.client = httpx.Client(timeout=timeout)

    def send(
        self, rendered: Rendered, message: OutboundMessage, address: str | None
    ) -> DeliveryResult:
        if message.channel in ("sms", "push") and not address:
            kind = "phone number" if message.channel == "sms" else "device id"
            return DeliveryResult.failed(f"no {kind}", retryable=False)
        body = orjson.dumps(payload(rendered, message, address), default=str)
        headers = {"Content-Type": "application/json", ID_HEADER: message.message_id}
        if self.secret:
            headers[HEADER] = sign(self.secret, body, now=self.clock())
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return DeliveryResult.failed(f"{type(exc).__name__}: {exc}", retryable=True)
        if response.is_success:
            return DeliveryResult.delivered(_provider_id(response))
        code = response.status_code
        return DeliveryResult.failed(
            f"HTTP {code} from {self.url}: {response.text[:300]}",
            retryable=code >= 500 or code in RETRY_STATUSES,
        )

    def close(self) -> None:
        self.client.close()
