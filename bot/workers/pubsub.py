"""The chat's socket.io messages between Rasa workers, through Redis.

A patient's socket is connected to one worker; a staff reply or a bot message for
that patient may be produced by another (the console calls Rasa's HTTP API, which
any worker answers). With `WORKERS > 1` the socket.io server gets python-socketio's
`AsyncRedisManager`: an emit for a room this worker does not hold is published on
a Redis channel, and the worker that holds it delivers it.

The manager draws its host id when it is built, and it is built while Rasa sets up
its app, before Sanic forks the workers: every worker would share one id, and a
manager ignores messages carrying its own id, so a message published by one worker
would never be delivered by another (staff replies would reach about half of the
patients with two workers). `distinct_per_worker` gives each worker its own id once
it runs. The widget uses the websocket transport only when several workers run
(long-polling would need sticky sessions at the load balancer).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Optional

from bot.settings.workers import get_worker_settings

logger = logging.getLogger(__name__)

CHANNEL = "mspain-socketio"
TRANSPORTS = ["websocket"]  # with several workers: no long-polling


def client_manager() -> Optional[Any]:
    """A Redis client manager when several workers run, else None (in memory)."""
    settings = get_worker_settings()
    if settings.workers < 2 or not settings.redis_url:
        return None
    from socketio import AsyncRedisManager

    return AsyncRedisManager(settings.redis_url, channel=CHANNEL)


def distinct_per_worker(blueprint: Any, manager: Any) -> None:
    """Gives the manager a host id of its own in each worker, when it starts."""

    async def own_host_id(app: Any, loop: Any) -> None:
        manager.host_id = uuid.uuid4().hex
        logger.info("socket.io across workers through Redis (this worker's id set)")

    blueprint.listener("before_server_start")(own_host_id)
