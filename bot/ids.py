"""Conversation ids: the shapes each channel produces, and nothing else.

A conversation id (Rasa's sender id) is the key to a patient's whole
conversation: whoever can write with an id reads the bot's answers in that
conversation (an intake read-back included), and Rasa sends staff replies to the
channel the id last wrote on. So each channel has its own shape, no shape can be
produced by another channel, and every place an id enters (the channels,
`bot.handoff.conversation_path`) accepts only these shapes:

- widget (`socketio`): 32 lowercase hex characters, issued by the server;
- SMS (`twilio`): `sms-` and 32 lowercase hex characters, an HMAC of the number;
- SMS, before the HMAC ids: the number in E.164 (`+15551234567`; old rows only,
  no channel makes new ones);
- REST (`rest`) and other API clients: 1-64 of `A-Z a-z 0-9 _ -`, starting with
  a letter or digit, and neither of the shapes above (`patient-42`).

None of them contains "/", ".", "%", ":" or a space, so an id can never step
into another conversation's path (`x/../+15551234567`) in Rasa's HTTP API.

The SMS id is `HMAC-SHA256(key, number)`, cut to 128 bits: the number cannot be
read back from it, and without the key nobody can compute a patient's id from
their number. The key is `SMS_ID_SECRET` (32+ characters; required outside a
local run when the SMS channel is configured; `bot.settings.sms`), else a random
per-checkout secret kept in `var/sms_id_secret`. Changing the key starts new
conversations for every SMS patient (their old ones stay in the console); do not
rotate it casually.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any, Optional

from bot import phi
from bot.settings import sms as sms_settings
from bot.vocabulary import REST, SMS, WIDGET

SMS_PREFIX = "sms-"
_WIDGET_ID = re.compile(r"[0-9a-f]{32}")
_SMS_ID = re.compile(r"sms-[0-9a-f]{32}")
_REST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# What a REST id may not look like, in any case: another channel's shape.
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


def is_widget_id(value: Any) -> bool:
    """True for a widget session id (32 lowercase hex characters)."""
    return isinstance(value, str) and _WIDGET_ID.fullmatch(value) is not None


def is_sms_id(value: Any) -> bool:
    """True for an SMS conversation id (`sms-` and 32 lowercase hex characters)."""
    return isinstance(value, str) and _SMS_ID.fullmatch(value) is not None


def is_legacy_sms_id(value: Any) -> bool:
    """True for an SMS conversation id of before the HMAC ids: an E.164 number."""
    return phi.is_e164(value)


def is_rest_id(value: Any) -> bool:
    """True for an id a REST client may use: plain, and no other channel's shape."""
    return (
        isinstance(value, str)
        and _REST_ID.fullmatch(value) is not None
        and _HEX32.fullmatch(value) is None
        and not value.lower().startswith(SMS_PREFIX)
    )


def channel_of(value: Any) -> Optional[str]:
    """The channel whose shape `value` has (`socketio`, `twilio`, `rest`), or None.

    `rest` stands for any API client (REST, or Rasa's `callback` channel in
    tests): ids of that shape belong to no channel of their own.
    """
    if is_widget_id(value):
        return WIDGET
    if is_sms_id(value) or is_legacy_sms_id(value):
        return SMS
    if is_rest_id(value):
        return REST
    return None


def is_conversation_id(value: Any) -> bool:
    """True when `value` has the shape of an id some channel produces."""
    return channel_of(value) is not None


def sms_conversation_id(phone_e164: str, secret: Optional[bytes] = None) -> str:
    """The SMS conversation id of a number: `sms-` + HMAC-SHA256, 128 bits, hex.

    Args:
        phone_e164: the patient's number, e.g. "+15551234567".
        secret: the key; default `bot.settings.sms.id_secret()`.

    Raises:
        ValueError: the number is not E.164 (the message does not quote it).
        SettingsError: no key given and `SMS_ID_SECRET` is invalid or missing
            outside a local run (a `ValueError` too).
    """
    if not is_legacy_sms_id(phone_e164):
        raise ValueError("phone must be in E.164 form")
    key = sms_settings.id_secret() if secret is None else secret
    digest = hmac.new(key, phone_e164.encode(), hashlib.sha256).hexdigest()
    return SMS_PREFIX + digest[:32]
