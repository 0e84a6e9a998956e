"""The project's own tables: `intake_requests` and `handoffs`.

Rasa's `events` table (the tracker store) is Rasa's: it is not declared here, and
the migrations never touch it.

Values from patients are untrusted. Every text column has a length limit that the
database enforces (a CHECK constraint, because SQLite ignores VARCHAR lengths) and
that the models check in Python first, when an attribute is set: a bad value
raises `InvalidValueError` (a `ValueError`) naming the field, never the value, so
the message is safe to log and nothing reaches the database. Unicode, emoji,
markup and SQL-looking text are stored unchanged (bound parameters only). Lengths
count characters (code points), the same in Python, SQLite and PostgreSQL.

Timestamps are timezone-aware UTC datetimes on both databases.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    false,
    func,
    text,
)
from sqlalchemy.orm import declarative_base, validates
from sqlalchemy.types import TypeDecorator

INTAKE_STATUSES = ("new", "contacted", "scheduled", "closed")
HANDOFF_REASONS = ("requested", "fallback", "medical_advice", "logistics", "crisis")
HANDOFF_STATUSES = ("open", "claimed", "closed")
HANDOFF_ACTIVE_STATUSES = ("open", "claimed")

# E.164: "+", a non-zero country code digit, at most 15 digits in all (ASCII only).
E164_PATTERN = re.compile(r"\+[1-9][0-9]{1,14}")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)
Base = declarative_base(metadata=metadata)


class InvalidValueError(ValueError):
    """A value cannot be stored; `field` says which one (the value is not shown)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field


class TextRule(NamedTuple):
    """Limits of one text column."""

    max_length: int
    required: bool = True  # NOT NULL and at least one non-space character
    nullable: bool = False


INTAKE_TEXT_RULES = {
    "conversation_id": TextRule(255),
    "channel": TextRule(64),
    "submission_key": TextRule(128),
    "full_name": TextRule(200),
    "phone_e164": TextRule(20),
    "email": TextRule(254, required=False, nullable=True),
    "condition": TextRule(2000),
    "best_time": TextRule(200),
    "notes": TextRule(4000, required=False, nullable=True),
    "notify_error": TextRule(1000, required=False, nullable=True),
}
HANDOFF_TEXT_RULES = {
    "conversation_id": TextRule(255),
    "channel": TextRule(64),
    "summary": TextRule(2000, required=False),  # may be empty, never NULL
    "claimed_by": TextRule(200, required=False, nullable=True),
}
# The length limits, for callers that shorten a value before storing it.
INTAKE_MAX_LENGTHS = {name: rule.max_length for name, rule in INTAKE_TEXT_RULES.items()}
HANDOFF_MAX_LENGTHS = {
    name: rule.max_length for name, rule in HANDOFF_TEXT_RULES.items()
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def check_text(field: str, value: Any, rule: TextRule) -> str | None:
    """Checks one text value against its rule.

    Args:
        field: column name, used in the error message.
        value: the value to store.
        rule: the column's limits.

    Returns:
        The value, unchanged.

    Raises:
        InvalidValueError: the value is missing, not text, too long, contains a NUL
            character or is not valid Unicode (e.g. a lone surrogate).
    """
    if value is None:
        if rule.nullable:
            return None
        raise InvalidValueError(field, "is required")
    if not isinstance(value, str):
        raise InvalidValueError(field, f"must be text, not {type(value).__name__}")
    if rule.required and not value.strip():
        raise InvalidValueError(field, "is required")
    if len(value) > rule.max_length:
        raise InvalidValueError(
            field, f"is too long ({len(value)} characters, at most {rule.max_length})"
        )
    if "\x00" in value:
        raise InvalidValueError(field, "contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValueError(field, "is not valid Unicode text") from None
    return value


def _check_choice(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidValueError(field, f"must be one of {', '.join(allowed)}")
    return value


def _check_bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidValueError(field, "must be True or False")
    return value


def _length_checks(rules: dict[str, TextRule]) -> list[CheckConstraint]:
    checks = []
    for name, rule in rules.items():
        low = 1 if rule.required else 0
        checks.append(
            CheckConstraint(
                f"length({name}) BETWEEN {low} AND {rule.max_length}",
                name=f"{name}_length",
            )
        )
    return checks


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL stores `timestamptz`; SQLite, which has no time zones, stores UTC
    without an offset. Both come back as aware UTC datetimes; naive ones are
    refused on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> Any:
        """Aware datetime -> UTC (naive UTC for SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use an aware one (bot.db.models.utcnow)")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> Any:
        """Stored value -> aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def created_at_column(index: bool = False) -> Column:
    """When a row was made: set by Python, or by the database for raw inserts."""
    return Column(
        UTCDateTime(),
        nullable=False,
        default=utcnow,
        server_default=func.now(),
        index=index,
    )


def updated_at_column() -> Column:
    """When a row last changed: set at insert and at every ORM update."""
    return Column(
        UTCDateTime(),
        nullable=False,
        default=utcnow,
        onupdate=utcnow,
        server_default=func.now(),
    )


class IntakeRequest(Base):
    """A patient's request to be contacted, collected by the intake form.

    One row per submission: `submission_key` is unique, so a retried action finds
    the row it stored the first time (see `repository.save_intake`).
    """

    __tablename__ = "intake_requests"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(64), nullable=False)
    submission_key = Column(String(128), nullable=False, unique=True)
    full_name = Column(String(200), nullable=False)
    phone_e164 = Column(String(20), nullable=False)
    email = Column(String(254), nullable=True)
    condition = Column(String(2000), nullable=False)  # the patient's own words
    best_time = Column(String(200), nullable=False)
    consent = Column(
        Boolean(create_constraint=True, name="consent_bool"), nullable=False
    )
    status = Column(
        String(16), nullable=False, default="new", server_default="new", index=True
    )
    notes = Column(String(4000), nullable=True)  # staff's notes
    notified_at = Column(UTCDateTime(), nullable=True)
    notify_error = Column(String(1000), nullable=True)
    created_at = created_at_column(index=True)
    updated_at = updated_at_column()

    __table_args__ = (
        CheckConstraint(_in("status", INTAKE_STATUSES), name="status"),
        *_length_checks(INTAKE_TEXT_RULES),
    )

    @validates(*INTAKE_TEXT_RULES)
    def _validate_text(self, key: str, value: Any) -> str | None:
        if key == "email" and value == "":
            value = None
        value = check_text(key, value, INTAKE_TEXT_RULES[key])
        if key == "phone_e164" and not E164_PATTERN.fullmatch(value):
            raise InvalidValueError(key, "must be in E.164 form: + and 2-15 digits")
        return value

    @validates("consent")
    def _validate_consent(self, key: str, value: Any) -> bool:
        return _check_bool(key, value)

    @validates("status")
    def _validate_status(self, key: str, value: Any) -> str:
        return _check_choice(key, value, INTAKE_STATUSES)

    def __repr__(self) -> str:
        return f"<IntakeRequest id={self.id} status={self.status}>"


class Handoff(Base):
    """A conversation handed to a person: open -> claimed -> closed.

    At most one open or claimed handoff per conversation (a partial unique index),
    so a repeated "talk to a person" never queues the patient twice.
    """

    __tablename__ = "handoffs"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(64), nullable=False)
    reason = Column(String(32), nullable=False)
    status = Column(
        String(16), nullable=False, default="open", server_default="open", index=True
    )
    urgent = Column(
        Boolean(create_constraint=True, name="urgent_bool"),
        nullable=False,
        default=False,
        server_default=false(),
    )
    summary = Column(String(2000), nullable=False)  # what the patient asked
    created_at = created_at_column(index=True)
    claimed_by = Column(String(200), nullable=True)
    claimed_at = Column(UTCDateTime(), nullable=True)
    closed_at = Column(UTCDateTime(), nullable=True)

    __table_args__ = (
        CheckConstraint(_in("reason", HANDOFF_REASONS), name="reason"),
        CheckConstraint(_in("status", HANDOFF_STATUSES), name="status"),
        *_length_checks(HANDOFF_TEXT_RULES),
        Index(
            "uq_handoffs_active_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=text(_in("status", HANDOFF_ACTIVE_STATUSES)),
            postgresql_where=text(_in("status", HANDOFF_ACTIVE_STATUSES)),
        ),
    )

    @validates(*HANDOFF_TEXT_RULES)
    def _validate_text(self, key: str, value: Any) -> str | None:
        return check_text(key, value, HANDOFF_TEXT_RULES[key])

    @validates("reason")
    def _validate_reason(self, key: str, value: Any) -> str:
        return _check_choice(key, value, HANDOFF_REASONS)

    @validates("status")
    def _validate_status(self, key: str, value: Any) -> str:
        return _check_choice(key, value, HANDOFF_STATUSES)

    @validates("urgent")
    def _validate_urgent(self, key: str, value: Any) -> bool:
        return _check_bool(key, value)

    def __repr__(self) -> str:
        return f"<Handoff id={self.id} status={self.status} urgent={self.urgent}>"


# --- SMS (bot.channels.twilio_sms) ---------------------------------------------------

SMS_MESSAGE_STATUSES = ("queued", "sent", "failed", "blocked")
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
}
SMS_MESSAGE_MAX_LENGTHS = {
    name: rule.max_length for name, rule in SMS_MESSAGE_TEXT_RULES.items()
}


