"""The widget's socket.io channel and the widget server, without a Rasa server."""

from __future__ import annotations

import asyncio

import pytest

from bot.channels.socketio import (
    MAX_MESSAGE_CHARS,
    NO_SESSION,
    TOO_LONG,
    ClinicSocketIOInput,
    ClinicSocketIOOutput,
    allowed_origins,
    history_messages,
    is_session_id,
    staff_name,
)
from bot.widget import server

SESSION = "0123456789abcdef0123456789abcdef"


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


def test_session_request_awaits_enter_room_and_confirms(channel):
    """The Rasa 3.6 bug: enter_room is a coroutine that must be awaited."""
    blueprint = channel.blueprint(on_new_message=None)
    sio = channel.sio
    handlers = sio.handlers["/"]
    emitted = []

    async def emit(event, data=None, room=None, namespace=None):
        emitted.append((event, data, room))

    sio.emit = emit

    async def connect_and_request():
        sid = await sio.manager.connect("eio-1", "/")
        await handlers["session_request"](sid, {"session_id": SESSION})
        return sid

    sid = asyncio.run(connect_and_request())
    assert SESSION in sio.manager.get_rooms(sid, "/")  # the socket joined its room
    assert emitted[0] == ("session_confirm", SESSION, sid)
    assert emitted[1][0] == "history" and emitted[1][1]["messages"] == []
    del blueprint


def test_session_request_replaces_a_forged_session_id(channel):
    channel.blueprint(on_new_message=None)
    emitted = []

    async def emit(event, data=None, room=None, namespace=None):
        emitted.append((event, data))

    channel.sio.emit = emit

    async def connect_and_request():
        sid = await channel.sio.manager.connect("eio-1", "/")
        await channel.sio.handlers["/"]["session_request"](sid, {"session_id": "x"})

    asyncio.run(connect_and_request())
    confirmed = emitted[0][1]
    assert is_session_id(confirmed) and confirmed != "x"


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
