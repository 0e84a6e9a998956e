"""Conversation id shapes, rate limits and the REST channel's body checks (no server).

The attacks themselves, over HTTP against the real servers, are in
tests/test_rest_channel.py, tests/sms/test_sms_channel.py and tests/browser/.
"""

from __future__ import annotations

import json

import pytest

from bot import ids
from bot.channels.limits import RateLimiter, too_fast_text
from bot.channels.rest import MAX_BODY_BYTES, ClinicRestInput
from bot.handoff import conversation_path, reply_channel
from bot.settings import SettingsError
from bot.settings import sms as sms_settings
from bot.settings import widget as widget_settings

KEY = b"k" * 32
WIDGET = "0123456789abcdef0123456789abcdef"


def test_sms_ids_are_a_keyed_hash_of_the_number():
    sms_id = ids.sms_conversation_id("+15551234567", KEY)
    assert ids.is_sms_id(sms_id) and "5551234567" not in sms_id
    assert sms_id == ids.sms_conversation_id("+15551234567", KEY)  # stable
    assert sms_id != ids.sms_conversation_id("+15551234568", KEY)
    assert sms_id != ids.sms_conversation_id("+15551234567", b"o" * 32)  # keyed
    with pytest.raises(ValueError, match="E.164") as error:
        ids.sms_conversation_id("555 123 4567", KEY)
    assert "555" not in str(error.value)


def test_sms_id_secret_is_required_and_long_outside_a_local_run():
    assert sms_settings.id_secret({"SMS_ID_SECRET": "s" * 32}) == b"s" * 32
    with pytest.raises(SettingsError, match="at least 32"):
        sms_settings.id_secret({"SMS_ID_SECRET": "short"})
    with pytest.raises(SettingsError, match="required outside a local run"):
        sms_settings.id_secret({"APP_ENV": "production"})
    local = sms_settings.id_secret({})
    assert len(local) >= 32 and local == sms_settings.id_secret({})  # per checkout


@pytest.mark.parametrize(
    "value, channel",
    [
        (WIDGET, "socketio"),
        ("sms-" + "a" * 32, "twilio"),
        ("+15551234567", "twilio"),  # an SMS conversation of before the HMAC ids
        ("patient-42", "rest"),
        ("handoff_journey", "rest"),
        ("A" * 64, "rest"),
        # Not the shape of any channel.
        ("x/../+15551234567", None),
        ("../+15551234567", None),
        ("a/b", None),
        ("a..b", None),
        ("a b", None),
        ("p%41", None),
        ("whatsapp:+15551234567", None),
        ("-leading-dash", None),
        ("A" * 65, None),
        ("é", None),
        ("", None),
        (None, None),
        (42, None),
        ("SMS-" + "a" * 32, None),
        ("sms-other", None),
        (WIDGET.upper(), None),
    ],
)
def test_each_channel_has_its_own_id_shape(value, channel):
    assert ids.channel_of(value) == channel


@pytest.mark.parametrize(
    "value",
    ["+15551234567", "sms-" + "b" * 32, "Sms-x", WIDGET, WIDGET.upper(), "x/../y"],
)
def test_a_rest_client_cannot_take_another_channels_id(value):
    assert not ids.is_rest_id(value)


@pytest.mark.parametrize(
    "conversation_id", ["x/../+15551234567", "a/b", "a b", "q?x", "h#x", "p%41", "é"]
)
def test_conversation_path_accepts_only_channel_shapes(conversation_id):
    with pytest.raises(ValueError, match="conversation_id") as error:
        conversation_path(conversation_id)
    assert "1555" not in str(error.value)


def test_conversation_path_of_each_channel():
    for conversation_id in (WIDGET, "sms-" + "c" * 32, "+15551234567", "p-1"):
        assert conversation_path(conversation_id) == f"/conversations/{conversation_id}"


def test_staff_replies_go_out_on_the_conversations_own_channel():
    sms_id = "sms-" + "d" * 32
    # Whatever the row says (e.g. a REST message wrote into it last), SMS stays SMS.
    assert reply_channel(sms_id, "rest") == "twilio"
    assert reply_channel("+15551234567", "rest") == "twilio"
    assert reply_channel(WIDGET, "rest") == "socketio"
    assert reply_channel("patient-1", "callback") == "callback"
    assert reply_channel("patient-1", "rest") == "rest"
    for bad in (None, "", "latest/../x", "Twilio"):
        with pytest.raises(ValueError):
            reply_channel("patient-1", bad)


