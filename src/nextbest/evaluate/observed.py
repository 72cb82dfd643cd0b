"""What the events reveal to the policies (all but the oracle): consent, purchases,
opens, and a purchase-propensity model refitted on them."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from nextbest.evaluate.config import CHANNELS, IDENTIFIERS, Floats
from nextbest.sim.behaviour import EFFECT_DAYS

# -- what the events reveal -------------------------------------------------------------


def marketing_consent(text: str | None, cache: dict[str, tuple[bool, ...]]) -> tuple[bool, ...]:
    """Marketing consent per channel (email, sms, push) from a ``consents`` cell; () if none.

    >>> marketing_consent('[{"channel": "sms", "purpose": "marketing", "granted": true}]', {})
    (False, True, False)
    """
    if text is None:
        return ()
    got = cache.get(text)
    if got is None:
        granted = {
            c["channel"]: bool(c["granted"])
            for c in orjson.loads(text)
            if c.get("purpose") == "marketing"
        }
        got = cache[text] = tuple(granted.get(ch, False) for ch in CHANNELS)
    return got


class Observed:
    """Per-person facts built from the events a policy would see (index: the person)."""

    def __init__(self, n: int, days: int, epoch0: int) -> None:
        self.n, self.days, self.epoch0 = n, days, epoch0
        self.member = np.zeros(n, dtype=bool)
        self.key: list[str | None] = [None] * n
        self.timezone: list[str | None] = [None] * n
        self.consent = np.zeros((n, 3), dtype=bool)
        self.orders = np.zeros(n)
        self.spend = np.zeros(n)
        self.last_day = np.full(n, np.nan)
        self.delivered = np.zeros((n, 3))
        self.opened = np.zeros((n, 3))
        self.bought = np.zeros((days + EFFECT_DAYS, n), dtype=bool)
        self._cache: dict[str, tuple[bool, ...]] = {}

    def day_of(self, ts: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
        out: npt.NDArray[np.int64] = (np.asarray(ts) - self.epoch0) // 86_400
        return out

    def update(self, table: pa.Table) -> None:
        kind = table["type"]
        for name in ("signup", "profile_update"):
            rows = table.filter(pc.equal(kind, name))
            person = rows["_person"].to_pylist()
            for p, loyalty, tz, consents in zip(
                person,
                rows["identifiers.loyalty_id"].to_pylist(),
                rows["timezone"].to_pylist(),
                rows["consents"].to_pylist(),
                strict=True,
            ):
                if name == "signup":
                    if self.member[p]:
                        continue  # a second account: we keep addressing the first
                    self.member[p] = True
                    self.key[p] = f"loyalty_id:{loyalty}" if loyalty else None
                if tz:
                    self.timezone[p] = tz
                granted = marketing_consent(consents, self._cache)
                if granted:
                    self.consent[p] = granted
        for name, counts in (
            ("message_delivered", self.delivered),
            ("message_opened", self.opened),
        ):
            rows = table.filter(pc.equal(kind, name))
            ch = np.array([CHANNELS.index(c) for c in rows["channel"].to_pylist()], dtype=np.int64)
            np.add.at(counts, (rows["_person"].to_numpy(), ch), 1.0)
        rows = table.filter(pc.equal(kind, "message_unsubscribed"))
        for p, c in zip(rows["_person"].to_pylist(), rows["channel"].to_pylist(), strict=True):
            self.consent[p, CHANNELS.index(c)] = False
        buys = table.filter(pc.and_(pc.equal(kind, "purchase"), identified(table)))
        person = buys["_person"].to_numpy()
        day = np.clip(self.day_of(buys["_ts"]), 0, self.days - 1)
        np.add.at(self.orders, person, 1.0)
        np.add.at(self.spend, person, dollars(buys["total"]))
        self.last_day[person] = np.fmax(self.last_day[person], day)
        self.bought[day, person] = True

    def features(self, day: int) -> Floats:
        """Model features as of the start of ``day`` (rows: persons)."""
        seen = self.orders > 0
        recency = np.where(seen, np.minimum(day - np.nan_to_num(self.last_day), 120.0), 120.0)
        aov = np.where(seen, self.spend / np.maximum(self.orders, 1.0), 0.0)
        opens = (self.opened.sum(axis=1) + 1.0) / (self.delivered.sum(axis=1) + 4.0)
        return np.column_stack(
            [
                np.ones(self.n),
                np.log1p(self.orders),
                self.orders / max(day, 7),
                recency / 120.0,
                (~seen).astype(np.float64),
                np.log1p(aov) / 3.0,
                opens,
            ]
        )

    def aov(self) -> Floats:
        """Mean order value, shrunk towards the members' mean (3 pseudo orders)."""
        mean = float(self.spend.sum() / max(self.orders.sum(), 1.0)) or 10.0
        out: Floats = (self.spend + 3.0 * mean) / (self.orders + 3.0)
        return out


def identified(t: pa.Table) -> pa.ChunkedArray:
    """Rows carrying at least one identifier (anonymous purchases reach no member)."""
    out = pc.is_valid(t[f"identifiers.{IDENTIFIERS[0]}"])
    for name in IDENTIFIERS[1:]:
        out = pc.or_(out, pc.is_valid(t[f"identifiers.{name}"]))
    return out


def dollars(col: pa.ChunkedArray | pa.Array) -> Floats:
    out: Floats = pc.cast(pc.fill_null(col, "0"), pa.float64()).to_numpy(zero_copy_only=False)
    return out


def fit_logistic(x: Floats, y: npt.NDArray[np.bool_], *, ridge: float = 1.0) -> Floats:
    """Ridge logistic regression by Newton steps; the weights.

    >>> x = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1]])
    >>> w = fit_logistic(x, np.array([0, 0, 1, 1, 1, 0], dtype=bool), ridge=0.1)
    >>> bool(w[1] > 0)
    True
    """
    w = np.zeros(x.shape[1])
    target = y.astype(np.float64)
    for _ in range(25):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - target) + ridge * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + ridge * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return w


class Propensity:
    """P(an identified purchase within 14 days), refitted on each decision day from
    feature snapshots taken 14 days before and what followed them."""

    def __init__(self) -> None:
        self.snapshots: dict[int, Floats] = {}
        self.w: Floats | None = None

    def observe(self, day: int, obs: Observed) -> None:
        """Keep the features as of the start of tomorrow (the last 14 days of them)."""
        self.snapshots[day + 1] = obs.features(day + 1)
        self.snapshots.pop(day + 1 - EFFECT_DAYS - 1, None)

    def refit(self, day: int, obs: Observed) -> Floats:
        x = self.snapshots[day] = obs.features(day)
        past = day - EFFECT_DAYS
        if past in self.snapshots:
            label: npt.NDArray[np.bool_] = np.asarray(obs.bought[past:day].any(axis=0))
            self.w = fit_logistic(self.snapshots[past][obs.member], label[obs.member])
        if self.w is None:
            ever: npt.NDArray[np.bool_] = np.asarray(obs.bought[:day].any(axis=0))
            return np.full(obs.n, float(ever[obs.member].mean()) if day else 0.5)
        out: Floats = 1.0 / (1.0 + np.exp(-(x @ self.w)))
        return out
