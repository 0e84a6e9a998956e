"""Patients' votes on curated answers (`answer_feedback`): the widget's write side.

One row per answer of a conversation (`conversation_id`, `answer_id`): voting
again changes it, in one INSERT … ON CONFLICT DO UPDATE on both databases, so
two votes arriving at once leave one row. The values are checked here as the
model would (`bot.db.tables.feedback`), since Core statements skip the model's
checks; the database checks them again.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.db.models import (
    FEEDBACK_TEXT_RULES,
    VOTE_HELPFUL,
    VOTES,
    AnswerFeedback,
    check_text,
    utcnow,
)
from bot.db.tables.base import check_choice

_feedback = AnswerFeedback.__table__


def record_vote(
    connection: Any,
    conversation_id: str,
    answer_id: str,
    answer_key: str,
    vote: str,
    reason: Optional[str] = None,
) -> None:
    """Stores a vote on one answer, or changes the vote already there.

    A blank reason counts as none. "Not helpful" without a reason keeps a
    reason given before (the widget sends the vote first, the reason after);
    "Helpful" clears it (a reason says why an answer did not help).

    Args:
        connection: a `Connection` or `Session`, inside a transaction.
        conversation_id: the conversation (Rasa sender id).
        answer_id: the answer within it (the widget's id of the bot event).
        answer_key: the catalog key of the answer (from the conversation, never
            from the patient's browser).
        vote: `helpful` or `not_helpful`.
        reason: the patient's optional short reason (at most 500 characters).

    Raises:
        InvalidValueError: a value the table would refuse (the message names the
            field, never the value).
    """
    if reason is not None and not reason.strip():
        reason = None
    values: Dict[str, Any] = {
        name: check_text(name, value, FEEDBACK_TEXT_RULES[name])
        for name, value in (
            ("conversation_id", conversation_id),
            ("answer_id", answer_id),
            ("answer_key", answer_key),
            ("reason", reason),
        )
    }
    values["vote"] = check_choice("vote", vote, VOTES)
    if vote == VOTE_HELPFUL:
        values["reason"] = None
    now = utcnow()
    bind = connection.get_bind() if isinstance(connection, Session) else connection
    dialect = postgresql if bind.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_feedback).values(
        **values, created_at=now, updated_at=now
    )
    incoming = statement.excluded
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["conversation_id", "answer_id"],
            set_={
                "answer_key": incoming.answer_key,
                "vote": incoming.vote,
                "reason": sa.case(
                    (incoming.vote == VOTE_HELPFUL, sa.null()),
                    else_=sa.func.coalesce(incoming.reason, _feedback.c.reason),
                ),
                "updated_at": incoming.updated_at,
            },
        )
    )


def votes_of(connection: Any, conversation_id: str) -> Dict[str, str]:
    """The conversation's votes by answer id (for the history after a reload)."""
    rows = connection.execute(
        sa.select(_feedback.c.answer_id, _feedback.c.vote).where(
            _feedback.c.conversation_id == conversation_id
        )
    )
    return {answer_id: vote for answer_id, vote in rows}
