"""The project's own tables (bot.db) on real SQLite and real PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bot.db.engine import dispose_engines, get_engine, session_scope
from bot.db.migrate import (
    VERSION_TABLE,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from bot.db.models import (
    HANDOFF_MAX_LENGTHS,
    INTAKE_MAX_LENGTHS,
    Handoff,
    IntakeRequest,
    InvalidValueError,
    metadata,
)
from bot.db.repository import (
    HandoffStateError,
    claim_handoff,
    close_handoff,
    latest_active_handoff,
    list_open_handoffs,
    mark_notified,
    open_handoff,
    save_intake,
)
from tests.support.databases import BACKENDS, fresh_database
from tests.support.paths import ROOT

OUR_TABLES = {
    "intake_requests",
    "handoffs",
    "sms_opt_outs",
    "sms_messages",
    # staff console (migration 0003)
    "console_users",
    "console_sessions",
    "conversation_summaries",
    "conversation_answers",
    "conversation_reviews",
    "conversation_tags",
    "message_corrections",
    "console_audit_log",
    "console_state",
}
HEAD = head_revision()  # the newest migration; later ones need no edit here
PHONE = "+15551234567"


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    with fresh_database(request, tmp_path, request.param) as url:
        yield url


@pytest.fixture
def engine(db_url):
    """The migrated database's engine."""
    assert upgrade(db_url) == HEAD
    return get_engine(db_url)


def intake_values(**overrides):
    values = dict(
        conversation_id="conv-1",
        channel="rest",
        submission_key="conv-1:submit-1",
        full_name="Jane Doe",
        phone_e164=PHONE,
        email="jane@example.org",
        condition="Burning pain in both feet since my chemo.",
        best_time="weekday mornings",
        consent=True,
    )
    values.update(overrides)
    return values


def count(engine, model) -> int:
    with session_scope(engine) as session:
        return session.execute(
            sa.select(sa.func.count()).select_from(model)
        ).scalar_one()


def tables(engine) -> set:
    return set(sa.inspect(engine).get_table_names())


# --- migrations -------------------------------------------------------------------


def test_migrations_apply_and_are_idempotent(db_url):
    assert current_revision(db_url) is None
    assert upgrade(db_url) == HEAD
    assert upgrade(db_url) == HEAD  # second start of the action server
    engine = get_engine(db_url)
    assert OUR_TABLES | {VERSION_TABLE} <= tables(engine)
    assert "alembic_version" not in tables(engine)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            f"SELECT version_num FROM {VERSION_TABLE}"
        ).all()
    assert [tuple(row) for row in rows] == [(HEAD,)]


def test_migrations_never_touch_rasa_events(db_url):
    engine = get_engine(db_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255))"
        )
        connection.exec_driver_sql("INSERT INTO events VALUES (1, 'patient')")
    upgrade(db_url)
    command.downgrade(alembic_config(db_url), "base")
    assert "events" in tables(engine)
    assert not OUR_TABLES & tables(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT sender_id FROM events").all() == [
            ("patient",)
        ]
    assert upgrade(db_url) == HEAD


def test_schema_matches_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "version_table": VERSION_TABLE,
                "compare_type": True,
                "target_metadata": metadata,
            },
        )
        assert compare_metadata(context, metadata) == []


