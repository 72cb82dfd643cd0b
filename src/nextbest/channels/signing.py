"""Webhook signatures: ``X-Nextbest-Signature: t=<unix>,v1=<hex HMAC-SHA256>``.

The MAC covers ``f"{t}.{body}"``, so a receiver can reject a replayed request whose
timestamp is too old as well as a forged or altered body. Pure: time is passed in.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Nextbest-Signature"
TOLERANCE_S = 300


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, now: float) -> str:
    """The header value for ``body`` sent at ``now`` (epoch seconds).

    >>> sign("s3cret", b'{"a":1}', now=1700000000.9)[:13]
    't=1700000000,'
    """
    t = int(now)
    return f"t={t},v1={_mac(secret, t, body)}"


def verify_signature(
    secret: str, header: str | None, body: bytes, *, now: float, tolerance_s: float = TOLERANCE_S
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now``.

    >>> h = sign("k", b"hi", now=1000)
    >>> verify_signature("k", h, b"hi", now=1100), verify_signature("k", h, b"ho", now=1100)
    (True, False)
    >>> verify_signature("k", h, b"hi", now=2000), verify_signature("x", h, b"hi", now=1000)
    (False, False)
    """
    if not header:
        return False
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        t = int(parts.get("t", [""])[0])
    except ValueError:
        return False
    if abs(now - t) > tolerance_s:
        return False
    expected = _mac(secret, t, body)
    # Several v1 values let a sender sign with an old and a new secret while rotating.
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))
