"""The console's storage on real SQLite and real PostgreSQL (`postgres` marker).

Summaries derived from Rasa-shaped `events` rows (full and incremental refresh),
the list's filters and search, reviews, tags and corrections, sign-in with
lockout and sessions, the overview figures, and the two deletion commands.
"""

from __future__ import annotations

import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from bot.console import auth
from bot.console.overview import overview
from bot.db import retention, summaries
from bot.db.engine import dispose_engines, get_engine, session_scope
from bot.db.events import EVENTS
from bot.db.migrate import upgrade
from bot.db.models import (
    AuditEntry,
    ConversationSummary,
    SmsMessage,
    SmsOptOut,
    SmsSendLease,
    utcnow,
)
from bot.db.queries import audit, common, conversations, transcripts
from bot.db.queries import corrections as correction_queries
from bot.db.repository import open_handoff, save_intake
from bot.db.retention import pseudonym
from tests.support.databases import BACKENDS, fresh_database
from tests.support.seed import Turn, add_conversation, seed_clinic

ZONE = ZoneInfo("America/New_York")

SUMMARY = ConversationSummary.__table__
AUDIT = AuditEntry.__table__


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    """A migrated database with Rasa's events table: a file or a fresh schema."""
    with fresh_database(request, tmp_path, request.param) as url:
        upgrade(url)
        yield get_engine(url)


@pytest.fixture
def seeded(engine):
    ids = seed_clinic(engine)
    summaries.refresh(engine, settle_seconds=0)
    return ids


def ids_of(engine, **filters) -> list:
    with engine.begin() as connection:
        items, total = conversations.list_conversations(
            connection, conversations.ConversationFilter.from_args(filters), ZONE
        )
    assert total == len(items)
    return [item["conversation_id"] for item in items]


def count(engine, table: str, where: str = "1=1") -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql(
            f"SELECT count(*) FROM {table} WHERE {where}"
        ).scalar_one()


def test_refresh_summarises_outcomes_and_answer_keys(engine, seeded):
    with engine.begin() as connection:
        rows = {
            r.conversation_id: r
            for r in connection.execute(sa.select(SUMMARY)).mappings()
        }
    assert set(rows) == {
        "rest-safety",
        "rest-fallback",
        "+15551234567",
        "rest-crisis",
        "rest-hostile",
        "rest-human",
    }
    safety = rows["rest-safety"]
    assert (safety["message_count"], safety["answered"], safety["fallback"]) == (
        2,
        True,
        False,
    )
    assert safety["first_message"] == "is ketamine therapy safe?"
    assert (
        rows["rest-fallback"]["fallback"]
        and rows["rest-fallback"]["fallback_count"] == 1
    )
    assert rows["rest-crisis"]["crisis"] and not rows["rest-crisis"]["answered"]
    assert rows["rest-human"]["handoff"]
    assert rows["+15551234567"]["channel"] == "twilio"
    assert ids_of(engine, answer_key="is_it_safe") == ["rest-safety"]
    assert summaries.refresh(engine, settle_seconds=0) == 0  # nothing new


def test_refresh_is_incremental_and_revisits_unsettled_events(engine, seeded):
    just_now = time.time() - 5
    add_conversation(
        engine,
        "rest-safety",
        [Turn("side effects?", answer_key="side_effects")],
        start=just_now,
    )
    add_conversation(
        engine,
        "rest-new",
        [Turn("what is it", answer_key="what_is_ketamine")],
        start=just_now,
    )
    assert summaries.refresh(engine) == 2  # only the two touched conversations
    with engine.begin() as connection:
        mark = summaries._watermark(connection)
        newest = connection.execute(sa.select(sa.func.max(EVENTS.c.id))).scalar()
    assert mark < newest  # the events are recent: seen again next time
    assert summaries.refresh(engine) == 2  # idempotent recompute, same result
    assert set(ids_of(engine, answer_key="side_effects")) == {
        "rest-safety",
        "+15551234567",
    }
    assert count(engine, "conversation_summaries") == 7
    with engine.begin() as connection:
        safety = connection.execute(
            sa.select(SUMMARY.c.message_count).where(
                SUMMARY.c.conversation_id == "rest-safety"
            )
        ).scalar_one()
    assert safety == 3


def test_refresh_before_rasa_created_its_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    engine = get_engine(url)
    try:
        assert summaries.refresh(engine) == 0
        with engine.begin() as connection:
            assert transcripts.transcript(connection, "anyone") == []
            assert overview(connection, ZONE)["conversations"] == 0
    finally:
        dispose_engines()