def test_two_processes_migrate_at_once(db_url):
    env = {**os.environ, "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    cmd = [sys.executable, "-m", "bot.db.migrate", "--url", db_url]
    procs = [
        subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        assert f"at revision {HEAD}".encode() in out
    assert current_revision(db_url) == HEAD
    with get_engine(db_url).connect() as connection:
        rows = connection.exec_driver_sql(f"SELECT * FROM {VERSION_TABLE}").all()
    assert len(rows) == 1


async def test_shares_one_sqlite_file_with_rasa_tracker_store(tmp_path):
    """Rasa's `events` and our tables live in one WAL file; both keep working."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    path = tmp_path / "rasa.db"
    url = f"sqlite:///{path}"
    try:
        domain = Domain.empty()
        store = SQLTrackerStore(domain, dialect="sqlite", db=str(path))
        tracker = DialogueStateTracker("patient", domain.slots)
        tracker.update(UserUttered("sign me up"))
        await store.save(tracker)
        assert upgrade(url) == HEAD
        engine = get_engine(url)
        with session_scope(engine) as session:
            save_intake(session, **intake_values(conversation_id="patient"))
        tracker.update(UserUttered("thanks 🙂"))
        await store.save(tracker)
        loaded = await store.retrieve("patient")
        texts = [e.text for e in loaded.events if isinstance(e, UserUttered)]
        assert texts == ["sign me up", "thanks 🙂"]
        assert {"events", *OUR_TABLES} <= tables(engine)
        assert count(engine, IntakeRequest) == 1
        raw = sqlite3.connect(path)
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        raw.close()
    finally:
        dispose_engines()


# --- engine -----------------------------------------------------------------------


def test_sqlite_is_wal_with_busy_timeout_and_foreign_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    try:
        engine = get_engine(url)
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() == 5000
            assert pragma("PRAGMA foreign_keys").scalar() == 1
        # WAL is stored in the file: Rasa's own connections use it too.
        raw = sqlite3.connect(tmp_path / "clinic.db")
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        raw.close()
    finally:
        dispose_engines()


@pytest.mark.postgres
def test_postgres_engine_pings_before_use(postgres_url):
    try:
        engine = get_engine(postgres_url)
        assert engine.pool._pre_ping is True
        with session_scope(engine) as session:
            assert session.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        dispose_engines()


def test_engine_is_cached_and_defaults_to_database_url(tmp_path, monkeypatch):
    from bot.settings import get_settings

    path = tmp_path / "default.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    try:
        engine = get_engine()
        assert engine is get_engine() is get_engine(f"sqlite:///{path}")
        assert engine.url.database == str(path)
        assert upgrade() == HEAD
        assert path.exists()
    finally:
        get_settings.cache_clear()
        dispose_engines()


def test_import_does_no_database_work(tmp_path):
    path = tmp_path / "never" / "created.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}"}
    code = "import bot.db, bot.db.engine, bot.db.models, bot.db.repository, "
    code += "bot.db.migrate"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    assert not path.parent.exists()


def test_storage_imports_nothing_above_it():
    # bot.db is the bottom layer: its modules never import the console, the
    # channels, the handoff or the actions (no cycle, no upward import).
    code = (
        "import pkgutil, importlib, sys, bot.db\n"
        "for m in pkgutil.walk_packages(bot.db.__path__, 'bot.db.'):\n"
        "    if '.migrations' not in m.name: importlib.import_module(m.name)\n"
        "above = ('bot.console', 'bot.channels', 'bot.handoff', 'bot.widget', "
        "'actions')\n"
        "print(sorted(n for n in sys.modules if n.startswith(above)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True
    )
    assert done.stdout.decode().strip() == "[]"


def test_session_scope_rolls_back_on_error(engine):
    with pytest.raises(RuntimeError):
        with session_scope(engine) as session:
            save_intake(session, **intake_values())
            raise RuntimeError("the action failed after the insert")
    assert count(engine, IntakeRequest) == 0


# --- intake requests ----------------------------------------------------------------


def test_save_intake_stores_one_row_per_submission(engine):
    with session_scope(engine) as session:
        first, created = save_intake(session, **intake_values())
    assert created is True and first.id is not None
    # The action is retried, even with different values: the first one wins.
    with session_scope(engine) as session:
        again, created = save_intake(session, **intake_values(full_name="J. Doe"))
    assert created is False
    assert again.id == first.id and again.full_name == "Jane Doe"
    with session_scope(engine) as session:
        other, created = save_intake(
            session, **intake_values(submission_key="conv-1:submit-2")
        )
    assert created is True and other.id != first.id
    assert count(engine, IntakeRequest) == 2


def test_save_intake_defaults_and_utc_timestamps(engine):
    with session_scope(engine) as session:
        intake, _ = save_intake(session, **intake_values(email=""))
    with session_scope(engine) as session:
        row = session.get(IntakeRequest, intake.id)
        assert row.status == "new"
        assert row.email is None  # "" means no email
        assert row.consent is True
        assert row.notified_at is None and row.notify_error is None
        assert row.created_at.tzinfo is not None
        assert row.created_at.utcoffset() == timedelta(0)
        assert row.updated_at >= row.created_at


def run_at_once(target, n=2):
    """Runs `target()` in `n` threads released together; returns their results."""
    barrier = threading.Barrier(n)
    results, errors = [], []

    def worker():
        try:
            barrier.wait(timeout=10)
            results.append(target())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert len(results) == n
    return results


def test_save_intake_from_two_threads_at_once(engine):
    def submit():
        with session_scope(engine) as session:
            intake, created = save_intake(session, **intake_values())
            return intake.id, created

    results = run_at_once(submit)
    assert sorted(created for _, created in results) == [False, True]
    assert len({intake_id for intake_id, _ in results}) == 1
    assert count(engine, IntakeRequest) == 1


def wait_for_lock_waiter(engine, timeout=10.0):
    """Waits until some PostgreSQL backend is blocked on a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            waiting = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).scalar()
        if waiting:
            return
        time.sleep(0.05)
    raise TimeoutError("the second insert never blocked")


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("what", ["intake", "handoff"])
def test_race_lost_at_insert_returns_the_winner(engine, what):
    """The loser passed the existence check and blocks on the unique index."""

    def call(session):
        if what == "intake":
            return save_intake(session, **intake_values())[0]
        return handoff(session)

    winner = Session(engine, future=True, expire_on_commit=False)
    try:
        won = call(winner)  # inserted, not committed yet
        loser = {}

        def lose():
            with session_scope(engine) as session:
                loser["id"] = call(session).id

        thread = threading.Thread(target=lose)
        thread.start()
        wait_for_lock_waiter(engine)
        winner.commit()
        thread.join(timeout=10)
    finally:
        winner.close()
    assert loser == {"id": won.id}
    assert count(engine, IntakeRequest if what == "intake" else Handoff) == 1


UNTRUSTED = [
    "Zoë Ñúñez-O'Brien",
    "李小龙 👩‍⚕️🙂 🏳️‍🌈",
    "مرحبا، أعاني من ألم",
    "<script>alert('x')</script><b>bold</b> &amp; <!-- -->",
    "Robert'); DROP TABLE intake_requests;--",
    "1 OR 1=1; -- \" ' ` \\ %s %(x)s {0} ${x} \\x00",
    "line one\nline two\r\n\ttabbed",
    "e\u0301 combining, zero\u200bwidth, \ufeffbom, \u202eright-to-left",
]


@pytest.mark.parametrize("value", UNTRUSTED)
def test_untrusted_text_round_trips_unchanged(engine, value):
    with session_scope(engine) as session:
        intake, _ = save_intake(
            session,
            **intake_values(
                submission_key=value, full_name=value, condition=value, best_time=value
            ),
        )
        handoff = open_handoff(
            session,
            conversation_id=value,
            channel="rest",
            reason="requested",
            summary=value,
            urgent=False,
        )
    dispose_engines()  # read back through a new connection
    fresh = get_engine(engine.url.render_as_string(hide_password=False))
    with session_scope(fresh) as session:
        row = session.get(IntakeRequest, intake.id)
        assert (row.submission_key, row.full_name, row.condition, row.best_time) == (
            (value,) * 4
        )
        assert session.get(Handoff, handoff.id).summary == value
        assert latest_active_handoff(session, value).id == handoff.id
    assert OUR_TABLES <= tables(fresh)


def test_limits_count_characters_not_bytes(engine):
    name = "😀" * INTAKE_MAX_LENGTHS["full_name"]  # 200 characters, 800 bytes
    with session_scope(engine) as session:
        intake, _ = save_intake(session, **intake_values(full_name=name))
    with session_scope(engine) as session:
        assert session.get(IntakeRequest, intake.id).full_name == name


@pytest.mark.parametrize(
    "field", ["full_name", "condition", "best_time", "email", "conversation_id"]
)
def test_too_long_value_is_refused_and_nothing_is_stored(engine, field):
    value = "é" * (INTAKE_MAX_LENGTHS[field] + 1)
    with pytest.raises(ValueError, match=f"^{field} is too long") as info:
        with session_scope(engine) as session:
            save_intake(session, **intake_values(**{field: value}))
    assert isinstance(info.value, InvalidValueError) and info.value.field == field
    assert value not in str(info.value)
    assert count(engine, IntakeRequest) == 0


def test_too_long_summary_is_refused_and_nothing_is_stored(engine):
    with pytest.raises(ValueError, match="^summary is too long"):
        with session_scope(engine) as session:
            open_handoff(
                session,
                conversation_id="c",
                channel="rest",
                reason="requested",
                summary="x" * (HANDOFF_MAX_LENGTHS["summary"] + 1),
                urgent=False,
            )
    assert count(engine, Handoff) == 0


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"phone_e164": "555-123-4567"}, "phone_e164"),
        ({"phone_e164": "+05551234567"}, "phone_e164"),
        ({"phone_e164": "+1555１２３４５６７"}, "phone_e164"),  # full-width digits
        ({"phone_e164": PHONE + "\n"}, "phone_e164"),
        ({"full_name": "   "}, "full_name"),
        ({"full_name": None}, "full_name"),
        ({"condition": "pain\x00"}, "condition"),
        ({"condition": "pain \ud800"}, "condition"),  # lone surrogate
        ({"best_time": 9}, "best_time"),
        ({"consent": "yes"}, "consent"),
        ({"consent": None}, "consent"),
        ({"submission_key": ""}, "submission_key"),
    ],
)
def test_invalid_value_is_refused_and_nothing_is_stored(engine, overrides, field):
    with pytest.raises(InvalidValueError) as info:
        with session_scope(engine) as session:
            save_intake(session, **intake_values(**overrides))
    assert info.value.field == field
    value = overrides[field]
    if isinstance(value, str) and value.strip():
        assert value not in str(info.value)  # safe to log
    assert PHONE not in str(info.value)
    assert count(engine, IntakeRequest) == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"full_name": "x" * 201},  # PostgreSQL: VARCHAR; SQLite: CHECK
        {"condition": "x" * 2001},
        {"full_name": ""},
        {"status": "lost"},
    ],
)
def test_database_enforces_limits_without_python(engine, overrides):
    """Even a write that skips the models is refused, and the error hides values."""
    values = {**intake_values(submission_key=f"k-{uuid.uuid4()}"), **overrides}
    with pytest.raises(DBAPIError) as info:
        with session_scope(engine) as session:
            session.execute(sa.insert(IntakeRequest.__table__).values(**values))
    logged = "".join(traceback.format_exception(info.value))  # with its cause
    assert "constraint" in logged or "too long" in logged
    for secret in (PHONE, "jane@example.org", "Burning pain"):
        assert secret not in logged
    assert count(engine, IntakeRequest) == 0


