"""STOP, START and HELP: the SMS keywords, answered here and never sent to Rasa.

STOP and its synonyms record the opt-out (`sms_opt_outs`) and reach no one;
START (or UNSTOP, or YES while opted out) opts back in; HELP (or INFO) answers
with the clinic's name and how to opt out (`bot/texts`: `sms.help`, `sms.start`).
A keyword Twilio itself recognised (its `OptOutType` field) counts too.
"""

from __future__ import annotations

import logging
import re
from typing import Optional

from bot.channels.sms.format import split_for_sms
from bot.channels.sms.sender import SmsSender
from bot.phi import mask_phone
from bot.texts import text as catalog_text

logger = logging.getLogger(__name__)

# Twilio's default opt-out keywords (Twilio enforces them itself, so ours match).
OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
OPT_IN_WHEN_OPTED_OUT = frozenset({"YES"})  # otherwise an answer for the bot
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
# With Advanced Opt-Out, Twilio tells which of the account's keywords (its own,
# custom or other-language ones) a message matched.
TWILIO_OPT_OUT_TYPES = frozenset({"STOP", "START", "HELP"})

_KEYWORD = re.compile(r"\s*([^\W\d_]{2,12})[\s.!]*")


def keyword(text: str) -> Optional[str]:
    """The single word of a one-word message, upper case ("Stop." -> "STOP")."""
    match = _KEYWORD.fullmatch(text)
    return match[1].upper() if match else None


async def keyword_kind(
    sender: SmsSender, phone: str, text: str, opt_out_type: str
) -> Optional[str]:
    """Which keyword the message is: STOP, START, HELP, or None (for the bot)."""
    if opt_out_type in TWILIO_OPT_OUT_TYPES:
        return opt_out_type  # Twilio matched one of the account's keywords
    word = keyword(text)
    if word in OPT_OUT_KEYWORDS:
        return "STOP"
    if word in OPT_IN_KEYWORDS or (
        word in OPT_IN_WHEN_OPTED_OUT and await sender.is_opted_out(phone)
    ):
        return "START"
    if word in HELP_KEYWORDS:
        return "HELP"
    return None


async def handle_keyword(
    sender: SmsSender,
    phone: str,
    text: str,
    conversation_id: str,
    opt_out_type: str = "",
) -> bool:
    """Handles STOP, START and HELP; False for any other message.

    Args:
        sender: records the opt-out or opt-in and sends the reply.
        phone: the patient's number.
        text: the message.
        conversation_id: the number's SMS conversation id (for the records).
        opt_out_type: Twilio's `OptOutType` field, upper case, or "".
    """
    kind = await keyword_kind(sender, phone, text, opt_out_type)
    if kind is None:
        return False
    word = keyword(text) or kind
    if kind == "STOP":
        await sender.set_opted_out(phone, True, word)
        logger.info("SMS opt-out recorded for %s (%s)", mask_phone(phone), word)
    elif kind == "START":
        await sender.set_opted_out(phone, False, word)
        logger.info("SMS opt-in recorded for %s (%s)", mask_phone(phone), word)
        sender.send(
            phone,
            split_for_sms(catalog_text("sms.start")),
            conversation_id=conversation_id,
        )
    else:
        sender.send(
            phone,
            split_for_sms(catalog_text("sms.help")),
            conversation_id=conversation_id,
        )
    return True
