"""The widget's socket.io channel and the widget server, without a Rasa server."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.channels.history import history_messages, staff_name
from bot.channels.limits import RateLimiter
from bot.channels.socketio import (
    MAX_MESSAGE_CHARS,
    MAX_METADATA_BYTES,
    ClinicSocketIOInput,
    ClinicSocketIOOutput,
    is_session_id,
)
from bot.settings import SettingsError
from bot.settings.widget import allowed_origins, idle_minutes
from bot.texts import text as catalog_text
from bot.widget import server
from tests.support.widget_channel import Widget

SESSION = "0123456789abcdef0123456789abcdef"
EXPIRED = catalog_text("widget.expired")
HIDDEN_TEXT = catalog_text("widget.hidden")
NO_SESSION = catalog_text("widget.no_session")
TOO_LONG = catalog_text("widget.too_long")
TOO_MUCH_METADATA = catalog_text("widget.unreadable")


def user(text):
    return {"event": "user", "text": text}


def bot(text, buttons=None):
    return {"event": "bot", "text": text, "data": {"buttons": buttons or []}}


GREETING_BUTTONS = [
    {"title": "Is it safe?", "payload": "Is ketamine therapy safe?"},
    {"title": "Yes", "payload": "/affirm"},
]


def test_history_shows_messages_in_order_and_splits_paragraphs():
    events = [
        bot("Notice."),
        user("/greet"),
        bot("Hello!", GREETING_BUTTONS),
        {"event": "action", "name": "action_listen"},
        user("is it safe?"),
        bot("Part one.\n\nPart two."),
    ]
    assert [(m["sender"], m["text"]) for m in history_messages(events)] == [
        ("bot", "Notice."),
        ("bot", "Hello!"),
        ("user", "is it safe?"),
        ("bot", "Part one."),
        ("bot", "Part two."),
    ]


def test_history_shows_a_button_click_by_its_title_and_hides_intent_payloads():
    events = [bot("Shall I?", GREETING_BUTTONS), user("/affirm"), user("/restart")]
    messages = history_messages(events)
    assert [m["text"] for m in messages] == ["Shall I?", "Yes"]


def test_history_keeps_quick_replies_only_on_an_unanswered_last_message():
    waiting = history_messages([bot("Hello!", GREETING_BUTTONS)])
    assert [r["title"] for r in waiting[-1]["quick_replies"]] == ["Is it safe?", "Yes"]
    answered = history_messages(
        [bot("Hello!", GREETING_BUTTONS), user("is it safe?"), bot("Answer.")]
    )
    assert all(m["quick_replies"] == [] for m in answered)
    stale = history_messages([bot("Hello!", GREETING_BUTTONS), user("something")])
    assert all(m["quick_replies"] == [] for m in stale)


def test_history_names_the_staff_member_of_a_staff_reply():
    staff_reply = {
        "event": "bot",
        "text": "Hi, this is Dana.",
        "metadata": {"staff_reply": True, "staff_name": "Dana", "model_id": "x"},
    }
    messages = history_messages([bot("Answer."), staff_reply])
    assert "staff_name" not in messages[0]
    assert messages[1]["staff_name"] == "Dana"


@pytest.mark.parametrize(
    "metadata, expected",
    [
        ({"staff_reply": True, "staff_name": "Dana"}, "Dana"),
        ({"staff_reply": True}, "Clinic staff"),
        ({"staff_reply": "yes", "staff_name": "Forged"}, None),
        ({"staff_name": "Forged"}, None),
        (None, None),
    ],
)
def test_staff_name_only_for_real_staff_replies(metadata, expected):
    assert staff_name(metadata) == expected


def test_output_sends_the_staff_name_with_each_paragraph_of_a_staff_reply():
    sent = []

    class Sio:
        async def emit(self, event, data, room=None):
            sent.append((event, data, room))

    output = ClinicSocketIOOutput(Sio(), "bot_uttered")
    asyncio.run(
        output.send_text_message(
            SESSION, "One.\n\nTwo.", staff_reply=True, staff_name="Dana"
        )
    )
    asyncio.run(output.send_text_message(SESSION, "Bot answer."))
    assert sent == [
        ("bot_uttered", {"text": "One.", "staff_name": "Dana"}, SESSION),
        ("bot_uttered", {"text": "Two.", "staff_name": "Dana"}, SESSION),
        ("bot_uttered", {"text": "Bot answer."}, SESSION),
    ]


def test_history_hides_intake_read_backs_and_the_answers_typed_into_the_form():
    summary = "Name: Ana Lopez\nPhone: +15552345678\nEmail: ana@example.org"
    events = [
        user("sign me up"),
        {"event": "active_loop", "name": "intake_form"},
        bot("What is your full name?"),
        user("Ana Lopez"),
        bot("And your phone number?"),
        user("555 234 5678"),
        {
            "event": "bot",
            "text": f"Here is your request:\n\n{summary}\n\nShall I send it?",
            "data": {"buttons": [{"title": "Yes, send it", "payload": "Yes"}]},
            "metadata": {"utter_action": "utter_ask_intake_confirmed"},
        },
        user("Yes"),
        {"event": "active_loop", "name": None},
        {
            "event": "bot",
            "text": "Thank you, Ana. Your request is with the clinic's team.",
            "metadata": {"utter_action": "utter_intake_submitted"},
        },
        user("is it safe?"),
        bot("Answer."),
    ]
    messages = history_messages(events)
    shown = "\n".join(m["text"] for m in messages)
    for secret in ("Ana", "Lopez", "555", "ana@example.org", "Here is your request"):
        assert secret not in shown
    assert [m["text"] for m in messages] == [
        "sign me up",
        "What is your full name?",
        HIDDEN_TEXT,
        "And your phone number?",
        HIDDEN_TEXT,
        HIDDEN_TEXT,  # the read-back
        "Yes, send it",  # a button's title is no secret
        HIDDEN_TEXT,  # "Thank you, Ana"
        "is it safe?",
        "Answer.",
    ]


def test_history_is_capped():
    events = [user(f"question {i}") for i in range(250)]
    messages = history_messages(events)
    assert len(messages) == 100 and messages[-1]["text"] == "question 249"


@pytest.mark.parametrize(
    "value, ok",
    [
        (SESSION, True),
        ("0123456789ABCDEF0123456789ABCDEF", False),
        (SESSION + "0", False),
        ("../../etc/passwd", False),
        (None, False),
        (12345, False),
        ({"$ne": 1}, False),
    ],
)
def test_session_ids_must_look_like_ours(value, ok):
    assert is_session_id(value) is ok


def test_allowed_origins():
    assert allowed_origins({}) == ["http://localhost:8000", "http://127.0.0.1:8000"]
    assert allowed_origins({"APP_ENV": "production"}) == []
    assert allowed_origins(
        {
            "WIDGET_ALLOWED_ORIGINS": " https://clinic.example/ , https://www.clinic.example"
        }
    ) == ["https://clinic.example", "https://www.clinic.example"]


@pytest.fixture
def channel():
    return ClinicSocketIOInput.from_credentials({"session_persistence": True})


@pytest.mark.parametrize(
    "data, problem",
    [
        (None, "could not read"),
        ("just a string", "could not read"),
        ({"message": 42, "session_id": SESSION}, "could not read"),
        ({"message": b"\x00\xff".decode("latin-1")}, NO_SESSION),
        ({"message": "hi", "session_id": "not-a-session"}, NO_SESSION),
        ({"message": "x" * (MAX_MESSAGE_CHARS + 1), "session_id": SESSION}, TOO_LONG),
        (
            {
                "message": "hi",
                "session_id": SESSION,
                "metadata": {"x": "y" * MAX_METADATA_BYTES},
            },
            TOO_MUCH_METADATA,
        ),
    ],
)
def test_bad_payloads_get_a_plain_answer(channel, data, problem):
    found, *_ = channel._read_message("sid-1", data)
    assert found is not None and problem in found


def test_a_good_payload_is_read_with_the_session_as_sender(channel):
    problem, sender, text, metadata = channel._read_message(
        "sid-1", {"message": "¡Hola! <b>", "session_id": SESSION, "metadata": "junk"}
    )
    assert (problem, sender, text, metadata) == (None, SESSION, "¡Hola! <b>", {})
    small = {"page": "/pricing", "lang": "en"}
    assert channel._read_message(
        "sid-1", {"message": "hi", "session_id": SESSION, "metadata": small}
    ) == (None, SESSION, "hi", small)


def test_idle_minutes_setting():
    assert idle_minutes({}) == 60
    assert idle_minutes({"WIDGET_SESSION_IDLE_MINUTES": "15"}) == 15
    for bad in ("0", "-5", "soon"):
        with pytest.raises(SettingsError, match="WIDGET_SESSION_IDLE_MINUTES"):
            idle_minutes({"WIDGET_SESSION_IDLE_MINUTES": bad})


def test_no_configured_origin_means_same_origin_only_not_any(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("WIDGET_ALLOWED_ORIGINS", raising=False)
    channel = ClinicSocketIOInput.from_credentials({})
    channel.blueprint(on_new_message=None)
    # python-socketio: [] disables the origin check; None allows the same origin.
    assert channel.sio.eio.cors_allowed_origins is None


def test_credentials_can_set_the_origins(monkeypatch):
    monkeypatch.delenv("WIDGET_ALLOWED_ORIGINS", raising=False)
    channel = ClinicSocketIOInput.from_credentials(
        {"cors_allowed_origins": ["https://clinic.example"]}
    )
    assert channel.cors_allowed_origins == ["https://clinic.example"]


@pytest.fixture
def widget(channel):
    widget = Widget(channel)
    yield widget
    widget.close()


def conversation(age_seconds, *texts):
    stamp = time.time() - age_seconds
    events = [{"event": "action", "name": "action_listen", "timestamp": stamp}]
    for text in texts:
        events.append(
            {
                "event": "user",
                "text": text,
                "timestamp": stamp,
                "parse_data": {"intent": {}, "entities": []},
            }
        )
        events.append({"event": "bot", "text": f"re: {text}", "timestamp": stamp})
    return events


def test_session_request_awaits_enter_room_and_confirms(widget):
    """The Rasa 3.6 bug: enter_room is a coroutine that must be awaited."""
    widget.trackers[SESSION] = conversation(60, "is it safe?")
    sid = widget.connect("eio-1")
    confirmed, history = widget.request(sid, SESSION)
    assert confirmed == SESSION
    assert SESSION in widget.rooms(sid)  # the socket joined its room
    assert [m["text"] for m in history] == ["is it safe?", "re: is it safe?"]


@pytest.mark.parametrize(
    "requested", ["x", None, SESSION], ids=["forged", "none", "unknown"]
)
def test_session_request_replaces_a_forged_or_unknown_session_id(widget, requested):
    sid = widget.connect("eio-1")
    confirmed, history = widget.request(sid, requested)
    assert is_session_id(confirmed) and confirmed != requested
    assert history == []
    assert confirmed in widget.rooms(sid)


def test_start_over_leaves_the_old_conversations_room(widget):
    """Two sessions on one socket: the next person gets nothing of the first's."""
    widget.trackers[SESSION] = conversation(60, "my name is Ana")
    sid = widget.connect("eio-1")
    widget.request(sid, SESSION)
    new, history = widget.request(sid, None)  # "Start over"
    assert history == [] and new != SESSION
    assert SESSION not in widget.rooms(sid) and new in widget.rooms(sid)
    # And the socket cannot write to the old conversation any more.
    assert widget.say(sid, SESSION) == [("chat_error", {"text": NO_SESSION})]
    assert widget.received == []