def test_mark_notified_success_and_failure(engine):
    with session_scope(engine) as session:
        intake, _ = save_intake(session, **intake_values())
    with session_scope(engine) as session:
        row = mark_notified(session, intake.id, error="HTTP 502 \x00" + "x" * 5000)
        assert row.notified_at is None
    with session_scope(engine) as session:
        row = session.get(IntakeRequest, intake.id)
        assert row.notify_error.startswith("HTTP 502 x")
        assert len(row.notify_error) == INTAKE_MAX_LENGTHS["notify_error"]
        assert row.notified_at is None and row.status == "new"
    with session_scope(engine) as session:
        mark_notified(session, intake.id)
    with session_scope(engine) as session:
        row = session.get(IntakeRequest, intake.id)
        assert row.notify_error is None
        assert row.notified_at is not None and row.notified_at.tzinfo is not None
        assert row.updated_at >= row.created_at
    with pytest.raises(LookupError):
        with session_scope(engine) as session:
            mark_notified(session, intake.id + 1000)


# --- handoffs -----------------------------------------------------------------------


def handoff(session, conversation_id="conv-1", reason="requested", urgent=False):
    return open_handoff(
        session,
        conversation_id=conversation_id,
        channel="rest",
        reason=reason,
        summary=f"{conversation_id} asked for a person",
        urgent=urgent,
    )


