"""Helpers for ledger tests: a program applied to a store, purchases as events, a member."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from nextbest.ledger import repository as repo
from nextbest.ledger.program import Program, parse_program
from nextbest.store import tables as t
from nextbest.store.engine import write_transaction

DEMO = Path(__file__).parents[2] / "src/nextbest/ledger/programs/bean_and_bake.yaml"
T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)

# A small program whose sums are easy to follow by hand.
SIMPLE = """
name: Test program
points: {spendable: pts, qualifying: tq, cost_per_point: 0.01}
earn:
  base_per_unit: 1
  multipliers: [{category: beans, factor: 2}]
rewards:
  - {id: coffee, name: Coffee, points: 100}
  - {id: mug, name: Mug, points: 500, stock: 1}
  - {id: vip, name: VIP lounge, points: 10, tiers: [gold]}
tiers:
  window: {kind: rolling, months: 12}
  downgrade_grace_days: 10
  levels:
    - {id: green, threshold: 0}
    - {id: gold, threshold: 300, earn_multiplier: 1.5}
expiry: {kind: lot, months: 6, notify_days: 30}
returns: {clawback: proportional}
"""


def apply_program(engine: Engine, text: str | None = None) -> Program:
    source = text if text is not None else DEMO.read_text()
    program = parse_program(source)
    with write_transaction(engine) as conn:
        repo.save_program(conn, program, source=source, actor="test", now=T0)
    return program


def purchase(
    n: int,
    *,
    total: float,
    at: datetime = T0,
    ids: dict[str, str] | None = None,
    category: str = "coffee",
    channel: str = "store",
    prefix: str = "",
) -> dict[str, Any]:
    return {
        "type": "purchase",
        "event_id": f"{prefix}p{n}",
        "occurred_at": at.isoformat(),
        "source": "pos",
        "identifiers": ids or {"loyalty_id": f"{prefix}L1"},
        "order_id": f"{prefix}o{n}",
        "total": total,
        "channel": channel,
        "lines": [{"sku": "s", "category": category, "quantity": 1, "unit_price": total}],
    }


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def member_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(t.members.c.member_id).where(t.members.c.merged_into.is_(None))
            ).scalars()
        )


def balances(engine: Engine) -> dict[tuple[str, str], int]:
    """Non-zero balance projections, (member, currency) → points."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                t.ledger_accounts.c.member_id,
                t.ledger_accounts.c.currency,
                t.ledger_accounts.c.balance,
            ).where(t.ledger_accounts.c.balance != 0)
        ).all()
    return {(m, c): b for m, c, b in rows}


def outbox(engine: Engine, topic: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(sa.select(t.outbox.c.payload).where(t.outbox.c.topic == topic)).scalars()
        )
