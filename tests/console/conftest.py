"""Fixtures of the staff console tests: a seeded database and a running console.

The helpers (starting a console, signing in, seeding) are in `tests/support/`.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.db.engine import dispose_engines, get_engine
from bot.db.migrate import upgrade
from tests.support.console import add_staff, run_console
from tests.support.seed import seed_clinic


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """A console on a seeded SQLite database, with an admin and a staff account."""
    tmp = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{tmp / 'clinic.db'}"
    upgrade(url)
    ids = seed_clinic(get_engine(url))
    with run_console(url, tmp / "console.log") as base_url:
        add_staff(url)  # after the start: the first admin comes from the environment
        yield SimpleNamespace(
            url=base_url, database_url=url, ids=ids, engine=get_engine(url), log=tmp
        )
    dispose_engines()