def test_open_handoff_deduplicates_per_conversation(engine):
    with session_scope(engine) as session:
        first = handoff(session)
        assert (first.status, first.reason) == ("open", "requested")
        assert first.urgent is False
        assert first.created_at.tzinfo is not None
    with session_scope(engine) as session:
        assert handoff(session, reason="fallback").id == first.id
        assert handoff(session, "conv-2").id != first.id
    # A crisis in the same conversation makes the waiting handoff urgent.
    with session_scope(engine) as session:
        escalated = handoff(session, reason="crisis", urgent=True)
    assert escalated.id == first.id
    with session_scope(engine) as session:
        assert session.get(Handoff, first.id).urgent is True
    # Claimed still counts as active; once closed, a new request opens a new row.
    with session_scope(engine) as session:
        claim_handoff(session, first.id, claimed_by="nurse.amy")
        assert handoff(session).id == first.id
        close_handoff(session, first.id)
        assert latest_active_handoff(session, "conv-1") is None
        again = handoff(session)
        assert again.id != first.id
        assert latest_active_handoff(session, "conv-1").id == again.id
    assert count(engine, Handoff) == 3


def test_open_handoff_from_two_threads_at_once(engine):
    def request():
        with session_scope(engine) as session:
            return handoff(session).id

    assert len(set(run_at_once(request, n=3))) == 1
    assert count(engine, Handoff) == 1


