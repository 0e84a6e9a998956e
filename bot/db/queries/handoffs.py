"""The staff side's writes to handoffs: leases, the first reply, the waiting notice.

A lease (`console_handoff_locks`: one reply or hand-back at a time) is a row,
taken by one INSERT … ON CONFLICT DO NOTHING and released by deleting it, so it is
never a transaction held across a call to Rasa (see `bot.handoff.desk`). An
expired lease (a crashed process) is cleared by the next taker.

`first_reply_at` and `waiting_notice_at` are each set once, by a conditional
UPDATE (… WHERE the column IS NULL): of two processes doing it at once exactly
one sees its row updated, so a waiting notice is never sent twice
(`bot.handoff.waiting`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import List

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row

from bot.db.models import (
    HANDOFF_ACTIVE_STATUSES,
    Handoff,
    HandoffLock,
    UTCDateTime,
    utcnow,
)

_lock = HandoffLock.__table__
_handoff = Handoff.__table__


def take_lease(
    connection: Connection, handoff_id: int, holder: str, seconds: float
) -> bool:
    """Takes the handoff's lease for `seconds` unless someone holds it: True if so."""
    now = utcnow()
    connection.execute(
        sa.delete(_lock).where(
            _lock.c.handoff_id == handoff_id,
            _lock.c.expires_at < sa.literal(now, UTCDateTime()),
        )
    )
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    result = connection.execute(
        dialect.insert(_lock)
        .values(
            handoff_id=handoff_id,
            holder=holder,
            expires_at=now + timedelta(seconds=seconds),
        )
        .on_conflict_do_nothing(index_elements=["handoff_id"])
    )
    return result.rowcount == 1


def release_lease(connection: Connection, handoff_id: int, holder: str) -> None:
    """Gives the lease back (only `holder`'s own: an expired one may be another's)."""
    connection.execute(
        sa.delete(_lock).where(
            _lock.c.handoff_id == handoff_id, _lock.c.holder == holder
        )
    )


def mark_first_reply(connection: Connection, handoff_id: int) -> bool:
    """Records staff's first reply to a handoff (now); True if this was the first."""
    result = connection.execute(
        sa.update(_handoff)
        .where(_handoff.c.id == handoff_id, _handoff.c.first_reply_at.is_(None))
        .values(first_reply_at=sa.literal(utcnow(), UTCDateTime()))
    )
    return result.rowcount == 1


def still_waiting(connection: Connection, opened_before: datetime) -> List[Row]:
    """Handoffs whose patient may get the waiting notice, oldest first.

    Open or claimed, not urgent (a crisis was told to call 911 or 988, not to
    wait), opened before `opened_before`, with no staff reply and no notice yet.

    Returns:
        Rows of `id`, `conversation_id`, `channel` and `created_at`.
    """
    return list(
        connection.execute(
            sa.select(
                _handoff.c.id,
                _handoff.c.conversation_id,
                _handoff.c.channel,
                _handoff.c.created_at,
            )
            .where(
                _handoff.c.status.in_(HANDOFF_ACTIVE_STATUSES),
                sa.not_(_handoff.c.urgent),
                _handoff.c.created_at < sa.literal(opened_before, UTCDateTime()),
                _handoff.c.first_reply_at.is_(None),
                _handoff.c.waiting_notice_at.is_(None),
            )
            .order_by(_handoff.c.created_at, _handoff.c.id)
        )
    )


def take_waiting_notice(connection: Connection, handoff_id: int) -> bool:
    """Marks the waiting notice as sent (now): True when this caller must send it.

    False when it already was (another console), staff replied, or the handoff
    is no longer open or claimed.
    """
    result = connection.execute(
        sa.update(_handoff)
        .where(
            _handoff.c.id == handoff_id,
            _handoff.c.status.in_(HANDOFF_ACTIVE_STATUSES),
            _handoff.c.first_reply_at.is_(None),
            _handoff.c.waiting_notice_at.is_(None),
        )
        .values(waiting_notice_at=sa.literal(utcnow(), UTCDateTime()))
    )
    return result.rowcount == 1


def give_back_waiting_notice(connection: Connection, handoff_id: int) -> None:
    """Clears the notice's mark: Rasa refused it unsent, the next sweep tries again.

    Only for a refused token: Rasa checks it before applying anything.
    """
    connection.execute(
        sa.update(_handoff)
        .where(_handoff.c.id == handoff_id)
        .values(waiting_notice_at=None)
    )
