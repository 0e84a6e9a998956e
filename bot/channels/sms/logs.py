"""Masks phone numbers in the log lines of Rasa's loggers (the SMS sender id)."""

from __future__ import annotations

import logging

from bot.phi import mask_phones_in

# Rasa logs the sender id (the patient's number on SMS) in a few warnings, e.g.
# when its circuit breaker trips (`rasa.core.processor`).
MASKED_LOGGERS = ("rasa.core.processor", "rasa.core.agent", "rasa.server")


class PhoneMaskingFilter(logging.Filter):
    """Masks phone numbers in log records of loggers we do not own."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrites the record's message with every number masked."""
        message = record.getMessage()
        masked = mask_phones_in(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def mask_rasa_logs() -> None:
    """Adds the filter to Rasa's loggers that may name a sender (once each)."""
    for name in MASKED_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, PhoneMaskingFilter) for f in target.filters):
            target.addFilter(PhoneMaskingFilter())
