"""Forgotten conversations: the "forget" mark, its pseudonym, the write guard.

`forget` writes one audit entry per conversation, under a keyed hash of its id
(`pseudonym()`). `forgotten_at()` reads that mark back: the tracker store
(`bot.db.tracker_store`) refuses events from before it, and `save_intake` /
`open_handoff` (`check_not_forgotten`) a request, so a turn that was already
running when its conversation was forgotten cannot write it back.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from functools import lru_cache

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bot.db import events
from bot.db.models import AuditEntry
from bot.settings.storage import get_storage_settings


class ConversationForgottenError(ValueError):
    """The conversation was forgotten while this turn was running: not stored."""


# The audit entry that records a forgotten conversation (bot.db.retention.forget).
FORGET_ACTION = "forget"
FORGET_OBJECT_TYPE = "conversation"
PSEUDONYM_PREFIX = "hmac:"
_AUDIT_TABLE = "console_audit_log"


@lru_cache(maxsize=4)
def _key(configured: str) -> bytes:
    if configured:
        return configured.encode("utf-8")
    from bot.settings import local_secret

    return local_secret("audit_pseudonym_key", 32).encode("utf-8")


def pseudonym(conversation_id: str) -> str:
    """The keyed hash that replaces a forgotten conversation's id in the audit log.

    HMAC-SHA256 with the checkout's secret (`var/audit_pseudonym_key`, made on
    first use) or `AUDIT_PSEUDONYM_KEY` when set (every process that forgets or
    stores conversations must use the same key). Without the key nobody can tell
    which phone number a pseudonym stands for; with it, an auditor can compute the
    pseudonym of a number to find who viewed that patient.

    Returns:
        "hmac:" and 40 hexadecimal digits.
    """
    key = _key(get_storage_settings().pseudonym_key)
    digest = hmac.new(key, conversation_id.encode("utf-8"), hashlib.sha256)
    return PSEUDONYM_PREFIX + digest.hexdigest()[:40]


def lock_conversation(connection: Connection, conversation_id: str) -> None:
    """Serializes this transaction with every other writer of the conversation.

    PostgreSQL: a transaction-level advisory lock keyed by the conversation id,
    held until commit or rollback (the tracker store's save and `forget` take it,
    so a save never slips between forget's check and its deletion). SQLite needs
    nothing: every write transaction holds the database's write lock
    (`BEGIN IMMEDIATE`, see `bot.db.engine`).
    """
    if connection.dialect.name != "postgresql":
        return
    digest = hashlib.sha256(b"conversation:" + conversation_id.encode("utf-8"))
    key = int.from_bytes(digest.digest()[:8], "big", signed=True)
    connection.execute(select(func.pg_advisory_xact_lock(key)))


def forgotten_at(connection: Connection, conversation_id: str) -> float | None:
    """When the conversation was last forgotten (Unix time), or None.

    Read from the "forget" entries of the audit log (kept for the audit
    retention, six years by default). None too while the audit table does not
    exist yet (a database the migrations have not reached).
    """
    if not inspect(connection).has_table(_AUDIT_TABLE):
        return None
    audit = AuditEntry.__table__
    value = connection.execute(
        select(func.max(audit.c.at)).where(
            audit.c.action == FORGET_ACTION,
            audit.c.object_type == FORGET_OBJECT_TYPE,
            audit.c.object_id == pseudonym(conversation_id),
        )
    ).scalar()  # an aware UTC datetime (max() keeps the column's type)
    return value.timestamp() if isinstance(value, datetime) else None


def _active_since(connection: Connection, conversation_id: str, since: float) -> bool:
    """True when the conversation has events newer than `since` (a new start)."""
    if not events.table_exists(connection):
        return False
    return events.has_events_after(connection, conversation_id, since)


def check_not_forgotten(session: Session, conversation_id: str) -> None:
    """Refuses a write for a turn that began before its conversation was forgotten.

    After `forget`, a conversation id may be used again (the patient writes
    again): that new conversation has events newer than the forget (Rasa stores
    the start of a conversation before any action runs). A conversation forgotten
    without such events is one whose only writer is a turn that was already
    running: its writes would bring the forgotten data back.

    Raises:
        ConversationForgottenError: that is the case here.
    """
    connection = session.connection()
    forgotten = forgotten_at(connection, conversation_id)
    if forgotten is not None and not _active_since(
        connection, conversation_id, forgotten
    ):
        raise ConversationForgottenError(
            "the conversation was forgotten during this turn"
        )
