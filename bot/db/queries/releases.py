"""The active model and its history (`model_activations`, append-only)."""

from __future__ import annotations

from typing import Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.db.models import ModelActivation

_table = ModelActivation.__table__
_newest_first = (_table.c.activated_at.desc(), _table.c.id.desc())


def activate(
    connection: Connection, filename: str, sha256: str, size: int, by: str
) -> None:
    """Makes one model file the active one (a new row; older rows stay)."""
    row = ModelActivation(filename=filename, sha256=sha256, size=size, activated_by=by)
    connection.execute(
        sa.insert(_table).values(
            filename=row.filename,
            sha256=row.sha256,
            size=size,
            activated_by=row.activated_by,
        )
    )


def history(connection: Connection, limit: int = 20) -> List[Dict]:
    """The latest activations, newest (the active model) first."""
    rows = connection.execute(
        sa.select(_table).order_by(*_newest_first).limit(limit)
    ).mappings()
    return [dict(row) for row in rows]


def active(connection: Connection) -> Optional[Dict]:
    """The active model's row, or None when no model was ever activated."""
    rows = history(connection, limit=1)
    return rows[0] if rows else None


def previous(connection: Connection) -> Optional[Dict]:
    """The newest activation of another model than the active one (rollback)."""
    current = active(connection)
    if current is None:
        return None
    row = (
        connection.execute(
            sa.select(_table)
            .where(_table.c.sha256 != current["sha256"])
            .order_by(*_newest_first)
            .limit(1)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None