def test_an_idle_session_is_replaced_without_its_history(widget):
    idle = widget.channel.idle_seconds
    widget.trackers[SESSION] = conversation(idle + 60, "my name is Ana")
    sid = widget.connect("eio-1")
    confirmed, history = widget.request(sid, SESSION)
    assert confirmed != SESSION and history == []
    assert SESSION not in widget.rooms(sid)


def test_a_message_to_an_idle_session_is_refused_and_the_widget_starts_over(widget):
    idle = widget.channel.idle_seconds
    widget.trackers[SESSION] = conversation(idle - 30, "hello")
    sid = widget.connect("eio-1")
    assert widget.request(sid, SESSION)[0] == SESSION  # still live
    widget.trackers[SESSION] = conversation(idle + 30, "hello")  # time passes
    assert widget.say(sid, SESSION) == [("session_expired", {"text": EXPIRED})]
    assert widget.received == [] and SESSION not in widget.rooms(sid)


def test_a_reconnected_socket_may_continue_its_live_session(widget):
    """socket.io sends buffered messages before the widget asks for its session."""
    widget.trackers[SESSION] = conversation(60, "hello")
    sid = widget.connect("eio-2")
    assert widget.say(sid, SESSION, "still there?") == []
    assert [m.text for m in widget.received] == ["still there?"]
    assert SESSION in widget.rooms(sid)


