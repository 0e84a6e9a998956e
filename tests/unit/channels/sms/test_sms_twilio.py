"""The SMS channel's logic (bot.channels.sms) without servers or network.

The webhook handler gets stand-in requests, the sender a stand-in twilio client;
the database is a real migrated SQLite file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from bot import ids
from bot.channels.limits import RateLimiter
from bot.channels.sms import sender as sms_sender
from bot.channels.sms import webhook
from bot.channels.sms.format import sms_bodies
from bot.channels.sms.keywords import keyword
from bot.channels.sms.logs import PhoneMaskingFilter
from bot.channels.sms.output import TwilioSmsOutput
from bot.channels.sms.sender import SEND_ATTEMPTS
from bot.channels.sms.webhook import TwilioSmsInput, clean_body
from bot.db.engine import dispose_engines, session_scope
from bot.db.migrate import upgrade
from bot.db.models import SmsMessage, SmsOptOut
from bot.phi import mask_phone
from bot.settings import SettingsError
from bot.settings import sms as sms_settings
from bot.texts import text

PHONE = "+15551234567"
URL = "https://sms.clinic.example/webhooks/twilio/webhook"
ENV = {
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "secret-token",
    "TWILIO_NUMBER": "+15550001111",
    "TWILIO_WEBHOOK_URL": URL,
}


# --- settings and helpers ----------------------------------------------------------


def test_unconfigured_by_default():
    settings = sms_settings.load({})
    assert not settings.configured
    assert settings.missing == [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_NUMBER",
        "TWILIO_WEBHOOK_URL",
    ]
    assert settings.api_base_url == "https://api.twilio.com"


def test_configured_from_env():
    settings = sms_settings.load(
        {**ENV, "TWILIO_API_BASE_URL": "http://127.0.0.1:9999/"}
    )
    assert settings.configured and settings.validate_signature
    assert settings.api_base_url == "http://127.0.0.1:9999"
    assert settings.sender_params() == {"from_": "+15550001111"}
    service = sms_settings.load({**ENV, "TWILIO_NUMBER": "MG" + "0" * 32})
    assert service.sender_params() == {"messaging_service_sid": "MG" + "0" * 32}


def test_signature_checks_may_be_off_only_locally():
    local = sms_settings.load(
        {**ENV, "TWILIO_WEBHOOK_URL": "", "TWILIO_VALIDATE_SIGNATURE": "false"}
    )
    assert local.configured and not local.validate_signature
    with pytest.raises(SettingsError, match="APP_ENV=local"):
        sms_settings.load(
            {**ENV, "APP_ENV": "production", "TWILIO_VALIDATE_SIGNATURE": "0"}
        )


@pytest.mark.parametrize(
    "name, value",
    [
        ("TWILIO_WEBHOOK_URL", "sms.clinic.example/hook"),
        ("TWILIO_API_BASE_URL", "ftp://x"),
        ("TWILIO_NUMBER", "555-0001"),
    ],
)
def test_invalid_settings_are_refused(name, value):
    with pytest.raises(SettingsError, match=name):
        sms_settings.load({**ENV, name: value})


@pytest.mark.parametrize(
    "phone, masked",
    [
        ("+15551234567", "+1******4567"),
        ("+447700900123", "+4*******0123"),
        ("+123", "****"),
        (None, "(none)"),
    ],
)
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


def test_masking_filter_hides_numbers_in_rasa_logs():
    record = logging.LogRecord(
        "rasa.core.processor",
        logging.WARNING,
        __file__,
        1,
        "Circuit breaker tripped for sender '%s'.",
        (PHONE,),
        None,
    )
    assert PhoneMaskingFilter().filter(record)
    assert record.getMessage() == "Circuit breaker tripped for sender '+1******4567'."
    other = logging.LogRecord(
        "rasa.core.processor",
        logging.INFO,
        __file__,
        1,
        "Loading 20261124-1.tar.gz",
        (),
        None,
    )
    assert PhoneMaskingFilter().filter(other)
    assert other.getMessage() == "Loading 20261124-1.tar.gz"  # no "+": not a number


@pytest.mark.parametrize(
    "text, word",
    [
        ("STOP", "STOP"),
        (" stop. ", "STOP"),
        ("Stop!", "STOP"),
        ("unsubscribe", "UNSUBSCRIBE"),
        ("Help", "HELP"),
        ("stop sending me texts", None),
        ("1", None),
        ("is it safe?", None),
    ],
)
def test_keyword(text, word):
    assert keyword(text) == word


@pytest.mark.parametrize(
    "body, cleaned",
    [
        ("my email is ana¡example.com", "my email is ana@example.com"),
        ("j.doe+pain¡mail.example.org please", "j.doe+pain@mail.example.org please"),
        ("¡Hola! ¿es seguro?", "¡Hola! ¿es seguro?"),
        ("gracias ¡muy bien!", "gracias ¡muy bien!"),
        ("wow¡ nice", "wow¡ nice"),
    ],
)
def test_at_sign_swapped_by_carriers_is_repaired_in_emails_only(body, cleaned):
    assert clean_body(body) == cleaned


def test_clean_body():
    assert clean_body(" a\x00b\x1b\r\nc ") == "ab\nc"
    assert clean_body(None) == ""
    assert len(clean_body("x" * 5000)) == webhook.MAX_INBOUND_CHARS


# --- the sender --------------------------------------------------------------------


class FakeMessages:
    """Stands in for `client.messages`: records, or raises the queued errors."""

    def __init__(self) -> None:
        self.sent = []
        self.errors = []

    async def create_async(self, **kwargs):
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(kwargs)
        return SimpleNamespace(sid=f"SM{len(self.sent)}")


def rest_error(status: int, code: int) -> TwilioRestException:
    return TwilioRestException(status, "/Messages.json", "Unable to create", code)


@pytest.fixture
def database_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    upgrade(url)
    yield url
    dispose_engines()


@pytest.fixture
def channel(database_url, monkeypatch):
    monkeypatch.setattr(sms_sender, "RETRY_BASE_SECONDS", 0.001)
    channel = TwilioSmsInput(sms_settings.load(ENV), database_url)
    messages = FakeMessages()
    channel.sender._client = SimpleNamespace(messages=messages)
    channel.messages = messages
    return channel


def rows(channel):
    with session_scope(channel.sender._engine()) as session:
        return [
            (m.status, m.attempts, m.error_code, m.body)
            for m in session.execute(sa.select(SmsMessage).order_by(SmsMessage.id))
            .scalars()
            .all()
        ]


async def test_replies_go_out_in_order_with_options(channel):
    output = channel.get_output_channel()
    long_text = "This sentence is about ketamine. " * 30
    await output.send_text_message(PHONE, long_text)
    await output.send_text_with_buttons(
        PHONE, "Anything else?", [{"title": "Yes", "payload": "/affirm"}]
    )
    await channel.sender.drain()
    bodies = [m["body"] for m in channel.messages.sent]
    assert bodies == sms_bodies(long_text) + sms_bodies(
        "Anything else?", [{"title": "Yes", "payload": "/affirm"}]
    )
    assert all(m["to"] == PHONE for m in channel.messages.sent)
    assert all(m["from_"] == "+15550001111" for m in channel.messages.sent)
    assert {r[0] for r in rows(channel)} == {"sent"}


async def test_transient_errors_are_retried(channel):
    channel.messages.errors = [
        rest_error(503, 20503),
        asyncio.TimeoutError(),
        OSError("connection reset"),
    ]
    await channel.get_output_channel().send_text_message(PHONE, "Hello")
    await channel.sender.drain()
    assert [m["body"] for m in channel.messages.sent] == ["Hello"]
    assert rows(channel) == [("sent", 4, None, None)]


async def test_persistent_errors_are_recorded_with_the_body(channel):
    channel.messages.errors = [rest_error(500, 20500)] * SEND_ATTEMPTS
    await channel.get_output_channel().send_text_message(PHONE, "Hello")
    await channel.sender.drain()
    assert channel.messages.sent == []
    assert rows(channel) == [("failed", SEND_ATTEMPTS, "20500", "Hello")]


async def test_client_errors_are_not_retried(channel):
    channel.messages.errors = [rest_error(400, 21211)]
    await channel.get_output_channel().send_text_message(PHONE, "Hello")
    await channel.sender.drain()
    assert rows(channel) == [("failed", 1, "21211", "Hello")]
    assert not await channel.sender.is_opted_out(PHONE)


async def test_unsubscribed_error_records_the_opt_out(channel):
    channel.messages.errors = [rest_error(400, 21610)]
    output = channel.get_output_channel()
    await output.send_text_message(PHONE, "Hello")
    await output.send_text_message(PHONE, "Again")
    await channel.sender.drain()
    assert await channel.sender.is_opted_out(PHONE)
    assert rows(channel) == [
        ("failed", 1, "21610", "Hello"),
        ("blocked", 0, "opted_out", None),
    ]


async def test_a_failed_part_stops_the_later_parts(channel):
    channel.messages.errors = [rest_error(400, 21211)]
    text = "This sentence is about ketamine. " * 30
    await channel.get_output_channel().send_text_message(PHONE, text)
    await channel.sender.drain()
    assert channel.messages.sent == []
    statuses = rows(channel)
    assert statuses[0][:3] == ("failed", 1, "21211")
    assert {r[2] for r in statuses[1:]} == {"earlier_part_failed"}
    assert all(r[3] for r in statuses)  # every body kept for staff


async def test_opted_out_number_gets_nothing_from_any_send_method(channel):
    await channel.sender.set_opted_out(PHONE, True, "STOP")
    output = channel.get_output_channel()
    await output.send_text_message(PHONE, "Hello")
    await output.send_text_with_buttons(PHONE, "Pick", [{"title": "A", "payload": "a"}])
    await output.send_quick_replies(PHONE, "Pick", [{"title": "A", "payload": "a"}])
    await output.send_image_url(PHONE, "https://clinic.example/a.png")
    await output.send_attachment(PHONE, "https://clinic.example/a.pdf")
    await output.send_elements(PHONE, [{"title": "T", "subtitle": "S"}])
    await output.send_custom_json(PHONE, {"anything": 1})
    await channel.sender.drain()
    assert channel.messages.sent == []
    assert [r[0] for r in rows(channel)] == ["blocked"] * 6


async def test_reply_to_a_non_phone_conversation_is_dropped(channel):
    await channel.get_output_channel().send_text_message("web-visitor-1", "Hi")
    await channel.sender.drain()
    assert channel.messages.sent == [] and rows(channel) == []


async def test_unconfigured_sender_records_the_failure(database_url):
    channel = TwilioSmsInput(sms_settings.load({}), database_url)
    await channel.get_output_channel().send_text_message(PHONE, "Hi")
    await channel.sender.drain()
    assert rows(channel) == [("failed", 0, "not_configured", "Hi")]


def test_output_channel_name():
    assert TwilioSmsOutput.name() == TwilioSmsInput.name() == "twilio"


# --- the webhook -------------------------------------------------------------------


class FakeRequest:
    """What `_receive` reads of a Sanic request."""

    def __init__(self, form=None, signature=None, raw=None, content_type=None):
        self.body = raw if raw is not None else urlencode(form or {}).encode()
        self.content_type = content_type or "application/x-www-form-urlencoded"
        self.headers = {} if signature is None else {"X-Twilio-Signature": signature}


def signed(form, token=ENV["TWILIO_AUTH_TOKEN"], url=URL):
    return FakeRequest(form, RequestValidator(token).compute_signature(url, form))


class Rasa:
    """Stands in for Rasa's `on_new_message`."""

    def __init__(self, error=None):
        self.messages = []
        self.error = error

    async def __call__(self, message):
        if self.error:
            raise self.error
        self.messages.append(message)


