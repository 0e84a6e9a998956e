"""Rasa's `events` table (the tracker store), as the project reads it.

The table is Rasa's: it is not declared in `bot.db.models` and the migrations never
touch it. Every query of ours on it (summaries, transcripts, corrections, the
forget checks, retention) goes through this module, so the one place that knows
its columns and the JSON of its `user` and `slot` rows is here.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.nlu import parse_result
from bot.vocabulary import ACTION_LISTEN, CRISIS_FLAGGED

TABLE_NAME = "events"
CRISIS_SLOT = CRISIS_FLAGGED

EVENTS = sa.table(
    TABLE_NAME,
    sa.column("id", sa.Integer),
    sa.column("sender_id", sa.String),
    sa.column("type_name", sa.String),
    sa.column("timestamp", sa.Float),
    sa.column("intent_name", sa.String),
    sa.column("action_name", sa.String),
    sa.column("data", sa.Text),
)


def table_exists(bind: Engine | Connection) -> bool:
    """True once Rasa has created its tracker store table.

    Inside a transaction pass its connection: on SQLite a second connection
    would wait for the write lock that transaction holds.
    """
    return sa.inspect(bind).has_table(TABLE_NAME)


def crisis_flag_set(data: str | None) -> bool:
    """True when a `crisis_flagged` slot event's JSON sets the slot to true.

    Every session start sets the slot to false (or resets it to None): only
    `true` is a flag.
    """
    try:
        event = json.loads(data or "{}")
    except ValueError:
        return False
    return isinstance(event, dict) and event.get("value") is True


def parse_user_event(data: str | None) -> Dict[str, Any]:
    """What the console needs from a stored `user` event's JSON.

    Returns:
        `text`, `channel`, `intent`, `intent_confidence`, `answer_key` (the key
        without `faq/`, or None), `answer_confidence` and `why` (the NLU's own
        account of its decision: gate scores, the safety rule that fired).
    """
    try:
        event = json.loads(data or "{}")
    except ValueError:
        event = {}
    parse = parse_result.read(event.get("parse_data") or {})
    return {
        "text": str(event.get("text") or ""),
        "channel": event.get("input_channel"),
        "intent": parse.intent,
        "intent_confidence": parse.intent_confidence,
        "answer_key": parse.answer_key,
        "answer_confidence": parse.answer_confidence,
        "why": parse.why,
        "metadata": event.get("metadata") or {},
    }


# The rows a summary is made of: patient messages, actions other than listening
# (bot utterances carry nothing the summary needs) and slots.
_MEANINGFUL = sa.or_(
    EVENTS.c.type_name == "user",
    sa.and_(
        EVENTS.c.type_name.in_(("action", "slot")),
        EVENTS.c.action_name != ACTION_LISTEN,
    ),
)


def summary_rows(connection: Connection, conversation_ids: Sequence[str]) -> Any:
    """The rows a summary is folded from, of these conversations, in id order."""
    return connection.execute(
        sa.select(
            EVENTS.c.id,
            EVENTS.c.sender_id,
            EVENTS.c.type_name,
            EVENTS.c.timestamp,
            EVENTS.c.intent_name,
            EVENTS.c.action_name,
            EVENTS.c.data,
        )
        .where(EVENTS.c.sender_id.in_(conversation_ids), _MEANINGFUL)
        .order_by(EVENTS.c.id)
    )


def newest_id_after(connection: Connection, start: int) -> Optional[int]:
    """The highest event id above `start`, or None when there is none."""
    return connection.execute(
        sa.select(sa.func.max(EVENTS.c.id)).where(EVENTS.c.id > start)
    ).scalar()


def oldest_recent_id(connection: Connection, above: int, since: float) -> Optional[int]:
    """The lowest id above `above` of an event written at `since` or later."""
    return connection.execute(
        sa.select(sa.func.min(EVENTS.c.id)).where(
            EVENTS.c.id > above, EVENTS.c.timestamp >= since
        )
    ).scalar()


def senders_between(connection: Connection, start: int, end: int) -> List[str]:
    """The conversations with events whose id is in `(start, end]`."""
    return [
        sender
        for (sender,) in connection.execute(
            sa.select(EVENTS.c.sender_id)
            .where(EVENTS.c.id > start, EVENTS.c.id <= end)
            .distinct()
        )
    ]


def conversation_rows(connection: Connection, conversation_id: str, limit: int) -> Any:
    """The first `limit` events of one conversation (for a transcript), in order."""
    return connection.execute(
        sa.select(
            EVENTS.c.id,
            EVENTS.c.type_name,
            EVENTS.c.timestamp,
            EVENTS.c.action_name,
            EVENTS.c.data,
        )
        .where(EVENTS.c.sender_id == conversation_id)
        .order_by(EVENTS.c.id)
        .limit(limit)
    )


def user_event(connection: Connection, conversation_id: str, event_id: int) -> Any:
    """One patient message of this conversation (a row with `data`), or None."""
    return connection.execute(
        sa.select(EVENTS.c.data).where(
            EVENTS.c.id == event_id,
            EVENTS.c.sender_id == conversation_id,
            EVENTS.c.type_name == "user",
        )
    ).first()


def user_event_data_of(connection: Connection, conversation_ids: Sequence[str]) -> Any:
    """The JSON of every patient message of these conversations (rows of `data`)."""
    return connection.execute(
        sa.select(EVENTS.c.data).where(
            EVENTS.c.sender_id.in_(conversation_ids), EVENTS.c.type_name == "user"
        )
    )


def has_events_after(
    connection: Connection, conversation_id: str, moment: float
) -> bool:
    """True when the conversation has an event newer than `moment` (Unix time)."""
    return (
        connection.execute(
            sa.select(EVENTS.c.id)
            .where(EVENTS.c.sender_id == conversation_id, EVENTS.c.timestamp > moment)
            .limit(1)
        ).first()
        is not None
    )