def test_filters_search_review_tags(engine, seeded):
    assert ids_of(engine, outcome="crisis") == ["rest-crisis"]
    assert ids_of(engine, outcome="handoff") == ["rest-human", "rest-crisis"]
    assert ids_of(engine, outcome="intake") == ["rest-hostile"]
    assert ids_of(engine, channel="twilio") == ["+15551234567"]
    assert ids_of(engine, q="Relief") == ["rest-safety"]
    assert ids_of(engine, q="5551234") == ["+15551234567"]  # by id too
    assert ids_of(engine, q="%") == []  # LIKE wildcards are literal
    assert ids_of(engine, q="_") == ["rest-hostile"]  # only "window.__xss" has one
    today = utcnow().astimezone(ZONE).date()
    recent = ids_of(engine, **{"from": (today - timedelta(days=1)).isoformat()})
    assert "+15551234567" not in recent and "rest-safety" in recent
    old = ids_of(engine, to=(today - timedelta(days=2)).isoformat())
    assert old == ["+15551234567"]
    with engine.begin() as connection:
        conversations.set_review(
            connection, "rest-safety", "reviewed", "a@clinic.example"
        )
        conversations.set_note(connection, "rest-safety", "checked", "a@clinic.example")
        conversations.add_tag(
            connection, "rest-safety", " Billing ", "a@clinic.example"
        )
        conversations.add_tag(connection, "rest-safety", "billing", "a@clinic.example")
        with pytest.raises(ValueError):
            conversations.add_tag(connection, "rest-safety", "<b>", "a@clinic.example")
        with pytest.raises(ValueError):
            conversations.set_review(
                connection, "rest-safety", "done", "a@clinic.example"
            )
    assert ids_of(engine, review="reviewed") == ["rest-safety"]
    assert "rest-safety" not in ids_of(engine, review="unreviewed")
    assert ids_of(engine, tag="billing") == ["rest-safety"]
    with engine.begin() as connection:
        info = conversations.conversation(connection, "rest-safety")
        assert info["review"]["note"] == "checked" and info["tags"] == ["billing"]
        conversations.remove_tag(connection, "rest-safety", "billing")
    assert ids_of(engine, tag="billing") == []


def test_pagination(engine):
    seed_clinic(engine)
    for number in range(60):
        add_conversation(engine, f"bulk-{number:03d}", [Turn("hi", intent="greet")])
    summaries.refresh(engine, settle_seconds=0)
    with engine.begin() as connection:
        first, total = conversations.list_conversations(
            connection, conversations.ConversationFilter.from_args({}), ZONE
        )
        second, _ = conversations.list_conversations(
            connection, conversations.ConversationFilter.from_args({"page": "2"}), ZONE
        )
    assert total == 66 and len(first) == common.PAGE_SIZE and len(second) == 16
    assert not {i["conversation_id"] for i in first} & {
        i["conversation_id"] for i in second
    }


def test_corrections_and_transcript(engine, seeded):
    with engine.begin() as connection:
        items = transcripts.transcript(connection, "rest-fallback")
        user = [i for i in items if i["kind"] == "user"][0]
        assert (user["intent"], round(user["intent_confidence"], 2)) == (
            "nlu_fallback",
            0.2,
        )
        assert any(i["kind"] == "event" and "clarify" in i["text"] for i in items)
        correction_queries.correct_message(
            connection,
            "rest-fallback",
            user["event_id"],
            "faq/what_is_ketamine",
            "a@x.org",
        )
        correction_queries.correct_message(
            connection, "rest-fallback", user["event_id"], "faq/side_effects", "a@x.org"
        )  # a second correction replaces the first
        with pytest.raises(ValueError):
            correction_queries.correct_message(
                connection, "rest-fallback", user["event_id"], "faq/nope", "a"
            )
        with pytest.raises(LookupError):
            correction_queries.correct_message(
                connection, "rest-safety", user["event_id"], "greet", "a"
            )
        corrections = correction_queries.list_corrections(connection)
        text = correction_queries.corrections_yaml(connection)
    assert [(c["predicted"], c["corrected"]) for c in corrections] == [
        ("nlu_fallback", "faq/side_effects")
    ]
    assert "- intent: faq/side_effects\n  examples: |\n    - blorf snik wub\n" in text


