"""The staff console's handoff service (`bot.handoff`).

End to end (markers `model`, `server`): the real Rasa and action servers, a migrated
SQLite database shared with them, a patient on the REST channel (and one on the
callback channel, whose output channel lets us see what reaches the patient).

Fast (no model): the exact HTTP request the service sends and how it maps Rasa's
answers to errors, against a stub HTTP server on loopback.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml

from bot.db.engine import get_engine, session_scope
from bot.db.migrate import upgrade
from bot.db.models import Handoff
from bot.db.repository import HandoffStateError, latest_active_handoff, open_handoff
from bot.handoff import (
    MAX_REPLY_LENGTH,
    HandoffService,
    RasaError,
    RasaUnavailable,
    conversation_path,
)
from tests.support.net import free_port
from tests.support.paths import ROOT

TOKEN = "handoff-token-0123456789abcdefghij"
ANSWERS = yaml.safe_load((ROOT / "data" / "responses" / "faq.yml").read_text())[
    "responses"
]


# --- helpers -----------------------------------------------------------------------


class Stub:
    """A loopback HTTP server that records each request and answers `status`."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.requests: List[Dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                stub.requests.append(
                    {
                        "path": parts.path,
                        "query": parse_qs(parts.query),
                        "json": json.loads(body or b"null"),
                    }
                )
                time.sleep(stub.delay)
                payload = b"{}"
                try:
                    self.send_response(stub.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (time-out test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def migrated_engine(path: Path):
    url = f"sqlite:///{path}"
    upgrade(url)
    return get_engine(url)


def new_handoff(engine, conversation_id: str, channel: str = "rest") -> int:
    with session_scope(engine) as session:
        handoff = open_handoff(
            session,
            conversation_id=conversation_id,
            channel=channel,
            reason="requested",
            summary="asked to talk to a person",
        )
    return handoff.id


def row(engine, handoff_id: int) -> Handoff:
    with session_scope(engine) as session:
        return session.get(Handoff, handoff_id)


# --- end to end --------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(callback_product):
    """Rasa + action server (REST and callback channels), shared with the console's
    end-to-end test (`callback_product` in tests/conftest.py)."""
    engine = get_engine(callback_product.url)
    servers = callback_product.servers
    yield SimpleNamespace(
        servers=servers,
        engine=engine,
        outbox=callback_product.outbox,
        service=HandoffService(servers.base_url, servers.token, engine),
    )


def say(stack, sender: str, text: str) -> List[str]:
    """The patient writes on the REST channel; the bot's replies (texts)."""
    response = requests.post(
        stack.servers.base_url + "/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return [message.get("text", "") for message in response.json()]


def tracker(stack, conversation_id: str) -> Dict[str, Any]:
    response = requests.get(
        f"{stack.servers.base_url}{conversation_path(conversation_id)}/tracker",
        params={"token": stack.servers.token},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def events_of(stack, conversation_id: str, kind: str) -> List[Dict[str, Any]]:
    return [e for e in tracker(stack, conversation_id)["events"] if e["event"] == kind]


@pytest.mark.model
@pytest.mark.server
def test_paused_reply_resume_journey_over_rest(stack):
    patient = "handoff-journey"
    assert say(stack, patient, "is ketamine therapy safe?")
    handoff_id = new_handoff(stack.engine, patient)

    stack.service.pause(patient)
    assert tracker(stack, patient)["paused"] is True
    assert say(stack, patient, "hello? is anyone there?") == []

    staff_text = "Hi, this is Dana from the clinic. How can I help?"
    claimed = stack.service.reply(handoff_id, f"  {staff_text}\n", "Dana")
    assert (claimed.status, claimed.claimed_by) == ("claimed", "Dana")
    state = tracker(stack, patient)
    assert state["paused"] is True
    last_bot = [e for e in state["events"] if e["event"] == "bot"][-1]
    assert last_bot["text"] == staff_text
    # Rasa adds its own keys (model_id, assistant_id) to the event's metadata.
    assert last_bot["metadata"]["staff_reply"] is True
    assert last_bot["metadata"]["staff_name"] == "Dana"
    stored = row(stack.engine, handoff_id)
    assert (stored.status, stored.claimed_by) == ("claimed", "Dana")
    assert stored.claimed_at is not None
    assert say(stack, patient, "thanks, one more question") == []

    closed = stack.service.resume(handoff_id)
    assert closed.status == "closed"
    stored = row(stack.engine, handoff_id)
    assert stored.status == "closed" and stored.closed_at is not None
    state = tracker(stack, patient)
    assert state["paused"] is False
    assert [e["event"] for e in state["events"][-2:]] == ["resume", "action"]

    texts = say(stack, patient, "how long does the relief last")
    assert "\n\n".join(texts) == ANSWERS["utter_faq/relief_duration"][0]["text"]


@pytest.mark.model
@pytest.mark.server
def test_bot_answers_again_after_a_handoff_the_bot_itself_paused(stack):
    """Regression: action_handoff pauses the conversation without a following
    action_listen; after resume the next question fell back to "Sorry, I didn't
    quite get that" and a second handoff."""
    patient = "handoff-by-action"
    assert say(stack, patient, "hello")
    assert any(
        "staff" in text for text in say(stack, patient, "can I talk to a person?")
    )
    assert tracker(stack, patient)["paused"] is True
    with session_scope(stack.engine) as session:
        handoff_id = latest_active_handoff(session, patient).id
    stack.service.reply(handoff_id, "Hi, this is Dana from the clinic.", "Dana")
    stack.service.resume(handoff_id)

    texts = say(stack, patient, "how long does the relief last?")
    assert "\n\n".join(texts) == ANSWERS["utter_faq/relief_duration"][0]["text"]
    assert len(events_of(stack, patient, "pause")) == 2  # the action's and reply's
    assert tracker(stack, patient)["paused"] is False


@pytest.mark.model
@pytest.mark.server
def test_reply_reaches_the_patient_on_the_channel_of_their_handoff(stack):
    patient = "callback-patient-1"
    response = requests.post(
        stack.servers.base_url + "/webhooks/callback/webhook",
        json={"sender": patient, "message": "what is ketamine"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert stack.outbox.for_recipient(patient), "the answer went to the callback URL"
    handoff_id = new_handoff(stack.engine, patient, channel="callback")
    stack.outbox.clear()

    stack.service.reply(handoff_id, "Hello from the clinic, this is Sam.", "Sam")

    assert stack.outbox.for_recipient(patient) == [
        {"recipient_id": patient, "text": "Hello from the clinic, this is Sam."}
    ]
    assert tracker(stack, patient)["paused"] is True  # the reply paused the bot
    stack.outbox.clear()
    requests.post(
        stack.servers.base_url + "/webhooks/callback/webhook",
        json={"sender": patient, "message": "ok thanks"},
        timeout=60,
    )
    assert stack.outbox.for_recipient(patient) == []  # silent while staff hold it
    stack.service.resume(handoff_id)


@pytest.mark.model
@pytest.mark.server
@pytest.mark.parametrize(
    "text",
    ["", "   \n\t ", "x" * (MAX_REPLY_LENGTH + 1), "nul\x00byte", None],
    ids=["empty", "blank", "too-long", "nul", "none"],
)
def test_bad_text_is_refused_with_nothing_sent_or_claimed(stack, text):
    patient = "handoff-bad-text"
    say(stack, patient, "what is ketamine")
    handoff_id = new_handoff(stack.engine, patient)
    before = tracker(stack, patient)["events"]

    with pytest.raises(ValueError):
        stack.service.reply(handoff_id, text, "Dana")

    assert tracker(stack, patient)["events"] == before
    assert row(stack.engine, handoff_id).status == "open"


@pytest.mark.model
@pytest.mark.server
def test_unknown_closed_and_taken_handoffs_are_refused(stack):
    patient = "handoff-states"
    say(stack, patient, "what is ketamine")
    with pytest.raises(LookupError):
        stack.service.reply(987654, "Hello", "Dana")
    with pytest.raises(LookupError):
        stack.service.resume(987654)

    handoff_id = new_handoff(stack.engine, patient)
    stack.service.reply(handoff_id, "Hello, Dana here.", "Dana")
    bots = len(events_of(stack, patient, "bot"))
    with pytest.raises(HandoffStateError):
        stack.service.reply(handoff_id, "Hello, Sam here.", "Sam")  # Dana holds it
    assert len(events_of(stack, patient, "bot")) == bots

    stack.service.resume(handoff_id)
    resumes = len(events_of(stack, patient, "resume"))
    with pytest.raises(HandoffStateError):
        stack.service.reply(handoff_id, "Hello again", "Dana")
    with pytest.raises(HandoffStateError):
        stack.service.resume(handoff_id)
    assert len(events_of(stack, patient, "bot")) == bots
    assert len(events_of(stack, patient, "resume")) == resumes


@pytest.mark.model
@pytest.mark.server
def test_wrong_token_is_a_permission_error_not_an_outage(stack):
    patient = "handoff-wrong-token"
    say(stack, patient, "what is ketamine")
    handoff_id = new_handoff(stack.engine, patient)
    service = HandoffService(stack.servers.base_url, "wrong-token", stack.engine)

    for call in (
        lambda: service.pause(patient),
        lambda: service.reply(handoff_id, "Hello", "Dana"),
        lambda: service.resume(handoff_id),
    ):
        with pytest.raises(PermissionError, match="HTTP 401") as error:
            call()
        assert not isinstance(error.value, RasaUnavailable)
        assert "wrong-token" not in str(error.value)
        assert patient not in str(error.value)

    state = tracker(stack, patient)
    assert state["paused"] is False
    assert not any(
        e["event"] == "bot" and e.get("metadata", {}).get("staff_reply")
        for e in state["events"]
    )
    assert row(stack.engine, handoff_id).status == "claimed"  # claim comes first


@pytest.mark.model
@pytest.mark.server
def test_rasa_down_is_rasa_unavailable(stack):
    patient = "handoff-rasa-down"
    handoff_id = new_handoff(stack.engine, patient)
    service = HandoffService(f"http://127.0.0.1:{free_port()}", TOKEN, stack.engine)
    staff_text = "A message that must not leak into errors"

    for call in (
        lambda: service.pause(patient),
        lambda: service.reply(handoff_id, staff_text, "Dana"),
        lambda: service.resume(handoff_id),
    ):
        with pytest.raises(RasaUnavailable) as error:
            call()
        message = str(error.value)
        assert TOKEN not in message and patient not in message
        assert staff_text not in message
        assert error.value.__cause__ is None and error.value.__context__ is None
    assert row(stack.engine, handoff_id).status == "claimed"  # not closed


# --- fast: the request and the error mapping, against a stub -----------------------


@pytest.fixture
def engine(tmp_path):
    engine = migrated_engine(tmp_path / "clinic.db")
    yield engine
    engine.dispose()


@pytest.fixture
def stub():
    server = Stub()
    yield server
    server.close()


def test_reply_sends_pause_and_the_staff_message_for_delivery(engine, stub):
    handoff_id = new_handoff(engine, "+15550001111", channel="twilio")
    service = HandoffService(stub.url + "/", "s3cret&token", engine)

    handoff = service.reply(handoff_id, "x" * MAX_REPLY_LENGTH, "Dana")

    assert handoff.status == "claimed" and handoff.claimed_by == "Dana"
    (sent,) = stub.requests
    # Raw, not %-escaped: Rasa (Sanic 21.12) does not decode the id in the path.
    assert sent["path"] == "/conversations/+15550001111/tracker/events"
    assert sent["query"] == {
        "token": ["s3cret&token"],
        "output_channel": ["twilio"],
        "execute_side_effects": ["true"],
        "include_events": ["NONE"],
    }
    assert sent["json"] == [
        {"event": "pause"},
        {
            "event": "bot",
            "text": "x" * MAX_REPLY_LENGTH,
            "metadata": {"staff_reply": True, "staff_name": "Dana"},
        },
    ]


def test_resume_and_pause_send_their_events_without_delivery(engine, stub):
    handoff_id = new_handoff(engine, "patient-1")
    service = HandoffService(stub.url, "tok", engine)

    service.pause("patient-1")
    service.resume(handoff_id)

    assert [r["json"] for r in stub.requests] == [
        [{"event": "pause"}],
        [{"event": "resume"}, {"event": "action", "name": "action_listen"}],
    ]
    for sent in stub.requests:
        assert sent["query"] == {"token": ["tok"], "include_events": ["NONE"]}
    assert row(engine, handoff_id).status == "closed"


@pytest.mark.parametrize(
    "status, error",
    [
        (401, PermissionError),
        (403, PermissionError),
        (500, RasaUnavailable),
        (503, RasaUnavailable),
        (400, RasaError),
        (404, RasaError),
    ],
)
def test_rasa_answers_map_to_clear_errors(engine, stub, status, error):
    handoff_id = new_handoff(engine, "patient-2")
    stub.status = status
    service = HandoffService(stub.url, "tok", engine)

    with pytest.raises(error, match=f"HTTP {status}") as raised:
        service.resume(handoff_id)

    if error is RasaError:
        assert not isinstance(raised.value, RasaUnavailable)
    assert row(engine, handoff_id).status == "open"  # resume failed: not closed


def test_a_slow_rasa_times_out_as_unavailable(engine, stub):
    stub.delay = 2.0
    service = HandoffService(stub.url, "tok", engine, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(RasaUnavailable, match="may have been applied"):
        service.pause("patient-3")
    assert time.monotonic() - started < 2.0


def test_bad_staff_name_is_refused_before_anything_happens(engine, stub):
    handoff_id = new_handoff(engine, "patient-4")
    service = HandoffService(stub.url, "tok", engine)
    for name in ("", "   ", "n" * 201):
        with pytest.raises(ValueError, match="claimed_by"):
            service.reply(handoff_id, "Hello", name)
    assert stub.requests == []
    assert row(engine, handoff_id).status == "open"


@pytest.mark.parametrize(
    "channel, conversation_id, expected",
    [
        # An SMS or widget id is answered on its own channel, whatever wrote last.
        ("rest", "sms-" + "a" * 32, "twilio"),
        ("rest", "0123456789abcdef0123456789abcdef", "socketio"),
        ("callback", "patient-cb", "callback"),
    ],
)
def test_reply_goes_out_on_the_handoffs_own_channel(
    engine, stub, channel, conversation_id, expected
):
    handoff_id = new_handoff(engine, conversation_id, channel=channel)
    HandoffService(stub.url, "tok", engine).reply(handoff_id, "Hello", "Dana")
    (sent,) = stub.requests
    assert sent["query"]["output_channel"] == [expected]


@pytest.mark.parametrize(
    "conversation_id",
    ["x/../+15551234567", "a/b", "a b", "q?x", "h#x", "p%41", "é", ""],
)
def test_ids_rasa_cannot_address_are_refused_with_nothing_sent(
    engine, stub, conversation_id
):
    service = HandoffService(stub.url, "tok", engine)
    with pytest.raises(ValueError, match="conversation_id") as error:
        service.pause(conversation_id)
    if conversation_id:
        assert conversation_id not in str(error.value)
        handoff_id = new_handoff(engine, conversation_id)
        with pytest.raises(ValueError, match="conversation_id"):
            service.reply(handoff_id, "Hello", "Dana")
        with pytest.raises(ValueError, match="conversation_id"):
            service.resume(handoff_id)
        assert row(engine, handoff_id).status == "open"  # neither claimed nor closed
    assert stub.requests == []


def test_defaults_come_from_settings(monkeypatch, tmp_path):
    from bot.settings import get_settings

    monkeypatch.setenv("RASA_PORT", "5123")
    monkeypatch.setenv("RASA_API_TOKEN", "from-settings-token-0123456789")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    get_settings.cache_clear()
    try:
        service = HandoffService()
        assert service.rasa_url == "http://127.0.0.1:5123"
        assert service._api_token == "from-settings-token-0123456789"
        assert str(service.engine.url) == f"sqlite:///{tmp_path / 'x.db'}"
        assert "from-settings-token" not in repr(service)
    finally:
        get_settings.cache_clear()
