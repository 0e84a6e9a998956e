"""Intake requests as the console lists and exports them."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.db.models import IntakeRequest
from bot.db.queries.common import PAGE_SIZE

_intake = IntakeRequest.__table__

__all__ = ["PAGE_SIZE", "all_intakes", "list_intakes"]


def list_intakes(
    connection: Connection, status: str = "", page: int = 1
) -> Tuple[List[Dict[str, Any]], int]:
    """One page of intake requests, newest first, and the total."""
    where = [_intake.c.status == status] if status else []
    total = connection.execute(
        sa.select(sa.func.count()).select_from(_intake).where(*where)
    ).scalar_one()
    rows = connection.execute(
        sa.select(_intake)
        .where(*where)
        .order_by(_intake.c.created_at.desc(), _intake.c.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).mappings()
    return [dict(r) for r in rows], total


def all_intakes(connection: Connection, status: str = "") -> Sequence[Any]:
    """Every intake request (for the CSV export), oldest first."""
    where = [_intake.c.status == status] if status else []
    return (
        connection.execute(sa.select(_intake).where(*where).order_by(_intake.c.id))
        .mappings()
        .all()
    )
