"""Limits every channel applies before a message reaches Rasa.

- **Rate**: at most `CHAT_RATE_LIMIT` messages per sender (default `20/60`: 20
  messages in any 60 seconds), counted per channel and per sender (REST sender
  id, widget session and socket, SMS number). A message over the limit is
  refused with a clear error and stored nowhere: it never reaches Rasa. A
  person typing does not come near 20 a minute; a script does.
- **Size**: `MAX_MESSAGE_CHARS` characters of text (the widget lets a patient
  type 1,000, the NLU reads 1,000; see `bot.nlu.components.InputGuard`).

With one worker the counters live in its memory (a restart forgets them; memory
is bounded by `RateLimiter.max_keys`). With several workers (`WORKERS > 1`) they
live in Redis, counted once for all (`bot.workers.ratelimit`), so a sender cannot
get N times the limit by landing on N workers.

`CHAT_RATE_LIMIT` is read by `bot.settings.widget.rate_limit`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, Optional

from bot.texts import text

MAX_MESSAGE_CHARS = 4000


class RateLimiter:
    """A sliding-window limit per key: at most `limit` hits in `window` seconds.

    Refused hits are not counted, so a sender who keeps flooding gets through
    again as soon as their earlier accepted messages leave the window.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        max_keys: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._hits: Dict[str, Deque[float]] = {}

    @classmethod
    def from_settings(cls) -> Any:
        """A limiter configured by `CHAT_RATE_LIMIT` (`bot.settings.widget`)."""
        from bot.settings import widget

        return cls.shared(*widget.rate_limit())

    @classmethod
    def shared(cls, limit: int, window: float) -> Any:
        """This limit for all workers: in Redis when several run, else in memory."""
        from bot.settings.workers import get_worker_settings

        local = cls(limit, window)
        settings = get_worker_settings()
        if settings.workers < 2 or not settings.redis_url:
            return local
        from bot.workers.ratelimit import SharedRateLimiter

        return SharedRateLimiter(limit, window, settings.redis_url, fallback=local)

    def retry_after(self, *keys: str) -> Optional[int]:
        """Counts one message for each key, or refuses it for all of them.

        Args:
            keys: who sends (e.g. the widget's session and its socket).

        Returns:
            None when the message is allowed (and counted), else the whole
            seconds to wait until it would be.
        """
        now = self._clock()
        wait = 0.0
        for key in keys:
            hits = self._hits.get(key)
            if hits is None:
                continue
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                wait = max(wait, self.window - (now - hits[0]))
        if wait > 0:
            return max(1, math.ceil(wait))
        if len(self._hits) + len(keys) > self.max_keys:
            self._prune(now)
        for key in keys:
            self._hits.setdefault(key, deque()).append(now)
        return None

    def _prune(self, now: float) -> None:
        """Forgets idle keys; if still too many, the oldest ones."""
        idle = [k for k, h in self._hits.items() if not h or now - h[-1] >= self.window]
        for key in idle:
            del self._hits[key]
        while len(self._hits) >= self.max_keys:
            del self._hits[next(iter(self._hits))]


def too_fast_text(retry_after: int) -> str:
    """What a sender over the limit reads (`chat.too_fast` in `bot/texts`)."""
    unit = text("chat.second" if retry_after == 1 else "chat.seconds")
    return text("chat.too_fast", seconds=retry_after, unit=unit)
