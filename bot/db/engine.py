"""The one place that builds the SQLAlchemy engine of the project's own tables.

`get_engine()` builds one engine per URL (default: `DATABASE_URL` from
`bot.settings`) and keeps it for the life of the process; `session_scope()` gives a
session that commits on success and rolls back on any error. Nothing here touches
the database at import time.

SQLite (the default, a file under `var/`) is shared by two writing processes, the
Rasa server (tracker store) and the action server (these tables), so every
connection gets:

- `journal_mode=WAL`: readers never block the writer nor the writer the readers
  (the mode is stored in the file, so Rasa's own connections use it too);
- `busy_timeout=5000`: a writer waits up to 5 s for the other one instead of
  failing at once with "database is locked";
- `foreign_keys=ON`;
- transactions opened with `BEGIN IMMEDIATE`: a transaction takes the write lock at
  its start (waiting up to the busy timeout), so a read-then-write never fails
  half-way because another process wrote in between, and SAVEPOINTs work (the
  documented workaround for pysqlite's own transaction handling). A connection
  with the execution option `READ_ONLY` opens a plain `BEGIN` instead: in WAL mode
  such a reader never waits for a writer, however long the writer holds its lock.

A writer that still finds the database busy after the busy timeout gets
"database is locked"; `is_transient()` says which errors are worth retrying
(locks, dropped connections, PostgreSQL's lock and serialization failures) and
`backoff_delays()` gives the waits between tries (used by the tracker store,
`bot.db.tracker_store`; `call_with_retries()` for synchronous callers). Long
deletions (`bot.db.retention`) run as many short transactions so that no
writer waits long.

PostgreSQL engines use `pool_pre_ping` so a connection dropped by the server or a
proxy is replaced instead of failing the next request.

A database error logged by the action server must never show a patient's phone
number or email: every engine hides bound parameters in error messages
(`hide_parameters`), never echoes statements (`echo=False`), and on PostgreSQL the
server's DETAIL line ("Failing row contains (..., +15551234567, ...)") is dropped
from the exception's text (it stays available to code as `exc.orig.diag`).
`error_summary()` gives a one-line description of a database error that is safe
to log (no statement, no values).
"""

from __future__ import annotations

import functools
import logging
import random
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar, Union

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000
# Execution option of a connection or session that only reads: on SQLite its
# transaction starts with a plain BEGIN and so never waits for a writer (WAL).
READ_ONLY = {"clinic_read_only": True}

T = TypeVar("T")

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _default_url() -> str:
    from bot.settings import get_settings

    return get_settings().database_url


