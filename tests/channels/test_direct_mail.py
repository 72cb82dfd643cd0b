"""Direct mail: a daily batch file with one row per letter, never the same letter twice."""

from __future__ import annotations

from sqlalchemy import Engine, update

from nextbest.channels.direct_mail import exported
from nextbest.channels.dispatch import Dispatcher
from nextbest.channels.message import OutboundMessage
from nextbest.config import Settings
from nextbest.store import tables as t
from nextbest.store.engine import write_transaction
from tests.channels.support import NOW, OPEN, Clock, add_member, queue


def test_letters_are_written_once_even_when_resent(engine: Engine, settings: Settings) -> None:
    member = add_member(engine, settings, "D1", consents={"direct_mail/loyalty": True})
    queue(
        engine,
        OutboundMessage("dm-1", member, "direct_mail", "direct_mail_balance", purpose="loyalty"),
    )
    clock = Clock()
    assert Dispatcher(engine, settings, policy=OPEN, clock=clock).run_once().sent == 1
    # As if a worker died after writing the row but before recording it: the row is resent
    # by a fresh dispatcher (a restart).
    with write_transaction(engine) as conn:
        conn.execute(update(t.deliveries).values(status="pending", next_attempt_at=0))
    assert Dispatcher(engine, settings, policy=OPEN, clock=clock).run_once().sent == 1
    rows = exported(settings.data_dir / "direct_mail", NOW)
    assert len(rows) == 1
    [row] = rows
    assert (row["message_id"], row["member_id"]) == ("dm-1", member)
    assert (row["first_name"], row["last_name"], row["postcode"]) == ("Ada", "Lovelace", "94110")
    assert row["points_balance"] == "0"
    assert row["text"].startswith("Dear Ada Lovelace,")
