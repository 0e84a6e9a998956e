"""A busy database never drops a turn, and no log line shows a patient (issue 10 #6).

Rasa's `SQLTrackerStore`, wrapped as Rasa's agent wraps every store
(`FailSafeTrackerStore`), lost the whole turn when SQLite stayed locked past its busy
timeout (e.g. while `purge` ran): the turn went to an in-memory store and the
error it logged quoted the SQL parameters (the phone number, the message). These
tests hold a real lock, on real SQLite and real PostgreSQL, while a crisis turn is
saved through the store `endpoints.yml` configures.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import FailSafeTrackerStore, create_tracker_store
from rasa.core.utils import read_endpoints_from_path
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.db.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    build_engine,
    call_with_retries,
    error_summary,
    is_transient,
)
from bot.db.tracker_store import ClinicTrackerStore, TrackerStoreError
from tests.support.databases import fresh_database
from tests.support.paths import ROOT

PATIENT = "+15557654321"
CRISIS_TEXT = "I want to end it all tonight, my other number is +15551112222"
SECRETS = (PATIENT, "5557654321", "+15551112222", "end it all")
HOLD_SECONDS = SQLITE_BUSY_TIMEOUT_MS / 1000 + 1.5  # past the busy timeout


def endpoints_store(url, monkeypatch):
    """The tracker store exactly as `endpoints.yml` makes it, and the domain."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ACTION_SERVER_URL", "http://127.0.0.1:5055/webhook")
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "test-action-server-token-0123456789")
    endpoints = read_endpoints_from_path(str(ROOT / "endpoints.yml"))
    domain = Domain.load(str(ROOT / "domain.yml"))
    return create_tracker_store(endpoints.tracker_store, domain), domain


async def start_conversation(store, domain) -> DialogueStateTracker:
    tracker = DialogueStateTracker(PATIENT, domain.slots)
    tracker.update(ActionExecuted("action_listen"))
    await store.save(tracker)
    return await store.retrieve(PATIENT)


def crisis_turn(tracker: DialogueStateTracker) -> None:
    tracker.update(
        UserUttered(
            CRISIS_TEXT,
            intent={"name": "crisis", "confidence": 0.99},
            message_id="SM" + "0" * 32,
        )
    )
    tracker.update(ActionExecuted("action_crisis_response"))
    tracker.update(ActionExecuted("action_listen"))


