"""Staff are told of a handoff: the actions, a real SQLite database, a real hook.

The hook is a loopback HTTP server (`tests/support/hook.py`); what it receives
must hold ids and categories only.
"""

from __future__ import annotations

import time

import pytest
from rasa_sdk.events import ConversationPaused
from sqlalchemy import select

from actions import notify
from actions.handoff import ActionHandoff
from actions.safety import ActionCrisisResponse
from bot.db.engine import get_engine, session_scope
from bot.db.models import Handoff
from bot.settings import get_settings
from tests.support.hook import StaffHook

SENDER = "+15552345678"  # an older SMS conversation id is the patient's number
SAID = "my name is Ana Lopez and my feet burn at night"
HANDOFF_KEYS = {"event", "handoff_id", "channel", "reason", "urgent", "sent_at"}


def user(text):
    return {"event": "user", "text": text, "input_channel": "twilio"}


def the_handoff() -> Handoff:
    with session_scope(get_engine()) as session:
        (row,) = session.execute(select(Handoff)).scalars().all()
        return row


@pytest.fixture
def hook(clinic_db, monkeypatch):
    staff_hook = StaffHook()
    monkeypatch.setenv("STAFF_NOTIFY_URL", staff_hook.url)
    monkeypatch.setenv("CLINIC_HOURS", "Mon-Sun 00:00-23:59")
    monkeypatch.setattr("actions.notify.BACKOFF_SECONDS", 0.01)
    get_settings.cache_clear()
    yield staff_hook
    staff_hook.close()


async def ask_for_a_person(dispatcher, tracker_factory, domain, events=None):
    tracker = tracker_factory(
        sender_id=SENDER,
        intent="request_human",
        events=events or [user(SAID), user("I want to talk to a person")],
    )
    return await ActionHandoff().run(dispatcher, tracker, domain)


async def crisis(dispatcher, tracker_factory, domain):
    tracker = tracker_factory(
        sender_id=SENDER, intent="crisis", events=[user(SAID), user("i want to die")]
    )
    return await ActionCrisisResponse().run(dispatcher, tracker, domain)


async def test_a_new_handoff_is_posted_with_ids_only(
    hook, dispatcher, tracker_factory, domain
):
    result = await ask_for_a_person(dispatcher, tracker_factory, domain)
    await notify.settle()
    row = the_handoff()
    (payload,) = hook.for_handoff(row.id)
    assert set(payload) == HANDOFF_KEYS
    assert payload["event"] == "handoff.created"
    assert (payload["channel"], payload["reason"], payload["urgent"]) == (
        "twilio",
        "requested",
        False,
    )
    (raw,) = hook.raw_for(row.id)
    for patient_data in ("Ana", "Lopez", "feet", "5552345678", "talk to a person"):
        assert patient_data not in raw
    assert row.notified_at is not None and row.notify_error is None
    assert result == [ConversationPaused()]


async def test_asking_again_posts_nothing_more(
    hook, dispatcher, tracker_factory, domain
):
    await ask_for_a_person(dispatcher, tracker_factory, domain)
    await ask_for_a_person(dispatcher, tracker_factory, domain)
    await notify.settle()
    assert len(hook.for_handoff(the_handoff().id)) == 1


async def test_a_crisis_opens_an_urgent_handoff_and_says_so(
    hook, dispatcher, tracker_factory, domain
):
    await crisis(dispatcher, tracker_factory, domain)
    await notify.settle()
    (payload,) = hook.for_handoff(the_handoff().id)
    assert set(payload) == HANDOFF_KEYS
    assert (payload["event"], payload["reason"], payload["urgent"]) == (
        "handoff.created",
        "crisis",
        True,
    )


async def test_a_crisis_while_waiting_makes_the_handoff_urgent_and_says_so(
    hook, dispatcher, tracker_factory, domain
):
    await ask_for_a_person(dispatcher, tracker_factory, domain)
    await crisis(dispatcher, tracker_factory, domain)
    await crisis(dispatcher, tracker_factory, domain)  # already urgent: no news
    await notify.settle()
    # Each post is its own background task: they may arrive in either order,
    # and each payload stands on its own (id, reason, urgent).
    by_event = {p["event"]: p for p in hook.for_handoff(the_handoff().id)}
    assert sorted(by_event) == ["handoff.created", "handoff.urgent"]
    created, urgent = by_event["handoff.created"], by_event["handoff.urgent"]
    assert created["urgent"] is False
    assert len(hook.for_handoff(the_handoff().id)) == 2
    assert set(urgent) == HANDOFF_KEYS
    assert (urgent["event"], urgent["reason"], urgent["urgent"]) == (
        "handoff.urgent",
        "crisis",
        True,
    )
    assert the_handoff().urgent is True


async def test_a_hook_that_is_down_neither_delays_the_patient_nor_is_forgotten(
    hook, dispatcher, tracker_factory, domain
):
    hook.status = 503
    hook.delay = 1.0  # each of the 3 attempts takes a second
    started = time.monotonic()
    result = await ask_for_a_person(dispatcher, tracker_factory, domain)
    answered_after = time.monotonic() - started
    assert result == [ConversationPaused()]
    assert dispatcher.messages[0]["response"] == "utter_handoff_in_hours"
    assert answered_after < 0.9  # the patient did not wait for the hook
    assert the_handoff().notify_error is None  # still trying
    await notify.settle()
    row = the_handoff()
    assert len(hook.for_handoff(row.id)) == notify.ATTEMPTS
    assert row.notified_at is None and "503" in row.notify_error


async def test_no_hook_configured_posts_nothing(
    clinic_db, monkeypatch, dispatcher, tracker_factory, domain
):
    monkeypatch.delenv("STAFF_NOTIFY_URL", raising=False)
    get_settings.cache_clear()
    task = notify.handoff_changed("handoff.created", 1, "rest", "requested", False)
    assert task is None
    await ask_for_a_person(dispatcher, tracker_factory, domain)
    row = the_handoff()
    assert row.notified_at is None and row.notify_error is None


def test_only_ids_and_categories_can_be_sent():
    with pytest.raises(ValueError, match="only ids"):
        notify._payload("handoff.created", handoff_id=1, summary="my feet burn")


async def test_an_unreachable_hook_is_recorded_without_its_url(
    clinic_db, monkeypatch, dispatcher, tracker_factory, domain
):
    from tests.support.net import free_port

    secret_url = f"http://127.0.0.1:{free_port()}/hooks/T0KEN-s3cret"  # nobody there
    monkeypatch.setenv("STAFF_NOTIFY_URL", secret_url)
    monkeypatch.setattr("actions.notify.BACKOFF_SECONDS", 0.01)
    get_settings.cache_clear()
    await ask_for_a_person(dispatcher, tracker_factory, domain)
    await notify.settle()
    row = the_handoff()
    assert row.notify_error == "ConnectionError" and row.notified_at is None
