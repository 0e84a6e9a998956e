"""Checks and normalises what a patient types into the intake form.

Pure functions, no Rasa: each returns the clean value, or raises `InvalidValue`
naming the response (in `domain.yml`) that tells the patient what was wrong.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Dict, Optional, Tuple

from bot import phi
from bot.vocabulary import (
    BEST_TIME,
    CONDITION,
    EMAIL,
    FULL_NAME,
    NO_EMAIL,
    PHONE,
    UTTER_BEST_TIME_MISSING,
    UTTER_BEST_TIME_TOO_LONG,
    UTTER_CONDITION_MISSING,
    UTTER_CONDITION_TOO_LONG,
    UTTER_EMAIL_INVALID,
    UTTER_FULL_NAME_MISSING,
    UTTER_FULL_NAME_TOO_LONG,
    UTTER_PHONE_INTERNATIONAL_INCOMPLETE,
    UTTER_PHONE_NOT_A_NUMBER,
    UTTER_PHONE_NOT_US,
    UTTER_PHONE_TOO_LONG,
    UTTER_PHONE_TOO_SHORT,
)

__all__ = [
    "MAX_BEST_TIME",
    "MAX_CONDITION",
    "MAX_EMAIL",
    "MAX_NAME",
    "NO_EMAIL",
    "InvalidValue",
    "clean_text",
    "correction_target",
    "looks_like_correction",
    "normalize_email",
    "normalize_phone",
    "strip_correction",
]
MAX_NAME, MAX_EMAIL, MAX_CONDITION, MAX_BEST_TIME = 200, 254, 2000, 200
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@" + _LABEL + r"(?:\." + _LABEL + r")+$")
_SKIP = re.compile(
    r"^\s*(skip|no|nope|none|n/?a|no email|no thanks|dont have one|"
    r"i don'?t have (one|an email|email))\s*[.!]*\s*$",
    re.I,
)
_CORRECTION = re.compile(
    r"\b(?:actually|sorry|correction|wait|oops|change|wrong|i meant|that should be|"
    r"my\s+(?:phone\s+|cell\s+|mobile\s+)?(?:number|phone|email|name)\s+is)\b",
    re.I,
)


# The reprompts of the free-text answers: (nothing there, too long).
_TEXT_REPROMPTS: Dict[str, Tuple[str, str]] = {
    FULL_NAME: (UTTER_FULL_NAME_MISSING, UTTER_FULL_NAME_TOO_LONG),
    CONDITION: (UTTER_CONDITION_MISSING, UTTER_CONDITION_TOO_LONG),
    BEST_TIME: (UTTER_BEST_TIME_MISSING, UTTER_BEST_TIME_TOO_LONG),
}


class InvalidValue(ValueError):
    """A value the form cannot take, with the response that asks for it again.

    `response` names a response of `domain.yml`; `values` fill its placeholders.
    str(error) is the response name: never the patient's answer.
    """

    def __init__(self, response: str, **values: Any) -> None:
        super().__init__(response)
        self.response = response
        self.values = values


def clean_text(value: object, limit: int, slot: str) -> str:
    """Free text for `slot`: control characters out, whitespace folded, length checked.

    `slot` is one of `full_name`, `condition` and `best_time`: it picks the reprompt.
    """
    missing, too_long = _TEXT_REPROMPTS[slot]
    text = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cs", "Co") else c
        for c in str(value or "")
    )
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise InvalidValue(missing)
    if len(text) > limit:
        raise InvalidValue(too_long, limit=limit)
    return text


# What the patient reads when the number they typed is refused, by `bot.phi` reason.
PHONE_REPROMPTS = {
    phi.EMPTY: UTTER_PHONE_NOT_A_NUMBER,
    phi.INTERNATIONAL: UTTER_PHONE_INTERNATIONAL_INCOMPLETE,
    phi.SHORT: UTTER_PHONE_TOO_SHORT,
    phi.LONG: UTTER_PHONE_TOO_LONG,
    phi.INVALID: UTTER_PHONE_NOT_US,
}


def normalize_phone(value: object) -> str:
    """The number a patient typed, in E.164, by the one phone rule (`bot.phi`).

    Raises:
        InvalidValue: the reprompt response for the reason it was refused.
    """
    try:
        return phi.parse_phone(value)
    except phi.PhoneError as error:
        raise InvalidValue(PHONE_REPROMPTS[error.reason]) from None


def normalize_email(value: object) -> str:
    """An email address (lower-cased domain), or `NO_EMAIL` when the patient skips."""
    text = str(value or "").strip()
    if _SKIP.match(text):
        return NO_EMAIL
    found = re.search(r"\S+@\S+", text)
    candidate = (found.group(0) if found else text).strip(".,;:!?<>()[]\"'")
    if len(candidate) > MAX_EMAIL or not _EMAIL.match(candidate):
        raise InvalidValue(UTTER_EMAIL_INVALID)
    local, domain = candidate.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def looks_like_correction(text: Optional[str]) -> bool:
    """True for "actually my number is ...", "sorry, my email is ..." and the like."""
    return bool(text and _CORRECTION.search(text))


def correction_target(text: Optional[str]) -> Optional[str]:
    """Which form slot a correction names: phone, email or full_name (or None)."""
    if not looks_like_correction(text):
        return None
    lowered = (text or "").lower()
    if "@" in lowered or "email" in lowered or "e-mail" in lowered:
        return EMAIL
    if (
        re.search(r"\b(?:number|phone|cell|mobile)\b", lowered)
        or len(re.sub(r"\D", "", lowered)) >= 7
    ):
        return PHONE
    if re.search(r"\bname\b", lowered):
        return FULL_NAME
    return None


def strip_correction(text: str) -> str:
    """The value part of "actually my name is Ana Lopez" -> "Ana Lopez"."""
    match = re.search(r"\b(?:is|to|be)\s+(.+)$", text, re.I)
    return (match.group(1) if match else text).strip(" .!")
