"""Where a simulated day's random numbers come from: one stream, or paired draws.

By default a day draws everything from one generator, in the order the engine asks; who
is treated, alive or buying changes how much of it each step consumes, so after the first
treatment every later draw shifts for everyone. With ``SimConfig.paired_draws`` the same
response model reads *common random numbers* instead (for paired policy comparisons): a
person's draws depend on the seed, the day, the step and the person (and which of their
events it is), never on what happens to other persons.

* draws over a set of persons that never depends on the policies (those who join today,
  who file a ticket, ...) come from a generator of their own per day and step;
* draws over every person (who buys how often, who drops out, who browses the web) are
  fixed-length, one number per person whoever is alive, and counts are inverse-CDF
  Poisson, monotone in the rate, so a treated person's extra purchases come on top of the
  ones they would have made anyway;
* draws per event (an order's contents, a message's opening, an app session) come from
  ``KeyedDraws``: counter-based numbers hashed from the event's key, person and the number
  of the draw, cheap for any number of events.

Person 6's first event of the day draws the same number whoever else has events:

>>> def first(person, occurrence):
...     keyed = KeyedDraws.of(seed=1, phase=2, day=3, person=np.array(person),
...                           occurrence=np.array(occurrence))
...     return keyed.random(len(person))
>>> a, b = first([5, 6, 5], [0, 0, 1]), first([6], [0])
>>> bool(a[1] == b[0]), bool(a[0] != a[2])
(True, True)
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import stats

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Keys = npt.NDArray[np.uint64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix(x: Keys) -> Keys:
    """The splitmix64 finaliser, element-wise (wraps modulo 2**64 as it should)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    out: Keys = z ^ (z >> np.uint64(31))
    return out


def _u64(values: npt.ArrayLike) -> Keys:
    return np.atleast_1d(np.asarray(values, dtype=np.int64)).astype(np.uint64)


def capped_poisson(u: Floats, lam: Floats | float, cap: int) -> Ints:
    """``min(Poisson(lam) inverse CDF at u, cap)``: the count whose CDF first reaches ``u``.

    >>> capped_poisson(np.array([0.1, 0.5, 0.999]), 1.0, 3).tolist()
    [0, 1, 3]
    """
    lam = np.asarray(lam, dtype=np.float64)
    p = np.exp(-lam)
    cdf = p
    k = np.zeros(np.broadcast(u, lam).shape, dtype=np.int64)
    for j in range(cap):
        k += u > cdf
        p = p * lam / (j + 1)
        cdf = cdf + p
    return k


