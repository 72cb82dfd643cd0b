"""Deterministic A/B/n assignment by hashing, and the sample-ratio-mismatch check.

A member's arm is a pure function of the experiment (the salt) and the member id: the same
on every machine, after every restart, for ever. The hash is :mod:`nextbest.decide.hashing`,
the one the decision engine's universal holdout and the journeys' splits use, so a two-arm
experiment ``holdout`` / ``treated`` salted ``"universal"`` puts exactly the members
:func:`nextbest.decide.engine.in_holdout` holds out into its first arm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats as sps

from nextbest.decide.hashing import pick, unit_uniform

SRM_THRESHOLD = 0.001  # a p-value below this means the split is broken, not unlucky
_TOLERANCE = 1e-9


class AssignmentError(ValueError):
    """Arms that cannot be assigned from: the message names the arm and the reason."""


def validate_arms(arms: Mapping[str, float]) -> None:
    """Raise :class:`AssignmentError` unless the shares are non-negative and sum to 1.

    >>> validate_arms({"control": 0.5, "treatment": 0.4})
    Traceback (most recent call last):
    ...
    nextbest.experiments.assignment.AssignmentError: arm shares sum to 0.9, not 1
    """
    if not arms:
        raise AssignmentError("an experiment needs at least one arm")
    for name, share in arms.items():
        if not math.isfinite(share) or share < 0:
            raise AssignmentError(f"arm {name!r}: share {share} is not a number >= 0")
    total = math.fsum(arms.values())
    if abs(total - 1.0) > _TOLERANCE:
        raise AssignmentError(f"arm shares sum to {total:g}, not 1")


def assign(experiment_id: str, member_id: str, arms: Mapping[str, float]) -> str:
    """The member's arm: cumulative shares in the mapping's order cut [0, 1) into arms.

    >>> arms = {"control": 0.5, "treatment": 0.5}
    >>> assign("exp-1", "m_42", arms) == assign("exp-1", "m_42", arms)
    True
    >>> sorted({assign("exp-1", f"m_{i}", arms) for i in range(100)})
    ['control', 'treatment']
    """
    validate_arms(arms)
    names = list(arms)
    return names[pick(unit_uniform(experiment_id, member_id), list(arms.values()))]


def assign_many(
    experiment_id: str, member_ids: Sequence[str], arms: Mapping[str, float]
) -> list[str]:
    """:func:`assign` for each member, in order (the same answer as looping it)."""
    validate_arms(arms)
    return [assign(experiment_id, m, arms) for m in member_ids]


@dataclass(frozen=True, slots=True)
class SampleRatio:
    """Observed arm counts against the planned shares: chi-square goodness of fit."""

    counts: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    p_value: float
    flagged: bool  # p below the threshold: the assignment or the logging is broken


def srm_check(
    counts: Sequence[int], shares: Sequence[float], *, threshold: float = SRM_THRESHOLD
) -> SampleRatio:
    """Sample-ratio mismatch: are the counts plausible under the planned shares?

    >>> srm_check([48_000, 52_000], [0.5, 0.5]).flagged
    True
    >>> srm_check([50_100, 49_900], [0.5, 0.5]).flagged
    False
    """
    if len(counts) != len(shares) or len(counts) < 2:
        raise AssignmentError(
            f"{len(counts)} counts for {len(shares)} shares: need one per arm, two or more"
        )
    validate_arms({str(i): float(s) for i, s in enumerate(shares)})
    if any(c < 0 for c in counts):
        raise AssignmentError(f"counts {list(counts)} include a negative number")
    total = sum(counts)
    observed = [int(c) for c in counts]
    pairs = [(o, s * total) for o, s in zip(observed, shares, strict=True)]
    if total == 0:
        return SampleRatio(tuple(observed), tuple(0.0 for _ in shares), 0.0, 1.0, False)
    # An arm planned at 0% that received units is a mismatch for certain.
    if any(e == 0 and o > 0 for o, e in pairs):
        return SampleRatio(tuple(observed), tuple(e for _, e in pairs), math.inf, 0.0, True)
    kept = [(o, e) for o, e in pairs if e > 0]
    if len(kept) < 2:
        return SampleRatio(tuple(observed), tuple(e for _, e in pairs), 0.0, 1.0, False)
    result = sps.chisquare([o for o, _ in kept], [e for _, e in kept])
    chi2, p = float(result.statistic), float(result.pvalue)
    return SampleRatio(tuple(observed), tuple(e for _, e in pairs), chi2, p, p < threshold)
