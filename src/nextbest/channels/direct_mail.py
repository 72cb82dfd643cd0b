"""Direct mail: rows appended to a daily batch file the print house collects.

``<data_dir>/direct_mail/<YYYY-MM-DD>.csv`` holds one row per letter. A message id already
in the day's file is not written again, so a resend after a crash (or a restart) never
prints a letter twice.
"""

from __future__ import annotations

import csv
import io
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from nextbest.channels.message import DeliveryResult, OutboundMessage, Rendered
from nextbest.channels.recipients import recipient

COLUMNS = (
    "message_id",
    "member_id",
    "first_name",
    "last_name",
    "postcode",
    "address",
    "points_balance",
    "tier",
    "text",
)


def batch_path(folder: Path, day: datetime) -> Path:
    return folder / f"{day.astimezone(UTC):%Y-%m-%d}.csv"


def _ids_in(path: Path) -> set[str]:
    if not path.exists():
        return set()
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["message_id"] for row in csv.DictReader(fh)}


class DirectMailAdapter:
    """Reads the recipient's name, postcode and balance itself: a letter needs more of the
    profile than an address identifier."""

    def __init__(
        self, db: Engine, folder: Path, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.db = db
        self.folder = folder
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()

    def _member(self, member_id: str, now: datetime) -> dict[str, Any]:
        with self.db.connect() as conn:
            env = recipient(conn, member_id, now=now).facts.env
        member, ledger = env.get("member", {}), env.get("ledger", {})
        prefs = member.get("preferences") or {}
        return {
            "first_name": member.get("first_name"),
            "last_name": member.get("last_name"),
            "postcode": member.get("postcode"),
            "address": prefs.get("address"),
            "points_balance": ledger.get("balance", 0),
            "tier": ledger.get("tier"),
        }

    def send(
        self, rendered: Rendered, message: OutboundMessage, address: str | None
    ) -> DeliveryResult:
        now = self.clock()
        member = self._member(message.member_id, now)
        path = batch_path(self.folder, now)
        # A resend just after midnight must still find yesterday's row.
        earlier = batch_path(self.folder, now - timedelta(days=1))
        row = {
            "message_id": message.message_id,
            "member_id": message.member_id,
            "first_name": member.get("first_name") or "",
            "last_name": member.get("last_name") or "",
            "postcode": member.get("postcode") or "",
            "address": member.get("address") or "",
            "points_balance": member.get("points_balance", ""),
            "tier": member.get("tier") or "",
            "text": rendered.text.strip(),
        }
        try:
            with self._lock:
                self.folder.mkdir(parents=True, exist_ok=True)
                if message.message_id in _ids_in(path) | _ids_in(earlier):
                    return DeliveryResult.delivered(f"{path.name}:{message.message_id}")
                buf = io.StringIO()
                writer = csv.DictWriter(buf, fieldnames=COLUMNS)
                if not path.exists():
                    writer.writeheader()
                writer.writerow(row)
                # One write of the whole row with O_APPEND: rows from two processes never
                # interleave.
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, buf.getvalue().encode("utf-8"))
                finally:
                    os.close(fd)
        except OSError as exc:
            return DeliveryResult.failed(f"direct mail batch {path}: {exc}", retryable=True)
        return DeliveryResult.delivered(f"{path.name}:{message.message_id}")


def exported(folder: Path, day: datetime) -> list[dict[str, str]]:
    """The rows of one day's batch file."""
    path = batch_path(folder, day)
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
