"""Figures written for people: shares, amounts, durations (one place for all renderings)."""

from __future__ import annotations


def pct(value: float | None) -> str:
    """A share as a percentage.

    >>> pct(0.1234), pct(0.0004), pct(None)
    ('12.3%', '0.04%', '-')
    """
    if value is None:
        return "-"
    return f"{value:.1%}" if value >= 0.001 or value == 0 else f"{value:.2%}"


def money(value: float) -> str:
    """An amount with thousands separators and cents.

    >>> money(1234.5)
    '1,234.50'
    """
    return f"{value:,.2f}"


def duration(seconds: float | None) -> str:
    """Seconds as the largest sensible unit.

    >>> duration(42), duration(5400), duration(3 * 3600), duration(3 * 86400)
    ('42 s', '90 min', '3.0 h', '3.0 d')
    """
    if seconds is None:
        return "-"
    if abs(seconds) < 120:
        return f"{seconds:.0f} s"
    if abs(seconds) < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if abs(seconds) < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.1f} d"
