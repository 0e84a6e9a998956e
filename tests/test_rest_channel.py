"""The REST channel attacked over HTTP: the real Rasa and action servers on loopback.

The session's `product`: a local run (`APP_ENV=local`, the channel open without a
token) with the default `CHAT_RATE_LIMIT` and a migrated SQLite database shared with
the servers, so the tests can see what was stored. Each attack checks the HTTP answer
and that nothing of the refused message reached the conversation store.

With `APP_ENV=production` (token required): tests/test_rest_production.py.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
import requests

from bot.db.engine import get_engine, session_scope
from bot.db.repository import open_handoff
from bot.handoff import HandoffService
from bot.settings.widget import rate_limit

pytestmark = [pytest.mark.model, pytest.mark.server]

# The default `CHAT_RATE_LIMIT` of the shared product: messages per sender and window.
RATE, WINDOW = rate_limit({})


@pytest.fixture(scope="module")
def local(product):
    """The session's product: a local run, staff always in (a handoff pauses)."""
    return product


def webhook(servers) -> str:
    return servers.base_url + "/webhooks/rest/webhook"


def post(servers, sender, message, **extra) -> requests.Response:
    return requests.post(
        webhook(servers),
        json={"sender": sender, "message": message, **extra},
        timeout=60,
    )


def texts(answer: requests.Response) -> str:
    assert answer.status_code == 200, answer.text
    return "\n\n".join(m.get("text", "") for m in answer.json())


def stored_events(servers, sender: str) -> list:
    """The rows of Rasa's `events` table of one conversation."""
    with sqlite3.connect(servers.db_path) as db:
        return db.execute(
            "select type_name, data from events where sender_id = ?", (sender,)
        ).fetchall()


