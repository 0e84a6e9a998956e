"""Checks and normalises what a patient types into the intake form.

Pure functions, no Rasa: each returns the clean value, or raises `InvalidValue`
whose message is the friendly reprompt the patient sees.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Optional

from bot.vocabulary import EMAIL, FULL_NAME, PHONE

NO_EMAIL = "none"
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


class InvalidValue(ValueError):
    """A value the form cannot take; str(error) is the reprompt."""


def clean_text(value: object, limit: int, what: str) -> str:
    """Free text: control characters out, whitespace folded, length checked."""
    text = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cs", "Co") else c
        for c in str(value or "")
    )
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise InvalidValue(f"Sorry, I didn't get {what}. Could you type it again?")
    if len(text) > limit:
        raise InvalidValue(
            f"That's a bit long for {what}: could you keep it under {limit} characters?"
        )
    return text


def normalize_phone(value: object, default_country: str = "1") -> str:
    """A phone number in E.164 (`+15551234567`); US numbers by default."""
    text = str(value or "")
    digits = re.sub(r"\D", "", text)
    international = text.strip().startswith("+") or text.strip().startswith("00")
    if text.strip().startswith("00"):
        digits = digits[2:]
    if not digits:
        raise InvalidValue(
            "That doesn't look like a phone number. Could you send it with the area "
            "code, like 555 123 4567?"
        )
    if international:
        if not 8 <= len(digits) <= 15:
            raise InvalidValue(
                "That international number doesn't look complete. Could you check it?"
            )
        return f"+{digits}"
    if len(digits) == 11 and digits.startswith(default_country):
        digits = digits[1:]
    if len(digits) < 10:
        raise InvalidValue(
            "That number looks short: could you send all 10 digits, with the area code?"
        )
    if len(digits) > 10:
        raise InvalidValue(
            "That number looks too long. Could you send the 10-digit number, "
            "or start with + for an international one?"
        )
    if digits[0] in "01" or digits[3] in "01":
        raise InvalidValue(
            "That doesn't look like a valid US number. Could you check it?"
        )
    return f"+{default_country}{digits}"


def normalize_email(value: object) -> str:
    """An email address (lower-cased domain), or `NO_EMAIL` when the patient skips."""
    text = str(value or "").strip()
    if _SKIP.match(text):
        return NO_EMAIL
    found = re.search(r"\S+@\S+", text)
    candidate = (found.group(0) if found else text).strip(".,;:!?<>()[]\"'")
    if len(candidate) > MAX_EMAIL or not _EMAIL.match(candidate):
        raise InvalidValue(
            "That email address doesn't look right. Could you check it, or say "
            '"skip" if you\'d rather not give one?'
        )
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


def mask_phone(phone: str) -> str:
    """`+15551234567` -> `+1 ***-***-4567`, for messages and logs."""
    return f"{phone[:2]} ***-***-{phone[-4:]}" if len(phone) >= 6 else "***"
