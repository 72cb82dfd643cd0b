"""Columnar event blocks: many events of one type, built with Arrow compute, no row loops.

A ``Block`` holds one type's events for one simulated day; ``to_table`` turns blocks into
FLAT rows (``nextbest.events.flat.FLAT_COLUMNS``) plus the hidden ``_person`` and ``_ts``
columns that feed the ground truth and the time ordering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nextbest.events.flat import FLAT_COLUMNS

Column: TypeAlias = Any  # pa.Array | pa.ChunkedArray | str | None (pyarrow is untyped)

HIDDEN = ("_person", "_ts")
SCHEMA = pa.schema(
    [pa.field(c, pa.int64() if c == "schema_version" else pa.string()) for c in FLAT_COLUMNS]
    + [pa.field("_person", pa.int64()), pa.field("_ts", pa.int64())]
)

TYPE_CODES = {
    "purchase": "pu",
    "purchase_returned": "rt",
    "product_view": "pv",
    "cart_add": "ca",
    "cart_abandoned": "cb",
    "signup": "su",
    "profile_update": "pr",
    "app_open": "ao",
    "message_delivered": "md",
    "message_opened": "mo",
    "message_clicked": "mc",
    "message_unsubscribed": "mu",
    "offer_redeemed": "or",
    "reward_redeemed": "rr",
    "service_ticket_opened": "to",
    "service_ticket_closed": "tc",
    "feedback": "fb",
}


@dataclass(slots=True)
class Block:
    """``len(person)`` events of one ``type``; each column an Arrow array or a constant."""

    type: str
    person: np.ndarray
    ts: np.ndarray
    cols: dict[str, Column] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.person)

    def take(self, index: np.ndarray) -> Block:
        """The events at ``index`` (positions), columns aligned."""
        idx = pa.array(index, pa.int64())
        cols: dict[str, Column] = {
            k: (v if v is None or isinstance(v, str) else v.take(idx)) for k, v in self.cols.items()
        }
        return Block(self.type, self.person[index], self.ts[index], cols)


@lru_cache(maxsize=4096)
def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.string())


def join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays and constants (no separator).

    >>> join("a-", pa.array(["x", "y"])).to_pylist()
    ['a-x', 'a-y']
    """
    args = [_lit(p) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*args, _lit(""))


def serial(prefix: str, n: int, start: int = 0) -> pa.StringArray:
    """``prefix0``, ``prefix1``, …: stable ids from a counter.

    >>> serial("o-", 2).to_pylist()
    ['o-0', 'o-1']
    """
    numbers = pc.cast(pa.array(np.arange(start, start + n, dtype=np.int64)), pa.string())
    return join(prefix, numbers)


def money(cents: np.ndarray) -> pa.StringArray:
    """Cents as decimal strings with two places.

    >>> money(np.array([5, 1234, 100])).to_pylist()
    ['0.05', '12.34', '1.00']
    """
    c = np.asarray(cents, dtype=np.int64)
    whole = pc.cast(pa.array(c // 100), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(c % 100), pa.string()), width=2, padding="0")
    return join(whole, ".", frac)


def iso_utc(ts: np.ndarray) -> pa.StringArray:
    """Unix seconds as ISO-8601 UTC strings.

    >>> iso_utc(np.array([0])).to_pylist()
    ['1970-01-01T00:00:00Z']
    """
    ts = np.asarray(ts, dtype=np.int64)
    if len(ts) == 0:
        return pa.array([], pa.string())
    day = ts // 86_400
    first = int(day.min())
    dates = _dates(first, int(day.max()) - first + 1)
    sec = ts - day * 86_400
    return join(
        dates.take(pa.array(day - first)),
        _TWO.take(pa.array(sec // 3600)),
        ":",
        _TWO.take(pa.array(sec // 60 % 60)),
        ":",
        _TWO.take(pa.array(sec % 60)),
        "Z",
    )


_TWO = pa.array([f"{i:02d}" for i in range(60)], pa.string())


@lru_cache(maxsize=64)
def _dates(first_day: int, count: int) -> pa.Array:
    return pa.array(
        [
            datetime.fromtimestamp((first_day + i) * 86_400, tz=UTC).strftime("%Y-%m-%dT")
            for i in range(count)
        ],
        pa.string(),
    )


def pick(mask: np.ndarray, values: pa.Array) -> pa.Array:
    """``values`` where ``mask`` holds, null elsewhere."""
    return pc.if_else(pa.array(mask), values, pa.nulls(len(values), values.type))


def to_table(blocks: list[Block], *, seed: int, tag: str) -> pa.Table:
    """Flat rows of the blocks' events (event ids from seed, a day tag, type and position)."""
    tables = []
    counters: dict[str, int] = {}
    for block in blocks:
        n = len(block)
        if n == 0:
            continue
        columns: list[pa.Array] = []
        for name in SCHEMA.names:
            if name == "event_id":
                start = counters.get(block.type, 0)
                counters[block.type] = start + n
                columns.append(serial(f"e{seed}-{tag}-{TYPE_CODES[block.type]}-", n, start))
            elif name == "type":
                columns.append(pa.array(np.full(n, block.type), pa.string()))
            elif name == "schema_version":
                columns.append(pa.array(np.ones(n, dtype=np.int64)))
            elif name == "occurred_at":
                columns.append(iso_utc(block.ts))
            elif name == "_person":
                columns.append(pa.array(block.person, pa.int64()))
            elif name == "_ts":
                columns.append(pa.array(block.ts, pa.int64()))
            else:
                value = block.cols.get(name)
                if value is None:
                    columns.append(pa.nulls(n, pa.string()))
                elif isinstance(value, str):
                    columns.append(pa.array(np.full(n, value), pa.string()))
                else:
                    if isinstance(value, pa.ChunkedArray):
                        value = value.combine_chunks()
                    columns.append(value.cast(pa.string()))
        tables.append(pa.Table.from_arrays(columns, schema=SCHEMA))
    if not tables:
        return SCHEMA.empty_table()
    return pa.concat_tables(tables)


def sort_by_time(table: pa.Table) -> pa.Table:
    if table.num_rows == 0:
        return table
    return table.take(pc.sort_indices(table, sort_keys=[("_ts", "ascending")]))
