"""Contact counters in Redis, for many API workers sharing one budget.

A reserve is one Lua script, so Redis runs the check of every slot and the increments as a
single step no other client can interleave with. Redis expiry (PEXPIREAT) ends a window, so
the ``now`` argument is not needed here: a counter Redis has expired is simply absent. All
keys of one reserve must live on one server (a cluster would need hash tags in the keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from nextbest.decide.governance import Slot

# KEYS: counters; ARGV: limits, then expiries in epoch ms ("" for never). Returns 0 when every
# slot was taken, else the 1-based index of the first full slot (nothing was changed).
RESERVE = """
local n = #KEYS
for i = 1, n do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count >= tonumber(ARGV[i]) then return i end
end
for i = 1, n do
  redis.call('INCR', KEYS[i])
  local at = ARGV[n + i]
  if at == '' then
    redis.call('PERSIST', KEYS[i])
  else
    redis.call('PEXPIREAT', KEYS[i], at)
  end
end
return 0
"""

# One use back per key, never below zero; a counter back at zero is deleted.
RELEASE = """
for i = 1, #KEYS do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count > 1 then
    redis.call('DECR', KEYS[i])
  elseif count == 1 then
    redis.call('DEL', KEYS[i])
  end
end
return 0
"""


def _ms(expires_at: float | None) -> str:
    return "" if expires_at is None else str(round(expires_at * 1000))


class RedisBudget:
    """A :class:`~nextbest.decide.budget.ContactBudget` on Redis; keys get ``prefix``.

    Given a URL it builds a blocking pool of ``max_connections``: a burst of concurrent
    decisions then waits briefly for a connection instead of failing with "too many
    connections" (the default pool's behaviour past its limit).
    """

    def __init__(
        self,
        client_or_url: redis.Redis | str,
        *,
        prefix: str = "nextbest:cap:",
        max_connections: int = 50,
        pool_timeout: float = 5.0,
    ) -> None:
        if isinstance(client_or_url, str):
            pool = redis.BlockingConnectionPool.from_url(
                client_or_url, max_connections=max_connections, timeout=pool_timeout
            )
            client_or_url = redis.Redis(connection_pool=pool)
        self.client = client_or_url
        self.prefix = prefix
        # register_script runs by EVALSHA and loads the script again if Redis lost it.
        self._reserve: Any = self.client.register_script(RESERVE)
        self._release: Any = self.client.register_script(RELEASE)

    def _keys(self, keys: Sequence[str]) -> list[str]:
        return [self.prefix + k for k in keys]

    def reserve(self, slots: Sequence[Slot], *, now: float) -> Slot | None:
        if not slots:
            return None
        args = [str(s.limit) for s in slots] + [_ms(s.expires_at) for s in slots]
        full = int(self._reserve(keys=self._keys([s.key for s in slots]), args=args))
        return None if full == 0 else slots[full - 1]

    def release(self, slots: Sequence[Slot], *, now: float) -> None:
        if slots:
            self._release(keys=self._keys([s.key for s in slots]), args=[])

    def usage(self, keys: Sequence[str], *, now: float) -> dict[str, int]:
        if not keys:
            return {}
        values: list[Any] = self.client.mget(self._keys(keys))
        return {k: int(v) for k, v in zip(keys, values, strict=True) if v is not None}