def tracker(servers, sender: str) -> dict:
    answer = requests.get(
        f"{servers.base_url}/conversations/{sender}/tracker",
        params={"token": servers.token},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"null",
        b"[]",
        b'"is it safe?"',
        b"42",
        b"\xff not json",
        b'{"message": "is it safe?"}',  # no sender
        b'{"sender": null, "message": "is it safe?"}',
        b'{"sender": ["p"], "message": "is it safe?"}',
        b'{"sender": "malformed-1"}',  # no message
        b'{"sender": "malformed-1", "message": 42}',
        b'{"sender": "malformed-1", "message": {"text": "hi"}}',
    ],
    ids=[
        "empty",
        "null",
        "list",
        "string",
        "number",
        "not-json",
        "no-sender",
        "null-sender",
        "list-sender",
        "no-message",
        "number-message",
        "object-message",
    ],
)
def test_malformed_bodies_get_400_with_a_clear_json_error(local, raw):
    answer = requests.post(
        webhook(local),
        data=raw,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert any(word in error for word in ("JSON object", "sender", "message"))
    assert stored_events(local, "malformed-1") == []


@pytest.mark.parametrize("size", [4_001, 100_000, 5 * 1024 * 1024])
def test_a_huge_message_is_refused_and_nothing_is_stored(local, size):
    sender = f"huge-{size}"
    answer = post(local, sender, "ketamine " * (size // 9) + "k" * (size % 9))
    assert answer.status_code == 413
    assert "at most" in answer.json()["error"]
    assert stored_events(local, sender) == []
    # The longest message allowed is answered (the NLU reads its first 1,000).
    assert texts(post(local, sender, "a" * 4_000))


def test_a_flood_from_one_sender_gets_429_and_nothing_is_stored(local):
    sender = "flood-1"
    for _ in range(RATE):
        assert texts(post(local, sender, "is ketamine therapy safe?"))
    before = stored_events(local, sender)
    answer = post(local, sender, "flood message that must not be stored")
    assert answer.status_code == 429
    assert "faster than I can answer" in answer.json()["error"]
    assert 0 < int(answer.headers["Retry-After"]) <= WINDOW
    assert stored_events(local, sender) == before
    assert "must not be stored" not in json.dumps(tracker(local, sender))
    # Another sender is not held up by the flood.
    assert texts(post(local, "flood-bystander", "is ketamine therapy safe?"))


@pytest.mark.parametrize(
    "sender",
    [
        "+15550007777",  # an SMS patient's number: the SMS channel's old ids
        "sms-" + "0" * 32,  # the SMS channel's ids
        "0123456789abcdef0123456789abcdef",  # a widget session id
        "x/../+15550007777",  # a path into another conversation
        "x/../victim",
        "whatsapp:+15550007777",
    ],
)
def test_a_rest_client_cannot_take_another_channels_conversation(local, sender):
    answer = post(local, sender, "is ketamine therapy safe?")
    assert answer.status_code == 400
    assert "sender" in answer.json()["error"]
    assert stored_events(local, sender) == []


def test_input_channel_in_the_body_cannot_pose_as_sms(local):
    sender = "poser-1"
    assert texts(post(local, sender, "hello", input_channel="twilio"))
    channels = {
        json.loads(data).get("input_channel")
        for kind, data in stored_events(local, sender)
        if kind == "user"
    }
    assert channels == {"rest"}


def test_a_path_in_a_conversation_id_cannot_redirect_a_staff_reply(local):
    """`x/../victim` passed every check: the patient's handoff row got that id,
    and a staff reply to it landed (with a pause) in `victim`'s conversation."""
    victim, attacker = "victim", "x/../victim"
    assert texts(post(local, victim, "is ketamine therapy safe?"))
    answer = post(local, attacker, "I want to talk to a person")
    assert answer.status_code == 400
    # Even a row with such an id (written before this fix) is never answered.
    engine = get_engine(local.database_url)
    with session_scope(engine) as db:
        handoff_id = open_handoff(
            db,
            conversation_id=attacker,
            channel="rest",
            reason="requested",
            summary="asked for a person",
        ).id
    service = HandoffService(local.base_url, local.token, engine=engine)
    with pytest.raises(ValueError, match="conversation_id"):
        service.reply(handoff_id, "Hi, this is Dana from the clinic.", "Dana")
    with pytest.raises(ValueError, match="conversation_id"):
        service.pause(attacker)
    state = tracker(local, victim)
    assert state["paused"] is False
    assert not any(e["event"] == "pause" for e in state["events"])
    assert "Dana" not in json.dumps(state["events"])


# --- the widget's socket.io channel, on the same servers ---------------------------


def widget_session(servers, payloads, pause: float = 1.5):
    """Opens a widget session with a socket.io client and sends `payloads`.

    Returns (session id, [(event, data), ...] received after the session began).
    Long-polling (the installed aiohttp is too old for the client's websocket).
    """
    import asyncio

    import socketio

    async def run():
        client = socketio.AsyncClient(reconnection=False)
        confirmed = asyncio.get_running_loop().create_future()
        received = []
        client.on("session_confirm", lambda sid: confirmed.set_result(sid))
        client.on("chat_error", lambda data: received.append(("chat_error", data)))
        client.on("bot_uttered", lambda data: received.append(("bot_uttered", data)))
        await client.connect(
            servers.base_url, socketio_path="/socket.io", transports=["polling"]
        )
        await client.emit("session_request", {"session_id": None})
        session_id = await asyncio.wait_for(confirmed, 30)
        for payload in payloads:
            await client.emit("user_uttered", {"session_id": session_id, **payload})
            await asyncio.sleep(pause)
        await client.eio.disconnect(abort=True)  # no wait for the long poll
        return session_id, received

    return asyncio.run(run())


def test_widget_refuses_big_metadata_and_long_text_storing_nothing(local):
    session_id, received = widget_session(
        local,
        [
            {"message": "is it safe?", "metadata": {"blob": "x" * 3000}},
            {"message": "k" * 5000},
        ],
    )
    assert [event for event, _ in received] == ["chat_error", "chat_error"]
    assert "too long" in received[1][1]["text"]
    assert stored_events(local, session_id) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"message": "is it safe?", "metadata": {"blob": "x" * 900_000}},
        {"message": "k" * 100_000},
    ],
    ids=["0.9 MB metadata", "100 KB message"],
)
def test_widget_drops_huge_packets_unread_storing_nothing(local, payload):
    session_id, received = widget_session(local, [payload], pause=3)
    assert received == []  # engine.io refuses a packet over 64 KB before reading it
    assert stored_events(local, session_id) == []
    # The server is still there for everyone else.
    _, received = widget_session(local, [{"message": "is it safe?"}], pause=5)
    assert any(event == "bot_uttered" for event, _ in received)


def test_widget_floods_are_refused_and_nothing_is_stored(local):
    messages = [{"message": "hello"}] * (RATE + 2)
    session_id, received = widget_session(local, messages, pause=0.5)
    errors = [data["text"] for event, data in received if event == "chat_error"]
    assert len(errors) == 2 and "faster than I can answer" in errors[0]
    user_events = [k for k, _ in stored_events(local, session_id) if k == "user"]
    assert len(user_events) == RATE
