"""Shared fixtures: domain, dispatcher, trackers, the trained model, databases, browser.

The helpers these fixtures use, and that test modules import, are in `tests/support/`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Dict

import pytest

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

from tests.support.console import ADMIN  # noqa: E402
from tests.support.databases import (  # noqa: E402
    POSTGRES_URL,
    REDIS_URL,
    postgres_available,
    redis_available,
)
from tests.support.model import Parser  # noqa: E402
from tests.support.paths import ROOT  # noqa: E402
from tests.support.trackers import make_tracker  # noqa: E402
from tests.support.training import BackgroundTraining  # noqa: E402

# The background training job of this session (see `pytest_collection_modifyitems`).
_TRAINING: Dict[str, BackgroundTraining] = {}


def _needs_model(item: pytest.Item) -> bool:
    return "trained_model" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(session, config, items) -> None:
    """Modules that need the trained model run last, and it trains meanwhile.

    Whole modules move (a module with one test that needs the model goes with it),
    so no module-scoped server starts twice; the order within each group stays.
    """
    needing = {item.path for item in items if _needs_model(item)}
    if not needing:
        return
    items[:] = [i for i in items if i.path not in needing] + [
        i for i in items if i.path in needing
    ]
    if not os.environ.get("TEST_MODEL_PATH"):
        _TRAINING["job"] = _training_job()


def _training_job() -> BackgroundTraining:
    return BackgroundTraining(ROOT / "var" / "test-training.log")


def pytest_sessionfinish(session, exitstatus) -> None:
    """Stops a training job that nobody waited for."""
    job = _TRAINING.pop("job", None)
    if job is not None:
        job.stop()


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    """The domain as the action server receives it."""
    from rasa.shared.core.domain import Domain

    return Domain.load(str(ROOT / "domain.yml")).as_dict()


@pytest.fixture
def dispatcher():
    """A fresh dispatcher that collects what an action says."""
    from rasa_sdk.executor import CollectingDispatcher

    return CollectingDispatcher()


@pytest.fixture
def tracker_factory():
    """The `make_tracker` helper as a fixture."""
    return make_tracker


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The real model, trained once and cached in var/models (Rasa's fingerprint).

    Trained in a background process started after collection (see
    `tests/support/training.py`); started here if collection did not.

    `TEST_MODEL_PATH` points at an already trained model instead (for a developer
    iterating on code while the training data changes beside them).
    """
    if os.environ.get("TEST_MODEL_PATH"):
        return Path(os.environ["TEST_MODEL_PATH"])
    if "job" not in _TRAINING:
        _TRAINING["job"] = _training_job()
    return _TRAINING["job"].model()


@pytest.fixture(scope="session")
def staff_hook():
    """The product's `STAFF_NOTIFY_URL`: a loopback server recording every POST."""
    from tests.support.hook import StaffHook

    hook = StaffHook()
    yield hook
    hook.close()


def _console_admin_env() -> Dict[str, str]:
    """A product's console with `tests.support.console.ADMIN` as its first admin."""
    return {
        "CONSOLE_SECRET_KEY": secrets.token_urlsafe(48),
        "CONSOLE_ADMIN_EMAIL": ADMIN[0],
        "CONSOLE_ADMIN_PASSWORD": ADMIN[1],
    }


@pytest.fixture(scope="session")
def product(trained_model, tmp_path_factory, staff_hook):
    """Every process of `make run` on a migrated SQLite file, for the whole session.

    Shared by the modules that talk to the product only as patients (each with its
    own conversation ids) and read what it stored: starting the four processes
    costs close to a minute on two cores, so they start once. Staff are always in
    (`CLINIC_HOURS`), so a handoff pauses the bot. Staff are notified at
    `staff_hook`. The console's own waiting notices are kept out of the way (a
    day's target): a test sends them itself. The console's first admin is
    `tests.support.console.ADMIN` (the browser tests sign in). Modules that need
    other settings (production, SMS, a callback channel, a dead action server)
    start their own.
    """
    from bot.db.migrate import upgrade
    from tests.support.servers import run_servers

    tmp = tmp_path_factory.mktemp("product")
    url = f"sqlite:///{tmp / 'clinic.db'}"
    upgrade(url)  # as `make run` does before starting the servers
    env = {
        "DATABASE_URL": url,
        "CLINIC_HOURS": "Mon-Sun 00:00-23:59",
        "STAFF_NOTIFY_URL": staff_hook.url,
        "HANDOFF_TARGET_MINUTES": "1440",
        **_console_admin_env(),  # the browser tests sign in as staff
    }
    with run_servers(trained_model, tmp, extra_env=env) as servers:
        yield servers


@pytest.fixture(scope="session")
def callback_product(trained_model, tmp_path_factory):
    """The processes of `make run` with Rasa's `callback` channel as well.

    For the modules that check delivery to a channel Rasa pushes to (the handoff
    service, the console end to end): `servers`, `outbox` (a `CallbackOutbox`, where
    the channel delivers), `url` (its own migrated SQLite file). Staff are always in;
    the console's first admin is `tests.support.console.ADMIN`. Each test uses its
    own conversation ids and reads the outbox by recipient.
    """
    from types import SimpleNamespace

    from bot.db.engine import dispose_engines
    from bot.db.migrate import upgrade
    from tests.support.hook import CallbackOutbox
    from tests.support.servers import run_servers

    tmp = tmp_path_factory.mktemp("callback")
    url = f"sqlite:///{tmp / 'clinic.db'}"
    upgrade(url)
    outbox = CallbackOutbox()
    credentials = tmp / "credentials.yml"
    credentials.write_text(
        (ROOT / "credentials.yml").read_text() + f"\ncallback:\n  url: {outbox.url}\n"
    )
    env = {
        "DATABASE_URL": url,
        "CLINIC_HOURS": "Mon-Sun 00:00-23:59",  # staff are in: a handoff pauses the bot
        **_console_admin_env(),
    }
    try:
        with run_servers(trained_model, tmp, env, credentials=credentials) as servers:
            yield SimpleNamespace(servers=servers, outbox=outbox, url=url)
    finally:
        outbox.close()
        dispose_engines()


@pytest.fixture(scope="session")
def parse(trained_model):
    """`parse(text)` -> Rasa's parse result of the real model."""
    parser = Parser(trained_model)
    yield parser
    parser.close()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a reachable PostgreSQL test database, or a clear skip."""
    if not postgres_available():
        pytest.skip(
            f"PostgreSQL not reachable at {POSTGRES_URL} (set TEST_POSTGRES_URL)"
        )
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a reachable Redis test database (emptied first), or a clear skip."""
    if not redis_available():
        pytest.skip(f"Redis not reachable at {REDIS_URL} (set TEST_REDIS_URL)")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


@pytest.fixture
def clinic_db(tmp_path, monkeypatch):
    """A migrated SQLite database that the actions use through DATABASE_URL."""
    from bot.db import engine as db_engine
    from bot.db.migrate import upgrade
    from bot.settings import get_settings

    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    upgrade(url)
    yield url
    db_engine.dispose_engines()
    get_settings.cache_clear()


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright (no browser download).

    Module scope, not session: while Playwright's sync API runs, the main thread
    has a running event loop, which would break the asyncio tests that follow.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield chromium
        chromium.close()
