"""Patient data on the console's lists: phone numbers and emails masked.

Lists show phone numbers and emails masked (`+1******4567`, `j***@example.org`);
only a detail page shows them in full, and every view of a detail page is written
to the audit log (`bot.db.queries.audit`). Retention and "forget me" are
storage's: `bot.db.retention`.
"""

from __future__ import annotations

import re
from typing import Optional

from bot import phi

_PHONE_IN_TEXT = re.compile(r"\+?\d[\d\s().-]{6,}\d")
_EMAIL_IN_TEXT = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+\.[A-Za-z]{2,}")


def mask_phone(value: Optional[str]) -> str:
    """`+15551234567` -> `+1******4567`; other text unchanged."""
    if not value:
        return ""
    return phi.mask_phone(value) if phi.is_e164(value) else value


def mask_email(value: Optional[str]) -> str:
    """`jane@example.org` -> `j***@example.org`."""
    if not value or "@" not in value:
        return value or ""
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_conversation_id(value: str) -> str:
    """A conversation id for a list: an SMS sender's phone number is masked."""
    if value.startswith("whatsapp:"):
        return "whatsapp:" + mask_phone(value[len("whatsapp:") :])
    return mask_phone(value)


def mask_text(text: Optional[str]) -> str:
    """Patient text for a list: phone numbers and emails inside it masked."""
    if not text:
        return ""
    text = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE_IN_TEXT.sub(
        lambda m: "*" * (len(m.group(0)) - 4) + m.group(0)[-4:], text
    )
