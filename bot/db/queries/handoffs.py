"""Leases on handoffs (`console_handoff_locks`): one reply or hand-back at a time.

A lease is a row, taken by one INSERT … ON CONFLICT DO NOTHING and released by
deleting it, so it is never a transaction held across a call to Rasa (see
`bot.handoff.desk`). An expired lease (a crashed process) is cleared by
the next taker.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from bot.db.models import HandoffLock, UTCDateTime, utcnow

_lock = HandoffLock.__table__


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