async def receive(channel, request, rasa=None):
    answer = await channel._receive(request, rasa or Rasa())
    await channel.sender.drain()
    return answer


def sms(body, phone=PHONE):
    return {"From": phone, "To": "+15550001111", "Body": body, "MessageSid": "SM1"}


async def test_unconfigured_webhook_answers_503(database_url):
    channel = TwilioSmsInput(sms_settings.load({}), database_url)
    answer = await receive(channel, signed(sms("hi")))
    assert (answer.status, answer.body) == (503, b"SMS channel not configured")


@pytest.mark.parametrize(
    "request_",
    [
        FakeRequest(sms("hi")),
        signed(sms("hi"), token="wrong"),
        signed(sms("hi"), url="http://127.0.0.1:5005/webhooks/twilio/webhook"),
        FakeRequest(sms("hi"), signature=""),
    ],
    ids=["unsigned", "wrong token", "wrong url", "empty signature"],
)
async def test_forged_requests_get_403(channel, request_):
    rasa = Rasa()
    answer = await receive(channel, request_, rasa)
    assert answer.status == 403
    assert rasa.messages == [] and channel.messages.sent == []


async def test_signature_check_off_locally(database_url):
    settings = sms_settings.load({**ENV, "TWILIO_VALIDATE_SIGNATURE": "false"})
    channel = TwilioSmsInput(settings, database_url)
    rasa = Rasa()
    assert (await receive(channel, FakeRequest(sms("hi")), rasa)).status == 200
    assert [m.text for m in rasa.messages] == ["hi"]


