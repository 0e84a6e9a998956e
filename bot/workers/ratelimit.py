"""`CHAT_RATE_LIMIT` counted once for all workers, in Redis.

With one worker the limit is counted in its memory (`bot.channels.limits`). With
several, each would count only what reached it, and a sender could send up to N
times the limit; `SharedRateLimiter` keeps the same sliding window in Redis (one
sorted set of hit times per key, checked and counted for all keys of a message in
one Lua script, so two workers cannot both let the last allowed message through).

If Redis cannot be reached the worker counts in its own memory for the next
`RETRY_REDIS_SECONDS` (logged), without waiting for Redis on every message: a flood
is then limited per worker, never let through unlimited, and no patient is refused
because Redis is down.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from typing import Any, Callable, Optional

from bot.workers import connect

logger = logging.getLogger(__name__)

KEY_PREFIX = "mspain:rate:"
SOCKET_TIMEOUT_SECONDS = 2
RETRY_REDIS_SECONDS = 10  # after a failure, count in memory this long

# KEYS: the sender's keys. ARGV: now (ms), window (ms), limit, a unique member.
# Returns 0 when allowed (and counted for every key), else the ms to wait.
_SLIDING_WINDOW = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local wait = 0
for _, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
    wait = math.max(wait, window - (now - oldest))
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, window)
end
return 0
"""


class SharedRateLimiter:
    """`RateLimiter`'s sliding window, shared by every worker through Redis."""

    def __init__(
        self,
        limit: int,
        window: float,
        redis_url: str,
        fallback: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Connects to Redis (lazily, on the first message).

        Args:
            limit: messages allowed per key in `window` seconds.
            window: the window's length in seconds.
            redis_url: e.g. `redis://127.0.0.1:6379/0`.
            fallback: a `RateLimiter` used while Redis cannot be reached.
            clock: wall-clock seconds, the same on every machine (NTP).
        """
        self.limit = limit
        self.window = window
        self.fallback = fallback
        self._clock = clock
        self._redis = connect(redis_url, SOCKET_TIMEOUT_SECONDS)
        self._script = self._redis.register_script(_SLIDING_WINDOW)
        self._redis_down_until = 0.0  # time.monotonic()

    def retry_after(self, *keys: str) -> Optional[int]:
        """Counts one message for each key, or refuses it for all of them.

        Returns:
            None when the message is allowed (and counted), else the whole seconds
            to wait until it would be.
        """
        import redis

        if time.monotonic() < self._redis_down_until:
            return self.fallback.retry_after(*keys)
        try:
            wait_ms = self._script(
                keys=[KEY_PREFIX + key for key in keys],
                args=[
                    int(self._clock() * 1000),
                    int(self.window * 1000),
                    self.limit,
                    secrets.token_hex(8),
                ],
            )
        except redis.RedisError as error:
            # This runs on the event loop for every message: after a failure, do
            # not wait for Redis again (up to its time-out) for a while.
            self._redis_down_until = time.monotonic() + RETRY_REDIS_SECONDS
            logger.warning(
                "Rate limit counted in this worker only for %d s: Redis unavailable "
                "(%s)",
                RETRY_REDIS_SECONDS,
                type(error).__name__,
            )
            return self.fallback.retry_after(*keys)
        wait_ms = int(wait_ms)
        return None if wait_ms <= 0 else max(1, math.ceil(wait_ms / 1000))