def _check_phone(field: str, value: Any) -> str:
    if not E164_PATTERN.fullmatch(value):
        raise InvalidValueError(field, "must be in E.164 form: + and 2-15 digits")
    return value


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

    __table_args__ = (*_length_checks(SMS_OPT_OUT_TEXT_RULES),)

    @validates(*SMS_OPT_OUT_TEXT_RULES)
    def _validate_text(self, key: str, value: Any) -> str | None:
        value = check_text(key, value, SMS_OPT_OUT_TEXT_RULES[key])
        return _check_phone(key, value) if key == "phone_e164" else value

    @validates("opted_out")
    def _validate_opted_out(self, key: str, value: Any) -> bool:
        return _check_bool(key, value)

    def __repr__(self) -> str:
        return f"<SmsOptOut id={self.id} opted_out={self.opted_out}>"


class SmsMessage(Base):
    """One outbound SMS: queued -> sent, failed (after retries) or blocked (opt-out).

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
    created_at = created_at_column(index=True)
    updated_at = updated_at_column()

    __table_args__ = (
        CheckConstraint(_in("status", SMS_MESSAGE_STATUSES), name="status"),
        CheckConstraint("attempts >= 0", name="attempts_positive"),
        *_length_checks(SMS_MESSAGE_TEXT_RULES),
    )

    @validates(*SMS_MESSAGE_TEXT_RULES)
    def _validate_text(self, key: str, value: Any) -> str | None:
        value = check_text(key, value, SMS_MESSAGE_TEXT_RULES[key])
        return _check_phone(key, value) if key == "phone_e164" else value

    @validates("status")
    def _validate_status(self, key: str, value: Any) -> str:
        return _check_choice(key, value, SMS_MESSAGE_STATUSES)

    def __repr__(self) -> str:
        return f"<SmsMessage id={self.id} status={self.status}>"


# The staff console's tables (migration 0003) live with the console; importing
# them here keeps `metadata` complete for migrations and schema checks.
from bot.console import models as _console_models  # noqa: E402, F401
