"""Rasa's SQL tracker store, made to keep every turn (`endpoints.yml`: `tracker_store`).

Rasa's own `SQLTrackerStore` lost whole turns: when SQLite stayed locked longer
than its busy timeout (a long `purge` or `forget`), `save` failed at once, Rasa's
`FailSafeTrackerStore` kept the turn in memory only, and the error it logged
carried the SQL parameters (the phone number, the message, the intent).
`ClinicTrackerStore` is the same store (same `events` table, same queries) with:

- **Retries.** A transient failure (SQLite "database is locked", a dropped
  connection, PostgreSQL's lock time-outs, deadlocks and serialization failures:
  `bot.db.engine.is_transient`) is retried with backoff (0.1 s doubling to 2 s)
  for up to `retry_seconds` (30 s by default). Only then does `save` raise
  `TrackerStoreError`, so a lost turn is an error in the log, never silent.
- **No blocked event loop.** Database work runs in a worker thread; Rasa's own
  store waited for the lock inside the event loop, stalling every conversation.
- **Reads that never wait.** On SQLite, reading a conversation opens a plain
  `BEGIN` (WAL: a reader never waits for a writer); a save opens `BEGIN
  IMMEDIATE`, so its count-then-insert cannot interleave with another writer.
- **Clean errors.** The engine comes from `bot.db.engine.build_engine`
  (`hide_parameters`, no echo) and every database error leaves this class as a
  `TrackerStoreError` naming the driver's error only ("OperationalError:
  database is locked"): no statement, no values, no conversation id.
- **Forget wins.** A save takes the conversation's lock
  (`bot.db.retention.lock_conversation`) and refuses a tracker that holds an
  event from before the conversation was forgotten (`forgotten_at`): a turn that
  was running while `python -m bot.console forget` deleted the conversation
  cannot write it back. A conversation started after the forget is stored as
  usual.

Configured in `endpoints.yml` as ``type: bot.db.tracker_store.ClinicTrackerStore``
with ``url: ${DATABASE_URL}``; optional keys: ``retry_seconds``,
``busy_timeout_ms`` (SQLite, default 5000).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, TypeVar

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import (
    SQLTrackerStore,
    TrackerStore,
    create_engine_kwargs,
    ensure_schema_exists,
    validate_port,
)
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.engine import (
    READ_ONLY,
    SQLITE_BUSY_TIMEOUT_MS,
    backoff_delays,
    build_engine,
    error_summary,
    is_transient,
)
from bot.db.offloop import off_loop
from bot.db.retention.marks import forgotten_at, lock_conversation

logger = logging.getLogger(__name__)

RETRY_SECONDS = 30.0
T = TypeVar("T")


class TrackerStoreError(RuntimeError):
    """The conversation store failed for good (the message names no patient)."""


class ClinicTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` with retries, clean errors and forget-aware saves."""

    def __init__(
        self,
        domain: Optional[Domain] = None,
        dialect: str = "sqlite",
        host: Optional[str] = None,
        port: Optional[int] = None,
        db: str = "rasa.db",
        username: Optional[str] = None,
        password: Optional[str] = None,
        event_broker: Optional[EventBroker] = None,
        login_db: Optional[str] = None,
        query: Optional[Dict] = None,
        retry_seconds: float = RETRY_SECONDS,
        busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
        **kwargs: Any,
    ) -> None:
        """Connects (see `SQLTrackerStore`; `host` may be a whole URL).

        Args:
            domain: the assistant's domain.
            dialect: SQL dialect when `host` is not a URL.
            host: database host, or the whole SQLAlchemy URL (`DATABASE_URL`).
            port: database port.
            db: database name (SQLite: file).
            username: database user.
            password: database password.
            event_broker: Rasa's event broker, if any.
            login_db: not supported (create the database beforehand).
            query: URL query options.
            retry_seconds: how long a transient failure is retried.
            busy_timeout_ms: SQLite: how long one try waits for the write lock.
            kwargs: passed on to `TrackerStore`.
        """
        if login_db:
            raise ValueError("login_db is not supported: create the database first")
        url = self.get_db_url(
            dialect, host, validate_port(port), db, username, password, None, query
        )
        self.retry_seconds = float(retry_seconds)
        self.engine = build_engine(
            url,
            busy_timeout_ms=int(busy_timeout_ms),
            future=False,  # Rasa's queries are written for the 1.x ORM API
            **create_engine_kwargs(url),
        )
        self._create_table()
        self.sessionmaker = sessionmaker(bind=self.engine)
        TrackerStore.__init__(self, domain, event_broker, **kwargs)

    def _create_table(self) -> None:
        """Creates Rasa's `events` table if needed, retrying a busy database."""
        deadline = time.monotonic() + self.retry_seconds
        for delay in backoff_delays():
            try:
                self.Base.metadata.create_all(self.engine)
                return
            except SQLAlchemyError as error:
                # Another process may have created it at the same moment.
                if self._has_table():
                    return
                if not is_transient(error) or time.monotonic() > deadline:
                    raise TrackerStoreError(
                        f"cannot create the events table: {error_summary(error)}"
                    ) from None
                time.sleep(delay)

    def _has_table(self) -> bool:
        try:
            return inspect(self.engine).has_table(self.SQLEvent.__tablename__)
        except SQLAlchemyError:
            return False

    @contextmanager
    def _session(self, read_only: bool) -> Iterator[Session]:
        session = self.sessionmaker()
        try:
            if read_only:
                session.connection(execution_options=READ_ONLY)
            ensure_schema_exists(session)
            yield session
        finally:
            session.close()

    async def _retrying(self, what: str, work: Callable[..., T], *args: Any) -> T:
        """Runs `work(*args)` in a worker thread, retrying transient failures."""
        deadline = time.monotonic() + self.retry_seconds
        delays = backoff_delays()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await off_loop(work, *args)
            except SQLAlchemyError as error:
                summary = error_summary(error)
                remaining = deadline - time.monotonic()
                if not is_transient(error) or remaining <= 0:
                    logger.error(
                        "Conversation store: could not %s a conversation "
                        "(%d attempt(s)): %s",
                        what,
                        attempt,
                        summary,
                    )
                    raise TrackerStoreError(
                        f"could not {what} a conversation after {attempt} "
                        f"attempt(s): {summary}"
                    ) from None
                delay = min(next(delays), remaining)
                logger.warning(
                    "Conversation store busy (%s): %s again in %.1f s (attempt %d)",
                    summary,
                    what,
                    delay,
                    attempt,
                )
                await asyncio.sleep(delay)

    # --- reading ----------------------------------------------------------------

    async def keys(self) -> Iterable[str]:
        """Every conversation id in the store."""
        return await self._retrying("list", self._keys_now)

    def _keys_now(self) -> List[str]:
        with self._session(read_only=True) as session:
            rows = session.query(self.SQLEvent.sender_id).distinct().all()
            return [sender_id for (sender_id,) in rows]

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> Optional[DialogueStateTracker]:
        events = await self._retrying(
            "read", self._events_now, sender_id, fetch_events_from_all_sessions
        )
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    def _events_now(self, sender_id: str, all_sessions: bool) -> List[Dict]:
        with self._session(read_only=True) as session:
            rows = self._event_query(session, sender_id, all_sessions).all()
            return [json.loads(row.data) for row in rows]

    # --- writing ----------------------------------------------------------------

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Stores the tracker's new events (retried; `TrackerStoreError` at last)."""
        await self.stream_events(tracker)
        await self._retrying("store", self._save_now, tracker)

    def _save_now(self, tracker: DialogueStateTracker) -> None:
        with self._session(read_only=False) as session:
            connection = session.connection()
            lock_conversation(connection, tracker.sender_id)
            forgotten = forgotten_at(connection, tracker.sender_id)
            if forgotten is not None and _begun_before(tracker, forgotten):
                logger.warning(
                    "A turn that began before its conversation was forgotten "
                    "was not stored"
                )
                return
            for event in self._additional_events(session, tracker):
                data = event.as_dict()
                intent = (
                    data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY)
                )
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=intent,
                        action_name=data.get("name"),
                        data=json.dumps(data),
                    )
                )
            session.commit()


def _begun_before(tracker: DialogueStateTracker, moment: float) -> bool:
    """True when the tracker holds an event from `moment` or earlier."""
    return any(
        event.timestamp is None or event.timestamp <= moment for event in tracker.events
    )
