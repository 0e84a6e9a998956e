"""The waiting notice and the first reply time, on SQLite and PostgreSQL.

The real database (migrated), the real `HandoffService` and its HTTP client, and a
loopback HTTP server standing in for Rasa's HTTP API (`tests/support/rasa_stub.py`)
that records what would reach the patient. The end-to-end check with the real
Rasa server is in `tests/test_handoff_timing.py`.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from bot.clinic_hours import ClinicHours
from bot.db.engine import get_engine, session_scope
from bot.db.migrate import upgrade
from bot.db.models import Handoff
from bot.db.repository import close_handoff
from bot.handoff import HandoffService
from bot.handoff.desk import handoff_lease
from bot.handoff.waiting import notice_events, same_opening, sweep
from bot.texts import text
from tests.support.databases import BACKENDS, fresh_database
from tests.support.handoffs import handoff_opened_at, waiting_notices
from tests.support.rasa_stub import RasaStub

HOURS = ClinicHours.parse("Mon-Fri 09:00-17:00", "UTC")
TARGET = timedelta(minutes=15)
WEDNESDAY_NOON = datetime(2026, 12, 9, 12, 0, tzinfo=timezone.utc)
SMS_ID = "sms-" + "a" * 32
WIDGET_ID = "b" * 32


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    with fresh_database(request, tmp_path, request.param) as url:
        upgrade(url)
        yield get_engine(url)


@pytest.fixture
def rasa():
    stub = RasaStub(delay=0.2)  # a Rasa busy sending: room for a race
    yield stub
    stub.close()


@pytest.fixture
def service(engine, rasa):
    return HandoffService(f"http://127.0.0.1:{rasa.port}", "t" * 24, engine)


def row(engine, handoff_id) -> Handoff:
    with session_scope(engine) as session:
        return session.get(Handoff, handoff_id)


def test_the_notice_offers_the_intake_form_and_gives_the_bot_back():
    notice, resume, listen = notice_events()
    assert notice["text"] == text("handoff.waiting")
    assert "longer than usual" in notice["text"]
    (button,) = notice["data"]["buttons"]
    assert button == {"title": "Leave my details", "payload": "Yes, please contact me"}
    assert (resume["event"], listen) == (
        "resume",
        {"event": "action", "name": "action_listen"},
    )


def test_a_patient_waiting_past_the_target_is_told_once_even_by_racing_sweeps(
    engine, service, rasa
):
    sms = handoff_opened_at(engine, SMS_ID, WEDNESDAY_NOON - timedelta(minutes=20))
    widget = handoff_opened_at(
        engine, WIDGET_ID, WEDNESDAY_NOON - timedelta(minutes=16)
    )
    start = threading.Barrier(3)
    results = []

    def one_sweep():
        start.wait()
        results.append(sweep(service, HOURS, TARGET, now=WEDNESDAY_NOON))

    threads = [threading.Thread(target=one_sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(i for result in results for i in result) == sorted([sms, widget])
    results.clear()
    assert sweep(service, HOURS, TARGET, now=WEDNESDAY_NOON) == []  # a later sweep
    for conversation, channel in ((SMS_ID, "twilio"), (WIDGET_ID, "socketio")):
        (notice,) = waiting_notices(rasa, conversation)
        assert notice["text"] == text("handoff.waiting")
        (request,) = [r for r in rasa.requests if r["conversation"] == conversation]
        assert request["query"]["output_channel"] == [channel]  # its own channel
        assert request["query"]["execute_side_effects"] == ["true"]
        assert request["events"][-2:] == notice_events()[-2:]  # the bot listens
    assert row(engine, sms).waiting_notice_at is not None


@pytest.mark.parametrize(
    "case",
    ["too_soon", "urgent", "replied", "closed", "out_of_hours", "since_yesterday"],
)
def test_no_notice_when_it_is_not_due(engine, service, rasa, case):
    opened, now = WEDNESDAY_NOON - timedelta(minutes=20), WEDNESDAY_NOON
    values = {}
    if case == "too_soon":
        opened = now - timedelta(minutes=14)
    elif case == "urgent":
        values = {"urgent": True}  # told to call 911 or 988, not to wait
    elif case == "replied":
        values = {"first_reply_at": now - timedelta(minutes=10)}
    elif case == "out_of_hours":
        opened, now = now + timedelta(days=3), now + timedelta(days=3, minutes=20)
    elif case == "since_yesterday":  # Tuesday 16:50, now Wednesday 09:30
        opened = WEDNESDAY_NOON - timedelta(hours=19, minutes=10)
        now = WEDNESDAY_NOON - timedelta(hours=2, minutes=30)
    handoff_id = handoff_opened_at(engine, WIDGET_ID, opened, **values)
    if case == "closed":
        with session_scope(engine) as session:
            close_handoff(session, handoff_id)
    assert sweep(service, HOURS, TARGET, now=now) == []
    assert rasa.requests == [] and row(engine, handoff_id).waiting_notice_at is None


def test_the_notice_waits_for_a_staff_reply_under_way(engine, service, rasa):
    handoff_id = handoff_opened_at(
        engine, WIDGET_ID, WEDNESDAY_NOON - timedelta(hours=1)
    )
    with handoff_lease(engine, handoff_id):  # a staff member is replying
        assert sweep(service, HOURS, TARGET, now=WEDNESDAY_NOON) == []
    assert sweep(service, HOURS, TARGET, now=WEDNESDAY_NOON) == [handoff_id]


def test_rasa_down_sends_nothing_twice(engine, rasa):
    down = HandoffService("http://127.0.0.1:9", "t" * 24, engine, timeout=1)
    handoff_id = handoff_opened_at(
        engine, WIDGET_ID, WEDNESDAY_NOON - timedelta(hours=1)
    )
    assert sweep(down, HOURS, TARGET, now=WEDNESDAY_NOON) == []
    assert row(engine, handoff_id).waiting_notice_at is not None  # at most once


def test_a_refused_token_sends_it_later(engine, rasa):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Refuses(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    refusing = ThreadingHTTPServer(("127.0.0.1", 0), Refuses)
    threading.Thread(target=refusing.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{refusing.server_address[1]}"
        handoff_id = handoff_opened_at(
            engine, WIDGET_ID, WEDNESDAY_NOON - timedelta(hours=1)
        )
        wrong = HandoffService(url, "wrong-token-0123456789abcdef", engine)
        assert sweep(wrong, HOURS, TARGET, now=WEDNESDAY_NOON) == []
        assert row(engine, handoff_id).waiting_notice_at is None  # not spent
    finally:
        refusing.shutdown()
        refusing.server_close()
    right = HandoffService(f"http://127.0.0.1:{rasa.port}", "t" * 24, engine)
    assert sweep(right, HOURS, TARGET, now=WEDNESDAY_NOON) == [handoff_id]
    assert len(waiting_notices(rasa, WIDGET_ID)) == 1


def test_same_opening():
    assert same_opening(HOURS, WEDNESDAY_NOON - timedelta(hours=2), WEDNESDAY_NOON)
    assert not same_opening(
        HOURS, WEDNESDAY_NOON - timedelta(days=1), WEDNESDAY_NOON
    )  # the clinic closed in between
    assert not same_opening(
        HOURS, WEDNESDAY_NOON - timedelta(hours=4), WEDNESDAY_NOON
    )  # opened before the clinic did (08:00)


def test_the_first_reply_is_timed_once(engine, service, rasa):
    handoff_id = handoff_opened_at(engine, WIDGET_ID, WEDNESDAY_NOON)
    service.reply(handoff_id, "Hi, this is Dana from the clinic.", "dana@clinic")
    first = row(engine, handoff_id).first_reply_at
    assert first is not None
    service.reply(handoff_id, "Are you still there?", "dana@clinic")
    assert row(engine, handoff_id).first_reply_at == first
    assert row(engine, handoff_id).claimed_at is not None


def test_a_failed_reply_is_not_a_first_reply(engine):
    down = HandoffService("http://127.0.0.1:9", "t" * 24, engine, timeout=1)
    handoff_id = handoff_opened_at(engine, WIDGET_ID, WEDNESDAY_NOON)
    with pytest.raises(Exception, match="cannot connect"):
        down.reply(handoff_id, "Hello", "dana@clinic")
    assert row(engine, handoff_id).first_reply_at is None
