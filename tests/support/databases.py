"""Both databases for tests: a fresh SQLite file or a PostgreSQL schema of its own;
and Redis, for several workers."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

# A Redis database number of the tests' own (locks, socket.io between workers).
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")

# Parametrise a fixture with these to run its tests on both databases.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def postgres_available(url: str = POSTGRES_URL) -> bool:
    """True when the PostgreSQL test server answers."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


def redis_available(url: str = REDIS_URL) -> bool:
    """True when the Redis test server answers."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@contextmanager
def _schema(base: str) -> Iterator[str]:
    """A schema of its own in the database at `base`, dropped at the end."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from bot.db.engine import dispose_engines

    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, future=True)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@contextmanager
def fresh_database(request, tmp_path: Path, backend: str) -> Iterator[str]:
    """The URL of a fresh, empty database, removed afterwards.

    SQLite: a file under `tmp_path`. PostgreSQL: a schema of its own in the test
    database (skipped with a message when no server answers), dropped at the end.
    """
    from bot.db.engine import dispose_engines

    if backend == "sqlite":
        try:
            yield f"sqlite:///{tmp_path / 'clinic.db'}"
        finally:
            dispose_engines()
        return
    with _schema(request.getfixturevalue("postgres_url")) as url:
        yield url


@contextmanager
def module_database(backend: str, tmp: Path) -> Iterator[str]:
    """A fresh database for a module's console: a SQLite file under `tmp`, or a
    schema of its own in the PostgreSQL test database (dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'clinic.db'}"
        return
    if not postgres_available():
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    with _schema(POSTGRES_URL) as url:
        yield url