@pytest.mark.parametrize(
    "request_, status",
    [
        (signed({"Body": "hi"}), 400),
        (signed(sms("hi", phone="5551234567")), 400),
        (FakeRequest(raw=b"\xff\xfe=\x80", signature="x"), 400),
        (FakeRequest(raw=b"{}", signature="x", content_type="application/json"), 400),
        (FakeRequest(raw=b"a=" + b"x" * 70_000, signature="x"), 413),
    ],
    ids=["no From", "bad From", "binary", "json", "huge"],
)
async def test_malformed_requests_get_400(channel, request_, status):
    rasa = Rasa()
    assert (await receive(channel, request_, rasa)).status == status
    assert rasa.messages == []


async def test_a_message_reaches_rasa_as_the_patient(channel):
    rasa = Rasa()
    answer = await receive(channel, signed(sms("Is it safe?\x00")), rasa)
    assert answer.status == 200 and b"<Response>" in answer.body
    (message,) = rasa.messages
    assert (message.text, message.sender_id, message.input_channel) == (
        "Is it safe?",
        ids.sms_conversation_id(PHONE),  # a keyed hash, never the number
        "twilio",
    )
    assert message.message_id == "SM1"
    assert isinstance(message.output_channel, TwilioSmsOutput)


async def test_blank_body_is_answered_politely(channel):
    rasa = Rasa()
    await receive(channel, signed(sms("   ")), rasa)
    assert rasa.messages == []
    assert [m["body"] for m in channel.messages.sent] == [text("sms.not_text")]


