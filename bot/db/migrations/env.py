"""Alembic environment of the project's own tables (run by `bot.db.migrate`).

The URL is the config's `sqlalchemy.url` when set (`bot.db.migrate` sets it), else
`DATABASE_URL` from `bot.settings`. The engine comes from `bot.db.engine`, so
migrations get the same SQLite settings as the application.

Everything runs in one transaction: the DDL and the version stamp commit together
or not at all. Two processes that start at once (the action server and a second
worker, say) take turns: on SQLite through `BEGIN IMMEDIATE`, on PostgreSQL
through a transaction-scoped advisory lock; the second then finds the schema at
head and does nothing.

The version table is `clinic_alembic_version`, and only tables declared in
`bot.db.models` are compared by autogenerate, so Rasa's `events` table is never
touched.
"""

from __future__ import annotations

from alembic import context
from alembic.runtime.environment import NameFilterParentNames, NameFilterType
from sqlalchemy.engine import Connection

from bot.db.engine import get_engine
from bot.db.models import metadata

VERSION_TABLE = "clinic_alembic_version"
# Any fixed 64-bit number shared by every process that migrates this database.
POSTGRES_LOCK_ID = 0x636C696E6963  # "clinic"


def _include_name(
    name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames
) -> bool:
    if type_ == "table":
        return name in metadata.tables
    return True


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({POSTGRES_LOCK_ID})")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=_include_name,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        transactional_ddl=True,  # one transaction, SQLite included (bot.db.engine)
    )
    context.run_migrations()


def run_migrations_online() -> None:
    """Runs the migrations on a live database, in one transaction."""
    url = context.config.get_main_option("sqlalchemy.url") or None
    with get_engine(url).begin() as connection:
        _run(connection)


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported: run against a database")
run_migrations_online()