def assert_no_patient_in(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a log line shows {secret!r}"


class Ticker:
    """Counts how often the event loop runs another task while a save waits."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            self.ticks += 1

    def stop(self) -> int:
        self._task.cancel()
        return self.ticks


def hold_sqlite_lock(path, seconds: float, held: threading.Event) -> None:
    """Holds SQLite's write lock from another connection (like a long purge)."""
    connection = sqlite3.connect(str(path), isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("DELETE FROM events WHERE sender_id = 'someone-else'")
        held.set()
        time.sleep(seconds)
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def stored_texts(url: str, sender: str) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [
                data
                for (data,) in connection.execute(
                    sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"),
                    {"s": sender},
                )
            ]
    finally:
        engine.dispose()


def test_endpoints_configure_the_clinic_store(tmp_path, monkeypatch):
    store, _ = endpoints_store(f"sqlite:///{tmp_path / 'rasa.db'}", monkeypatch)
    assert isinstance(store, ClinicTrackerStore)
    assert store.engine.dialect.name == "sqlite"
    assert store.engine.hide_parameters and not store.engine.echo


async def test_a_turn_survives_a_sqlite_lock_held_past_the_busy_timeout(
    tmp_path, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "rasa.db"
    url = f"sqlite:///{path}"
    primary, domain = endpoints_store(url, monkeypatch)
    store = FailSafeTrackerStore(primary)  # what rasa.core.agent.Agent does
    tracker = await start_conversation(store, domain)
    crisis_turn(tracker)

    held = threading.Event()
    holder = threading.Thread(target=hold_sqlite_lock, args=(path, HOLD_SECONDS, held))
    holder.start()
    assert held.wait(5)
    ticker = Ticker()
    started = time.monotonic()
    try:
        await store.save(tracker)
    finally:
        ticks = ticker.stop()
        holder.join()
    waited = time.monotonic() - started

    assert waited > SQLITE_BUSY_TIMEOUT_MS / 1000  # it did wait out the lock ...
    texts = stored_texts(url, PATIENT)
    assert any("end it all tonight" in t for t in texts)  # ... and kept the turn
    assert any("action_crisis_response" in t for t in texts)
    reloaded = await store.retrieve(PATIENT)
    assert reloaded.latest_message.text == CRISIS_TEXT
    # Other conversations went on meanwhile: the wait was not in the event loop.
    assert ticks > waited / 0.05 / 3
    assert "busy" in caplog.text  # the retry is visible in the log ...
    assert_no_patient_in(caplog.text)  # ... without the patient


async def test_a_lock_that_never_ends_is_an_error_without_patient_data(
    tmp_path, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "rasa.db"
    url = f"sqlite:///{path}"
    _, domain = endpoints_store(url, monkeypatch)
    primary = ClinicTrackerStore(
        domain=domain, host=url, retry_seconds=1.0, busy_timeout_ms=100
    )
    tracker = await start_conversation(primary, domain)
    crisis_turn(tracker)
    held = threading.Event()
    holder = threading.Thread(target=hold_sqlite_lock, args=(path, 3.0, held))
    holder.start()
    assert held.wait(5)
    try:
        with pytest.raises(TrackerStoreError) as raised:
            await primary.save(tracker)
        # Through Rasa's wrapper the failure is logged as an error, not lost
        # silently, and neither message names the patient.
        await FailSafeTrackerStore(primary).save(tracker)
    finally:
        holder.join()
    assert "database is locked" in str(raised.value)
    assert "could not store a conversation" in caplog.text
    assert_no_patient_in(str(raised.value))
    assert_no_patient_in(caplog.text)


@pytest.mark.postgres
async def test_a_turn_survives_a_postgresql_lock_timeout(
    request, tmp_path, monkeypatch, caplog
):
    """PostgreSQL with `lock_timeout` set: a locked `events` table is retried."""
    caplog.set_level(logging.DEBUG)
    with fresh_database(request, tmp_path, "postgresql") as url:
        parsed = make_url(url)
        options = parsed.query["options"] + " -c lock_timeout=200"
        url = parsed.update_query_dict({"options": options}).render_as_string(
            hide_password=False
        )
        primary, domain = endpoints_store(url, monkeypatch)
        assert isinstance(primary, ClinicTrackerStore)
        store = FailSafeTrackerStore(primary)
        tracker = await start_conversation(store, domain)
        crisis_turn(tracker)

        other = sa.create_engine(url)
        held = threading.Event()

        def hold() -> None:
            with other.connect() as connection, connection.begin():
                connection.exec_driver_sql("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
                held.set()
                time.sleep(1.5)

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(10)
        try:
            await store.save(tracker)
        finally:
            holder.join()
            other.dispose()
        texts = stored_texts(url, PATIENT)
        assert any("end it all tonight" in t for t in texts)
        assert "busy" in caplog.text
        assert_no_patient_in(caplog.text)
        primary.engine.dispose()


def test_which_errors_are_retried():
    locked = OperationalError(
        "INSERT ...", {}, sqlite3.OperationalError("database is locked")
    )
    assert is_transient(locked)
    assert error_summary(locked) == "OperationalError: database is locked"
    unique = IntegrityError(
        "INSERT ...", {}, sqlite3.IntegrityError("UNIQUE constraint failed: x.y")
    )
    assert not is_transient(unique)
    syntax = OperationalError("SELEC", {}, sqlite3.OperationalError("syntax error"))
    assert not is_transient(syntax)


def test_call_with_retries_outlasts_a_lock(tmp_path, caplog):
    """For the action server: one whole transaction, tried again while locked."""
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "clinic.db"
    engine = build_engine(f"sqlite:///{path}", busy_timeout_ms=100)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE events (sender_id TEXT, data TEXT)")

    def store_turn(sender: str, text: str) -> None:
        with engine.begin() as connection:
            connection.execute(
                sa.text("INSERT INTO events VALUES (:s, :t)"), {"s": sender, "t": text}
            )

    held = threading.Event()
    holder = threading.Thread(target=hold_sqlite_lock, args=(path, 1.0, held))
    holder.start()
    assert held.wait(5)
    try:
        with pytest.raises(OperationalError):  # one try alone fails ...
            store_turn(PATIENT, CRISIS_TEXT)
        call_with_retries(store_turn, PATIENT, CRISIS_TEXT, retry_seconds=10)
    finally:
        holder.join()
    with engine.connect() as connection:  # ... retried, it is stored once
        assert connection.exec_driver_sql("SELECT count(*) FROM events").scalar() == 1
    assert_no_patient_in(caplog.text)
    engine.dispose()