async def test_keywords_never_reach_rasa(channel):
    rasa = Rasa()
    await receive(channel, signed(sms("HELP")), rasa)
    assert [m["body"] for m in channel.messages.sent] == [text("sms.help")]
    await receive(channel, signed(sms("Stop")), rasa)
    assert await channel.sender.is_opted_out(PHONE)
    await receive(channel, signed(sms("help")), rasa)  # opted out: nothing
    await receive(channel, signed(sms("yes")), rasa)  # YES opts back in
    assert not await channel.sender.is_opted_out(PHONE)
    assert [m["body"] for m in channel.messages.sent] == [
        text("sms.help"),
        text("sms.start"),
    ]
    assert rasa.messages == []
    await receive(channel, signed(sms("yes")), rasa)  # now an answer for the bot
    assert [m.text for m in rasa.messages] == ["yes"]


async def test_twilio_recognised_keywords_count_too(channel):
    rasa = Rasa()
    await receive(channel, signed({**sms("PARAR"), "OptOutType": "STOP"}), rasa)
    assert await channel.sender.is_opted_out(PHONE)
    await receive(channel, signed({**sms("volver a empezar"), "OptOutType": "START"}))
    assert not await channel.sender.is_opted_out(PHONE)
    await receive(channel, signed({**sms("is it safe?"), "OptOutType": "bogus"}), rasa)
    assert [m.text for m in rasa.messages] == ["is it safe?"]
    assert [m["body"] for m in channel.messages.sent] == [text("sms.start")]
    with session_scope(channel.sender._engine()) as session:
        (row,) = session.execute(sa.select(SmsOptOut)).scalars()
        assert row.keyword == "START"  # several words: the kind is recorded


async def test_number_picks_the_last_offered_option(channel):
    buttons = [
        {"title": "Side effects", "payload": "What are the side effects?"},
        {"title": "Talk to a person", "payload": "/handoff"},
    ]
    await channel.get_output_channel().send_text_with_buttons(PHONE, "Pick", buttons)
    await channel.sender.drain()
    rasa = Rasa()
    await receive(channel, signed(sms("1")), rasa)
    await receive(channel, signed(sms("talk to a person")), rasa)
    await receive(channel, signed(sms("7")), rasa)
    await receive(channel, signed(sms("1", phone="+15550009999")), rasa)
    assert [m.text for m in rasa.messages] == [
        "What are the side effects?",
        "/handoff",
        "7",
        "1",  # another number was offered nothing
    ]


async def test_rasa_failure_gets_an_apology_not_a_500(channel, caplog):
    rasa = Rasa(error=RuntimeError(f"lock for {PHONE} failed"))
    with caplog.at_level(logging.INFO):
        answer = await receive(channel, signed(sms("hi")), rasa)
    assert answer.status == 200
    assert [m["body"] for m in channel.messages.sent] == [text("sms.error")]
    assert PHONE not in caplog.text and "+1******4567" in caplog.text


