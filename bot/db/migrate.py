"""Applies the migrations of the project's own tables (Alembic, configured in code).

Call `upgrade()` at every start of the action server: it is idempotent (a database
already at the newest revision is left as it is) and safe when two processes start
at once (see `migrations/env.py`). From a shell::

    python -m bot.db.migrate              # upgrade DATABASE_URL to the newest revision
    python -m bot.db.migrate current      # print the revision in force
    python -m bot.db.migrate --url sqlite:///var/other.db

To add a migration, write `migrations/versions/0002_<what>.py` with
`down_revision = "0001"` (`alembic_config()` also works with Alembic's own
commands, e.g. `alembic.command.revision(alembic_config(), "msg",
autogenerate=True)`), then update `bot.db.models` to match; `tests/unit/db/test_db.py`
checks the two agree.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "clinic_alembic_version"

# Alembic's runtime context is process-global: one migration run at a time here.
_lock = threading.Lock()


def _resolve(url: str | None) -> str:
    if url:
        return url
    from bot.settings import get_settings

    return get_settings().database_url


def alembic_config(url: str | None = None) -> Config:
    """An Alembic `Config` for the project's migrations, without an alembic.ini.

    Args:
        url: SQLAlchemy URL; default `DATABASE_URL` from `bot.settings`.

    Returns:
        A config usable with any `alembic.command` function.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    # ConfigParser interpolates "%": escape it (URL-encoded passwords, options).
    config.set_main_option("sqlalchemy.url", _resolve(url).replace("%", "%%"))
    return config


def upgrade(url: str | None = None) -> str | None:
    """Brings the database at `url` to the newest revision; does nothing if it is.

    Args:
        url: SQLAlchemy URL; default `DATABASE_URL` from `bot.settings`.

    Returns:
        The revision now in force (e.g. "0001").
    """
    url = _resolve(url)
    with _lock:
        command.upgrade(alembic_config(url), "head")
    return current_revision(url)


def head_revision() -> str | None:
    """The newest revision among the migration files."""
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(url: str | None = None) -> str | None:
    """The revision the database at `url` is at, or None before the first upgrade.

    Args:
        url: SQLAlchemy URL; default `DATABASE_URL` from `bot.settings`.

    Returns:
        The revision id, or None when the version table is missing or empty.
    """
    from bot.db.engine import get_engine

    with get_engine(_resolve(url)).connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE}
        )
        return context.get_current_revision()


def main(argv: list[str] | None = None) -> int:
    """Command line: `python -m bot.db.migrate [upgrade|current] [--url URL]`.

    Args:
        argv: arguments without the program name; default `sys.argv[1:]`.

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m bot.db.migrate",
        description="Migrations of the clinic's tables (intake_requests, handoffs).",
    )
    parser.add_argument(
        "action", nargs="?", choices=("upgrade", "current"), default="upgrade"
    )
    parser.add_argument("--url", help="SQLAlchemy URL (default: DATABASE_URL)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    url = _resolve(args.url)
    backend = make_url(url).get_backend_name()  # never print the URL: password
    if args.action == "current":
        print(f"{backend}: revision {current_revision(url) or '(none)'}")
    else:
        print(f"{backend}: at revision {upgrade(url)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
