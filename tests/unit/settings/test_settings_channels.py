"""The channels' settings (bot.settings.sms, bot.settings.widget), read at launch.

`bot.settings.load_all` is what the launcher calls before any process starts: a bad
channel value must be reported there, by name, not as the Rasa server dying.
"""

from __future__ import annotations

import logging

import pytest

from bot.settings import SettingsError, load_all
from bot.settings import sms as sms_settings
from bot.settings import widget as widget_settings

TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "secret-token",
    "TWILIO_NUMBER": "+15550001111",
    "TWILIO_WEBHOOK_URL": "https://sms.clinic.example/webhooks/twilio/webhook",
}
PRODUCTION = {
    "APP_ENV": "production",
    "RASA_API_TOKEN": "r" * 32,
    "DATABASE_URL": "sqlite://",
    "CONSOLE_SECRET_KEY": "k3J9xQ2mV7pL4nR8tY1wZ6bC5dF0gH2jK9sA3eU7",
}


@pytest.mark.parametrize(
    "env, name",
    [
        ({"CHAT_RATE_LIMIT": "lots"}, "CHAT_RATE_LIMIT"),
        ({"WIDGET_SESSION_IDLE_MINUTES": "0"}, "WIDGET_SESSION_IDLE_MINUTES"),
        ({"REST_CHANNEL_TOKEN": "short"}, "REST_CHANNEL_TOKEN"),
        ({**TWILIO, "TWILIO_NUMBER": "555-0001"}, "TWILIO_NUMBER"),
        ({**TWILIO, "TWILIO_VALIDATE_SIGNATURE": "off"}, "TWILIO_VALIDATE_SIGNATURE"),
        ({**TWILIO, "TWILIO_API_BASE_URL": "http://x.example"}, "TWILIO_API_BASE_URL"),
        (TWILIO, "SMS_ID_SECRET"),
        ({**TWILIO, "SMS_ID_SECRET": "short"}, "SMS_ID_SECRET"),
    ],
)
def test_the_launcher_names_a_bad_channel_setting(env, name):
    with pytest.raises(SettingsError, match=name):
        load_all({**PRODUCTION, **env})


def test_good_channel_settings_load():
    env = {
        **PRODUCTION,
        **TWILIO,
        "SMS_ID_SECRET": "s" * 32,
        "REST_CHANNEL_TOKEN": "t" * 24,
        "CHAT_RATE_LIMIT": "5/10",
        "WIDGET_ALLOWED_ORIGINS": "https://clinic.example",
        "WIDGET_SERVER_URL": "https://rasa.clinic.example",
        "LOG_LEVEL": "debug",
    }
    load_all(env)
    widget = widget_settings.load(env)
    assert widget.rate_limit == (5, 10.0)
    assert widget.rest.enabled and widget.rest.token == "t" * 24
    assert widget.allowed_origins == ("https://clinic.example",)
    assert widget.idle_minutes == 60
    assert widget.server_url == "https://rasa.clinic.example"
    sms = sms_settings.load(env)
    assert sms.configured and not sms.local and sms.log_level == logging.DEBUG
    assert sms.id_key() == b"s" * 32


def test_an_unconfigured_sms_channel_needs_no_key():
    sms = sms_settings.load(PRODUCTION)
    assert not sms.configured and not sms.local
    with pytest.raises(SettingsError, match="SMS_ID_SECRET"):
        sms.id_key()  # asked for anyway: refused, never a guessable key


@pytest.mark.parametrize(
    "value, level",
    [("", logging.INFO), ("WARNING", logging.WARNING), ("loud", logging.INFO)],
)
def test_log_level(value, level):
    assert sms_settings.log_level({"LOG_LEVEL": value} if value else {}) == level


def test_the_widget_server_url_is_optional():
    assert widget_settings.server_url({}) is None
    assert widget_settings.server_url({"WIDGET_SERVER_URL": " "}) is None
