"""The closed loop: a decision engine treats members, the simulated persons respond.

>>> sim = Simulation(SimConfig(members=50, months=1, seed=1))
>>> events = sim.step(0, [])
>>> all(e["occurred_at"].endswith("Z") for e in events)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from nextbest.events.flat import FLAT_COLUMNS
from nextbest.events.identifiers import parse_key
from nextbest.sim.behaviour import Engine
from nextbest.sim.blocks import Block
from nextbest.sim.config import SimConfig
from nextbest.sim.sources import World
from nextbest.sim.writer import canonical

_CHANNELS = {"email": 0, "sms": 1, "push": 2}


@dataclass(frozen=True, slots=True)
class Treatment:
    """One action for one member, addressed by a graph key (``kind:value``).

    ``value`` is the discount in percent, the points multiplier, or ignored for a message.
    """

    key: str
    action: Literal["discount", "points", "message"]
    channel: Literal["email", "sms", "push"] = "email"
    value: float = 0.0
    cost: float = 0.0
    action_id: str = "action"


class Simulation:
    """Advance a simulated population day by day; the batch history is this with no treatments."""

    def __init__(self, config: SimConfig) -> None:
        self.world = World.build(config)
        self.engine = Engine(self.world)
        self.day = 0
        self._index: dict[str, int] | None = None
        self.cost = 0.0

    @property
    def days(self) -> int:
        return self.world.config.days

    def history_before(self) -> list[dict[str, Any]]:
        """Signups of members who joined before the period (call once, before ``step(0)``)."""
        return _records(self.engine.prelude())

    def person_of(self, key: str) -> int | None:
        """Person index behind a graph key (ground truth; for evaluation, not for deciding)."""
        if self._index is None:
            index: dict[str, int] = {}
            ids, e164 = self.world.ids, self.world.phone_e164
            for kind, values in (
                ("email", ids.email),
                ("email", ids.email_typo),
                ("phone", e164),
                ("device_id", ids.device_id),
                ("loyalty_id", ids.loyalty_id),
                ("pos_card", ids.pos_card),
                ("pos_card2", ids.pos_card2),
            ):
                kind = "pos_card" if kind == "pos_card2" else kind
                for i, value in enumerate(values.to_pylist()):
                    if value:
                        index.setdefault(parse_key(f"{kind}:{value}"), i)
            self._index = index
        try:
            return self._index.get(parse_key(key))
        except ValueError:
            return None

    def step(self, day: int, treatments: list[Treatment]) -> list[dict[str, Any]]:
        """Apply ``treatments`` on ``day``, then simulate the day: its canonical events."""
        return _records(self.step_table(day, treatments))

    def step_table(self, day: int, treatments: list[Treatment]) -> pa.Table:
        """As ``step`` but flat rows (with hidden ``_person`` and ``_ts`` columns)."""
        if day != self.day:
            raise ValueError(f"expected day {self.day}, got {day}: days advance one at a time")
        extra: list[Block] = []
        groups: dict[tuple[str, str, float, str], list[int]] = {}
        for t in treatments:
            if t.channel not in _CHANNELS:
                raise ValueError(f"unknown channel {t.channel!r}")
            person = self.person_of(t.key)
            if person is None:
                continue
            self.cost += t.cost
            groups.setdefault((t.action, t.channel, t.value, t.action_id), []).append(person)
        for (action, channel, value, action_id), persons in sorted(groups.items()):
            extra += self.engine.treat(
                day,
                np.unique(np.array(persons, dtype=np.int64)),
                action=action,
                channel=_CHANNELS[channel],
                value=value,
                action_id=action_id,
            )
        table = self.engine.step(day, extra)
        self.day += 1
        if self.day == self.days:
            table = pa.concat_tables([table, self.engine.finish()])
        return table


def _records(table: pa.Table) -> list[dict[str, Any]]:
    return [canonical(row) for row in table.select(list(FLAT_COLUMNS)).to_pylist()]
