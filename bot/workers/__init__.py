"""What lets several Rasa workers (`WORKERS=N`) share the work: locks and messages.

- `locks.py`: the conversation lock store (`endpoints.yml`'s `lock_store`): in the
  process's memory for one worker, in Redis with atomic updates for several.
- `pubsub.py`: the chat's socket.io messages between workers through Redis, each
  worker with its own id, so a staff reply reaches a patient connected to another.
- `ratelimit.py`: `CHAT_RATE_LIMIT` counted once for all workers, in Redis.

`connect()` builds the Redis client each of them uses.
"""

from __future__ import annotations

from typing import Any


def connect(url: str, timeout_seconds: float) -> Any:
    """A Redis client for `url`.

    It gives up after `timeout_seconds` (connecting or waiting for an answer) and
    checks an idle connection before using it.
    """
    import redis

    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        health_check_interval=30,
        retry_on_timeout=True,
    )
