"""Every table of the project, on one shared `metadata`: import tables from here.

The tables are declared one module per area in `bot.db.tables`:

- `base`: `metadata`, `Base`, value checks (`InvalidValueError`), UTC timestamps;
- `patients`: `intake_requests`, `handoffs`;
- `sms`: `sms_opt_outs`, `sms_messages`, `sms_send_leases`;
- `feedback`: `answer_feedback`, `saved_replies`;
- `releases`: `model_activations` (which trained model the workers run);
- `console`: the staff console's accounts, sessions, audit log, conversation
  summaries, reviews, tags, corrections and handoff locks.

This module imports every area, so `metadata` is complete for migrations and
schema checks. Rasa's `events` table (the tracker store) is Rasa's:
it is not declared here (see `bot.db.events`), and the migrations never touch it.
"""

from bot.db.tables.base import (
    Base,
    InvalidValueError,
    TextRule,
    UTCDateTime,
    check_text,
    created_at_column,
    metadata,
    updated_at_column,
    utcnow,
)
from bot.db.tables.console import (
    OUTCOMES,
    REVIEW_STATUSES,
    ROLES,
    SESSION_STAGES,
    AuditEntry,
    ConsoleSession,
    ConsoleState,
    ConsoleUser,
    ConversationAnswer,
    ConversationReview,
    ConversationSummary,
    ConversationTag,
    HandoffLock,
    MessageCorrection,
)
from bot.db.tables.feedback import (
    FEEDBACK_TEXT_RULES,
    MAX_REASON_LENGTH,
    SAVED_REPLY_TEXT_RULES,
    VOTE_HELPFUL,
    VOTE_NOT_HELPFUL,
    VOTES,
    AnswerFeedback,
    SavedReply,
)
from bot.db.tables.patients import (
    HANDOFF_ACTIVE_STATUSES,
    HANDOFF_MAX_LENGTHS,
    HANDOFF_REASONS,
    HANDOFF_STATUSES,
    HANDOFF_TEXT_RULES,
    INTAKE_MAX_LENGTHS,
    INTAKE_STATUSES,
    INTAKE_TEXT_RULES,
    Handoff,
    IntakeRequest,
)
from bot.db.tables.releases import ACTIVATION_TEXT_RULES, ModelActivation
from bot.db.tables.sms import (
    SMS_MESSAGE_MAX_LENGTHS,
    SMS_MESSAGE_STATUSES,
    SMS_MESSAGE_TEXT_RULES,
    SMS_OPT_OUT_TEXT_RULES,
    SMS_PENDING_STATUSES,
    SmsMessage,
    SmsOptOut,
    SmsSendLease,
)

__all__ = [
    "ACTIVATION_TEXT_RULES",
    "ModelActivation",
    "FEEDBACK_TEXT_RULES",
    "MAX_REASON_LENGTH",
    "SAVED_REPLY_TEXT_RULES",
    "VOTE_HELPFUL",
    "VOTE_NOT_HELPFUL",
    "VOTES",
    "AnswerFeedback",
    "SavedReply",
    "HANDOFF_ACTIVE_STATUSES",
    "HANDOFF_MAX_LENGTHS",
    "HANDOFF_REASONS",
    "HANDOFF_STATUSES",
    "HANDOFF_TEXT_RULES",
    "INTAKE_MAX_LENGTHS",
    "INTAKE_STATUSES",
    "INTAKE_TEXT_RULES",
    "OUTCOMES",
    "REVIEW_STATUSES",
    "ROLES",
    "SESSION_STAGES",
    "SMS_MESSAGE_MAX_LENGTHS",
    "SMS_MESSAGE_STATUSES",
    "SMS_MESSAGE_TEXT_RULES",
    "SMS_OPT_OUT_TEXT_RULES",
    "SMS_PENDING_STATUSES",
    "AuditEntry",
    "Base",
    "ConsoleSession",
    "ConsoleState",
    "ConsoleUser",
    "ConversationAnswer",
    "ConversationReview",
    "ConversationSummary",
    "ConversationTag",
    "Handoff",
    "HandoffLock",
    "IntakeRequest",
    "InvalidValueError",
    "MessageCorrection",
    "SmsMessage",
    "SmsOptOut",
    "SmsSendLease",
    "TextRule",
    "UTCDateTime",
    "check_text",
    "created_at_column",
    "metadata",
    "updated_at_column",
    "utcnow",
]
