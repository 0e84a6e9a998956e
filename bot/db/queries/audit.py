"""The audit log: who viewed or changed which conversation or request, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Dict, List, Optional, Tuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.db.models import AuditEntry
from bot.db.queries.common import PAGE_SIZE, day_arg, like_pattern, page_arg

_audit = AuditEntry.__table__

__all__ = ["PAGE_SIZE", "AuditFilter", "audit_actions", "list_audit", "record"]


def record(
    connection: Connection,
    user_email: Optional[str],
    action: str,
    object_type: str,
    object_id: Optional[str] = None,
    client_ip: Optional[str] = None,
    at: Optional[datetime] = None,
) -> None:
    """Writes one audit entry (who did what to which conversation or request).

    `at`: when (an aware datetime); default the database's current time.
    """
    connection.execute(
        sa.insert(_audit).values(
            at=sa.func.now() if at is None else at,
            user_email=user_email,
            action=action[:64],
            object_type=object_type[:32],
            object_id=None if object_id is None else str(object_id)[:255],
            client_ip=(client_ip or None) and client_ip[:64],
        )
    )


@dataclass(frozen=True)
class AuditFilter:
    """The audit log page's filters, as given in the query string (all optional)."""

    user: str = ""  # part of the staff email, any case
    action: str = ""
    date_from: Optional[date] = None
    date_to: Optional[date] = None
    page: int = 1

    @classmethod
    def from_args(cls, args: Dict[str, str]) -> AuditFilter:
        """Reads the filters from query arguments, ignoring invalid values."""
        return cls(
            user=args.get("user", "").strip()[:254],
            action=args.get("action", "").strip()[:64],
            date_from=day_arg(args, "from"),
            date_to=day_arg(args, "to"),
            page=page_arg(args),
        )

    def query_args(self, **changes: Any) -> Dict[str, str]:
        """The filters as query arguments (for links to other pages)."""
        values = {
            "user": self.user,
            "action": self.action,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


def _audit_conditions(f: AuditFilter, zone: ZoneInfo) -> List[Any]:
    where: List[Any] = []
    if f.user:
        where.append(
            sa.func.lower(_audit.c.user_email).like(like_pattern(f.user), escape="\\")
        )
    if f.action:
        where.append(_audit.c.action == f.action)
    if f.date_from:
        where.append(_audit.c.at >= datetime.combine(f.date_from, time(0), tzinfo=zone))
    if f.date_to:
        end = datetime.combine(f.date_to + timedelta(days=1), time(0), tzinfo=zone)
        where.append(_audit.c.at < end)
    return where


def list_audit(
    connection: Connection, f: AuditFilter, zone: ZoneInfo
) -> Tuple[List[Dict[str, Any]], int]:
    """One page of audit entries, newest first, and the total matching count."""
    where = _audit_conditions(f, zone)
    total = connection.execute(
        sa.select(sa.func.count()).select_from(_audit).where(*where)
    ).scalar_one()
    rows = connection.execute(
        sa.select(_audit)
        .where(*where)
        .order_by(_audit.c.at.desc(), _audit.c.id.desc())
        .limit(PAGE_SIZE)
        .offset((f.page - 1) * PAGE_SIZE)
    ).mappings()
    return [dict(r) for r in rows], total


def audit_actions(connection: Connection) -> List[str]:
    """The actions the audit log holds (for the filter)."""
    return [
        a
        for (a,) in connection.execute(
            sa.select(_audit.c.action).distinct().order_by(_audit.c.action)
        )
    ]
