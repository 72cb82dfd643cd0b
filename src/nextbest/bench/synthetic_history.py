"""A synthetic event history for ``nextbest bench analytics``: buy-till-you-die members.

Vectorised (numpy and pyarrow compute, no Python loop per event) and chunked: each chunk of
members is drawn, turned into events and written as one Parquet file in the history's schema
(:data:`nextbest.ingest.history.SCHEMA`), so memory stays bounded by the chunk.

The process, per member (a BG/NBD population with a few habits on top):

- joins spread uniformly over the window; the first purchase is made on joining;
- purchases arrive at a rate ``lambda ~ Gamma(1.3, mean 0.145 a day)``; after each purchase
  the member drops out with probability ``p ~ Beta(1.3, 28)``. About 20 purchases a member
  over 24 months on average; the repeat times are the first order statistics of the
  Poisson arrivals in the member's window, drawn exactly through exponential spacings;
- each purchase has 1-3 lines from a 30-product catalogue in 8 categories, drawn from the
  member's own category mix (Dirichlet) and favourite product per category;
- the local hour follows the member's habit (morning, lunch, evening or late) in their time
  zone, converted to UTC with the zone's rules;
- a few other events (``message_delivered``, ``message_opened``, ``app_open``), about a fifth
  of the purchase volume; messages keep arriving after a member has dropped out, opens and
  app opens mostly stop.

Every draw comes from one seeded generator per chunk, so a seed gives the same files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nextbest.analytics.features.inputs import SCHEMAS
from nextbest.ingest.history import SCHEMA

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

VERSION = 1  # bump when the process changes, so cached histories are not reused
END = datetime(2026, 1, 1, tzinfo=UTC)
US_PER_DAY = 86_400_000_000

# (sku, category, unit price, popularity within its category)
CATALOGUE: tuple[tuple[str, str, float, float], ...] = (
    ("CF-LAT", "coffee", 4.5, 0.30),
    ("CF-CAP", "coffee", 4.2, 0.20),
    ("CF-FLW", "coffee", 4.4, 0.15),
    ("CF-AME", "coffee", 3.2, 0.15),
    ("CF-ESP", "coffee", 2.6, 0.10),
    ("CF-MOC", "coffee", 4.9, 0.10),
    ("TE-CHA", "tea", 4.1, 0.45),
    ("TE-GRN", "tea", 3.0, 0.30),
    ("TE-EGR", "tea", 3.0, 0.25),
    ("BK-CRO", "bakery", 3.1, 0.35),
    ("BK-PAC", "bakery", 3.4, 0.25),
    ("BK-MUF", "bakery", 3.25, 0.15),
    ("BK-CIN", "bakery", 3.6, 0.15),
    ("BK-BAN", "bakery", 3.8, 0.10),
    ("SW-HAM", "sandwiches", 6.5, 0.35),
    ("SW-VEG", "sandwiches", 6.2, 0.25),
    ("SW-TUN", "sandwiches", 6.9, 0.25),
    ("SW-CHK", "sandwiches", 7.2, 0.15),
    ("CD-ICE", "cold drinks", 4.8, 0.45),
    ("CD-BRW", "cold drinks", 4.6, 0.35),
    ("CD-LEM", "cold drinks", 3.5, 0.20),
    ("BN-HOU", "beans", 12.5, 0.50),
    ("BN-SGL", "beans", 16.0, 0.30),
    ("BN-DEC", "beans", 13.0, 0.20),
    ("SN-CKE", "snacks", 2.2, 0.45),
    ("SN-BAR", "snacks", 2.8, 0.35),
    ("SN-CRS", "snacks", 1.9, 0.20),
    ("MR-TUM", "merch", 18.0, 0.40),
    ("MR-MUG", "merch", 12.0, 0.40),
    ("MR-BAG", "merch", 9.5, 0.20),
)
# share of lines by category in the population (members' own mixes scatter around it)
CATEGORY_SHARES: dict[str, float] = {
    "coffee": 0.42,
    "bakery": 0.17,
    "tea": 0.09,
    "sandwiches": 0.09,
    "cold drinks": 0.08,
    "snacks": 0.08,
    "beans": 0.05,
    "merch": 0.02,
}
ZONES: tuple[tuple[str | None, float], ...] = (
    ("Europe/London", 0.28),
    ("Europe/Paris", 0.14),
    ("Europe/Berlin", 0.14),
    ("America/New_York", 0.14),
    ("America/Chicago", 0.08),
    ("America/Los_Angeles", 0.08),
    ("Asia/Tokyo", 0.04),
    ("Australia/Sydney", 0.04),
    (None, 0.06),  # no stated zone: the pipeline reads the member in UTC
)
HABIT_HOURS = ((8.0, 0.40), (12.5, 0.25), (17.5, 0.25), (20.5, 0.10))
TYPES = ("purchase", "message_delivered", "message_opened", "app_open")
SOURCES = ("pos", "app", "web", "email")

# the purchase process
RATE_SHAPE, RATE_MEAN_PER_DAY = 1.3, 0.145
DROP_A, DROP_B = 1.3, 28.0
LINES_P = (0.6, 0.3, 0.1)
QUANTITY_P = (0.8, 0.15, 0.05)
FAVOURITE_P = 0.6
CATEGORY_CONCENTRATION = 2.0
# the other events
MESSAGE_EVERY_DAYS = 180.0
OPEN_P_ALIVE, OPEN_P_GONE = 0.45, 0.08
APP_OPENS_PER_PURCHASE = 0.25


@dataclass(frozen=True, slots=True)
class HistorySpec:
    """What to generate; its hash names the cache folder."""

    members: int = 1_000_000
    months: int = 24
    seed: int = 7
    chunk_members: int = 100_000

    @property
    def days(self) -> int:
        return round(self.months * 365.25 / 12)

    @property
    def start(self) -> datetime:
        return END - timedelta(days=self.days)

    @property
    def chunks(self) -> int:
        return -(-self.members // self.chunk_members)

    def key(self) -> str:
        text = json.dumps({**asdict(self), "version": VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class History:
    """A generated (or reused) history: where it is and what it holds."""

    spec: HistorySpec
    folder: Path
    events_dir: Path
    members_path: Path
    counts: dict[str, int]
    seconds: float
    reused: bool

    @property
    def files(self) -> list[Path]:
        return sorted(self.events_dir.glob("*.parquet"))


def ensure_history(
    spec: HistorySpec, *, cache: Path, progress: Callable[[str], None] = lambda _: None
) -> History:
    """The history for ``spec`` under ``cache``, generated unless a complete one is there."""
    folder = cache / f"analytics-{spec.key()}"
    meta_path = folder / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        progress(f"reusing the generated history in {folder}")
        return History(
            spec=spec,
            folder=folder,
            events_dir=folder / "events",
            members_path=folder / "members.parquet",
            counts={k: int(v) for k, v in meta["counts"].items()},
            seconds=float(meta["seconds"]),
            reused=True,
        )
    work = cache / f".analytics-{spec.key()}-{os.getpid()}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    (work / "events").mkdir(parents=True)
    started = time.perf_counter()
    counts = {"members": 0, "events": 0, "purchases": 0, "lines": 0}
    members: list[pa.Table] = []
    for chunk in range(spec.chunks):
        first = chunk * spec.chunk_members
        n = min(spec.chunk_members, spec.members - first)
        rng = np.random.default_rng([spec.seed, chunk])
        people, events, lines = generate_chunk(
            rng=rng, chunk=chunk, first_member=first, members=n, spec=spec
        )
        pq.write_table(events, work / "events" / f"part-{chunk:05d}.parquet")
        members.append(people)
        counts["members"] += n
        counts["events"] += events.num_rows
        counts["purchases"] += int(pc.sum(pc.equal(events["type"], "purchase")).as_py() or 0)
        counts["lines"] += lines
        progress(
            f"generated chunk {chunk + 1}/{spec.chunks}: {counts['members']:,} members,"
            f" {counts['events']:,} events ({time.perf_counter() - started:.1f} s)"
        )
    pq.write_table(pa.concat_tables(members), work / "members.parquet")
    seconds = time.perf_counter() - started
    (work / "meta.json").write_text(
        json.dumps({"spec": asdict(spec), "version": VERSION, "counts": counts, "seconds": seconds})
    )
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    work.rename(folder)
    return History(
        spec=spec,
        folder=folder,
        events_dir=folder / "events",
        members_path=folder / "members.parquet",
        counts=counts,
        seconds=seconds,
        reused=False,
    )


# --- one chunk ---------------------------------------------------------------------------


def generate_chunk(
    *, rng: np.random.Generator, chunk: int, first_member: int, members: int, spec: HistorySpec
) -> tuple[pa.Table, pa.Table, int]:
    """(members table, events table, line count) for members ``first_member ..``."""
    n, days = members, spec.days
    ids = _ids("m", np.arange(first_member, first_member + n), width=7)
    zone = rng.choice(len(ZONES), size=n, p=_p([w for _, w in ZONES]))
    people = pa.table(
        {
            "member_id": ids,
            "timezone": pa.array([z for z, _ in ZONES]).take(pa.array(zone)),
            "birthday": _birthdays(rng, n),
        },
        schema=SCHEMAS["members"],
    )
    join = rng.random(n) * days
    window = days - join
    rate = rng.gamma(RATE_SHAPE, RATE_MEAN_PER_DAY / RATE_SHAPE, n)
    drop = rng.beta(DROP_A, DROP_B, n)
    habit = rng.choice([h for h, _ in HABIT_HOURS], size=n, p=_p([w for _, w in HABIT_HOURS]))
    habit = habit + rng.normal(0.0, 0.75, n)
    app_pref = rng.beta(1.0, 2.0, n)

    # purchases: first on joining, repeats until the drop-out or the window's end
    bought_until_drop = rng.geometric(drop)
    arrivals = rng.poisson(rate * window)
    count = np.minimum(bought_until_drop, arrivals + 1)
    gone = bought_until_drop <= arrivals + 1
    repeats = count - 1
    rep_member = np.repeat(np.arange(n), repeats)
    spacing = np.cumsum(rng.standard_exponential(int(repeats.sum())))
    starts = np.cumsum(repeats) - repeats
    base = np.concatenate([[0.0], spacing])[starts]
    within = spacing - base[rep_member]
    last = np.zeros(n)
    has = repeats > 0
    last[has] = spacing[starts[has] + repeats[has] - 1] - base[has]
    # the (A + 1)th spacing sum: the rest of the Poisson arrivals' order statistics
    total_spacing = last + rng.gamma(arrivals + 1 - repeats, 1.0)
    rep_day = join[rep_member] + window[rep_member] * within / total_spacing[rep_member]
    p_member = np.concatenate([np.arange(n), rep_member])
    p_day = np.concatenate([join, rep_day])
    last_day = join.copy()
    last_day[has] = rep_day[starts[has] + repeats[has] - 1]
    alive_until = np.where(gone, last_day, float(days))
    p_hour = np.clip(habit[p_member] + rng.normal(0.0, 1.25, p_member.size), 5.0, 23.9)
    p_local = _local_us(spec, p_day, p_hour, rng)
    purchases = p_member.size
    p_source = np.where(
        rng.random(purchases) < app_pref[p_member], 1, np.where(rng.random(purchases) < 0.9, 0, 2)
    )
    payload, total, n_lines = _baskets(rng, p_member, members=n)

    # other events
    msg_count = rng.poisson(window / MESSAGE_EVERY_DAYS)
    m_member = np.repeat(np.arange(n), msg_count)
    m_day = join[m_member] + rng.random(m_member.size) * window[m_member]
    m_hour = np.clip(rng.normal(10.0, 2.0, m_member.size), 0.0, 23.9)
    open_p = np.where(m_day < alive_until[m_member], OPEN_P_ALIVE, OPEN_P_GONE)
    opened = rng.random(m_member.size) < open_p
    o_member = m_member[opened]
    o_day = np.minimum(m_day[opened] + rng.exponential(0.5, o_member.size), days - 1e-6)
    o_hour = np.clip(habit[o_member] + rng.normal(0.0, 2.0, o_member.size), 0.0, 23.9)
    a_count = rng.poisson(app_pref * APP_OPENS_PER_PURCHASE * count)
    a_member = np.repeat(np.arange(n), a_count)
    a_span = alive_until[a_member] - join[a_member]
    a_day = join[a_member] + rng.random(a_member.size) * a_span
    a_hour = np.clip(habit[a_member] + rng.normal(0.0, 1.5, a_member.size), 0.0, 23.9)

    member = np.concatenate([p_member, m_member, o_member, a_member])
    local = np.concatenate(
        [
            p_local,
            _local_us(spec, m_day, m_hour, rng),
            _local_us(spec, o_day, o_hour, rng),
            _local_us(spec, a_day, a_hour, rng),
        ]
    )
    kind = np.concatenate(
        [
            np.zeros(purchases, dtype=np.int8),
            np.full(m_member.size, 1, dtype=np.int8),
            np.full(o_member.size, 2, dtype=np.int8),
            np.full(a_member.size, 3, dtype=np.int8),
        ]
    )
    source = np.concatenate(
        [
            p_source,
            np.full(m_member.size, 3),
            np.full(o_member.size, 3),
            np.full(a_member.size, 1),
        ]
    )
    utc = _to_utc(local, zone[member])
    order = np.argsort(utc, kind="stable")  # a history is written in time order
    member, utc, kind, source = member[order], utc[order], kind[order], source[order]
    is_purchase = kind == 0
    others = order.size - purchases
    filler = pa.array(["{}"]).take(pa.array(np.zeros(others, dtype=np.int64)))
    payload_all = pa.concat_arrays([payload, filler]).take(pa.array(order))
    totals = np.concatenate([total, np.full(others, np.nan)])[order]
    seq = np.arange(order.size)
    order_ids = _ids(f"o{chunk:04d}-", seq, width=8)
    delay = rng.integers(0, 120_000_000, order.size)
    events = pa.table(
        {
            "event_id": _ids(f"e{chunk:04d}-", seq, width=8),
            "type": pa.array(TYPES).take(pa.array(kind.astype(np.int64))),
            "occurred_at": pa.array(utc, type=pa.timestamp("us", tz="UTC")),
            "received_at": pa.array(utc + delay, type=pa.timestamp("us", tz="UTC")),
            "source": pa.array(SOURCES).take(pa.array(source.astype(np.int64))),
            "member_id": ids.take(pa.array(member)),
            "order_id": pc.if_else(
                pa.array(is_purchase), order_ids, pa.nulls(order.size, pa.string())
            ),
            "total": pa.array(totals, mask=~is_purchase),
            "payload": payload_all,
        },
        schema=SCHEMA,
    )
    return people, events, n_lines


def _baskets(
    rng: np.random.Generator, p_member: Ints, *, members: int
) -> tuple[pa.Array, Floats, int]:
    """Each purchase's payload JSON and total; lines from the member's category mix."""
    cats = list(CATEGORY_SHARES)
    price = np.array([p for *_, p, _ in CATALOGUE])
    sku_cat = np.array([cats.index(c) for _, c, _, _ in CATALOGUE])
    offset = np.array([int(np.flatnonzero(sku_cat == c)[0]) for c in range(len(cats))])
    size = np.bincount(sku_cat, minlength=len(cats))
    popularity = np.array([w for *_, w in CATALOGUE])
    # cumulative popularity within each category, padded with 1.0
    cum_pop = np.ones((len(cats), int(size.max())))
    for c in range(len(cats)):
        w = popularity[sku_cat == c]
        cum_pop[c, : w.size] = np.cumsum(w / w.sum())
    mix = rng.dirichlet(
        np.array(list(CATEGORY_SHARES.values())) * CATEGORY_CONCENTRATION * 8, members
    )
    cum_mix = np.cumsum(mix, axis=1)
    favourite = _pick_cum(rng.random((members, len(cats))), cum_pop[None, :, :])

    purchases = p_member.size
    n_lines = rng.choice(3, size=purchases, p=_p(LINES_P)) + 1
    l_purchase = np.repeat(np.arange(purchases), n_lines)
    l_member = p_member[l_purchase]
    u = rng.random(l_purchase.size)
    cat = np.zeros(l_purchase.size, dtype=np.int64)
    for c in range(len(cats) - 1):
        cat += u > cum_mix[l_member, c]
    popular = np.zeros(l_purchase.size, dtype=np.int64)
    u = rng.random(l_purchase.size)
    for j in range(cum_pop.shape[1] - 1):
        popular += u > cum_pop[cat, j]
    local = np.where(rng.random(l_purchase.size) < FAVOURITE_P, favourite[l_member, cat], popular)
    sku = offset[cat] + np.minimum(local, size[cat] - 1)
    quantity = rng.choice(3, size=l_purchase.size, p=_p(QUANTITY_P)) + 1
    weights = quantity * price[sku]
    sums = np.bincount(l_purchase, weights=weights, minlength=purchases)
    total = np.asarray(np.round(sums, 2), dtype=np.float64)

    texts = pa.array(
        [
            json.dumps(
                {"sku": s, "category": c, "quantity": q, "unit_price": p}, separators=(",", ":")
            )
            for s, c, p, _ in CATALOGUE
            for q in (1, 2, 3)
        ]
    )
    key = sku * 3 + quantity - 1
    first = np.cumsum(n_lines) - n_lines
    parts = []
    for k in range(3):
        present = n_lines > k
        at = np.where(present, first + k, 0)
        parts.append(texts.take(pa.array(key[at], mask=~present)))
    joined = pc.binary_join_element_wise(*parts, ",", null_handling="skip")
    total_text = pc.cast(pa.array(total), pa.string())
    payload = pc.binary_join_element_wise(
        '{"lines":[', joined, '],"total":', total_text, "}", "", null_handling="emit_null"
    )
    return payload, total, int(l_purchase.size)


def _pick_cum(u: Floats, cum: Floats) -> Ints:
    """Index drawn by ``u`` from cumulative probabilities along the last axis."""
    return np.asarray((u[..., None] > cum[..., :-1]).sum(axis=-1), dtype=np.int64)


def _local_us(spec: HistorySpec, day: Floats, hour: Floats, rng: np.random.Generator) -> Ints:
    """Wall-clock microseconds (as if UTC) of ``hour`` on the local day ``day`` (days)."""
    start = int(spec.start.timestamp()) * 1_000_000
    seconds = hour * 3600.0 + rng.random(hour.size) * 60.0
    return start + np.floor(day).astype(np.int64) * US_PER_DAY + (seconds * 1e6).astype(np.int64)


def _to_utc(local: Ints, zone: Ints) -> Ints:
    """Wall-clock times in each event's zone as UTC microseconds (the zone's own rules)."""
    out = local.copy()
    for z, (name, _) in enumerate(ZONES):
        if name is None:
            continue
        mask = zone == z
        if not mask.any():
            continue
        naive = pa.array(local[mask], type=pa.timestamp("us"))
        aware = pc.assume_timezone(
            naive, timezone=name, ambiguous="earliest", nonexistent="earliest"
        )
        out[mask] = aware.cast(pa.int64()).to_numpy()
    return out


def _birthdays(rng: np.random.Generator, n: int) -> pa.Array:
    ages = rng.uniform(18.0, 78.0, n)
    end = date(END.year, END.month, END.day)
    days = (end - date(1970, 1, 1)).days - np.floor(ages * 365.25).astype(np.int32)
    return pa.array(days.astype(np.int32), type=pa.date32(), mask=rng.random(n) < 0.1)


def _ids(prefix: str, numbers: Ints, *, width: int) -> pa.Array:
    text = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "")


def _p(weights: list[float] | tuple[float, ...]) -> Floats:
    w = np.asarray(weights, dtype=np.float64)
    return np.asarray(w / w.sum(), dtype=np.float64)


def describe(history: History) -> dict[str, Any]:
    """The generated history's figures, for the benchmark's output."""
    c = history.counts
    return {
        **c,
        "months": history.spec.months,
        "seed": history.spec.seed,
        "purchases_per_member": round(c["purchases"] / max(1, c["members"]), 2),
        "other_events_share": round((c["events"] - c["purchases"]) / max(1, c["purchases"]), 3),
        "files": len(history.files),
        "folder": str(history.folder),
        "seconds": round(history.seconds, 2),
        "reused": history.reused,
    }
