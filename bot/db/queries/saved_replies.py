"""Saved replies: the admins' short reply templates that staff insert into a reply.

Titles are unique (the database says so too: a race between two admins ends in
`SavedReplyError`, not a 500). The model checks the lengths (`SavedReply`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import InvalidValueError, SavedReply

TITLE_LENGTH = 80
BODY_LENGTH = 1600


class SavedReplyError(ValueError):
    """A saved reply cannot be stored (the message says why, for the admin)."""


def all_replies(session: Session) -> List[SavedReply]:
    """Every saved reply, by title."""
    return list(
        session.execute(
            sa.select(SavedReply).order_by(sa.func.lower(SavedReply.title))
        ).scalars()
    )


def reply_choices(connection: Connection) -> List[Dict[str, Any]]:
    """Every saved reply's id, title and body, by title (for the reply form)."""
    table = SavedReply.__table__
    return [
        dict(row)
        for row in connection.execute(
            sa.select(table.c.id, table.c.title, table.c.body).order_by(
                sa.func.lower(table.c.title)
            )
        ).mappings()
    ]


def reply(session: Session, reply_id: int) -> Optional[SavedReply]:
    """One saved reply, or None."""
    return session.get(SavedReply, reply_id)


def _tidy(title: str, body: str) -> tuple[str, str]:
    title = " ".join((title or "").split())
    body = (body or "").replace("\r\n", "\n").strip()
    if not title:
        raise SavedReplyError("Give the reply a title.")
    if len(title) > TITLE_LENGTH:
        raise SavedReplyError(f"The title is at most {TITLE_LENGTH} characters.")
    if not body:
        raise SavedReplyError("Write the reply's text.")
    if len(body) > BODY_LENGTH:
        raise SavedReplyError(
            f"The text is at most {BODY_LENGTH} characters ({len(body)} now): "
            "a staff reply is one message."
        )
    return title, body


def _title_taken(session: Session, title: str, other_than: int | None) -> bool:
    query = sa.select(SavedReply.id).where(
        sa.func.lower(SavedReply.title) == title.lower()
    )
    if other_than is not None:
        query = query.where(SavedReply.id != other_than)
    return session.execute(query.limit(1)).first() is not None


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise SavedReplyError("Another saved reply has this title.") from None


def save(
    session: Session,
    reply_id: Optional[int],
    title: str,
    body: str,
    user_email: str,
) -> SavedReply:
    """Creates (`reply_id` None) or changes a saved reply.

    Raises:
        SavedReplyError: empty, too long, or the title is taken (any case).
        LookupError: no saved reply with that id.
    """
    title, body = _tidy(title, body)
    if _title_taken(session, title, reply_id):
        raise SavedReplyError("Another saved reply has this title.")
    try:
        if reply_id is None:
            row = SavedReply(title=title, body=body, created_by=user_email)
            session.add(row)
        else:
            found = reply(session, reply_id)
            if found is None:
                raise LookupError("no such saved reply")
            row = found
            row.title, row.body = title, body
    except InvalidValueError as error:  # e.g. a NUL character
        raise SavedReplyError(f"That was not accepted: the {error}.") from None
    _flush(session)
    return row


def delete(session: Session, reply_id: int) -> SavedReply:
    """Deletes a saved reply; returns it. Raises LookupError when there is none."""
    row = reply(session, reply_id)
    if row is None:
        raise LookupError("no such saved reply")
    session.delete(row)
    session.flush()
    return row
