"""Conversation summaries derived from Rasa's `events` table (read-only).

Listing and filtering 100,000 conversations straight off `events` (millions of
rows, JSON in a text column) is slow, so the console keeps one row per
conversation in `conversation_summaries` (plus `conversation_answers`, one row per
answer key it got) and brings them up to date incrementally:

1. find the conversations with events newer than the watermark (`console_state`,
   an `events.id`; a range scan of Rasa's primary key);
2. recompute each of those conversations from all its events (Rasa's `sender_id`
   index), replacing its rows: recomputing is idempotent;
3. move the watermark, but never past an event written in the last
   `SETTLE_SECONDS` among the newest `SETTLE_IDS` ids: on PostgreSQL ids come
   from a sequence, so a transaction can commit an id lower than one already
   seen; those recent events are simply seen again next time.

`refresh()` runs on every list request (a no-op costs one indexed query) and is
safe in several threads or processes at once (a lock per process; on the database
a write lock: SQLite's `BEGIN IMMEDIATE`, a PostgreSQL advisory lock).

What counts as what (see actions/ and domain.yml):

- answered: the bot ran `utter_faq` (an answer from the ResponseSelector);
- answer key: `faq/<key>` in a patient message's `response_selector` (what the
  patient asked), with its confidence;
- asked for a person right after an answer: after a patient message with an
  answer key, the next patient message has intent `request_human`, or
  `action_handoff` runs before the next patient message (counted per key in
  `conversation_answers.then_human`);
- fallback: intent `nlu_fallback` or the action `action_clarify`;
- handoff: the action `action_handoff` (or a row in `handoffs`, see queries);
- crisis: intent `crisis`, `action_crisis_response`, or the slot `crisis_flagged`;
- intake submitted: `action_submit_intake` (or a row in `intake_requests`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.db import events
from bot.db.events import CRISIS_SLOT, crisis_flag_set, parse_user_event, table_exists
from bot.db.models import ConsoleState, ConversationAnswer, ConversationSummary
from bot.vocabulary import (
    ACTION_CLARIFY,
    ACTION_CRISIS_RESPONSE,
    ACTION_HANDOFF,
    ACTION_SUBMIT_INTAKE,
    CRISIS,
    FAQ,
    NLU_FALLBACK,
    REQUEST_HUMAN,
    UTTER_FAQ,
)

WATERMARK = "summaries_watermark"
SETTLE_SECONDS = 120.0
ANALYZE_AFTER = 5000  # conversations rebuilt at once
SETTLE_IDS = 10000  # how far below the newest id a late commit may land
CHUNK = 500  # conversations per query / transaction
SEARCH_TEXT_LIMIT = 4000
FIRST_MESSAGE_LIMIT = 500
POSTGRES_LOCK_ID = 0x636F6E736F6C65  # "console"

FALLBACK_INTENT = NLU_FALLBACK
FALLBACK_ACTIONS = frozenset({ACTION_CLARIFY})
CRISIS_INTENT = CRISIS
CRISIS_ACTIONS = frozenset({ACTION_CRISIS_RESPONSE})
HANDOFF_ACTIONS = frozenset({ACTION_HANDOFF})
INTAKE_ACTIONS = frozenset({ACTION_SUBMIT_INTAKE})
ANSWER_ACTION = UTTER_FAQ

_lock = threading.Lock()


@dataclass
class _Conversation:
    """A conversation being summarised, event by event."""

    conversation_id: str
    first_at: Optional[float] = None
    last_at: Optional[float] = None
    channel: Optional[str] = None
    message_count: int = 0
    fallback_count: int = 0
    flags: Dict[str, bool] = field(
        default_factory=lambda: dict.fromkeys(
            ("answered", "fallback", "handoff", "crisis", "intake"), False
        )
    )
    first_message: Optional[str] = None
    texts: List[str] = field(default_factory=list)
    answers: Dict[str, int] = field(default_factory=dict)
    then_human: Dict[str, int] = field(default_factory=dict)
    # The answer key of the last patient message, until the next one or a handoff.
    pending_key: Optional[str] = None
    last_event_id: int = 0

    def add(self, row: Any) -> None:
        """Folds one events row into the summary."""
        self.last_event_id = max(self.last_event_id, row.id)
        if row.timestamp is not None:
            self.first_at = min(self.first_at or row.timestamp, row.timestamp)
            self.last_at = max(self.last_at or row.timestamp, row.timestamp)
        kind, name = row.type_name, row.action_name
        if kind == "user":
            self._add_user(row)
        elif kind == "action":
            self.flags["answered"] |= name == ANSWER_ACTION or bool(
                name and name.startswith(ANSWER_ACTION + "/")
            )
            self.flags["fallback"] |= name in FALLBACK_ACTIONS
            if name in HANDOFF_ACTIONS:
                self.flags["handoff"] = True
                self._asked_for_person()
            self.flags["crisis"] |= name in CRISIS_ACTIONS
            self.flags["intake"] |= name in INTAKE_ACTIONS
        elif kind == "slot" and name == CRISIS_SLOT:
            self.flags["crisis"] |= crisis_flag_set(row.data)

    def _asked_for_person(self) -> None:
        """The patient wants a person right after the pending answer (if any)."""
        key, self.pending_key = self.pending_key, None
        if key is not None:
            self.then_human[key] = self.then_human.get(key, 0) + 1

    def _add_user(self, row: Any) -> None:
        user = parse_user_event(row.data)
        self.message_count += 1
        self.channel = user["channel"] or self.channel
        intent = user["intent"] or row.intent_name
        if intent == REQUEST_HUMAN:
            self._asked_for_person()
        self.pending_key = None
        if intent == FALLBACK_INTENT:
            self.fallback_count += 1
            self.flags["fallback"] = True
        elif intent == CRISIS_INTENT:
            self.flags["crisis"] = True
        elif intent == FAQ and user["answer_key"]:
            key = user["answer_key"][:128]
            self.answers[key] = self.answers.get(key, 0) + 1
            self.pending_key = key
        text = user["text"].strip()
        if text:
            if self.first_message is None:
                self.first_message = text[:FIRST_MESSAGE_LIMIT]
            self.texts.append(text.lower())

    def row(self) -> Dict[str, Any]:
        """The `conversation_summaries` row."""
        now = time.time()
        return {
            "conversation_id": self.conversation_id,
            "channel": (self.channel or None) and str(self.channel)[:64],
            "first_at": self.first_at if self.first_at is not None else now,
            "last_at": self.last_at if self.last_at is not None else now,
            "message_count": self.message_count,
            "fallback_count": self.fallback_count,
            **self.flags,
            "first_message": self.first_message,
            "search_text": "\n".join(self.texts)[:SEARCH_TEXT_LIMIT],
            "last_event_id": self.last_event_id,
        }


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    """`items` in slices of `size` (a bound on the ids of one IN clause)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _lock_database(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({POSTGRES_LOCK_ID})")
    # SQLite: bot.db.engine opens every transaction with BEGIN IMMEDIATE.


def _watermark(connection: Connection) -> int:
    value = connection.execute(
        sa.select(ConsoleState.value).where(ConsoleState.name == WATERMARK)
    ).scalar_one_or_none()
    return value or 0


def _set_watermark(connection: Connection, value: int) -> None:
    updated = connection.execute(
        sa.update(ConsoleState)
        .where(ConsoleState.name == WATERMARK)
        .values(value=value)
    )
    if updated.rowcount == 0:
        connection.execute(sa.insert(ConsoleState).values(name=WATERMARK, value=value))


def summarize(conversation_id: str, rows: Iterable[Any]) -> _Conversation:
    """Folds one conversation's events rows (in id order) into a summary."""
    conversation = _Conversation(conversation_id)
    for row in rows:
        conversation.add(row)
    return conversation


def _rebuild(connection: Connection, conversation_ids: Sequence[str]) -> None:
    """Replaces the summaries of these conversations with fresh ones."""
    rows = events.summary_rows(connection, conversation_ids)
    conversations: Dict[str, _Conversation] = {}
    for row in rows:
        conversation = conversations.get(row.sender_id)
        if conversation is None:
            conversation = conversations[row.sender_id] = _Conversation(row.sender_id)
        conversation.add(row)
    summaries = ConversationSummary.__table__
    answers = ConversationAnswer.__table__
    connection.execute(
        sa.delete(summaries).where(summaries.c.conversation_id.in_(conversation_ids))
    )
    connection.execute(
        sa.delete(answers).where(answers.c.conversation_id.in_(conversation_ids))
    )
    if conversations:
        connection.execute(
            sa.insert(summaries), [c.row() for c in conversations.values()]
        )
    answer_rows = [
        {
            "conversation_id": c.conversation_id,
            "answer_key": key,
            "count": count,
            "then_human": c.then_human.get(key, 0),
        }
        for c in conversations.values()
        for key, count in c.answers.items()
    ]
    if answer_rows:
        connection.execute(sa.insert(answers), answer_rows)


def refresh(
    engine: Engine, settle_seconds: float = SETTLE_SECONDS, wait: bool = True
) -> int:
    """Brings the summaries up to date with Rasa's events.

    Args:
        engine: the engine of `DATABASE_URL`.
        settle_seconds: events younger than this are looked at again next time
            (see the module docstring).
        wait: when another thread of this process is refreshing already, wait
            for it (True) or return at once (False: a page then shows the
            summaries as they are, e.g. during the first build at start).

    Returns:
        How many conversations were recomputed (0 when nothing changed or Rasa
        has not created its `events` table yet).
    """
    if not table_exists(engine):
        return 0
    if not _lock.acquire(blocking=wait):
        return 0
    try:
        return _refresh(engine, settle_seconds)
    finally:
        _lock.release()


def _refresh(engine: Engine, settle_seconds: float) -> int:
    """One refresh (the caller holds the process lock)."""
    with engine.begin() as connection:
        _lock_database(connection)
        start = _watermark(connection)
        newest = events.newest_id_after(connection, start)
        if newest is None:
            return 0
        # Only the newest ids can still be joined by a late commit: look for
        # recent events there (an odd timestamp far below must not hold the
        # watermark back for good).
        unsettled = events.oldest_recent_id(
            connection, max(start, newest - SETTLE_IDS), time.time() - settle_seconds
        )
        dirty = events.senders_between(connection, start, newest)
    for chunk in chunks(dirty):
        with engine.begin() as connection:
            _lock_database(connection)
            _rebuild(connection, chunk)
    with engine.begin() as connection:
        _lock_database(connection)
        mark = newest if unsettled is None else max(start, unsettled - 1)
        if mark > _watermark(connection):
            _set_watermark(connection, mark)
        if len(dirty) >= ANALYZE_AFTER and connection.dialect.name == "postgresql":
            # A first build fills the tables at once: give the planner their
            # size now instead of after autovacuum's next round.
            connection.exec_driver_sql("ANALYZE conversation_summaries")
            connection.exec_driver_sql("ANALYZE conversation_answers")
    return len(dirty)


def forget_summaries(connection: Connection, conversation_ids: Sequence[str]) -> None:
    """Deletes the derived rows of these conversations (after their events)."""
    for chunk in chunks(list(conversation_ids)):
        for table in (ConversationSummary.__table__, ConversationAnswer.__table__):
            connection.execute(
                sa.delete(table).where(table.c.conversation_id.in_(chunk))
            )
