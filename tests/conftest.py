"""Shared fixtures: domain, dispatcher, tracker builder, the trained model, servers."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import yaml

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

ROOT = Path(__file__).resolve().parents[1]
CATALOG = yaml.safe_load((ROOT / "catalog" / "faq-catalog.yml").read_text())
FAQ_KEYS = sorted(CATALOG["faq"])
PLAIN_INTENTS = sorted(CATALOG["intents"])
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


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


def make_tracker(
    sender_id: str = "test-patient",
    slots: Dict[str, Any] | None = None,
    intent: str | None = None,
    text: str = "",
    response_selector: Dict[str, Any] | None = None,
    events: List[Dict[str, Any]] | None = None,
):
    """Builds a Tracker from keyword arguments instead of a JSON dump."""
    from rasa_sdk import Tracker

    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0} if intent else {},
        "entities": [],
        "response_selector": response_selector or {},
    }
    return Tracker(
        sender_id=sender_id,
        slots=slots or {},
        latest_message=latest,
        events=events or [],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


@pytest.fixture
def tracker_factory():
    """The `make_tracker` helper as a fixture."""
    return make_tracker


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The real model, trained once and cached in var/models (Rasa's fingerprint).

    `TEST_MODEL_PATH` points at an already trained model instead (for a developer
    iterating on code while the training data changes beside them).
    """
    from rasa.api import train

    if os.environ.get("TEST_MODEL_PATH"):
        return Path(os.environ["TEST_MODEL_PATH"])

    from bot.nlu.spacy_pipeline import ensure_pipeline

    ensure_pipeline()
    result = train(
        domain=str(ROOT / "domain.yml"),
        config=str(ROOT / "config.yml"),
        training_files=[str(ROOT / "data")],
        output=str(ROOT / "var" / "models"),
    )
    assert result.code == 0 and result.model, "training failed"
    return Path(result.model)


class Parser:
    """Parses messages with the trained model, synchronously."""

    def __init__(self, model: Path) -> None:
        from rasa.core.agent import Agent

        self._loop = asyncio.new_event_loop()
        self.agent = Agent.load(str(model))

    def __call__(self, text: str) -> Dict[str, Any]:
        return self._loop.run_until_complete(self.agent.parse_message(text))

    def close(self) -> None:
        self._loop.close()


@pytest.fixture(scope="session")
def parse(trained_model):
    """`parse(text)` -> Rasa's parse result of the real model."""
    parser = Parser(trained_model)
    yield parser
    parser.close()


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float, process=None) -> None:
    """Waits until `url` answers, failing early if `process` died."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


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


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a reachable PostgreSQL test database, or a clear skip."""
    if not postgres_available():
        pytest.skip(
            f"PostgreSQL not reachable at {POSTGRES_URL} (set TEST_POSTGRES_URL)"
        )
    return POSTGRES_URL


# Parametrise a fixture with these to run its tests on both databases.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def fresh_database(request, tmp_path: Path, backend: str) -> Iterator[str]:
    """The URL of a fresh, empty database, removed afterwards.

    SQLite: a file under `tmp_path`. PostgreSQL: a schema of its own in the test
    database (skipped with a message when no server answers), dropped at the end.
    """
    import uuid

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from bot.db.engine import dispose_engines

    if backend == "sqlite":
        try:
            yield f"sqlite:///{tmp_path / 'clinic.db'}"
        finally:
            dispose_engines()
        return
    base = request.getfixturevalue("postgres_url")
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
