"""When in the day things happen: weekday morning coffee peak, weekend brunch, seasonality."""

from __future__ import annotations

import numpy as np

from nextbest.sim.draws import Rng
from nextbest.sim.sources import World

_WEEKDAY_HOURS = np.array(
    [
        0,
        0,
        0,
        0,
        0,
        0.2,
        2.0,
        5.5,
        6.0,
        3.5,
        2.2,
        2.0,
        3.2,
        2.8,
        1.8,
        1.6,
        1.4,
        1.2,
        0.8,
        0.5,
        0.3,
        0.1,
        0,
        0,
    ]
)
_WEEKEND_HOURS = np.array(
    [
        0,
        0,
        0,
        0,
        0,
        0,
        0.3,
        1.2,
        2.5,
        4.2,
        4.8,
        4.5,
        3.5,
        2.4,
        1.8,
        1.5,
        1.2,
        0.9,
        0.6,
        0.4,
        0.2,
        0.1,
        0,
        0,
    ]
)
_EVENING_HOURS = np.array(
    [
        0.1,
        0.05,
        0,
        0,
        0,
        0.1,
        0.6,
        1.2,
        1.0,
        0.8,
        0.8,
        0.9,
        1.2,
        1.0,
        0.8,
        0.8,
        0.9,
        1.2,
        1.5,
        1.8,
        2.0,
        1.6,
        0.9,
        0.4,
    ]
)  # app browsing, web, email reading
_CDF = {
    name: np.cumsum(h) / h.sum()
    for name, h in (
        ("weekday", _WEEKDAY_HOURS),
        ("weekend", _WEEKEND_HOURS),
        ("evening", _EVENING_HOURS),
    )
}
WEEKDAY_FACTOR = np.array([1.05, 1.05, 1.05, 1.08, 1.1, 0.95, 0.72])  # Monday first


def weekday(world: World, day: int) -> int:
    """0 = Monday."""
    return (world.config.start.toordinal() + day - 1) % 7


def season(world: World, day: int) -> float:
    """Yearly cycle peaking before Christmas, with a summer dip."""
    doy = (world.config.start.toordinal() + day) % 365
    return float(1.0 + 0.1 * np.cos(2 * np.pi * (doy - 350) / 365.0))


def times(
    world: World,
    rng: Rng,
    person: np.ndarray,
    day: int | np.ndarray,
    profile: str = "shop",
) -> np.ndarray:
    """Unix seconds (UTC) of events on local ``day`` for ``person``, by hour profile."""
    if profile == "shop":
        profile = "weekend" if weekday(world, int(day)) >= 5 else "weekday"
    hour = np.searchsorted(_CDF[profile], rng.random(len(person)), side="right")
    local = hour * 3600 + rng.integers(0, 3600, len(person))
    offset = world.pop.utc_offset_h[person].astype(np.int64) * 3600
    out: np.ndarray = world.config.epoch0 + day * 86_400 + local - offset
    return out
