"""The conversation lock store: one turn of a conversation at a time, on any worker.

Rasa takes a ticket on a conversation's lock before it handles a message and waits
until its ticket is the first; its own `RedisLockStore` reads the lock, changes it
in Python and writes it back, so two workers issuing tickets at the same moment can
both get ticket 0 and handle two messages of one conversation at once (the second
save then drops or misorders events). `ClinicLockStore` makes each change one Redis
transaction (`WATCH`/`MULTI`, retried on a conflict), and gives the key a time to
live, so a lock left by a killed worker goes away.

Without `REDIS_URL` (one worker) it keeps the locks in the process's memory, like
Rasa's default. `endpoints.yml` names it for every run; `bot.rasa_server` refuses to
start several workers if this store is not on Redis.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Dict, Optional, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore

from bot.settings.workers import get_worker_settings
from bot.workers import connect

logger = logging.getLogger(__name__)

T = TypeVar("T")
KEY_PREFIX = "mspain:lock:"
SOCKET_TIMEOUT_SECONDS = 10
# A lock's key outlives its newest ticket by this much, then Redis drops it.
KEY_TTL_MARGIN_SECONDS = 60


class ClinicLockStore(LockStore):
    """Rasa's ticket locks, atomic on Redis when `REDIS_URL` is set."""

    def __init__(
        self, endpoint_config: Any = None, redis_url: Optional[str] = None
    ) -> None:
        """Connects to Redis when `redis_url` (default: `REDIS_URL`) is set.

        Args:
            endpoint_config: `endpoints.yml`'s `lock_store` section (unused: the
                settings say where Redis is).
            redis_url: e.g. `redis://127.0.0.1:6379/0`.
        """
        url = redis_url if redis_url is not None else get_worker_settings().redis_url
        self.red: Any = None
        self._memory: Dict[str, TicketLock] = {}
        if url:
            self.red = connect(url, SOCKET_TIMEOUT_SECONDS)
        super().__init__()

    @property
    def shared(self) -> bool:
        """True when the locks are in Redis, shared by every worker."""
        return self.red is not None

    # --- Rasa's three primitives ----------------------------------------------

    def get_lock(self, conversation_id: str) -> Optional[TicketLock]:
        """The conversation's lock, or None."""
        if self.red is None:
            return self._memory.get(conversation_id)
        raw = self.red.get(KEY_PREFIX + conversation_id)
        return TicketLock.from_dict(json.loads(raw)) if raw else None

    def delete_lock(self, conversation_id: str) -> None:
        """Deletes the conversation's lock."""
        if self.red is None:
            self._memory.pop(conversation_id, None)
        else:
            self.red.delete(KEY_PREFIX + conversation_id)

    def save_lock(self, lock: TicketLock) -> None:
        """Stores the lock."""
        if self.red is None:
            self._memory[lock.conversation_id] = lock
        else:
            self.red.set(KEY_PREFIX + lock.conversation_id, lock.dumps(), ex=_ttl(lock))

    # --- changes, each atomic on Redis -----------------------------------------

    def issue_ticket(
        self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME
    ) -> int:
        """A new ticket on the conversation's lock (created if need be)."""
        if self.red is None:
            return super().issue_ticket(conversation_id, lock_lifetime)
        return self._change(
            conversation_id, lambda lock: lock.issue_ticket(lock_lifetime)
        )

    def update_lock(self, conversation_id: str) -> None:
        """Drops the lock's expired tickets."""
        if self.red is None:
            super().update_lock(conversation_id)
        else:
            self._change(conversation_id, lambda lock: lock.remove_expired_tickets())

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Removes a served ticket."""
        if self.red is None:
            super().finish_serving(conversation_id, ticket_number)
        else:
            self._change(
                conversation_id, lambda lock: lock.remove_ticket_for(ticket_number)
            )

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Removes a served ticket, and the lock when nobody else waits."""
        if self.red is None:
            super().cleanup(conversation_id, ticket_number)
        else:
            self._change(
                conversation_id, lambda lock: lock.remove_ticket_for(ticket_number)
            )

    def _change(self, conversation_id: str, change: Callable[[TicketLock], T]) -> T:
        """Reads, changes and writes one lock in a Redis transaction.

        `WATCH` makes the write fail if another worker wrote the lock in between;
        redis-py then runs the whole change again on the new value. A lock with
        no ticket left is deleted in the same transaction.
        """
        key = KEY_PREFIX + conversation_id
        results: list = []

        def transaction(pipe: Any) -> None:
            raw = pipe.get(key)
            lock = (
                TicketLock.from_dict(json.loads(raw))
                if raw
                else TicketLock(conversation_id)
            )
            result = change(lock)
            pipe.multi()
            if lock.tickets:
                pipe.set(key, lock.dumps(), ex=_ttl(lock))
            else:
                pipe.delete(key)
            results.append(result)

        import redis

        try:
            self.red.transaction(transaction, key)
        except redis.RedisError as error:
            # Rasa answers a LockError like any failed turn; the message names
            # the kind of failure only (never the conversation id).
            raise LockError(f"lock store unavailable: {type(error).__name__}") from None
        return results[-1]


def _ttl(lock: TicketLock) -> int:
    """Seconds the lock's key should live: past its newest ticket's expiry."""
    newest = max((ticket.expires for ticket in lock.tickets), default=time.time())
    return max(1, int(newest - time.time()) + KEY_TTL_MARGIN_SECONDS)