def test_sign_in_lockout_and_sessions(engine):
    secret = "s" * 40
    with session_scope(engine) as session:
        assert (
            auth.ensure_bootstrap_admin(
                session, "Boss@Clinic.example", "boss-password-1"
            ).role
            == "admin"
        )
        assert (
            auth.ensure_bootstrap_admin(
                session, "other@clinic.example", "other-password-1"
            )
            is None
        )
        with pytest.raises(auth.AccountError):
            auth.create_user(
                session, "boss@clinic.example", "another-password", "staff"
            )
        with pytest.raises(auth.AccountError):
            auth.create_user(session, "new@clinic.example", "short", "staff")
        user = auth.create_user(
            session, "nurse@clinic.example", "nurse-password-1", "staff"
        )
        assert user.password_hash.startswith("$argon2id$")
    for _ in range(auth.MAX_FAILURES):
        with pytest.raises(auth.SignInError):
            auth.check_password(engine, "nurse@clinic.example", "wrong", None)
    with pytest.raises(auth.SignInError):  # locked
        auth.check_password(engine, "nurse@clinic.example", "nurse-password-1", None)
    with session_scope(engine) as session:
        nurse = session.execute(
            sa.select(auth.ConsoleUser).where(
                auth.ConsoleUser.email == "nurse@clinic.example"
            )
        ).scalar_one()
        nurse.locked_until = utcnow() - timedelta(seconds=1)  # 15 minutes later
    nurse = auth.check_password(
        engine, " NURSE@clinic.example", "nurse-password-1", None
    )
    assert not nurse.needs_totp
    with session_scope(engine) as session:
        token = auth.start_session(session, nurse.user_id, secret, hours=1)
        nurse_id = nurse.user_id
    with session_scope(engine) as session:
        signed_in = auth.load_session(session, secret, token)
        assert signed_in.email == "nurse@clinic.example" and not signed_in.is_admin
        assert auth.load_session(session, "another secret" * 3, token) is None
        assert token not in {
            row for (row,) in session.execute(sa.select(auth.ConsoleSession.token_hash))
        }
        auth.set_active(session, nurse_id, False)  # disabling ends the sessions
    with session_scope(engine) as session:
        assert auth.load_session(session, secret, token) is None
    with pytest.raises(auth.SignInError):
        auth.check_password(engine, "nurse@clinic.example", "nurse-password-1", None)


def test_overview_figures(engine, seeded):
    with engine.begin() as connection:
        data = overview(connection, ZONE)
    assert data["conversations"] == 6
    assert data["open_handoffs"] == 2 and data["urgent_handoffs"] == 1
    assert data["new_intakes"] == 1
    assert 0 < data["fallback_rate"] < 1
    charts = {chart.title: chart for chart in data["charts"]}
    top = charts["Most asked answer keys"]
    assert {bar.title.split(":")[0] for bar in top.bars} == {
        "is_it_safe",
        "relief_duration",
        "side_effects",
    }
    assert len(charts["Conversations per day"].bars) == 30


def test_purge_deletes_conversations_past_retention(engine, seeded):
    with engine.begin() as connection:
        conversations.set_review(connection, "+15551234567", "reviewed", "a@x.org")
        audit.record(connection, "a@x.org", "view", "conversation", "+15551234567")
    deleted = retention.purge(engine, older_than_days=2)
    assert deleted.conversations == 1
    assert count(engine, "events", "sender_id = '+15551234567'") == 0
    assert (
        count(engine, "conversation_summaries", "conversation_id = '+15551234567'") == 0
    )
    assert count(engine, "conversation_reviews") == 0
    # Access records outlive the conversations (their own retention, six years).
    assert count(engine, "console_audit_log", "object_id = '+15551234567'") == 1
    assert count(engine, "events", "sender_id = 'rest-safety'") > 0
    assert count(engine, "handoffs") == 2 and count(engine, "intake_requests") == 1
    later = time.time() + 3 * 86400  # three days on, everything is past retention
    assert retention.purge(engine, older_than_days=2, now=later).conversations == 5
    assert count(engine, "events") == 0
    with pytest.raises(ValueError):
        retention.purge(engine, older_than_days=0)


