"""Staff are told, and timed: the real product, a patient on the REST channel.

The session's product (Rasa, action server, console; the trained model) posts to
`staff_hook`, a loopback HTTP server standing in for `STAFF_NOTIFY_URL`. What
reaches it must hold ids and categories only. The waiting notice goes through
Rasa's own HTTP API; the patient then answers its button.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from bot.clinic_hours import ClinicHours
from bot.db.engine import get_engine, session_scope
from bot.db.models import Handoff, utcnow
from bot.handoff import HandoffService
from bot.handoff.waiting import sweep
from bot.texts import text
from tests.support.clinic_time import ALWAYS_OPEN, daytime_zone

pytestmark = [pytest.mark.model, pytest.mark.server]

HANDOFF_KEYS = {"event", "handoff_id", "channel", "reason", "urgent", "sent_at"}
ABOUT_ME = "I'm Ana Lopez, call me on 617 555 0178, my feet burn every night"
# Not the number's short pieces: "617" or "0178" can be digits of `sent_at`.
PATIENT_DATA = (
    "Ana",
    "Lopez",
    "617 555 0178",
    "6175550178",
    "555 0178",
    "5550178",
    "feet",
    "burn",
    "person",
)


def say(product, sender: str, message: str) -> str:
    body = json.dumps({"sender": sender, "message": message}).encode()
    request = urllib.request.Request(
        product.base_url + "/webhooks/rest/webhook",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return "\n\n".join(r.get("text", "") for r in json.loads(response.read()))


def handoff_of(product, sender: str) -> Handoff:
    with session_scope(get_engine(product.database_url)) as session:
        return (
            session.execute(
                sa.select(Handoff)
                .where(Handoff.conversation_id == sender)
                .order_by(Handoff.id.desc())
            )
            .scalars()
            .first()
        )


def settled(product, sender: str, timeout: float = 20.0) -> Handoff:
    """The handoff once the hook's outcome is recorded on it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = handoff_of(product, sender)
        if row is not None and (row.notified_at or row.notify_error):
            return row
        time.sleep(0.2)
    raise AssertionError("the hook's outcome was never recorded")


def new_sender(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:12]}"


def assert_ids_only(staff_hook, handoff_id: int, sender: str) -> None:
    for payload in staff_hook.for_handoff(handoff_id):
        assert set(payload) == HANDOFF_KEYS
    for raw in staff_hook.raw_for(handoff_id):
        for patient_data in (*PATIENT_DATA, sender):
            assert patient_data not in raw


def test_talk_to_a_person_posts_handoff_created_with_ids_only(product, staff_hook):
    sender = new_sender("notify")
    say(product, sender, ABOUT_ME)
    assert "staff" in say(product, sender, "I want to talk to a person")
    row = settled(product, sender)
    (payload,) = staff_hook.wait_for(row.id)
    assert payload["event"] == "handoff.created"
    assert (payload["channel"], payload["urgent"]) == ("rest", False)
    # The reason follows the bot's reply to ABOUT_ME (declined as one person's case,
    # or not understood), which is the model's call; never a crisis.
    assert payload["reason"] in ("requested", "medical_advice", "fallback")
    assert payload["reason"] == row.reason
    assert_ids_only(staff_hook, row.id, sender)
    assert row.notified_at is not None and row.notify_error is None


def test_a_crisis_while_waiting_is_posted_as_urgent(product, staff_hook):
    sender = new_sender("notify-crisis")
    say(product, sender, ABOUT_ME)
    say(product, sender, "I want to talk to a person")
    handoff_id = settled(product, sender).id
    assert "988" in say(product, sender, "i don't want to be alive anymore")
    # Two background posts: either may arrive first.
    posts = {p["event"]: p for p in staff_hook.wait_for(handoff_id, count=2)}
    created, urgent = posts["handoff.created"], posts["handoff.urgent"]
    assert created["urgent"] is False
    assert (urgent["event"], urgent["reason"], urgent["urgent"]) == (
        "handoff.urgent",
        "crisis",
        True,
    )
    assert_ids_only(staff_hook, handoff_id, sender)


def test_a_crisis_opens_an_urgent_handoff_and_posts_it(product, staff_hook):
    sender = new_sender("notify-crisis-first")
    say(product, sender, "is ketamine safe for me?")
    assert "988" in say(product, sender, "I want to kill myself")
    row = settled(product, sender)
    (payload,) = staff_hook.wait_for(row.id)
    assert (payload["event"], payload["reason"], payload["urgent"]) == (
        "handoff.created",
        "crisis",
        True,
    )
    assert_ids_only(staff_hook, row.id, sender)