class KeyedDraws:
    """Random numbers per event: row ``i``'s ``c``-th draw is a hash of its key and ``c``.

    Offers the few ``numpy.random.Generator`` methods the event builders use, always one
    number per row (``size`` must be the number of rows); ``take`` and ``repeat`` give
    the rows of a subset, or several rows per row, keys of their own.
    """

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.calls = 0

    @classmethod
    def of(
        cls, *, seed: int, phase: int, day: int, person: np.ndarray, occurrence: np.ndarray
    ) -> KeyedDraws:
        base = mix(mix(mix(_u64(seed)) ^ _u64(phase)) ^ _u64(day))
        keys = mix(mix(base ^ _u64(person)) ^ _u64(occurrence))
        return cls(keys)

    def __len__(self) -> int:
        return len(self.keys)

    def _bits(self, size: int | None) -> Keys:
        if size is not None and size != len(self.keys):
            raise ValueError(f"keyed draws give one number per row ({len(self.keys)}), not {size}")
        self.calls += 1
        return mix(self.keys ^ mix(_u64(self.calls)))

    def random(self, size: int | None = None) -> Floats:
        out: Floats = ((self._bits(size) >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
        return out

    def integers(self, low: int, high: int, size: int | None = None) -> Ints:
        out: Ints = low + np.minimum(
            (self.random(size) * (high - low)).astype(np.int64), high - low - 1
        )
        return out

    def poisson(self, lam: Floats | float = 1.0, size: int | None = None) -> Ints:
        out: Ints = stats.poisson.ppf(self.random(size), lam).astype(np.int64)
        return out

    def exponential(self, scale: float = 1.0, size: int | None = None) -> Floats:
        out: Floats = -scale * np.log1p(-self.random(size))
        return out

    def choice(
        self, a: int | np.ndarray, size: int | None = None, p: npt.ArrayLike | None = None
    ) -> np.ndarray:
        options = np.arange(a) if isinstance(a, int) else np.asarray(a)
        weights = np.full(len(options), 1.0 / len(options)) if p is None else np.asarray(p)
        cdf = np.cumsum(weights) / np.sum(weights)
        index = np.minimum(np.searchsorted(cdf, self.random(size), side="right"), len(cdf) - 1)
        out: np.ndarray = options[index]
        return out

    def take(self, rows: np.ndarray) -> KeyedDraws:
        """Draws for the rows at ``rows`` (distinct positions), apart from this one's."""
        self.calls += 1
        return KeyedDraws(mix(self.keys[rows] ^ mix(_u64(self.calls) + _GOLDEN)))

    def repeat(self, counts: np.ndarray) -> KeyedDraws:
        """Draws for ``counts[i]`` rows per row ``i`` (as ``np.repeat``), each its own."""
        rows = np.repeat(np.arange(len(self.keys)), counts)
        return KeyedDraws(mix(self.take(rows).keys ^ _u64(occurrence(counts))))


Rng: TypeAlias = np.random.Generator | KeyedDraws
"""What the event builders draw from: the day's generator or keyed draws."""


def take(rng: Rng, rows: np.ndarray) -> Rng:
    """The draws for a subset of rows: the same generator, or the rows' keyed draws."""
    return rng if isinstance(rng, np.random.Generator) else rng.take(rows)


def repeat(rng: Rng, counts: np.ndarray) -> Rng:
    """The draws for rows repeated ``counts`` times: the same generator, or keyed draws."""
    return rng if isinstance(rng, np.random.Generator) else rng.repeat(counts)


def occurrence(counts: np.ndarray) -> Ints:
    """0, 1, ... within each run of ``np.repeat(x, counts)``.

    >>> occurrence(np.array([2, 0, 3])).tolist()
    [0, 1, 0, 1, 2]
    """
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    out: Ints = np.arange(int(np.sum(counts)), dtype=np.int64) - starts
    return out


class DayDraws:
    """The sources of one day's draws, by step; all one generator unless paired."""

    def __init__(self, seed: int, day: int, rng: np.random.Generator, *, paired: bool) -> None:
        self.seed, self.day, self.rng, self.paired = seed, day, rng, paired
        self._streams: dict[int, np.random.Generator] = {}

    def stream(self, phase: int) -> np.random.Generator:
        """A generator for draws whose number does not depend on the policies."""
        if not self.paired:
            return self.rng
        got = self._streams.get(phase)
        if got is None:
            got = self._streams[phase] = np.random.default_rng([self.seed, 8, self.day, phase])
        return got

    def keyed(self, phase: int, person: np.ndarray, occurrence: np.ndarray | None = None) -> Rng:
        """Draws per event of ``person`` (``occurrence``: which of their events today)."""
        if not self.paired:
            return self.rng
        occ = np.zeros(len(person), dtype=np.int64) if occurrence is None else occurrence
        return KeyedDraws.of(
            seed=self.seed, phase=phase, day=self.day, person=person, occurrence=occ
        )

    def counts(self, phase: int, n: int, person: np.ndarray, rate: Floats, cap: int) -> Ints:
        """``min(Poisson(rate), cap)`` for ``person``; paired: inverse CDF of one number per
        each of the ``n`` persons, whoever is in ``person``."""
        if not self.paired:
            out: Ints = np.minimum(self.rng.poisson(rate), cap)
            return out
        return capped_poisson(self.stream(phase).random(n)[person], rate, cap)

    def uniform(self, phase: int, n: int, person: np.ndarray) -> Floats:
        """A uniform number for each of ``person``; paired: one per each of ``n`` persons."""
        if not self.paired:
            out: Floats = self.rng.random(len(person))
            return out
        out = self.stream(phase).random(n)[person]
        return out