def test_forget_a_patient_by_phone_and_by_conversation(engine, seeded):
    phone = "+15551234567"
    with session_scope(engine) as session:
        save_intake(
            session,
            conversation_id="rest-widget-of-sms-patient",
            channel="socketio",
            submission_key="w:1",
            full_name="Sam",
            phone_e164=phone,
            email=None,
            condition="pain",
            best_time="any",
            consent=True,
        )
        open_handoff(
            session,
            conversation_id=phone,
            channel="twilio",
            reason="requested",
            summary="",
        )
        session.add(
            SmsMessage(
                conversation_id=phone, phone_e164=phone, body="hi", status="queued"
            )
        )
        session.add(SmsOptOut(phone_e164=phone, opted_out=True, keyword="STOP"))
        session.add(
            SmsSendLease(phone_e164=phone, holder="worker-1", expires_at=utcnow())
        )
    add_conversation(
        engine, "rest-widget-of-sms-patient", [Turn("hello", intent="greet")]
    )
    summaries.refresh(engine, settle_seconds=0)
    deleted = retention.forget(engine, phone=phone, settle_seconds=0)
    assert deleted.conversations == 2
    for table, column in [
        ("events", "sender_id"),
        ("conversation_summaries", "conversation_id"),
        ("handoffs", "conversation_id"),
        ("sms_messages", "conversation_id"),
        ("intake_requests", "conversation_id"),
    ]:
        assert (
            count(
                engine, table, f"{column} IN ('{phone}', 'rest-widget-of-sms-patient')"
            )
            == 0
        )
    assert count(engine, "sms_send_leases", f"phone_e164 = '{phone}'") == 0
    # The standing opt-out is kept: deleting it would let texts to the number resume.
    assert count(engine, "sms_opt_outs", f"phone_e164 = '{phone}'") == 1
    assert count(engine, "events", "sender_id = 'rest-safety'") > 0
    deleted = retention.forget(engine, ["rest-hostile"], settle_seconds=0)
    assert deleted.conversations == 1
    assert count(engine, "intake_requests") == 0  # its intake request went too
    # One "forget" entry per conversation, under its pseudonym (keyed hash).
    forgotten = pseudonym("rest-hostile")
    assert count(engine, "console_audit_log", f"object_id = '{forgotten}'") == 1
    assert count(engine, "console_audit_log", f"object_id = '{phone}'") == 0
    with pytest.raises(ValueError):
        retention.forget(engine, phone="555-1234")


def _session_row(engine, user_id: int) -> auth.ConsoleSession:
    with session_scope(engine) as session:
        row = session.execute(
            sa.select(auth.ConsoleSession).where(auth.ConsoleSession.user_id == user_id)
        ).scalar_one()
        session.expunge(row)
        return row


def _set_last_seen(engine, user_id: int, value) -> None:
    with session_scope(engine) as session:
        session.execute(
            sa.update(auth.ConsoleSession)
            .where(auth.ConsoleSession.user_id == user_id)
            .values(last_seen_at=value)
        )


