"""The patient's own requests: `intake_requests` and `handoffs`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    false,
    text,
)
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

INTAKE_STATUSES = ("new", "contacted", "scheduled", "closed")
# Why a patient was handed to staff (`handoffs.reason`).
REASON_REQUESTED = "requested"  # asked for a person
REASON_FALLBACK = "fallback"  # after "Did you mean...?"
REASON_MEDICAL_ADVICE = "medical_advice"  # after "I can't advise on your own case"
REASON_LOGISTICS = "logistics"  # after "the article does not say" (cost, insurance...)
REASON_CRISIS = "crisis"  # crisis guidance sent: urgent
HANDOFF_REASONS = (
    REASON_REQUESTED,
    REASON_FALLBACK,
    REASON_MEDICAL_ADVICE,
    REASON_LOGISTICS,
    REASON_CRISIS,
)
HANDOFF_STATUSES = ("open", "claimed", "closed")
HANDOFF_ACTIVE_STATUSES = ("open", "claimed")

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
    "notify_error": TextRule(1000, required=False, nullable=True),
}
# The length limits, for callers that shorten a value before storing it.
INTAKE_MAX_LENGTHS = {name: rule.max_length for name, rule in INTAKE_TEXT_RULES.items()}
HANDOFF_MAX_LENGTHS = {
    name: rule.max_length for name, rule in HANDOFF_TEXT_RULES.items()
}


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
        CheckConstraint(in_values("status", INTAKE_STATUSES), name="status"),
        *length_checks(INTAKE_TEXT_RULES),
    )

    @validates(*INTAKE_TEXT_RULES)
    def _validate_text(self, key: str, value: Any) -> str | None:
        if key == "email" and value == "":
            value = None
        value = check_text(key, value, INTAKE_TEXT_RULES[key])
        return check_phone(key, value) if key == "phone_e164" else value

    @validates("consent")
    def _validate_consent(self, key: str, value: Any) -> bool:
        return check_bool(key, value)

    @validates("status")
    def _validate_status(self, key: str, value: Any) -> str:
        return check_choice(key, value, INTAKE_STATUSES)

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
    # Migration 0007: timing and telling staff.
    first_reply_at = Column(UTCDateTime(), nullable=True)  # staff's first reply
    waiting_notice_at = Column(UTCDateTime(), nullable=True)  # "still waiting" sent
    notified_at = Column(UTCDateTime(), nullable=True)  # STAFF_NOTIFY_URL accepted
    notify_error = Column(String(1000), nullable=True)  # ...or why not

    __table_args__ = (
        CheckConstraint(in_values("reason", HANDOFF_REASONS), name="reason"),
        CheckConstraint(in_values("status", HANDOFF_STATUSES), name="status"),
        *length_checks(HANDOFF_TEXT_RULES),
        Index(
            "uq_handoffs_active_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=text(in_values("status", HANDOFF_ACTIVE_STATUSES)),
            postgresql_where=text(in_values("status", HANDOFF_ACTIVE_STATUSES)),
        ),
    )

    @validates(*HANDOFF_TEXT_RULES)
    def _validate_text(self, key: str, value: Any) -> str | None:
        return check_text(key, value, HANDOFF_TEXT_RULES[key])

    @validates("reason")
    def _validate_reason(self, key: str, value: Any) -> str:
        return check_choice(key, value, HANDOFF_REASONS)

    @validates("status")
    def _validate_status(self, key: str, value: Any) -> str:
        return check_choice(key, value, HANDOFF_STATUSES)

    @validates("urgent")
    def _validate_urgent(self, key: str, value: Any) -> bool:
        return check_bool(key, value)

    def __repr__(self) -> str:
        return f"<Handoff id={self.id} status={self.status} urgent={self.urgent}>"
