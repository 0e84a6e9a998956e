"""Patient identifiers: the one phone rule and the masking of numbers.

Every place that reads, checks or shows a phone number goes through here, so the
product has one answer to "is this a phone number?" and one way to hide one:

- `parse_phone`: what a patient types ("(617) 555-0178", "+44 20 7946 0958") to
  E.164, with real validity by region from `phonenumbers` (Google's libphonenumber
  metadata), not a digit count. A refusal says why (`PhoneError.reason`), so the
  caller can choose its own words for the patient.
- `is_e164`: whether a value is already a phone number in E.164 form, the shape
  of an identifier a carrier gives us (an SMS sender) or that we stored. Possible
  length by country, not validity: a carrier's word is better than our metadata,
  and refusing a new range would lose a patient's message.
- `mask_phone` (logs and staff lists), `mask_phones_in` (free text, e.g. a log line
  of Rasa's) and `masked_for_patient` ("+1 ***-***-4567" read back to the patient):
  never more than the last four digits and the country code.
"""

from __future__ import annotations

import re
from typing import Optional

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

DEFAULT_REGION = "US"
SHOWN_DIGITS = 4  # a masked number keeps its last four digits, like a card number
MAX_INPUT_CHARS = 200  # longer text is not a phone number; parsing it is wasted work

# Candidates for `mask_phones_in`: "+" and 8 to 15 digits (the E.164 bounds,
# country code included). Bounded, so a log line cannot make it slow.
_E164_IN_TEXT = re.compile(r"\+[1-9][0-9]{7,14}")

# Why a number was refused.
EMPTY, SHORT, LONG, INTERNATIONAL, INVALID = (
    "empty",
    "short",
    "long",
    "international",
    "invalid",
)


class PhoneError(ValueError):
    """A value is not a phone number; `reason` says why (never the value itself)."""

    def __init__(self, reason: str) -> None:
        """Keeps the reason; the message carries no patient data."""
        super().__init__(f"not a phone number ({reason})")
        self.reason = reason


def parse_phone(value: object, region: str = DEFAULT_REGION) -> str:
    """The number a patient typed, in E.164; national numbers are read in `region`.

    "+" or "00" starts an international number; anything else is national.

    Raises:
        PhoneError: no digits (EMPTY), a national number too short (SHORT) or too
            long (LONG), a national number no carrier of `region` can have
            (INVALID), an international number of impossible length or that no
            carrier of its country can have (INTERNATIONAL).
    """
    text = str(value or "").strip()[:MAX_INPUT_CHARS]
    if not re.search(r"\d", text):
        raise PhoneError(EMPTY)
    international = text.startswith(("+", "00"))
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        raise PhoneError(INTERNATIONAL if international else SHORT) from None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != ValidationResult.IS_POSSIBLE:
        if international:
            raise PhoneError(INTERNATIONAL)
        if possible in (ValidationResult.TOO_LONG, ValidationResult.INVALID_LENGTH):
            raise PhoneError(LONG)
        raise PhoneError(SHORT)
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(INTERNATIONAL if international else INVALID)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def is_e164(value: object) -> bool:
    """True for a phone number written in E.164 ("+15551234567") and possible.

    For identifiers (an SMS sender, a stored number), not for what a patient types.
    """
    if not isinstance(value, str) or not _E164_IN_TEXT.fullmatch(value):
        return False
    try:
        number = phonenumbers.parse(value, None)
    except NumberParseException:
        return False
    return phonenumbers.is_possible_number(number)


def mask_phone(phone: Optional[str]) -> str:
    """A number safe for a log line or a list: "+15551234567" -> "+1******4567".

    Keeps the first two characters (the "+" and the first digit of the country
    code) and the last four digits; anything shorter than seven characters is
    starred entirely; no number is "(none)".
    """
    if not phone:
        return "(none)"
    phone = str(phone)
    if len(phone) <= SHOWN_DIGITS + 2:
        return "*" * len(phone)
    return phone[:2] + "*" * (len(phone) - SHOWN_DIGITS - 2) + phone[-SHOWN_DIGITS:]


def mask_phones_in(text: str) -> str:
    """`text` with every E.164 number in it masked (`mask_phone`)."""
    return _E164_IN_TEXT.sub(lambda match: mask_phone(match[0]), text)


def masked_for_patient(phone: str) -> str:
    """A number read back to its owner: "+15552345678" -> "+1 ***-***-5678".

    The international format of the number's own country, with every digit but
    the country code and the last four starred: the patient recognises the
    number, a shoulder-surfer learns nothing more than a log would show.
    """
    try:
        number = phonenumbers.parse(phone, None)
    except NumberParseException:
        return "***"
    country = f"+{number.country_code}"
    national = phonenumbers.format_number(
        number, PhoneNumberFormat.INTERNATIONAL
    ).removeprefix(country)
    digits = sum(c.isdigit() for c in national)
    if digits <= SHOWN_DIGITS:
        return "***"
    starred, seen = [], 0
    for char in national:
        if char.isdigit():
            seen += 1
            char = char if seen > digits - SHOWN_DIGITS else "*"
        starred.append(char)
    return country + "".join(starred)
