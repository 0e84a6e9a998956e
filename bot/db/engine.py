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
  documented workaround for pysqlite's own transaction handling).

PostgreSQL engines use `pool_pre_ping` so a connection dropped by the server or a
proxy is replaced instead of failing the next request.

A database error logged by the action server must never show a patient's phone
number or email: every engine hides bound parameters in error messages
(`hide_parameters`), and on PostgreSQL the server's DETAIL line ("Failing row
contains (..., +15551234567, ...)") is dropped from the exception's text (it stays
available to code as `exc.orig.diag`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _default_url() -> str:
    from bot.settings import get_settings

    return get_settings().database_url


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level: SQLAlchemy's "begin" hook below emits BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
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


def _build_engine(url: str) -> Engine:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = create_engine(url, future=True, hide_parameters=True)
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    engine = create_engine(url, future=True, hide_parameters=True, pool_pre_ping=True)
    if backend == "postgresql":
        event.listen(engine, "handle_error", _drop_postgres_detail)
    return engine


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