def test_idle_sessions_end_and_activity_is_written_at_most_once_a_minute(engine):
    secret = "s" * 40
    with session_scope(engine) as session:
        user = auth.create_user(
            session, "idle@clinic.example", "idle-password-1", "staff"
        )
        token = auth.start_session(session, user, secret, hours=12)
        user_id = user.id

    def load(**kwargs):
        with session_scope(engine) as session:
            return auth.load_session(session, secret, token, **kwargs)

    started = _session_row(engine, user_id).last_seen_at
    assert started is not None
    assert load(idle_minutes=30) is not None
    assert _session_row(engine, user_id).last_seen_at == started  # < 1 min: no write
    two_minutes_ago = utcnow() - timedelta(minutes=2)
    _set_last_seen(engine, user_id, two_minutes_ago)
    assert load(idle_minutes=30, touch=False) is not None  # polling: not activity
    assert _session_row(engine, user_id).last_seen_at == two_minutes_ago
    assert load(idle_minutes=30) is not None
    assert _session_row(engine, user_id).last_seen_at > two_minutes_ago
    _set_last_seen(engine, user_id, utcnow() - timedelta(minutes=31))
    assert load(idle_minutes=30) is None  # idle: over
    assert load(idle_minutes=60) is not None  # a longer setting keeps it
    # A session opened before migration 0004 has no last request: counts from
    # its start, and the absolute limit still applies.
    _set_last_seen(engine, user_id, None)
    assert load(idle_minutes=30) is not None
    with session_scope(engine) as session:
        session.execute(
            sa.update(auth.ConsoleSession)
            .where(auth.ConsoleSession.user_id == user_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert load(idle_minutes=30) is None


def test_sign_in_throttling_counts_failures_per_address(engine):
    def fail(ip: str, times: int = 1, action: str = auth.SIGN_IN_FAILED) -> None:
        with engine.begin() as connection:
            for _ in range(times):
                audit.record(connection, None, action, "account", None, ip)

    def throttled(ip) -> bool:
        with session_scope(engine) as session:
            return auth.throttled(session, ip)

    fail("10.0.0.1", auth.THROTTLE_FAILURES - 1)
    fail("10.0.0.1", 5, action="sign-in")  # successes do not count
    fail("10.0.0.2", 3)
    assert not throttled("10.0.0.1")
    fail("10.0.0.1")
    assert throttled("10.0.0.1")
    assert not throttled("10.0.0.2") and not throttled(None)
    with engine.begin() as connection:  # 15 minutes later
        connection.execute(
            sa.update(AUDIT)
            .where(AUDIT.c.client_ip == "10.0.0.1")
            .values(at=utcnow() - timedelta(minutes=auth.THROTTLE_MINUTES, seconds=1))
        )
    assert not throttled("10.0.0.1")


def test_audit_log_list_filters_and_pagination(engine):
    now = utcnow()
    rows = [
        dict(
            at=now - timedelta(minutes=n),
            user_email="Nurse@clinic.example" if n % 2 else "boss@clinic.example",
            action="view" if n % 3 else "reply",
            object_type="conversation",
            object_id=f"rest-{n:03d}",
            client_ip="10.0.0.9",
        )
        for n in range(60)
    ]
    rows.append(
        dict(
            at=now - timedelta(days=3),
            user_email=None,
            action="purge",
            object_type="retention",
            object_id=None,
            client_ip=None,
        )
    )
    with engine.begin() as connection:
        connection.execute(sa.insert(AUDIT), rows)

    def page(**args):
        with engine.begin() as connection:
            return audit.list_audit(connection, audit.AuditFilter.from_args(args), ZONE)

    first, total = page()
    second, _ = page(page="2")
    assert total == 61 and len(first) == common.PAGE_SIZE and len(second) == 11
    assert [e["object_id"] for e in first[:2]] == ["rest-000", "rest-001"]
    assert second[-1]["action"] == "purge"  # newest first: the oldest is last
    nurse, total = page(user="NURSE@")
    assert total == 30 and all(e["user_email"].startswith("Nurse") for e in nurse)
    assert page(user="%")[1] == 0  # LIKE wildcards are literal
    assert page(action="reply")[1] == 20
    assert page(action="reply", user="nurse")[1] == 10
    today = now.astimezone(ZONE).date()
    assert 0 < page(**{"from": today.isoformat()})[1] <= 60
    old = (today - timedelta(days=3)).isoformat()
    assert [e["action"] for e in page(**{"from": old, "to": old})[0]] == ["purge"]
    assert page(**{"from": "not a date", "page": "x"})[1] == 61
    with engine.begin() as connection:
        assert audit.audit_actions(connection) == ["purge", "reply", "view"]
    f = audit.AuditFilter.from_args({"user": "nurse", "page": "3"})
    assert f.query_args(page=1) == {"user": "nurse"}


def test_only_a_true_crisis_slot_is_a_crisis_flag(engine, seeded):
    """Issue 10 #14: every session start sets `crisis_flagged` to false.

    The rows are what a real Rasa 3.6 run stores: `action_session_start` then a
    `slot` event with `"value": false` (and a reset to null), before any message.
    """
    from tests.support.seed import EVENTS, _row

    start = time.time() - 300
    add_conversation(engine, "rest-calm", [Turn("is it safe", answer_key="is_it_safe")])
    with engine.begin() as connection:
        connection.execute(
            EVENTS.insert(),
            [
                _row("rest-calm", "slot", start, {"name": "crisis_flagged", "value": v})
                for v in (False, None, "false", 0)
            ]
            + [_row("rest-calm", "slot", start, {"name": "other", "value": True})],
        )
        # A malformed row is not a flag either, and breaks nothing.
        connection.execute(
            EVENTS.insert().values(
                sender_id="rest-calm",
                type_name="slot",
                timestamp=start,
                action_name="crisis_flagged",
                data="{not json",
            )
        )
    summaries.refresh(engine, settle_seconds=0)
    with engine.begin() as connection:
        calm = [i["text"] for i in transcripts.transcript(connection, "rest-calm")]
        crisis = [i["text"] for i in transcripts.transcript(connection, "rest-crisis")]
        flags = dict(
            connection.execute(
                sa.select(SUMMARY.c.conversation_id, SUMMARY.c.crisis)
            ).all()
        )
    assert "flagged as crisis" not in calm
    assert crisis.count("flagged as crisis") == 1  # the real flag still shows
    assert flags["rest-calm"] is False and flags["rest-crisis"] is True