def test_credentials_file_loads_without_twilio_settings(monkeypatch):
    """`make run` without TWILIO_* starts: credentials.yml has no ${VAR} to fail."""
    from rasa.core.run import create_http_input_channels

    from tests.support.paths import ROOT

    for name in [*ENV, "TWILIO_API_BASE_URL", "TWILIO_VALIDATE_SIGNATURE"]:
        monkeypatch.delenv(name, raising=False)
    channels = create_http_input_channels(None, str(ROOT / "credentials.yml"))
    (sms_channel,) = [c for c in channels if c.name() == "twilio"]
    assert isinstance(sms_channel, TwilioSmsInput)
    assert not sms_channel.settings.configured


async def test_database_down_stop_gets_503_and_questions_still_reach_rasa(tmp_path):
    broken = f"sqlite:///{tmp_path / 'missing-dir' / 'clinic.db'}"
    channel = TwilioSmsInput(sms_settings.load(ENV), broken)
    channel.sender._client = SimpleNamespace(messages=FakeMessages())
    rasa = Rasa()
    assert (await receive(channel, signed(sms("STOP")), rasa)).status == 503
    assert (await receive(channel, signed(sms("1")), rasa)).status == 200
    assert [m.text for m in rasa.messages] == ["1"]
    dispose_engines()


# --- conversation ids and rate limits ----------------------------------------------


async def test_replies_to_an_sms_id_go_to_its_number(channel):
    rasa = Rasa()
    await receive(channel, signed(sms("hello")), rasa)
    conversation_id = rasa.messages[0].sender_id
    await channel.get_output_channel().send_text_message(conversation_id, "Hi")
    await channel.sender.drain()
    assert [(m["to"], m["body"]) for m in channel.messages.sent] == [(PHONE, "Hi")]
    with session_scope(channel.sender._engine()) as session:
        (row,) = session.execute(sa.select(SmsMessage)).scalars().all()
        assert (row.conversation_id, row.phone_e164) == (conversation_id, PHONE)


async def test_after_a_restart_the_number_comes_from_the_records(channel, database_url):
    """A staff reply after a restart: the new process never saw the patient."""
    conversation_id = ids.sms_conversation_id(PHONE)
    await channel.get_output_channel().send_text_message(PHONE, "earlier reply")
    await channel.sender.drain()
    with session_scope(channel.sender._engine()) as session:  # as if sent to the id
        session.execute(sa.update(SmsMessage).values(conversation_id=conversation_id))
    restarted = TwilioSmsInput(sms_settings.load(ENV), database_url)
    restarted.sender._client = channel.sender._client
    await restarted.get_output_channel().send_text_message(conversation_id, "Hello")
    await restarted.sender.drain()
    assert [m["to"] for m in channel.messages.sent] == [PHONE, PHONE]


async def test_a_reply_to_an_sms_id_with_no_known_number_is_dropped(channel, caplog):
    unknown = "sms-" + "f" * 32
    await channel.get_output_channel().send_text_message(unknown, "Hi")
    await channel.sender.drain()
    assert channel.messages.sent == [] and rows(channel) == []
    assert "no number known" in caplog.text


async def test_a_flood_reaches_no_one_and_gets_one_notice(channel):
    channel.limiter = RateLimiter(2, 60)
    channel.warned = RateLimiter(1, 60)
    rasa = Rasa()
    for number in range(5):
        answer = await receive(channel, signed(sms(f"message {number}")), rasa)
        assert answer.status == 200
    assert [m.text for m in rasa.messages] == ["message 0", "message 1"]
    notices = [m for m in channel.messages.sent if "faster than I" in m["body"]]
    assert len(notices) == 1
    # An opt-out is never held back by the limit.
    await receive(channel, signed(sms("STOP")), rasa)
    assert await channel.sender.is_opted_out(PHONE)


def test_the_id_key_is_required_outside_a_local_run(database_url):
    production = {**ENV, "APP_ENV": "production"}
    with pytest.raises(SettingsError, match="SMS_ID_SECRET"):
        sms_settings.load(production)  # the launcher's check
    unchecked = dataclasses.replace(sms_settings.load(ENV), local=False)
    with pytest.raises(SettingsError, match="SMS_ID_SECRET"):
        TwilioSmsInput(unchecked)  # and the channel's own
    with pytest.raises(SettingsError, match="at least 32"):
        sms_settings.load({**production, "SMS_ID_SECRET": "short"})
    keyed = sms_settings.load({**production, "SMS_ID_SECRET": "k" * 32})
    channel = TwilioSmsInput(keyed)
    assert channel.conversation_id(PHONE) == ids.sms_conversation_id(PHONE, b"k" * 32)
