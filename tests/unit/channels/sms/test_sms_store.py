"""SMS opt-outs and outbound records (bot.channels.sms.store) on real SQLite."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from bot.channels.sms import store as sms_store
from bot.db.engine import dispose_engines, get_engine, session_scope
from bot.db.migrate import upgrade
from bot.db.models import InvalidValueError, SmsMessage, SmsOptOut

PHONE = "+15551234567"
BUTTONS = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]


@pytest.fixture
def engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    upgrade(url)
    yield get_engine(url)
    dispose_engines()


def call(engine, function, *args):
    with session_scope(engine) as session:
        return function(session, *args)


def test_opt_out_and_back_in_keeps_one_row(engine):
    assert call(engine, sms_store.is_opted_out, PHONE) is False
    call(engine, sms_store.set_opted_out, PHONE, True, "STOP")
    assert call(engine, sms_store.is_opted_out, PHONE) is True
    call(engine, sms_store.set_opted_out, PHONE, True, "QUIT")
    call(engine, sms_store.set_opted_out, PHONE, False, "START")
    assert call(engine, sms_store.is_opted_out, PHONE) is False
    with session_scope(engine) as session:
        rows = session.execute(sa.select(SmsOptOut)).scalars().all()
        assert [(r.phone_e164, r.opted_out, r.keyword) for r in rows] == [
            (PHONE, False, "START")
        ]
        assert rows[0].changed_at.tzinfo is not None


@pytest.mark.parametrize("phone", ["5551234567", "+0123", "+1555 123", ""])
def test_opt_out_refuses_a_malformed_number(engine, phone):
    with pytest.raises(InvalidValueError, match="^phone_e164"):
        call(engine, sms_store.set_opted_out, phone, True, "STOP")


def test_message_lifecycle_sent_forgets_the_body(engine):
    message = call(engine, sms_store.record_queued, PHONE, PHONE, "Hello", BUTTONS)
    assert (message.status, message.attempts) == ("queued", 0)
    call(engine, sms_store.mark_sent, message.id, "SM123", 2)
    with session_scope(engine) as session:
        row = session.get(SmsMessage, message.id)
        assert (row.status, row.twilio_sid, row.attempts, row.body) == (
            "sent",
            "SM123",
            2,
            None,
        )
        assert json.loads(row.buttons) == BUTTONS
        assert row.updated_at >= row.created_at


def test_failed_message_keeps_the_body_for_staff(engine):
    message = call(engine, sms_store.record_queued, "conv", PHONE, "Hello")
    call(engine, sms_store.mark_failed, message.id, "20500", 4)
    (failed,) = call(engine, sms_store.failed_messages)
    assert (failed.id, failed.body, failed.error_code, failed.attempts) == (
        message.id,
        "Hello",
        "20500",
        4,
    )
    assert failed.conversation_id == "conv"


def test_blocked_messages_store_no_text(engine):
    blocked = call(engine, sms_store.record_blocked, PHONE, PHONE)
    assert (blocked.status, blocked.body, blocked.error_code) == (
        "blocked",
        None,
        "opted_out",
    )
    queued = call(engine, sms_store.record_queued, PHONE, PHONE, "Hi", BUTTONS)
    call(engine, sms_store.mark_blocked, queued.id)
    with session_scope(engine) as session:
        row = session.get(SmsMessage, queued.id)
        assert (row.status, row.body, row.buttons) == ("blocked", None, None)


def test_last_offered_buttons_are_those_of_the_latest_seen_message(engine):
    assert call(engine, sms_store.last_offered_buttons, PHONE) is None
    first = call(engine, sms_store.record_queued, PHONE, PHONE, "Pick", BUTTONS)
    call(engine, sms_store.mark_sent, first.id, "SM1", 1)
    assert call(engine, sms_store.last_offered_buttons, PHONE) == BUTTONS
    # Other numbers' messages do not count.
    call(engine, sms_store.record_queued, "+15550000000", "+15550000000", "x")
    assert call(engine, sms_store.last_offered_buttons, PHONE) == BUTTONS
    # A failed or blocked message was never seen: the earlier options still hold.
    failed = call(engine, sms_store.record_queued, PHONE, PHONE, "Other", BUTTONS[:1])
    call(engine, sms_store.mark_failed, failed.id, "20500", 4)
    call(engine, sms_store.record_blocked, PHONE, PHONE)
    assert call(engine, sms_store.last_offered_buttons, PHONE) == BUTTONS
    # A later message without options ends them.
    call(engine, sms_store.record_queued, PHONE, PHONE, "Plain answer")
    assert call(engine, sms_store.last_offered_buttons, PHONE) is None


def test_too_many_options_are_not_remembered(engine):
    buttons = [{"title": "t" * 300, "payload": "p" * 300}] * 10
    message = call(engine, sms_store.record_queued, PHONE, PHONE, "Pick", buttons)
    assert message.buttons is None


def test_unknown_message_id(engine):
    with pytest.raises(LookupError):
        call(engine, sms_store.mark_sent, 999, "SM1", 1)


def test_database_refuses_a_bad_status(engine):
    with pytest.raises(sa.exc.DBAPIError):
        with engine.begin() as connection:
            connection.execute(
                sa.insert(SmsMessage.__table__).values(
                    conversation_id="c", phone_e164=PHONE, status="lost", attempts=0
                )
            )
    with pytest.raises(sa.exc.DBAPIError):
        with engine.begin() as connection:
            connection.execute(
                sa.insert(SmsMessage.__table__).values(
                    conversation_id="c", phone_e164=PHONE, status="sent", attempts=-1
                )
            )
