"""The SMS channel's tables (`bot.channels.sms`): opt-outs, messages, send leases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Column, Index, Integer, String
from sqlalchemy.orm import validates

from bot.db.tables.base import (
    Base,
    TextRule,
    UTCDateTime,
    check_bool,
    check_choice,
    check_phone,
    check_text,
    created_at_column,
    in_values,
    length_checks,
    updated_at_column,
)

SMS_MESSAGE_STATUSES = ("queued", "sending", "resending", "sent", "failed", "blocked")
# Not settled yet: waiting for its turn, or a request to Twilio under way (or
# interrupted by a crash: see `bot.channels.sms.sender`).
SMS_PENDING_STATUSES = ("queued", "sending", "resending")
SMS_OPT_OUT_TEXT_RULES = {
    "phone_e164": TextRule(20),
    "keyword": TextRule(32),
}
SMS_MESSAGE_TEXT_RULES = {
    "conversation_id": TextRule(255),
    "phone_e164": TextRule(20),
    "body": TextRule(1600, required=False, nullable=True),  # Twilio's maximum
    "buttons": TextRule(4000, required=False, nullable=True),
    "error_code": TextRule(32, required=False, nullable=True),
    "twilio_sid": TextRule(64, required=False, nullable=True),
    "reply_id": TextRule(32, required=False, nullable=True),
}
SMS_MESSAGE_MAX_LENGTHS = {
    name: rule.max_length for name, rule in SMS_MESSAGE_TEXT_RULES.items()
}


class SmsOptOut(Base):
    """A phone number's SMS consent: STOP opts it out, START opts it back in.

    One row per number, kept when the number opts back in (`opted_out` False), so
    the last keyword and its time stay on record.
    """

    __tablename__ = "sms_opt_outs"

    id = Column(Integer, primary_key=True)
    phone_e164 = Column(String(20), nullable=False, unique=True)
    opted_out = Column(
        Boolean(create_constraint=True, name="opted_out_bool"), nullable=False
    )
    keyword = Column(String(32), nullable=False)  # e.g. "STOP", "START"
    changed_at = updated_at_column()

    __table_args__ = (*length_checks(SMS_OPT_OUT_TEXT_RULES),)

    @validates(*SMS_OPT_OUT_TEXT_RULES)
    def _validate_text(self, key: str, value: Any) -> str | None:
        value = check_text(key, value, SMS_OPT_OUT_TEXT_RULES[key])
        return check_phone(key, value) if key == "phone_e164" else value

    @validates("opted_out")
    def _validate_opted_out(self, key: str, value: Any) -> bool:
        return check_bool(key, value)

    def __repr__(self) -> str:
        return f"<SmsOptOut id={self.id} opted_out={self.opted_out}>"


class SmsMessage(Base):
    """One outbound SMS: queued -> sending -> sent, failed (after retries) or blocked.

    A number's pending rows are sent strictly in `id` order, by whichever process
    holds the number's `SmsSendLease`. `reply_id` groups the parts of one reply
    (NULL on rows of before migration 0006). `sending` means a request to Twilio is
    under way; a row found `sending` by the next lease holder was interrupted by a
    crash and is sent once more as `resending`; a row found `resending` is not sent
    again (`failed`, `send_interrupted`).

    `body` is health information: it is kept only while the message is not sent
    (queued or failed, so a failed send can be resent) and cleared once Twilio has
    accepted it; blocked messages never store it. `buttons` (JSON: the options the
    message offered, `[{"title": ..., "payload": ...}]`) lets a reply "1" pick the
    first option, in whichever process receives it.
    """

    __tablename__ = "sms_messages"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    phone_e164 = Column(String(20), nullable=False, index=True)
    body = Column(String(1600), nullable=True)
    buttons = Column(String(4000), nullable=True)
    status = Column(
        String(16), nullable=False, default="queued", server_default="queued"
    )
    attempts = Column(Integer, nullable=False, default=0, server_default="0")
    error_code = Column(String(32), nullable=True)  # Twilio's code or e.g. "network"
    twilio_sid = Column(String(64), nullable=True)
    reply_id = Column(String(32), nullable=True)  # the parts of one reply
    created_at = created_at_column(index=True)
    updated_at = updated_at_column()

    __table_args__ = (
        CheckConstraint(in_values("status", SMS_MESSAGE_STATUSES), name="status"),
        CheckConstraint("attempts >= 0", name="attempts_positive"),
        *length_checks(SMS_MESSAGE_TEXT_RULES),
        Index("ix_sms_messages_status_phone", "status", "phone_e164", "id"),
    )

    @validates(*SMS_MESSAGE_TEXT_RULES)
    def _validate_text(self, key: str, value: Any) -> str | None:
        value = check_text(key, value, SMS_MESSAGE_TEXT_RULES[key])
        return check_phone(key, value) if key == "phone_e164" else value

    @validates("status")
    def _validate_status(self, key: str, value: Any) -> str:
        return check_choice(key, value, SMS_MESSAGE_STATUSES)

    def __repr__(self) -> str:
        return f"<SmsMessage id={self.id} status={self.status}>"


class SmsSendLease(Base):
    """Which process delivers a number's pending SMS, until when.

    One row per number while a process (`holder`, random per sender) sends its
    rows; taken when free or expired, renewed before each body, deleted when the
    number has nothing left to send. An expired row is a crashed (or stalled)
    holder's: the next taker replaces it.
    """

    __tablename__ = "sms_send_leases"

    phone_e164 = Column(String(20), primary_key=True)
    holder = Column(String(64), nullable=False)
    expires_at = Column(UTCDateTime(), nullable=False)

    def __repr__(self) -> str:
        return f"<SmsSendLease expires_at={self.expires_at}>"