def _on_sqlite_connect(
    dbapi_connection: Any, _record: Any, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> None:
    # Autocommit at the driver level: SQLAlchemy's "begin" hook below emits BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() not in ("wal", "memory"):
            mode = _switch_to_wal(cursor)
            if mode.lower() != "wal":
                logger.warning("SQLite refused WAL journal mode (still %s)", mode)
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> str:
    """Switches a new database file to WAL, waiting out a concurrent first writer.

    Changing the journal mode needs an exclusive lock and does not honour
    busy_timeout: when two processes open a fresh file at once, one of them is told
    "database is locked" at once, so retry within the same time budget.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _on_sqlite_begin(connection: Any) -> None:
    if connection.get_execution_options().get("clinic_read_only"):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _drop_postgres_detail(context: Any) -> None:
    # psycopg2's text is "<primary message>\nDETAIL:  Failing row contains (...)".
    original = context.original_exception
    diag = getattr(original, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if not primary:
        return
    original.args = (primary,)
    wrapped = context.sqlalchemy_exception
    if wrapped is not None:
        kind = f"{type(original).__module__}.{type(original).__name__}"
        wrapped.args = (f"({kind}) {primary}",)


def build_engine(
    url: Union[str, URL],
    *,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    future: bool = True,
    **create_options: Any,
) -> Engine:
    """A new engine with the project's settings (not cached: see `get_engine`).

    Args:
        url: SQLAlchemy URL (text or `URL`).
        busy_timeout_ms: SQLite only: how long a writer waits for the lock.
        future: SQLAlchemy 2.0-style engine (False for Rasa's own ORM code).
        create_options: more `create_engine` arguments (e.g. `connect_args`,
            PostgreSQL's `pool_size`); they cannot turn echo or parameters on.

    Returns:
        The engine: parameters hidden from error messages, no echo; SQLite with
        WAL, the busy timeout and immediate write transactions; PostgreSQL with
        pre-ping and without the DETAIL line in error messages.
    """
    url = make_url(url)
    options = {**create_options, "future": future}
    options.update(hide_parameters=True, echo=False, echo_pool=False)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, **options)
        on_connect = functools.partial(
            _on_sqlite_connect, busy_timeout_ms=busy_timeout_ms
        )
        event.listen(engine, "connect", on_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    if url.get_backend_name() == "postgresql":
        from bot.settings.storage import get_storage_settings

        # Sized so every process of every worker fits in max_connections
        # (bot.db.capacity checks it when the product starts).
        storage = get_storage_settings()
        options.setdefault("pool_size", storage.pool_size)
        options.setdefault("max_overflow", storage.max_overflow)
    engine = create_engine(url, pool_pre_ping=True, **options)
    if url.get_backend_name() == "postgresql":
        event.listen(engine, "handle_error", _drop_postgres_detail)
    return engine


def _build_engine(url: str) -> Engine:
    return build_engine(url)


# PostgreSQL SQLSTATEs worth another try: serialization failure, deadlock, lock
# not available (lock_timeout), query canceled (statement_timeout), admin shutdown,
# cannot connect now.
_TRANSIENT_PGCODES = {"40001", "40P01", "55P03", "57014", "57P01", "57P03"}
_TRANSIENT_SQLITE_TEXT = ("locked", "busy")


def is_transient(error: BaseException) -> bool:
    """True for a database error that may well succeed when tried again.

    SQLite's "database is locked" (after the busy timeout) and "database table is
    locked"; a dropped or refused connection on any backend; PostgreSQL's
    serialization failures, deadlocks and lock or statement time-outs. Constraint
    violations, syntax errors and the like are not transient.
    """
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        original = error.orig
        if isinstance(original, sqlite3.OperationalError):
            text = str(original).lower()
            return any(word in text for word in _TRANSIENT_SQLITE_TEXT)
        code = getattr(original, "pgcode", None)
        if code:
            return code in _TRANSIENT_PGCODES
        return isinstance(error, (exc.OperationalError, exc.InterfaceError))
    return isinstance(error, (exc.DisconnectionError, exc.TimeoutError))


def error_summary(error: BaseException) -> str:
    """A one-line description of a database error that is safe to log.

    The driver's class and the first line of its message ("database is locked",
    "could not connect to server"), or PostgreSQL's SQLSTATE code: never the
    statement or its values.
    """
    original = getattr(error, "orig", None) or error
    name = type(original).__name__
    code = getattr(original, "pgcode", None)
    if code:  # PostgreSQL's message can quote a value ("invalid input ...: "x"")
        return f"{name} (SQLSTATE {code})"
    if isinstance(original, exc.SQLAlchemyError):
        return name  # SQLAlchemy's own text can quote the statement
    first_line = (str(original).strip().splitlines() or [""])[0][:120]
    return f"{name}: {first_line}" if first_line else name


def backoff_delays(
    first: float = 0.1, factor: float = 2.0, longest: float = 2.0
) -> Iterator[float]:
    """Endless waits between retries: 0.1, 0.2, 0.4 ... up to 2 s, each ±25%."""
    delay = first
    while True:
        yield delay * random.uniform(0.75, 1.25)
        delay = min(delay * factor, longest)


def call_with_retries(
    work: Callable[..., T], *args: Any, retry_seconds: float = 30.0, **kwargs: Any
) -> T:
    """`work(*args, **kwargs)`, tried again on a transient database error.

    For synchronous callers (e.g. the action server's worker threads): `work`
    must be one whole transaction (e.g. `with session_scope(): ...`), so a retry
    starts it afresh. Waits follow `backoff_delays()` for up to `retry_seconds`;
    then, or on any other error, the error is raised as it is.
    """
    deadline = time.monotonic() + retry_seconds
    delays = backoff_delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return work(*args, **kwargs)
        except exc.SQLAlchemyError as error:
            remaining = deadline - time.monotonic()
            if not is_transient(error) or remaining <= 0:
                raise
            delay = min(next(delays), remaining)
            logger.warning(
                "Database busy (%s): trying again in %.1f s (attempt %d)",
                error_summary(error),
                delay,
                attempt,
            )
            time.sleep(delay)


def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for `url`, built on first use.

    Args:
        url: SQLAlchemy URL; default `bot.settings.get_settings().database_url`.

    Returns:
        The same `Engine` object for every call with the same URL (thread-safe).
    """
    url = url or _default_url()
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _build_engine(url)
        return engine


def dispose_engines() -> None:
    """Closes the pooled connections of every cached engine and forgets them.

    For tests and for a process that forks after it used the database.
    """
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.dispose()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back on any error.

    Objects stay readable after the block (`expire_on_commit=False`), so an action
    can use `intake.id` once the row is committed.

    Args:
        engine: the engine to use; default `get_engine()` (from `DATABASE_URL`).

    Yields:
        A `Session` (2.0 style: `future=True`).
    """
    session = Session(engine or get_engine(), future=True, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
