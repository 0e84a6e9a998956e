"""Retention: conversations past their retention go, audit entries after theirs."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import List, Optional, Set

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.db import summaries
from bot.db.events import EVENTS
from bot.db.models import AnswerFeedback, AuditEntry, Handoff, IntakeRequest
from bot.db.queries.audit import record as record_audit
from bot.db.retention.common import (
    CHUNK_CONVERSATIONS,
    Deleted,
    delete_in_batches,
    delete_rows,
    existing_tables,
    read_connection,
    write_transaction,
)
from bot.settings.storage import get_storage_settings


def _old_conversations(engine: Engine, cutoff: float) -> List[str]:
    events = EVENTS
    with read_connection(engine) as connection, connection.begin():
        return [
            sender
            for (sender,) in connection.execute(
                sa.select(events.c.sender_id)
                .group_by(events.c.sender_id)
                .having(sa.func.max(events.c.timestamp) < cutoff)
            )
        ]


def _purge_conversations(
    engine: Engine, deleted: Deleted, existing: Set[str], ids: List[str], cutoff: float
) -> None:
    """Deletes old conversations, a chunk at a time, each still checked as old.

    A conversation that got a new message since it was listed is left alone (its
    events and its rows both), so a patient coming back during a purge keeps
    their conversation.
    """
    events = EVENTS
    for start in range(0, len(ids), CHUNK_CONVERSATIONS):
        chunk = ids[start : start + CHUNK_CONVERSATIONS]
        active = sa.select(events.c.sender_id).where(
            events.c.sender_id.in_(chunk), events.c.timestamp >= cutoff
        )
        old = sa.and_(events.c.sender_id.in_(chunk), events.c.sender_id.not_in(active))
        delete_in_batches(engine, deleted, events, old)
        with write_transaction(engine) as connection:
            left = set(
                connection.execute(
                    sa.select(events.c.sender_id)
                    .where(events.c.sender_id.in_(chunk))
                    .distinct()
                ).scalars()
            )
            gone = [c for c in chunk if c not in left]
            delete_rows(connection, deleted, existing, gone)
        deleted.conversations += len(gone)


def purge(
    engine: Engine,
    older_than_days: int,
    now: Optional[float] = None,
    audit_days: Optional[int] = None,
) -> Deleted:
    """Deletes conversations whose last event is older than `older_than_days`.

    Intake requests and handoffs created before the cut-off go too, and so do
    answer votes last changed before it. Audit entries
    stay for `audit_days` (default `AUDIT_RETENTION_DAYS`, `bot.settings.storage`:
    six years), however old the conversations they name: only entries older than
    that are deleted.

    Args:
        engine: the engine of `DATABASE_URL`.
        older_than_days: the conversations' retention, in days (at least 1).
        now: the current time (Unix time); default the clock's.
        audit_days: the audit entries' retention, in days (at least 1).

    Returns:
        What was deleted.
    """
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    audit_days = (
        get_storage_settings().audit_retention_days
        if audit_days is None
        else audit_days
    )
    if audit_days < 1:
        raise ValueError("audit_days must be at least 1")
    summaries.refresh(engine, settle_seconds=0)
    now = time.time() if now is None else now
    cutoff = now - older_than_days * 86400
    deleted = Deleted()
    existing = existing_tables(engine)
    if "events" in existing:
        ids = _old_conversations(engine, cutoff)
        _purge_conversations(engine, deleted, existing, ids, cutoff)
    cutoff_time = datetime.fromtimestamp(cutoff, timezone.utc)
    for table in (IntakeRequest.__table__, Handoff.__table__):
        if table.name in existing:
            delete_in_batches(engine, deleted, table, table.c.created_at < cutoff_time)
    # Votes go with their conversation (above); any left older than the cut-off too.
    votes = AnswerFeedback.__table__
    if votes.name in existing:
        delete_in_batches(engine, deleted, votes, votes.c.updated_at < cutoff_time)
    audit_table = AuditEntry.__table__
    audit_cutoff = datetime.fromtimestamp(now - audit_days * 86400, timezone.utc)
    delete_in_batches(engine, deleted, audit_table, audit_table.c.at < audit_cutoff)
    with engine.begin() as connection:
        record_audit(connection, None, "purge", "retention", None)
    return deleted
