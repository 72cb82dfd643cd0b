"""The segments page's figures: the RFM grid, segment migration and micro-segments.

Read from ``member_scores`` as the scoring job (``nextbest.analytics.scoring``) writes it:
``rfm`` rows hold the code ``100 R + 10 F + M`` as the value and the named segment as the
label; ``microsegment`` rows hold the segment's description as the label. Average monetary
per cell is the mean order value from ``profiles`` (spend / purchases), the RFM default.

``member_scores`` keeps each member's latest scores only. Migration needs the previous
run's segments: the page reads them from rows named ``rfm_previous`` (the segment a member
had in the run before the latest), and says so when there are none.

Everything is grouped in SQL; the result is cached for a minute per database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection, Engine, Integer, cast, func, select

from nextbest.analytics.rfm import ENTERED, LEFT, Migration, RfmConfig
from nextbest.console.figures_cache import FIGURES, key_of
from nextbest.identity.repository import as_utc
from nextbest.store import tables as t

SCORE_RFM = "rfm"
SCORE_RFM_PREVIOUS = "rfm_previous"
SCORE_MICRO = "microsegment"
MICRO_SHOWN = 40  # the largest micro-segments listed


@dataclass(frozen=True, slots=True)
class RfmCell:
    r: int
    f: int
    members: int
    mean_monetary: float | None  # mean order value of the cell's members


@dataclass(frozen=True, slots=True)
class MicroSegment:
    description: str
    members: int


@dataclass(frozen=True, slots=True)
class Segments:
    scored: int  # members with an RFM score
    as_of: datetime | None  # the latest scoring run's date
    runs: int  # scoring runs whose segments the store holds: 0, 1 or 2
    k: int  # scores per letter, as seen in the data
    cells: tuple[RfmCell, ...]
    segments: tuple[tuple[str, int], ...]
    migration: Migration | None  # None unless the previous run's segments are stored
    micro: tuple[MicroSegment, ...]  # the largest, with their descriptions
    micro_count: int  # micro-segments in all
    micro_members: int

    def grid(self) -> tuple[list[int], list[int], list[list[int | None]], list[list[str]]]:
        """Rows R from k down to 1, columns F 1 to k, cells = members, tooltips with the
        average monetary."""
        by_rf = {(c.r, c.f): c for c in self.cells}
        rs = list(range(self.k, 0, -1))
        fs = list(range(1, self.k + 1))
        counts: list[list[int | None]] = []
        tips: list[list[str]] = []
        for r in rs:
            counts.append([by_rf[(r, f)].members if (r, f) in by_rf else None for f in fs])
            row = []
            for f in fs:
                cell = by_rf.get((r, f))
                money = (
                    f", average order {cell.mean_monetary:,.2f}"
                    if cell is not None and cell.mean_monetary is not None
                    else ""
                )
                row.append(f"R{r} F{f}: {cell.members if cell else 0:,} members{money}")
            tips.append(row)
        return rs, fs, counts, tips

    def monetary_grid(self) -> list[list[float | None]]:
        by_rf = {(c.r, c.f): c for c in self.cells}
        return [
            [by_rf[(r, f)].mean_monetary if (r, f) in by_rf else None for f in range(1, self.k + 1)]
            for r in range(self.k, 0, -1)
        ]


def _rfm_cells(conn: Connection) -> tuple[RfmCell, ...]:
    s, p = t.member_scores, t.profiles
    code = cast(s.c.value, Integer)
    r = (code // 100).label("r")
    f = ((code // 10) % 10).label("f")
    order_value = cast(p.c.spend, sa.Float) / func.nullif(p.c.purchase_count, 0)
    rows = conn.execute(
        select(r, f, func.count(), func.avg(order_value))
        .select_from(s.outerjoin(p, p.c.member_id == s.c.member_id))
        .where(s.c.name == SCORE_RFM, s.c.value.is_not(None))
        .group_by(r, f)
        .order_by(r, f)
    ).all()
    return tuple(
        RfmCell(int(rr), int(ff), int(n), None if m is None else float(m)) for rr, ff, n, m in rows
    )


def label_counts(conn: Connection, name: str) -> tuple[tuple[str, int], ...]:
    """Members per label of the score ``name`` (an RFM segment, a micro-segment), most first."""
    s = t.member_scores
    n = func.count().label("n")
    return tuple(
        (str(label), int(count))
        for label, count in conn.execute(
            select(s.c.label, n)
            .where(s.c.name == name, s.c.label.is_not(None))
            .group_by(s.c.label)
            .order_by(n.desc(), s.c.label)
        )
    )


def _migration(conn: Connection) -> Migration | None:
    """From the previous run's segment (rows) to the latest's (columns), grouped in SQL."""
    s = t.member_scores
    cur, prev = s.alias("cur"), s.alias("prev")
    has_previous = conn.execute(
        select(func.count()).select_from(s).where(s.c.name == SCORE_RFM_PREVIOUS)
    ).scalar_one()
    if not has_previous:
        return None
    pairs: dict[tuple[str, str], int] = {}
    moved = conn.execute(
        select(prev.c.label, cur.c.label, func.count())
        .select_from(
            cur.outerjoin(
                prev,
                sa.and_(prev.c.member_id == cur.c.member_id, prev.c.name == SCORE_RFM_PREVIOUS),
            )
        )
        .where(cur.c.name == SCORE_RFM, cur.c.label.is_not(None))
        .group_by(prev.c.label, cur.c.label)
    )
    for a, b, n in moved:
        pairs[(a or ENTERED, b)] = pairs.get((a or ENTERED, b), 0) + int(n)
    still = select(cur.c.member_id).where(
        cur.c.name == SCORE_RFM, cur.c.label.is_not(None), cur.c.member_id == prev.c.member_id
    )
    gone = conn.execute(
        select(prev.c.label, func.count())
        .where(prev.c.name == SCORE_RFM_PREVIOUS, prev.c.label.is_not(None), ~still.exists())
        .group_by(prev.c.label)
    )
    for a, n in gone:
        pairs[(a, LEFT)] = pairs.get((a, LEFT), 0) + int(n)
    order = RfmConfig().segment_names

    def ordered(labels: set[str]) -> list[str]:
        return [x for x in order if x in labels] + sorted(labels - set(order))

    rows = [ENTERED, *ordered({a for a, _ in pairs} - {ENTERED})]
    cols = [*ordered({b for _, b in pairs} - {LEFT}), LEFT]
    counts = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for (a, b), n in pairs.items():
        counts[rows.index(a), cols.index(b)] = n
    return Migration(tuple(rows), tuple(cols), counts)


def _as_of(conn: Connection) -> datetime | None:
    s = t.member_scores
    value: Any = conn.execute(select(func.max(s.c.as_of)).where(s.c.name == SCORE_RFM)).scalar()
    if value is None:
        return None
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def compute_segments(engine: Engine) -> Segments:
    with engine.connect() as conn:
        cells = _rfm_cells(conn)
        segments = label_counts(conn, SCORE_RFM)
        micro = label_counts(conn, SCORE_MICRO)
        migration = _migration(conn)
        as_of = _as_of(conn)
    k = max([5, *(c.r for c in cells), *(c.f for c in cells)]) if cells else 5
    return Segments(
        scored=sum(c.members for c in cells),
        as_of=as_of,
        runs=0 if not cells else 2 if migration is not None else 1,
        k=k,
        cells=cells,
        segments=segments,
        migration=migration,
        micro=tuple(MicroSegment(d, n) for d, n in micro[:MICRO_SHOWN]),
        micro_count=len(micro),
        micro_members=sum(n for _, n in micro),
    )


def segments(engine: Engine) -> Segments:
    """The segments page's figures, cached for a minute per database."""
    return FIGURES.get(key_of("segments", engine), lambda: compute_segments(engine))
