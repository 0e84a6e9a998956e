"""What closes the loop with patients and staff: answer feedback and saved replies.

- `answer_feedback`: a patient's "Helpful" / "Not helpful" on one curated answer
  in the widget, keyed by conversation and answer (the bot event's id within the
  conversation, `answer_id`), with the answer key it was given for. One row per
  answer: voting again changes the row. Never a patient message: it does not
  reach NLU or the transcript as text.
- `saved_replies`: short reply templates the admins keep; staff insert one into
  a reply and edit it before sending.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import CheckConstraint, Column, Integer, String, UniqueConstraint
from sqlalchemy.orm import validates

from bot.db.tables.base import (
    Base,
    TextRule,
    check_choice,
    check_text,
    created_at_column,
    in_values,
    length_checks,
    updated_at_column,
)

VOTE_HELPFUL = "helpful"
VOTE_NOT_HELPFUL = "not_helpful"
VOTES = (VOTE_HELPFUL, VOTE_NOT_HELPFUL)
MAX_REASON_LENGTH = 500  # an optional short reason after "Not helpful"

FEEDBACK_TEXT_RULES = {
    "conversation_id": TextRule(255),
    "answer_id": TextRule(64),
    "answer_key": TextRule(128),
    "reason": TextRule(MAX_REASON_LENGTH, required=False, nullable=True),
}
SAVED_REPLY_TEXT_RULES = {
    "title": TextRule(80),
    "body": TextRule(1600),  # one SMS at most, like a staff reply
    "created_by": TextRule(254, required=False, nullable=True),
}


class AnswerFeedback(Base):
    """A patient's vote on one curated answer (changeable; one per answer)."""

    __tablename__ = "answer_feedback"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    answer_id = Column(String(64), nullable=False)
    answer_key = Column(String(128), nullable=False, index=True)
    vote = Column(String(16), nullable=False)
    reason = Column(String(MAX_REASON_LENGTH), nullable=True)
    created_at = created_at_column()
    updated_at = updated_at_column()

    __table_args__ = (
        UniqueConstraint("conversation_id", "answer_id", name="uq_answer_feedback"),
        CheckConstraint(in_values("vote", VOTES), name="vote"),
        *length_checks(FEEDBACK_TEXT_RULES),
    )

    @validates(*FEEDBACK_TEXT_RULES)
    def _validate_text(self, key: str, value: Any) -> str | None:
        return check_text(key, value, FEEDBACK_TEXT_RULES[key])

    @validates("vote")
    def _validate_vote(self, key: str, value: Any) -> str:
        return check_choice(key, value, VOTES)

    def __repr__(self) -> str:
        return f"<AnswerFeedback id={self.id} vote={self.vote}>"


class SavedReply(Base):
    """A reply template staff can insert into a reply and edit before sending."""

    __tablename__ = "saved_replies"

    id = Column(Integer, primary_key=True)
    title = Column(String(80), nullable=False, unique=True)
    body = Column(String(1600), nullable=False)
    created_by = Column(String(254), nullable=True)
    created_at = created_at_column()
    updated_at = updated_at_column()

    __table_args__ = (*length_checks(SAVED_REPLY_TEXT_RULES),)

    @validates(*SAVED_REPLY_TEXT_RULES)
    def _validate_text(self, key: str, value: Any) -> str | None:
        return check_text(key, value, SAVED_REPLY_TEXT_RULES[key])

    def __repr__(self) -> str:
        return f"<SavedReply id={self.id}>"
