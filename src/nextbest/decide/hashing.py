"""Stable assignment by hashing, shared by every split nextbest makes: the universal holdout,
policy-experiment arms, journey holdouts and random splits, and the experiments' own arms.

A unit's draw is ``blake2b("salt|unit")`` read as a uniform in [0, 1): the same on every
machine, after every restart, for ever. Cumulative shares cut [0, 1) into arms.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def unit_uniform(salt: str, unit: str) -> float:
    """The unit's stable uniform draw in [0, 1) for this salt.

    >>> unit_uniform("universal", "m_1") == unit_uniform("universal", "m_1")
    True
    >>> 0.0 <= unit_uniform("exp-1", "m_1") < 1.0
    True
    """
    digest = hashlib.blake2b(f"{salt}|{unit}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def pick(u: float, shares: Sequence[float]) -> int:
    """The arm whose slice of [0, 1) holds ``u``; shares summing to a hair under 1 leave
    the top to the last arm with a share.

    >>> pick(0.2, [0.5, 0.5]), pick(0.7, [0.5, 0.5]), pick(0.9999, [0.5, 0.4999, 0.0])
    (0, 1, 1)
    """
    edge, last = 0.0, 0
    for i, share in enumerate(shares):
        edge += share
        if share > 0:
            last = i
            if u < edge:
                return i
    return last
