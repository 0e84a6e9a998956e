"""Settings of several workers: how many Rasa workers run, and where Redis is.

- `WORKERS` (1, at most 16): Rasa server and action server worker processes.
- `REDIS_URL` (none): `redis://` or `rediss://`; the conversation locks and the
  chat's socket.io messages between workers go through it.

Read on their own by what needs only them (the lock store, the socket.io channel);
`bot.settings.load_settings` adds the checks across areas (several workers need
PostgreSQL and Redis) when a process starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Optional

from bot.settings.core import SettingsError, positive_int

MAX_WORKERS = 16


@dataclass(frozen=True)
class WorkerSettings:
    """How many workers, and the Redis they share (None: one worker, no Redis)."""

    workers: int = 1
    redis_url: Optional[str] = None

    def __repr__(self) -> str:
        # A Redis URL may carry a password.
        return f"WorkerSettings(workers={self.workers}, redis={bool(self.redis_url)})"


def load(env: Optional[Mapping[str, str]] = None) -> WorkerSettings:
    """Reads and validates `WORKERS` and `REDIS_URL` (default: `os.environ`).

    Raises:
        SettingsError: `WORKERS` is not a whole number from 1 to 16, or
            `REDIS_URL` is not a redis:// or rediss:// URL.
    """
    env = os.environ if env is None else env
    workers = positive_int(env, "WORKERS", 1)
    if workers > MAX_WORKERS:
        raise SettingsError(f"WORKERS must be at most {MAX_WORKERS}, got {workers}")
    redis_url = env.get("REDIS_URL", "").strip() or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://")):
        raise SettingsError("REDIS_URL must start with redis:// or rediss://")
    return WorkerSettings(workers=workers, redis_url=redis_url)


@lru_cache(maxsize=1)
def get_worker_settings() -> WorkerSettings:
    """The process-wide worker settings, read on first use."""
    return load()
