"""The SMS send queue across processes and restarts (bot.channels.sms.sender).

Two `SmsSender`s on one database stand for two Rasa workers; they send through
the fake Twilio REST API on loopback (`tests.support.twilio`), over real HTTP.
Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
import sqlalchemy as sa

from bot.channels.sms import sender as sms_sender
from bot.channels.sms import store
from bot.channels.sms.sender import SmsSender
from bot.db.engine import get_engine, session_scope
from bot.db.migrate import upgrade
from bot.db.models import SmsMessage, SmsSendLease
from bot.settings import sms as sms_settings
from tests.support.databases import BACKENDS, fresh_database
from tests.support.twilio import Failure, FakeTwilio

PHONE = "+15551234567"
OTHER = "+15557654321"
ENV = {
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "secret-token",
    "TWILIO_NUMBER": "+15550001111",
    "TWILIO_WEBHOOK_URL": "https://sms.clinic.example/webhooks/twilio/webhook",
}


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    with fresh_database(request, tmp_path, request.param) as url:
        upgrade(url)
        yield url


@pytest.fixture
def twilio():
    with FakeTwilio(ENV["TWILIO_ACCOUNT_SID"], ENV["TWILIO_AUTH_TOKEN"]) as fake:
        yield fake


@pytest.fixture
async def workers(database_url, twilio, monkeypatch):
    """`workers(lease_seconds=...)`: a new sender, as in another Rasa process."""
    monkeypatch.setattr(sms_sender, "RETRY_BASE_SECONDS", 0.001)
    settings = sms_settings.load({**ENV, "TWILIO_API_BASE_URL": twilio.base_url})
    made = []

    def make(lease_seconds: float = sms_sender.LEASE_SECONDS) -> SmsSender:
        made.append(SmsSender(settings, database_url, lease_seconds=lease_seconds))
        return made[-1]

    yield make
    for sender in made:
        await sender.close()


def rows(database_url, phone=PHONE):
    with session_scope(get_engine(database_url)) as session:
        return session.execute(
            sa.select(
                SmsMessage.status,
                SmsMessage.error_code,
                SmsMessage.reply_id,
                SmsMessage.twilio_sid,
                SmsMessage.body,
            )
            .where(SmsMessage.phone_e164 == phone)
            .order_by(SmsMessage.id)
        ).all()


def call(database_url, function, *args):
    with session_scope(get_engine(database_url)) as session:
        return function(session, *args)


async def until(condition, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.05)


async def test_two_workers_send_each_body_once_in_recorded_order(
    database_url, twilio, workers
):
    first, second = workers(), workers()
    replies = [[f"reply {r} part {p}" for p in range(1, 4)] for r in range(10)]
    for number, bodies in enumerate(replies):  # both at once, for the same number
        (first if number % 2 else second).send(PHONE, bodies)
        (second if number % 2 else first).send(OTHER, [f"other {number}"])
    await asyncio.gather(first.drain(), second.drain())

    received = twilio.to(PHONE)
    assert Counter(received) == Counter(sum(replies, []))  # each exactly once
    # Each reply's parts together and in order, never interleaved with another's.
    chunks = [received[i : i + 3] for i in range(0, len(received), 3)]
    assert all(chunk in replies for chunk in chunks)
    # Replies in the order they were recorded (row ids): the SIDs Twilio gave
    # out, in arrival order, are the rows' SIDs in id order.
    recorded = rows(database_url)
    assert {row.status for row in recorded} == {"sent"}
    sids = dict(zip((m["Body"] for m in twilio.sent), twilio.sids, strict=True))
    assert [row.twilio_sid for row in recorded] == [sids[body] for body in received]
    assert len({row.reply_id for row in recorded}) == len(replies)
    assert sorted(twilio.to(OTHER)) == sorted(f"other {n}" for n in range(10))
    assert call(database_url, lambda s: s.query(SmsSendLease).count()) == 0


async def test_a_number_leased_by_a_live_worker_is_left_to_it(
    database_url, twilio, workers
):
    busy, other = workers(), workers()
    assert call(database_url, store.take_lease, PHONE, busy.holder, 60)
    other.send(PHONE, ["Hello"])
    await other.drain()
    assert twilio.sent == []  # not ours: the lease holder sends it
    assert [row.status for row in rows(database_url)] == ["queued"]
    busy.wake(PHONE)
    await busy.drain()
    assert twilio.to(PHONE) == ["Hello"]
    assert [row.status for row in rows(database_url)] == ["sent"]


async def test_after_a_crash_a_new_worker_delivers_the_queued_rows(
    database_url, twilio, workers, monkeypatch
):
    killed = workers(lease_seconds=0.5)
    monkeypatch.setattr(killed, "wake", lambda phone: None)  # never got to send
    killed.send(PHONE, ["first 1", "first 2"])
    killed.send(PHONE, ["second"])
    await killed.drain()
    # It had taken the lease and begun the first body when it was killed.
    claim = call(database_url, store.claim_next, PHONE, killed.holder, 0.5)
    assert (claim.action, claim.body) == ("send", "first 1")
    del killed

    restarted = workers(lease_seconds=0.5)
    assert await restarted.sweep() == 0  # the lease has not expired yet
    await restarted.resume()  # sweeps now and every lease period
    await until(lambda: len(twilio.to(PHONE)) == 3)
    await restarted.drain()
    assert twilio.to(PHONE) == ["first 1", "first 2", "second"]
    assert [row.status for row in rows(database_url)] == ["sent"] * 3


async def test_a_row_interrupted_twice_is_not_sent_a_third_time(
    database_url, twilio, workers
):
    call(database_url, store.record_reply, PHONE, PHONE, ["a 1", "a 2"])
    call(database_url, store.record_reply, PHONE, PHONE, ["b"])
    # Crash while sending "a 1", then again while sending it once more.
    assert call(database_url, store.claim_next, PHONE, "one", 0).action == "send"
    assert call(database_url, store.claim_next, PHONE, "two", 0).action == "resend"
    assert [row.status for row in rows(database_url)][0] == "resending"
    worker = workers()
    worker.wake(PHONE)
    await worker.drain()
    assert twilio.to(PHONE) == ["b"]  # "a 1" went out at most twice, never more
    assert [(row.status, row.error_code) for row in rows(database_url)] == [
        ("failed", "send_interrupted"),
        ("failed", "earlier_part_failed"),
        ("sent", None),
    ]


async def test_a_failed_part_fails_the_rest_of_its_reply_not_the_next_reply(
    database_url, twilio, workers
):
    first, second = workers(), workers()
    twilio.fail_next(1, Failure(status=400, code=21211))
    await first.send(PHONE, ["one 1", "one 2", "one 3"])
    await second.send(PHONE, ["two 1", "two 2"])
    await asyncio.gather(first.drain(), second.drain())
    assert twilio.to(PHONE) == ["two 1", "two 2"]
    assert [(row.status, row.error_code, row.body) for row in rows(database_url)] == [
        ("failed", "21211", "one 1"),
        ("failed", "earlier_part_failed", "one 2"),
        ("failed", "earlier_part_failed", "one 3"),
        ("sent", None, None),
        ("sent", None, None),
    ]


def test_a_lease_is_one_holders_until_it_expires(database_url):
    assert call(database_url, store.take_lease, PHONE, "one", 60)
    assert not call(database_url, store.take_lease, PHONE, "two", 60)
    assert call(database_url, store.take_lease, PHONE, "one", -1)  # renewed, expired
    assert call(database_url, store.take_lease, PHONE, "two", 60)
    assert not call(database_url, store.take_lease, PHONE, "one", 60)
    call(database_url, store.release_lease, PHONE, "one")  # not its own: kept
    assert not call(database_url, store.take_lease, PHONE, "one", 60)
    assert call(database_url, store.take_lease, OTHER, "one", 60)  # per number
    assert call(database_url, store.claim_next, PHONE, "one", 60).action == "lost"
    call(database_url, store.record_reply, PHONE, PHONE, ["x"])
    assert call(database_url, store.release_lease, PHONE, "two")  # pending: True
    assert call(database_url, store.numbers_to_resume) == [PHONE]
