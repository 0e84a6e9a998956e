"""The staff console's tables (migrations 0003-0005), on the project's shared `Base`.

- `console_users`, `console_sessions`: staff accounts (argon2 hashes, lockout
  counters, display name, second factor, pending password reset) and server-side
  sessions (only a keyed hash of the cookie is stored; a session is `full`, or
  `totp` between the password and the second factor).
- `conversation_summaries`, `conversation_answers`: one row per conversation (and
  per answer key it got), derived from Rasa's `events` table by
  `bot.db.summaries.refresh` so lists and filters never scan events. They can
  be dropped and rebuilt at any time; `console_state` keeps the refresh watermark.
- `conversation_reviews`, `conversation_tags`, `message_corrections`: what staff
  add to a conversation (review status and note, tags, corrected labels).
- `console_audit_log`: who viewed or changed which conversation or intake request
  (also failed sign-ins, counted per client address for throttling).
- `console_handoff_locks`: a short lease per handoff while a reply or a hand-back
  talks to Rasa, so the two never interleave (`bot.handoff.desk`).

`bot.db.models` imports this module, so `bot.db.models.metadata`
(migrations, `tests/unit/db/test_db.py`) always includes these tables.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    true,
)

from bot.db.tables.base import (
    Base,
    UTCDateTime,
    created_at_column,
    flag_column,
    in_values,
    updated_at_column,
)

ROLES = ("staff", "admin")
SESSION_STAGES = ("full", "totp")
REVIEW_STATUSES = ("unreviewed", "reviewed")
OUTCOMES = ("answered", "fallback", "handoff", "crisis", "intake")


class ConsoleUser(Base):
    """A staff member who can sign in to the console."""

    __tablename__ = "console_users"

    id = Column(Integer, primary_key=True)
    email = Column(String(254), nullable=False, unique=True)
    password_hash = Column(String(255), nullable=False)
    role = Column(String(16), nullable=False, default="staff", server_default="staff")
    active = Column(
        Boolean(create_constraint=True, name="active_bool"),
        nullable=False,
        default=True,
        server_default=true(),
    )
    failed_logins = Column(Integer, nullable=False, default=0, server_default="0")
    locked_until = Column(UTCDateTime(), nullable=True)
    last_login_at = Column(UTCDateTime(), nullable=True)
    created_at = created_at_column()
    # Migration 0005. What patients see on a staff reply (never the email).
    display_name = Column(String(80), nullable=True)
    # The TOTP secret, encrypted with a key derived from CONSOLE_SECRET_KEY; NULL:
    # no second factor. The last time step used, so a code works only once.
    totp_secret = Column(String(255), nullable=True)
    totp_last_step = Column(BigInteger, nullable=True)
    password_changed_at = Column(UTCDateTime(), nullable=True)
    # An admin-issued password reset: keyed hash of the one-time token, expiry.
    reset_token_hash = Column(String(64), nullable=True, unique=True, index=True)
    reset_expires_at = Column(UTCDateTime(), nullable=True)

    __table_args__ = (CheckConstraint(in_values("role", ROLES), name="role"),)


class ConsoleSession(Base):
    """A signed-in browser: the cookie's keyed hash, its user and CSRF token."""

    __tablename__ = "console_sessions"

    token_hash = Column(String(64), primary_key=True)
    user_id = Column(
        Integer,
        ForeignKey("console_users.id", ondelete="CASCADE", name="fk_sessions_user"),
        nullable=False,
        index=True,
    )
    csrf_token = Column(String(64), nullable=False)
    created_at = created_at_column()
    expires_at = Column(UTCDateTime(), nullable=False, index=True)
    # The last request (written at most once a minute); NULL: none since sign-in.
    last_seen_at = Column(UTCDateTime(), nullable=True)  # migration 0004
    # Migration 0005: "totp" between a right password and the second factor.
    stage = Column(String(16), nullable=False, default="full", server_default="full")
    # A second factor being set up in this browser (encrypted), until confirmed.
    totp_setup_secret = Column(String(255), nullable=True)

    __table_args__ = (
        CheckConstraint(in_values("stage", SESSION_STAGES), name="stage"),
    )


