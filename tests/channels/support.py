"""Members, a movable clock and real local receivers (HTTP, SMTP) for the channels tests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine, select

from nextbest.channels.message import OutboundMessage
from nextbest.channels.outbox import enqueue
from nextbest.channels.webhook import HEADER, verify_signature
from nextbest.config import Settings
from nextbest.decide.actions import ContactPolicy
from nextbest.ingest.pipeline import Ingestor
from nextbest.store import tables as t
from nextbest.store.engine import write_transaction
from tests.ingest.test_pipeline import records

NOW = datetime(2027, 6, 1, 14, 0, tzinfo=UTC)  # 10:00 in New York, 23:00 in Tokyo
SECRET = "whsec-test"
# No caps, no quiet hours, no cool-down: tests that are not about governance.
OPEN = ContactPolicy(caps=(), quiet_start=None, quiet_end=None, cooldown_hours=0)


class Clock:
    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def add_member(
    engine: Engine,
    settings: Settings,
    loyalty_id: str,
    *,
    consents: dict[str, bool] | None = None,
    timezone: str = "America/New_York",
    first_name: str = "Ada",
) -> str:
    """A member signed up through ingestion with email, phone and device identifiers."""
    n = sum(map(ord, loyalty_id)) % 10_000
    event = {
        "type": "signup",
        "event_id": f"{loyalty_id}-signup",
        "occurred_at": (NOW - timedelta(days=30)).isoformat(),
        "source": "app",
        "identifiers": {
            "loyalty_id": loyalty_id,
            "email": f"{loyalty_id.lower()}@example.com",
            "phone": f"+1415555{n:04d}",
            "device_id": f"dev-{loyalty_id}",
        },
        "first_name": first_name,
        "last_name": "Lovelace",
        "postcode": "94110",
        "timezone": timezone,
        "consents": [
            {"channel": k.split("/")[0], "purpose": k.split("/")[1], "granted": v}
            for k, v in (consents or {}).items()
        ],
    }
    Ingestor(engine, settings, clock=lambda: NOW).ingest_records(records([event]), origin="test")
    with engine.connect() as conn:
        member = conn.execute(
            select(t.identifiers.c.member_id).where(
                t.identifiers.c.key == f"loyalty_id:{loyalty_id}"
            )
        ).scalar_one()
    return str(member)


def queue(engine: Engine, *messages: OutboundMessage, now: datetime = NOW) -> list[bool]:
    with write_transaction(engine) as conn:
        return [enqueue(conn, m, now=now) for m in messages]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    signed: bool
    headers: dict[str, str]


@dataclass
class Receiver:
    """A real HTTP server that checks each request's signature and answers with the next
    status in ``statuses`` (200 when they run out)."""

    secret: str = SECRET
    statuses: deque[int] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def message_ids(self) -> list[str]:
        return [r.body["message_id"] for r in self.received]


@contextmanager
def webhook_receiver(*statuses: int, secret: str = SECRET) -> Iterator[Receiver]:
    receiver = Receiver(secret=secret, statuses=deque(statuses))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            signed = verify_signature(
                receiver.secret, self.headers.get(HEADER), body, now=time.time()
            )
            with lock:
                receiver.received.append(
                    Received(self.path, json.loads(body), signed, dict(self.headers))
                )
                status = receiver.statuses.popleft() if receiver.statuses else 200
                n = len(receiver.received)
            if not signed:
                status = 401
            reply = json.dumps({"id": f"prov-{n}"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


class SmtpSink:
    """An aiosmtpd handler keeping every message; ``reply`` overrides the DATA answer."""

    def __init__(self, reply: str = "250 Message accepted") -> None:
        self.reply = reply
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply.startswith("250"):
            self.envelopes.append(envelope)
        return self.reply

    def messages(self) -> list[EmailMessage]:
        out = []
        for env in self.envelopes:
            msg = message_from_bytes(env.content, policy=email_policy.default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out


@contextmanager
def smtp_server(sink: SmtpSink) -> Iterator[int]:
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