def test_a_socket_cannot_write_to_a_session_the_server_never_gave_it(widget):
    sid = widget.connect("eio-1")
    assert widget.say(sid, SESSION) == [("chat_error", {"text": NO_SESSION})]
    assert widget.received == []


def test_big_metadata_is_refused_and_nothing_reaches_rasa(widget):
    sid = widget.connect("eio-1")
    session, _ = widget.request(sid, None)
    big = {"blob": "x" * 900_000}
    assert widget.say(sid, session, metadata=big) == [
        ("chat_error", {"text": TOO_MUCH_METADATA})
    ]
    assert widget.received == []
    assert widget.say(sid, session, metadata={"page": "/"}) == []
    assert widget.received[0].metadata == {"page": "/"}


def test_a_flood_is_refused_with_a_clear_error_and_nothing_reaches_rasa(widget):
    widget.channel.limiter = RateLimiter(3, 60)
    sid = widget.connect("eio-1")
    session, _ = widget.request(sid, None)
    for _ in range(3):
        assert widget.say(sid, session) == []
    ((event, data),) = widget.say(sid, session)
    assert event == "chat_error" and "faster than I can answer" in data["text"]
    assert len(widget.received) == 3
    # A new session on the same socket does not reset the socket's count.
    other, _ = widget.request(sid, None)
    assert widget.say(sid, other)[0][0] == "chat_error"
    assert len(widget.received) == 3


def test_the_transport_refuses_huge_packets(channel):
    channel.blueprint(on_new_message=None)
    assert channel.sio.eio.max_http_buffer_size == 64 * 1024


@pytest.mark.parametrize(
    "header, expected",
    [
        ("localhost:8000", ("localhost", ":8000")),
        ("127.0.0.1:8000", ("127.0.0.1", ":8000")),
        ("clinic.example", ("clinic.example", "")),
        ('evil.example"><script>:80', ("localhost", "")),
        ("", ("localhost", "")),
        (None, ("localhost", "")),
    ],
)
def test_page_host_uses_only_a_plain_host_header(header, expected):
    assert server.page_host(header) == expected


def test_bundle_wraps_the_socket_io_client(tmp_path):
    client = tmp_path / "socket.io.min.js"
    client.write_text("module.exports = function io() {};")
    script = server.bundle(client)
    assert script.startswith("(function () {")
    assert "var io = module.exports;" in script and "msp-chat" in script


def test_bundle_says_how_to_install_a_missing_client(tmp_path):
    with pytest.raises(server.WidgetAssetsMissing, match="make install"):
        server.bundle(tmp_path / "missing.js")
