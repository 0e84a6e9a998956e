"""Answer analytics: answers given, rated, followed by a person; resolved conversations.

Per answer key: how often it was given, how patients rated it, how often they
asked for a person right after it; and how many conversations ended without a
person.

All figures come from aggregated tables, never from Rasa's `events`:

- times given and "asked for a person right after": `conversation_answers`
  (`count`, `then_human`, derived by `bot.db.summaries`), for the conversations
  that started in the period (`conversation_summaries.first_at`);
- votes and reasons: `answer_feedback` (written by the widget), by the time of the
  vote (`updated_at`: voting again changes the row);
- resolved without a person: conversations that started in the period with no
  handoff: neither `action_handoff` in their events (the summary's `handoff`
  flag) nor a row in `handoffs` (a requested or a crisis handoff).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.db.models import (
    VOTE_HELPFUL,
    VOTE_NOT_HELPFUL,
    AnswerFeedback,
    ConversationAnswer,
    ConversationSummary,
    Handoff,
)

REASONS_LIMIT = 200  # newest not-helpful votes shown for one key

_answer = ConversationAnswer.__table__
_summary = ConversationSummary.__table__
_feedback = AnswerFeedback.__table__
_handoff = Handoff.__table__


def _since_ts(since: Optional[datetime]) -> Optional[float]:
    return None if since is None else since.timestamp()


def given_counts(
    connection: Connection,
    since: Optional[datetime] = None,
    answer_key: Optional[str] = None,
) -> Dict[str, Dict[str, int]]:
    """Per answer key: `given` (times), `conversations`, `then_human` (times)."""
    query = sa.select(
        _answer.c.answer_key,
        sa.func.sum(_answer.c.count),
        sa.func.count(),
        sa.func.sum(_answer.c.then_human),
    ).group_by(_answer.c.answer_key)
    if since is not None:
        # IN, not a join: SQLite then reads the period's conversations first and
        # looks their answers up by key (83 ms instead of 280 ms at 100,000).
        started = sa.select(_summary.c.conversation_id).where(
            _summary.c.first_at >= _since_ts(since)
        )
        query = query.where(_answer.c.conversation_id.in_(started))
    if answer_key is not None:
        query = query.where(_answer.c.answer_key == answer_key)
    return {
        key: {
            "given": int(given or 0),
            "conversations": int(conversations or 0),
            "then_human": int(then_human or 0),
        }
        for key, given, conversations, then_human in connection.execute(query)
    }


def vote_counts(
    connection: Connection,
    since: Optional[datetime] = None,
    answer_key: Optional[str] = None,
) -> Dict[str, Dict[str, int]]:
    """Per answer key: `helpful` and `not_helpful` votes (and `reasons` given)."""
    query = sa.select(
        _feedback.c.answer_key,
        _feedback.c.vote,
        sa.func.count(),
        sa.func.count(_feedback.c.reason),
    ).group_by(_feedback.c.answer_key, _feedback.c.vote)
    if since is not None:
        query = query.where(_feedback.c.updated_at >= since)
    if answer_key is not None:
        query = query.where(_feedback.c.answer_key == answer_key)
    counts: Dict[str, Dict[str, int]] = {}
    for key, vote, number, with_reason in connection.execute(query):
        row = counts.setdefault(
            key, {VOTE_HELPFUL: 0, VOTE_NOT_HELPFUL: 0, "reasons": 0}
        )
        row[vote] = int(number)
        if vote == VOTE_NOT_HELPFUL:
            row["reasons"] = int(with_reason)
    return counts


def not_helpful_votes(
    connection: Connection,
    answer_key: str,
    since: Optional[datetime] = None,
    limit: int = REASONS_LIMIT,
) -> List[Dict[str, Any]]:
    """The newest "Not helpful" votes on one key: conversation, reason, when."""
    query = (
        sa.select(
            _feedback.c.conversation_id,
            _feedback.c.answer_id,
            _feedback.c.reason,
            _feedback.c.updated_at,
        )
        .where(
            _feedback.c.answer_key == answer_key,
            _feedback.c.vote == VOTE_NOT_HELPFUL,
        )
        .order_by(_feedback.c.updated_at.desc(), _feedback.c.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(_feedback.c.updated_at >= since)
    return [dict(row) for row in connection.execute(query).mappings()]


def resolution(connection: Connection, since: Optional[datetime] = None) -> Dict:
    """Conversations (started in the period): `total`, `with_person`, `without`."""
    with_person = sa.or_(
        _summary.c.handoff.is_(True),
        _summary.c.conversation_id.in_(sa.select(_handoff.c.conversation_id)),
    )
    query = sa.select(
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(sa.case((with_person, 1), else_=0)), 0),
    ).select_from(_summary)
    if since is not None:
        query = query.where(_summary.c.first_at >= _since_ts(since))
    total, person = connection.execute(query).one()
    return {
        "total": int(total),
        "with_person": int(person),
        "without": int(total) - int(person),
    }