class ConversationSummary(Base):
    """One conversation as the console lists it, derived from Rasa's events."""

    __tablename__ = "conversation_summaries"

    conversation_id = Column(String(255), primary_key=True)
    channel = Column(String(64), nullable=True, index=True)
    first_at = Column(Float, nullable=False)  # Unix time, like events.timestamp
    last_at = Column(Float, nullable=False, index=True)
    message_count = Column(Integer, nullable=False, default=0)
    fallback_count = Column(Integer, nullable=False, default=0)
    answered = flag_column("answered")
    fallback = flag_column("fallback")
    handoff = flag_column("handoff")
    crisis = flag_column("crisis")
    intake = flag_column("intake")
    first_message = Column(String(500), nullable=True)
    search_text = Column(Text, nullable=False, default="")  # lower-cased, capped
    last_event_id = Column(Integer, nullable=False)


class ConversationAnswer(Base):
    """How often a conversation got one FAQ answer key (for filters and charts)."""

    __tablename__ = "conversation_answers"

    conversation_id = Column(String(255), primary_key=True)
    answer_key = Column(String(128), primary_key=True, index=True)
    count = Column(Integer, nullable=False, default=1)
    # Migration 0008: how many of those answers the patient followed by asking for
    # a person (next message `request_human`, or the next thing a handoff).
    then_human = Column(Integer, nullable=False, default=0, server_default="0")


class ConversationReview(Base):
    """Staff's review status and note on a conversation."""

    __tablename__ = "conversation_reviews"

    conversation_id = Column(String(255), primary_key=True)
    status = Column(
        String(16), nullable=False, default="unreviewed", server_default="unreviewed"
    )
    note = Column(String(4000), nullable=True)
    updated_by = Column(String(254), nullable=True)
    updated_at = updated_at_column()

    __table_args__ = (
        CheckConstraint(in_values("status", REVIEW_STATUSES), name="status"),
        CheckConstraint("length(note) BETWEEN 0 AND 4000", name="note_length"),
    )


class ConversationTag(Base):
    """A tag staff put on a conversation (e.g. "follow-up", "billing")."""

    __tablename__ = "conversation_tags"

    conversation_id = Column(String(255), primary_key=True)
    tag = Column(String(64), primary_key=True, index=True)
    created_by = Column(String(254), nullable=True)
    created_at = created_at_column()


class MessageCorrection(Base):
    """The right label for a patient message the bot recognised wrongly."""

    __tablename__ = "message_corrections"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    event_id = Column(Integer, nullable=False, unique=True)  # events.id
    text = Column(String(2000), nullable=False)  # the message as the patient wrote it
    predicted = Column(String(160), nullable=True)  # e.g. "faq/safety", "greet"
    corrected = Column(String(160), nullable=False)
    created_by = Column(String(254), nullable=False)
    created_at = created_at_column()


class AuditEntry(Base):
    """Who looked at or changed what, and when (patient data access log)."""

    __tablename__ = "console_audit_log"

    id = Column(Integer, primary_key=True)
    at = created_at_column(index=True)
    user_email = Column(String(254), nullable=True)
    action = Column(String(64), nullable=False)  # e.g. "view", "review", "reply"
    object_type = Column(String(32), nullable=False)  # conversation, intake, ...
    object_id = Column(String(255), nullable=True, index=True)
    client_ip = Column(String(64), nullable=True)

    # Failed sign-ins per client address (migration 0004).
    __table_args__ = (Index("ix_console_audit_log_client_ip", "client_ip", "at"),)


class HandoffLock(Base):
    """A lease on one handoff while a reply or a hand-back is under way."""

    __tablename__ = "console_handoff_locks"

    handoff_id = Column(Integer, primary_key=True, autoincrement=False)
    holder = Column(String(64), nullable=False)  # random, per operation
    expires_at = Column(UTCDateTime(), nullable=False)


class ConsoleState(Base):
    """Small named counters, e.g. the last `events.id` folded into the summaries."""

    __tablename__ = "console_state"

    name = Column(String(64), primary_key=True)
    value = Column(Integer, nullable=False)
