"""What purge and forget share: the deletion's tally, short transactions."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Sequence, Set

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.db import summaries
from bot.db.engine import READ_ONLY
from bot.db.models import (
    AnswerFeedback,
    ConversationReview,
    ConversationTag,
    Handoff,
    IntakeRequest,
    MessageCorrection,
    SmsMessage,
)

BATCH_ROWS = 5000  # rows deleted per transaction (~30 ms on SQLite)
CHUNK_CONVERSATIONS = 250  # conversations per transaction
# SQLite: the pause after each write transaction of a deletion. A writer waiting
# for the lock polls at least every 100 ms (SQLite's busy handler), so with this
# pause it always gets its turn between two batches instead of starving.
SQLITE_PAUSE_SECONDS = 0.12


@dataclass
class Deleted:
    """What a deletion did: rows removed by table, entries kept under a pseudonym.

    `twilio_sids`: the SIDs of the patient's SMS messages (sent and received), to
    redact their bodies at Twilio (`forget` only).
    """

    rows: Dict[str, int] = field(default_factory=dict)
    conversations: int = 0
    pseudonymized: int = 0
    twilio_sids: List[str] = field(default_factory=list)

    def add(self, table: str, count: int) -> None:
        """Counts `count` more deleted rows of `table`."""
        if count:
            self.rows[table] = self.rows.get(table, 0) + count

    def add_sids(self, sids: Iterable[str]) -> None:
        """Adds Twilio message SIDs (kept sorted, each once)."""
        self.twilio_sids = sorted(set(self.twilio_sids) | set(sids))

    def __str__(self) -> str:
        parts = ", ".join(f"{t}: {n}" for t, n in sorted(self.rows.items()))
        text = f"{self.conversations} conversation(s); rows deleted: {parts or 'none'}"
        if self.pseudonymized:
            text += (
                f"; {self.pseudonymized} audit entr"
                f"{'y' if self.pseudonymized == 1 else 'ies'} kept under a pseudonym"
            )
        if self.twilio_sids:
            text += (
                f"\nTwilio still holds {len(self.twilio_sids)} message(s) of this "
                "patient; redact their bodies in Twilio (Messages API, "
                'Body="") by SID:\n' + "\n".join(self.twilio_sids)
            )
        return text


def existing_tables(engine: Engine) -> Set[str]:
    """The tables the database has (older databases may lack some)."""
    return set(sa.inspect(engine).get_table_names())


def read_connection(engine: Engine):
    """A read-only connection (SQLite: its transaction never waits for writers)."""
    return engine.connect().execution_options(**READ_ONLY)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One short write transaction; on SQLite, a pause after it for other writers."""
    with engine.begin() as connection:
        yield connection
    if engine.dialect.name == "sqlite":
        time.sleep(SQLITE_PAUSE_SECONDS)


def delete_in_batches(
    engine: Engine, deleted: Deleted, table: sa.Table, clause
) -> None:
    """Deletes the rows matching `clause`, `BATCH_ROWS` per short transaction."""
    key = table.c.id
    while True:
        with write_transaction(engine) as connection:
            batch = sa.select(key).where(clause).limit(BATCH_ROWS)
            count = connection.execute(table.delete().where(key.in_(batch))).rowcount
        deleted.add(table.name, count)
        if count < BATCH_ROWS:
            return


def _keyed_tables(existing: Set[str]) -> List[sa.Table]:
    """The tables holding rows of a conversation (`conversation_id`)."""
    tables = [
        ConversationReview.__table__,
        ConversationTag.__table__,
        MessageCorrection.__table__,
        Handoff.__table__,
        IntakeRequest.__table__,
        SmsMessage.__table__,
        AnswerFeedback.__table__,
    ]
    return [t for t in tables if t.name in existing]


def delete_rows(
    connection: Connection,
    deleted: Deleted,
    existing: Set[str],
    conversation_ids: Sequence[str],
) -> None:
    """Deletes the conversations' rows (not their events) and their summaries."""
    for table in _keyed_tables(existing):
        result = connection.execute(
            table.delete().where(table.c.conversation_id.in_(conversation_ids))
        )
        deleted.add(table.name, result.rowcount)
    summaries.forget_summaries(connection, conversation_ids)


def delete_rows_of(
    engine: Engine,
    deleted: Deleted,
    existing: Set[str],
    conversation_ids: Sequence[str],
) -> None:
    """`delete_rows`, `CHUNK_CONVERSATIONS` conversations per transaction."""
    for start in range(0, len(conversation_ids), CHUNK_CONVERSATIONS):
        chunk = list(conversation_ids[start : start + CHUNK_CONVERSATIONS])
        with write_transaction(engine) as connection:
            delete_rows(connection, deleted, existing, chunk)
