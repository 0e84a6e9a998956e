"""Do the workers' PostgreSQL connections fit in the server's limit?"""

from __future__ import annotations

import pytest

from bot.db.capacity import connections_needed, over_budget
from bot.settings import SettingsError, storage


def test_each_worker_adds_a_rasa_and_an_action_server_process():
    assert connections_needed(1, 5, 5) == 40  # 2 Rasa engines, 1 action, 1 console
    assert connections_needed(2, 5, 5) == 70
    assert connections_needed(4, 2, 0) == 26


def test_sqlite_has_no_connection_limit():
    assert over_budget("sqlite:///clinic.db", 16, 50, 50) is None


def test_the_real_server_says_what_fits(postgres_url):
    assert over_budget(postgres_url, 1, 5, 5) is None
    problem = over_budget(postgres_url, 16, 20, 20)
    assert problem and "WORKERS=16" in problem and "max_connections" in problem


def test_pool_settings():
    assert (storage.load({}).pool_size, storage.load({}).max_overflow) == (5, 5)
    loaded = storage.load({"DATABASE_POOL_SIZE": "3", "DATABASE_MAX_OVERFLOW": "0"})
    assert (loaded.pool_size, loaded.max_overflow) == (3, 0)


def test_bad_pool_settings_are_refused_by_name():
    for env, name in [
        ({"DATABASE_POOL_SIZE": "0"}, "DATABASE_POOL_SIZE"),
        ({"DATABASE_MAX_OVERFLOW": "-1"}, "DATABASE_MAX_OVERFLOW"),
        ({"DATABASE_MAX_OVERFLOW": "many"}, "DATABASE_MAX_OVERFLOW"),
    ]:
        with pytest.raises(SettingsError, match=name):
            storage.load(env)