def test_open_handoff_refuses_unknown_reason_and_non_bool_urgent(engine):
    with pytest.raises(InvalidValueError, match="^reason must be one of"):
        with session_scope(engine) as session:
            handoff(session, reason="bored")
    with pytest.raises(InvalidValueError, match="^urgent"):
        with session_scope(engine) as session:
            handoff(session, urgent="yes")
    assert count(engine, Handoff) == 0


def test_list_open_handoffs_urgent_first_then_oldest(engine):
    with session_scope(engine) as session:
        a = handoff(session, "a")
        b = handoff(session, "b", reason="crisis", urgent=True)
        c = handoff(session, "c", reason="logistics")
        d = handoff(session, "d", reason="crisis", urgent=True)
        e = handoff(session, "e", reason="fallback")
    with session_scope(engine) as session:
        ids = [h.id for h in list_open_handoffs(session)]
        assert ids == [b.id, d.id, a.id, c.id, e.id]
        claim_handoff(session, a.id, claimed_by="nurse.amy")
        close_handoff(session, c.id)
    with session_scope(engine) as session:
        assert [h.id for h in list_open_handoffs(session)] == [b.id, d.id, e.id]
        claimed = list_open_handoffs(session, include_claimed=True)
        assert [h.id for h in claimed] == [b.id, d.id, a.id, e.id]


def test_claim_and_close_transitions(engine):
    with session_scope(engine) as session:
        opened = handoff(session)
    with session_scope(engine) as session:
        claimed = claim_handoff(session, opened.id, claimed_by="nurse.amy")
        assert (claimed.status, claimed.claimed_by) == ("claimed", "nurse.amy")
        assert claimed.claimed_at is not None and claimed.closed_at is None
        # Same person again: unchanged. Someone else: refused.
        assert claim_handoff(session, opened.id, claimed_by="nurse.amy").id == opened.id
    with pytest.raises(HandoffStateError, match="is claimed"):
        with session_scope(engine) as session:
            claim_handoff(session, opened.id, claimed_by="dr.bob")
    with pytest.raises(InvalidValueError, match="^claimed_by"):
        with session_scope(engine) as session:
            claim_handoff(session, opened.id, claimed_by=" ")
    with session_scope(engine) as session:
        closed = close_handoff(session, opened.id)
        assert closed.status == "closed" and closed.closed_at is not None
        assert closed.claimed_by == "nurse.amy"
        first_close = closed.closed_at
    with session_scope(engine) as session:
        assert close_handoff(session, opened.id).closed_at == first_close
    with pytest.raises(HandoffStateError, match="is closed"):
        with session_scope(engine) as session:
            claim_handoff(session, opened.id, claimed_by="nurse.amy")
    with pytest.raises(LookupError):
        with session_scope(engine) as session:
            claim_handoff(session, opened.id + 1000, claimed_by="nurse.amy")
    with pytest.raises(LookupError):
        with session_scope(engine) as session:
            close_handoff(session, opened.id + 1000)
    with session_scope(engine) as session:
        row = session.get(Handoff, opened.id)
        assert (row.status, row.claimed_by) == ("closed", "nurse.amy")


def test_two_staff_claim_at_once_one_wins(engine):
    with session_scope(engine) as session:
        opened = handoff(session)

    names = iter(["nurse.amy", "dr.bob"])
    lock = threading.Lock()

    def claim():
        with lock:
            name = next(names)
        try:
            with session_scope(engine) as session:
                return claim_handoff(session, opened.id, claimed_by=name).claimed_by
        except HandoffStateError:
            return None

    results = run_at_once(claim)
    winners = [name for name in results if name is not None]
    assert len(winners) == 1 and results.count(None) == 1
    with session_scope(engine) as session:
        assert session.get(Handoff, opened.id).claimed_by == winners[0]