def test_too_fast_text_says_how_long_to_wait():
    assert too_fast_text(1) == (
        "You are sending messages faster than I can answer them. Please wait "
        "1 second and send your message again."
    )
    assert "wait 30 seconds and send" in too_fast_text(30)


def test_rate_limit_setting():
    assert widget_settings.rate_limit({}) == (20, 60.0)
    assert widget_settings.rate_limit({"CHAT_RATE_LIMIT": " 5 / 10 "}) == (5, 10.0)
    for bad in ("5", "0/60", "5/0", "five/60"):
        with pytest.raises(SettingsError, match="CHAT_RATE_LIMIT"):
            widget_settings.rate_limit({"CHAT_RATE_LIMIT": bad})


def test_rate_limiter_slides_and_does_not_count_refusals():
    now = [0.0]
    limiter = RateLimiter(3, 60, clock=lambda: now[0])
    assert [limiter.retry_after("a") for _ in range(3)] == [None] * 3
    assert limiter.retry_after("a") == 60
    assert limiter.retry_after("b") is None  # per sender
    now[0] = 30
    assert limiter.retry_after("a") == 30  # refused: not counted
    now[0] = 60
    assert limiter.retry_after("a") is None  # the first three left the window


def test_rate_limiter_checks_every_key_and_keeps_its_memory_bounded():
    now = [0.0]
    limiter = RateLimiter(1, 10, max_keys=100, clock=lambda: now[0])
    assert limiter.retry_after("session-1", "socket-1") is None
    assert limiter.retry_after("session-2", "socket-1") == 10  # the socket is over
    assert limiter.retry_after("session-2", "socket-2") is None
    for number in range(1000):
        now[0] += 0.001
        limiter.retry_after(f"sender-{number}")
    assert len(limiter._hits) <= 100


def body(value) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    "raw, status, words",
    [
        (b"", 400, "JSON object"),
        (b"null", 400, "JSON object"),
        (b"[]", 400, "JSON object"),
        (b'"hello"', 400, "JSON object"),
        (b"42", 400, "JSON object"),
        (b"\xff not json", 400, "JSON object"),
        (body({"message": "hi"}), 400, "sender is required"),
        (body({"sender": 7, "message": "hi"}), 400, "sender is required"),
        (body({"sender": "p-1"}), 400, "message is required"),
        (body({"sender": "p-1", "message": None}), 400, "message is required"),
        (body({"sender": "p-1", "message": ["hi"]}), 400, "message is required"),
        (body({"sender": "x/../+15551234567", "message": "hi"}), 400, "sender must"),
        (body({"sender": "+15551234567", "message": "hi"}), 400, "phone number"),
        (body({"sender": "p-1", "message": "x" * 4001}), 413, "at most 4000"),
        (b" " * (MAX_BODY_BYTES + 1), 413, "too large"),
    ],
)
def test_rest_bodies_are_checked_with_a_clear_error(raw, status, words):
    refusal, _, _ = ClinicRestInput.read_body(raw)
    assert refusal is not None and refusal.status == status
    assert words in json.loads(refusal.body)["error"]


def test_a_good_rest_body_ignores_input_channel_and_metadata():
    raw = body(
        {
            "sender": "p-1",
            "message": "x" * 4000,
            "input_channel": "twilio",
            "metadata": {"big": "y" * 1000},
        }
    )
    assert ClinicRestInput.read_body(raw) == (None, "p-1", "x" * 4000)


def test_rest_is_off_outside_a_local_run_without_a_token():
    assert widget_settings.rest({}).enabled
    assert not widget_settings.rest({"APP_ENV": "production"}).enabled
    settings = widget_settings.rest(
        {"APP_ENV": "production", "REST_CHANNEL_TOKEN": "t" * 24}
    )
    assert settings.enabled and settings.token == "t" * 24
    with pytest.raises(SettingsError, match="at least 24"):
        widget_settings.rest({"APP_ENV": "production", "REST_CHANNEL_TOKEN": "short"})
