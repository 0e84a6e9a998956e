"""Saved replies: admins keep them (each change audited), staff insert them.

The audit entries are `saved_reply.create`, `saved_reply.update` and
`saved_reply.delete` on object type "saved reply" with the reply's id.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from bot.db.engine import session_scope
from bot.db.queries import audit
from bot.db.queries import saved_replies as queries

OBJECT_TYPE = "saved reply"


def list_replies(engine) -> List[Dict[str, Any]]:
    """Every saved reply (id, title, body, who made it, last change), by title."""
    with session_scope(engine) as session:
        return [
            {
                "id": r.id,
                "title": r.title,
                "body": r.body,
                "created_by": r.created_by or "",
                "updated_at": r.updated_at,
            }
            for r in queries.all_replies(session)
        ]


def save_reply(
    engine, reply_id: Optional[int], title: str, body: str, admin: str, ip
) -> int:
    """Creates or changes a saved reply, audited; returns its id.

    Raises:
        queries.SavedReplyError: not valid (the message says why).
        LookupError: no saved reply with that id.
    """
    with session_scope(engine) as session:
        row = queries.save(session, reply_id, title, body, admin)
        action = "saved_reply.create" if reply_id is None else "saved_reply.update"
        audit.record(session.connection(), admin, action, OBJECT_TYPE, str(row.id), ip)
        return row.id


def delete_reply(engine, reply_id: int, admin: str, ip) -> None:
    """Deletes a saved reply, audited. Raises LookupError when there is none."""
    with session_scope(engine) as session:
        queries.delete(session, reply_id)
        audit.record(
            session.connection(),
            admin,
            "saved_reply.delete",
            OBJECT_TYPE,
            str(reply_id),
            ip,
        )