def test_a_hook_that_is_down_does_not_hold_up_the_patient(product, staff_hook):
    sender = new_sender("notify-down")
    say(product, sender, ABOUT_ME)
    staff_hook.status, staff_hook.delay = 503, 2.0  # slow, then refuses
    try:
        started = time.monotonic()
        reply = say(product, sender, "I want to talk to a person")
        answered_after = time.monotonic() - started
        row = settled(product, sender, timeout=30)
    finally:
        staff_hook.status, staff_hook.delay = 200, 0.0
    assert "staff" in reply and answered_after < 4  # 3 attempts take 6 s or more
    assert row.notified_at is None and "503" in row.notify_error
    assert len(staff_hook.for_handoff(row.id)) == 3


def tracker(product, sender: str) -> dict:
    response = requests.get(
        f"{product.base_url}/conversations/{sender}/tracker",
        params={"token": product.token},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()


def test_a_patient_waiting_past_the_target_is_told_once_and_can_leave_details(
    product,
):
    sender = new_sender("waiting")
    say(product, sender, "what is ketamine")
    assert "staff" in say(product, sender, "I want to talk to a person")
    assert say(product, sender, "hello? anyone there?") == ""  # held by staff
    engine = get_engine(product.database_url)
    handoff_id = handoff_of(product, sender).id
    with session_scope(engine) as session:  # as if opened 3 h 5 min ago
        session.get(Handoff, handoff_id).created_at = utcnow() - timedelta(
            hours=3, minutes=5
        )
    service = HandoffService(product.base_url, product.token, engine)
    hours = ClinicHours.parse(ALWAYS_OPEN, daytime_zone())
    target = timedelta(hours=3)  # none of the session's other handoffs is that old
    assert handoff_id in sweep(service, hours, target)
    assert handoff_id not in sweep(service, hours, target)  # once
    events = tracker(product, sender)["events"]
    notices = [e for e in events if (e.get("metadata") or {}).get("waiting_notice")]
    assert [n["text"] for n in notices] == [text("handoff.waiting")]
    assert not tracker(product, sender)["paused"]
    # The button's payload starts the intake form; the handoff stays on the queue.
    assert "full name" in say(product, sender, text("handoff.leave_details_payload"))
    row = handoff_of(product, sender)
    assert row.status == "open" and row.waiting_notice_at is not None
    # A staff reply later still reaches the conversation, and is timed.
    service.reply(handoff_id, "Hi, this is Dana from the clinic.", "dana@clinic")
    assert handoff_of(product, sender).first_reply_at is not None
    assert tracker(product, sender)["paused"]


async def bot_says(widget, after: int, words: str) -> dict:
    """The first message from the bot at or after `after` that contains `words`."""
    while True:
        _, message = await widget.next_event("bot_uttered", after=after)
        after = widget.events.index(("bot_uttered", message), after) + 1
        if words in (message.get("text") or ""):
            return message


async def test_a_widget_patient_sees_the_notice_live_and_its_button_works(product):
    import asyncio

    from tests.support.socketio_ws import WidgetSocket

    engine = get_engine(product.database_url)
    service = HandoffService(product.base_url, product.token, engine)
    hours = ClinicHours.parse(ALWAYS_OPEN, daytime_zone())
    async with WidgetSocket(product.base_url) as widget:
        session_id = await widget.start()
        await widget.say("I want to talk to a person")
        await bot_says(widget, 0, "staff")  # after the assistant's notice
        handoff_id = handoff_of(product, session_id).id
        with session_scope(engine) as session:
            session.get(Handoff, handoff_id).created_at = utcnow() - timedelta(
                hours=3, minutes=5
            )
        seen = len(widget.events)
        sent = await asyncio.to_thread(sweep, service, hours, timedelta(hours=3))
        assert handoff_id in sent
        _, notice = await widget.next_event("bot_uttered", after=seen)
        assert notice["text"] == text("handoff.waiting")
        (button,) = notice["quick_replies"]
        assert button["title"] == text("handoff.leave_details")
        seen = len(widget.events)
        await widget.say(button["payload"])  # the patient presses it
        await bot_says(widget, seen, "full name")  # the intake form's first question
