"""Purge and forget against a running product (issue 10, items 6, 11 and 16).

On real SQLite and real PostgreSQL (`postgres` marker):

- #11 the audit trail outlives the conversations: `purge` keeps the access
  records of the conversations it deletes (they have their own retention, six
  years by default) and `forget` keeps who viewed the patient, under a keyed hash;
- #16 `forget` wins over a turn that is running while it deletes (a real
  concurrent writer through the project's tracker store), and returns the Twilio
  message SIDs needed to redact the bodies at Twilio;
- #6 `purge` works in short transactions: a writer with a short busy timeout is
  never locked out while it deletes a large database (SQLite).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sqlite3
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

from bot.db import retention, summaries
from bot.db.engine import dispose_engines, get_engine, session_scope
from bot.db.migrate import upgrade
from bot.db.models import SmsMessage, utcnow
from bot.db.queries import audit
from bot.db.repository import open_handoff, save_intake
from bot.db.retention import ConversationForgottenError, forgotten_at, pseudonym
from bot.db.tracker_store import ClinicTrackerStore
from bot.settings import SettingsError, local_secret, storage
from bot.settings.storage import get_storage_settings
from tests.support.databases import BACKENDS, fresh_database
from tests.support.paths import ROOT
from tests.support.seed import (
    EVENTS,
    Turn,
    add_conversation,
    conversation_rows,
    seed_clinic,
)

PHONE = "+15551234567"  # the seeded SMS conversation, 5 days old
SID_OUT = "SM" + "a" * 32
SID_IN = "SM" + "b" * 32


@pytest.fixture(autouse=True)
def fresh_storage_settings():
    """Each test reads the storage settings of its own environment."""
    get_storage_settings.cache_clear()
    yield
    get_storage_settings.cache_clear()


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    """A migrated, seeded database: a file or a fresh PostgreSQL schema."""
    with fresh_database(request, tmp_path, request.param) as url:
        upgrade(url)
        engine = get_engine(url)
        seed_clinic(engine)
        summaries.refresh(engine, settle_seconds=0)
        yield engine


@pytest.fixture(scope="module")
def domain():
    return Domain.load(str(ROOT / "domain.yml"))


def url_of(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def count(engine, table: str, where: str = "1=1", **params) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE {where}"), params
        ).scalar_one()


def audit_rows(engine) -> list:
    with engine.connect() as connection:
        return [
            dict(row)
            for row in connection.execute(
                sa.text(
                    "SELECT user_email, action, object_type, object_id, client_ip "
                    "FROM console_audit_log ORDER BY id"
                )
            ).mappings()
        ]


def turn(tracker, text: str) -> None:
    tracker.update(UserUttered(text, intent={"name": "faq", "confidence": 0.9}))
    tracker.update(ActionExecuted("utter_faq"))
    tracker.update(BotUttered("an answer"))
    tracker.update(ActionExecuted("action_listen"))


def event_texts(engine, sender: str) -> list:
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"),
                {"s": sender},
            ).scalars()
        )


# --- #11: the audit trail ---------------------------------------------------------


def test_purge_keeps_access_records_for_their_own_retention(engine, monkeypatch):
    monkeypatch.delenv(storage.AUDIT_RETENTION_ENV, raising=False)
    now = utcnow()
    with engine.begin() as connection:
        audit.record(connection, "a@x.org", "view", "conversation", PHONE, "10.0.0.1")
        for years in (5, 7):
            audit.record(
                connection,
                "a@x.org",
                "view",
                "conversation",
                f"rest-{years}y",
                at=now - timedelta(days=365 * years),
            )
    deleted = retention.purge(engine, older_than_days=2)
    assert deleted.conversations == 1
    assert count(engine, "events", "sender_id = :p", p=PHONE) == 0
    # Who viewed the purged conversation is still on record ...
    assert count(engine, "console_audit_log", "object_id = :p", p=PHONE) == 1
    # ... and so is every access younger than six years; older ones go.
    assert count(engine, "console_audit_log", "object_id = 'rest-5y'") == 1
    assert count(engine, "console_audit_log", "object_id = 'rest-7y'") == 0
    later = time.time() + 3 * 86400  # every conversation is past retention now
    assert retention.purge(engine, older_than_days=2, now=later).conversations == 5
    assert count(engine, "events") == 0
    assert count(engine, "console_audit_log", "object_id = :p", p=PHONE) == 1
    # A shorter audit retention, from the setting.
    monkeypatch.setenv(storage.AUDIT_RETENTION_ENV, "365")
    get_storage_settings.cache_clear()  # settings are read once per process
    retention.purge(engine, older_than_days=2)
    assert count(engine, "console_audit_log", "object_id = 'rest-5y'") == 0
    assert count(engine, "console_audit_log", "object_id = :p", p=PHONE) == 1


def test_audit_retention_setting():
    assert storage.load({}).audit_retention_days == 2190 >= 6 * 365
    assert storage.load({"AUDIT_RETENTION_DAYS": "3650"}).audit_retention_days == 3650
    for bad in ("0", "-1", "six years"):
        with pytest.raises(SettingsError, match="AUDIT_RETENTION_DAYS"):
            storage.load({"AUDIT_RETENTION_DAYS": bad})


def test_forget_keeps_who_viewed_the_patient_under_a_keyed_hash(engine, monkeypatch):
    monkeypatch.delenv("AUDIT_PSEUDONYM_KEY", raising=False)
    with engine.begin() as connection:
        audit.record(
            connection,
            "nurse@clinic.example",
            "view",
            "conversation",
            PHONE,
            "10.0.0.7",
        )
        audit.record(connection, "dana@clinic.example", "reply", "conversation", PHONE)
        audit.record(
            connection, "nurse@clinic.example", "view", "conversation", "rest-safety"
        )
    deleted = retention.forget(engine, phone=PHONE, settle_seconds=0)

    key = local_secret("audit_pseudonym_key", 32).encode()
    expected = hmac.new(key, PHONE.encode(), hashlib.sha256).hexdigest()[:40]
    assert pseudonym(PHONE) == "hmac:" + expected
    rows = audit_rows(engine)
    assert not any("5551234567" in str(value) for r in rows for value in r.values())
    kept = [
        (r["user_email"], r["action"], r["client_ip"])
        for r in rows
        if r["object_id"] == pseudonym(PHONE)
    ]
    assert ("nurse@clinic.example", "view", "10.0.0.7") in kept
    assert ("dana@clinic.example", "reply", None) in kept
    assert (None, "forget", None) in kept  # when it was forgotten
    assert deleted.pseudonymized == 2
    assert {"user_email": "nurse@clinic.example", "action": "view"}.items() <= next(
        r for r in rows if r["object_id"] == "rest-safety"
    ).items()
    # Another key (another clinic's checkout) gives another pseudonym.
    monkeypatch.setenv("AUDIT_PSEUDONYM_KEY", "another-key-0123456789abcdef")
    get_storage_settings.cache_clear()  # settings are read once per process
    assert pseudonym(PHONE) != "hmac:" + expected


def test_forget_by_number_finds_the_hashed_sms_conversation(engine):
    """SMS conversation ids are a keyed hash of the number (`sms-...`)."""
    from bot.ids import sms_conversation_id

    sms_id = sms_conversation_id(PHONE)
    add_conversation(engine, sms_id, [Turn("hello by SMS")], channel="twilio")
    with engine.begin() as connection:
        audit.record(connection, "nurse@clinic.example", "view", "conversation", sms_id)
    deleted = retention.forget(engine, phone=PHONE, settle_seconds=0)
    assert deleted.conversations == 2  # the number's old conversation and this one
    assert count(engine, "events", "sender_id = :s", s=sms_id) == 0
    assert count(engine, "console_audit_log", "object_id = :s", s=sms_id) == 0
    assert (
        count(engine, "console_audit_log", "object_id = :p", p=pseudonym(sms_id)) == 2
    )  # the view and the forget


# --- #16: forget against a running turn --------------------------------------------


async def test_forget_wins_over_a_turn_in_flight(engine, domain):
    store = ClinicTrackerStore(domain=domain, host=url_of(engine))
    tracker = await store.get_or_create_tracker(PHONE)
    turn(tracker, "is it safe? call me on +15551234567")
    await store.save(tracker)

    in_flight = await store.retrieve(PHONE)  # a turn starts ...
    deleted = await asyncio.to_thread(
        retention.forget, engine, phone=PHONE, settle_seconds=0
    )
    assert deleted.conversations >= 1
    assert count(engine, "events", "sender_id = :p", p=PHONE) == 0
    turn(in_flight, "one more thing")  # ... and ends after the deletion
    await store.save(in_flight)
    assert count(engine, "events", "sender_id = :p", p=PHONE) == 0

    # The patient writes again later: a new conversation, stored as usual.
    fresh = await store.get_or_create_tracker(PHONE)
    turn(fresh, "hello again")
    await store.save(fresh)
    texts = event_texts(engine, PHONE)
    assert any("hello again" in t for t in texts)
    assert not any("one more thing" in t or "is it safe" in t for t in texts)
    store.engine.dispose()


async def test_forget_with_a_concurrent_writer(engine, domain):
    """A real writer keeps taking turns while forget runs: nothing old survives."""
    sender = "rest-busy-patient"
    stop = threading.Event()
    turns_done = []
    errors = []

    def writer() -> None:
        async def main() -> None:
            store = ClinicTrackerStore(domain=domain, host=url_of(engine))
            try:
                while not stop.is_set():
                    tracker = await store.get_or_create_tracker(sender)
                    await asyncio.sleep(0.03)  # NLU, actions, ...
                    turn(tracker, f"message {len(turns_done)}")
                    await store.save(tracker)
                    turns_done.append(time.time())
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                store.engine.dispose()

        asyncio.run(main())

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(turns_done) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.time()
        retention.forget(engine, [sender], settle_seconds=0.3)
        after = len(turns_done)
        while len(turns_done) < after + 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
    assert not errors and len(turns_done) >= after + 3
    with engine.connect() as connection:
        forgotten = forgotten_at(connection, sender)
        stamps = list(
            connection.execute(
                sa.text("SELECT timestamp FROM events WHERE sender_id = :s"),
                {"s": sender},
            ).scalars()
        )
    assert stamps, "the patient's new conversation after the forget is kept"
    assert min(stamps) > started, "a turn from before the forget was written back"
    assert forgotten is not None and min(stamps) > forgotten


async def test_a_late_intake_of_a_forgotten_conversation_is_refused(engine, domain):
    retention.forget(engine, ["rest-human"], settle_seconds=0)
    values = dict(
        channel="rest",
        full_name="Sam Patient",
        phone_e164="+15550001111",
        email=None,
        condition="pain",
        best_time="mornings",
        consent=True,
    )
    with pytest.raises(ConversationForgottenError):
        with session_scope(engine) as session:
            save_intake(
                session, conversation_id="rest-human", submission_key="late", **values
            )
    assert count(engine, "intake_requests", "conversation_id = 'rest-human'") == 0
    # Once the patient starts again (the new conversation is stored first), the
    # form works as usual.
    store = ClinicTrackerStore(domain=domain, host=url_of(engine))
    await store.get_or_create_tracker("rest-human")
    store.engine.dispose()
    with session_scope(engine) as session:
        save_intake(
            session, conversation_id="rest-human", submission_key="new", **values
        )
    assert count(engine, "intake_requests", "conversation_id = 'rest-human'") == 1


def test_forget_returns_the_twilio_sids_and_looks_again(engine):
    """SIDs to redact at Twilio; what a running turn wrote during the wait goes too."""
    with session_scope(engine) as session:
        session.add(
            SmsMessage(
                conversation_id=PHONE,
                phone_e164=PHONE,
                status="sent",
                twilio_sid=SID_OUT,
                attempts=1,
            )
        )
        session.add(
            SmsMessage(
                conversation_id=PHONE, phone_e164=PHONE, body="hi", status="failed"
            )
        )
    rows = conversation_rows(
        PHONE, [Turn("hello by SMS")], channel="twilio", start=time.time() - 60
    )
    for row in rows:
        if row["type_name"] == "user":  # as the SMS channel stores it
            row["data"] = json.dumps({**json.loads(row["data"]), "message_id": SID_IN})
    with engine.begin() as connection:
        connection.execute(EVENTS.insert(), rows)
        audit.record(connection, "nurse@clinic.example", "view", "conversation", PHONE)

    result = {}
    forgetting = threading.Thread(
        target=lambda: result.update(
            deleted=retention.forget(engine, phone=PHONE, settle_seconds=2.0)
        )
    )
    forgetting.start()
    deadline = time.monotonic() + 30
    while (
        count(engine, "console_audit_log", "object_id = :p", p=PHONE)
        and time.monotonic() < deadline
    ):  # the first pass's last step
        time.sleep(0.05)
    late_sid = "SM" + "c" * 32
    with session_scope(engine) as session:  # a turn that was running replies
        session.add(
            SmsMessage(
                conversation_id=PHONE,
                phone_e164=PHONE,
                status="sent",
                twilio_sid=late_sid,
                attempts=1,
            )
        )
        open_handoff(
            session,
            conversation_id=PHONE,
            channel="twilio",
            reason="requested",
            summary="",
        )
    forgetting.join(60)
    deleted = result["deleted"]
    assert deleted.twilio_sids == sorted([SID_OUT, SID_IN, late_sid])
    text = str(deleted)
    assert all(sid in text for sid in deleted.twilio_sids) and "Twilio" in text
    assert count(engine, "sms_messages", "phone_e164 = :p", p=PHONE) == 0
    assert count(engine, "handoffs", "conversation_id = :p", p=PHONE) == 0
    assert count(engine, "events", "sender_id = :p", p=PHONE) == 0


# --- #6: purge in short transactions -----------------------------------------------


def test_purge_never_locks_out_a_writer(tmp_path):
    """A writer whose busy timeout is 0.2 s keeps writing while purge deletes."""
    path = tmp_path / "big.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = get_engine(url)
    try:
        old = time.time() - 400 * 86400
        turns = [Turn(f"question {n}", answer_key="is_it_safe") for n in range(8)]
        rows = []
        for n in range(3000):
            rows += conversation_rows(f"rest-{n:05d}", turns, start=old + n)
        EVENTS.create(engine, checkfirst=True)
        with engine.begin() as connection:
            connection.execute(EVENTS.insert(), rows)
        summaries.refresh(engine, settle_seconds=0)

        stop = threading.Event()
        outcome = {"stored": 0, "locked": 0}

        def writer() -> None:
            connection = sqlite3.connect(str(path), isolation_level=None, timeout=0.2)
            try:
                while not stop.is_set():
                    try:
                        connection.execute("BEGIN IMMEDIATE")
                        connection.execute(
                            "INSERT INTO events (sender_id, type_name, timestamp, data)"
                            " VALUES ('rest-live', 'user', ?, '{}')",
                            (time.time(),),
                        )
                        connection.execute("COMMIT")
                        outcome["stored"] += 1
                    except sqlite3.OperationalError:
                        outcome["locked"] += 1
                        if connection.in_transaction:
                            connection.execute("ROLLBACK")
                    time.sleep(0.01)
            finally:
                connection.close()

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            deleted = retention.purge(engine, older_than_days=365)
        finally:
            stop.set()
            thread.join()
        assert deleted.conversations == 3000
        assert outcome["locked"] == 0 and outcome["stored"] > 10
        assert count(engine, "events", "sender_id = 'rest-live'") == outcome["stored"]
    finally:
        dispose_engines()
