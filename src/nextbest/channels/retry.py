"""When to try a failed delivery again: exponential backoff with deterministic jitter.

The jitter comes from a hash of the message id and the attempt, not from a shared random
generator: the same message always waits the same time (reproducible in tests and logs),
while messages failing together spread out instead of retrying in one burst.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def jitter_fraction(key: str, attempt: int) -> float:
    """A number in [0, 1) fixed by ``key`` and ``attempt``.

    >>> jitter_fraction("m1", 1) == jitter_fraction("m1", 1)
    True
    >>> 0 <= jitter_fraction("m1", 2) < 1
    True
    """
    digest = hashlib.blake2b(f"{key}:{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_attempts`` sends at most; the n-th wait is half of ``base * 2**(n-1)`` (capped
    at ``cap``) plus a jitter of up to the other half ("equal jitter"): below the cap each
    wait is at least as long as the one before."""

    max_attempts: int = 5
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0

    def delay(self, attempt: int, *, key: str) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        >>> p = RetryPolicy(base_seconds=10, cap_seconds=60)
        >>> [5 <= p.delay(1, key="m") <= 10, 10 <= p.delay(2, key="m") <= 20]
        [True, True]
        >>> 30 <= p.delay(9, key="m") <= 60
        True
        """
        ceiling = min(self.cap_seconds, self.base_seconds * 2.0 ** max(attempt - 1, 0))
        return ceiling / 2.0 + jitter_fraction(key, attempt) * ceiling / 2.0

    def gives_up(self, attempts: int, *, retryable: bool) -> bool:
        """Whether a failure after ``attempts`` sends is final.

        >>> p = RetryPolicy(max_attempts=3)
        >>> [p.gives_up(1, retryable=True), p.gives_up(3, retryable=True),
        ...  p.gives_up(1, retryable=False)]
        [False, True, True]
        """
        return not retryable or attempts >= self.max_attempts
