"""Handoffs made for tests: opened in the past, and the waiting notices sent."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from bot.db.engine import session_scope
from bot.db.models import Handoff
from bot.db.repository import open_handoff


def handoff_opened_at(engine, conversation_id: str, opened: datetime, **values) -> int:
    """A handoff opened at `opened` (and any other column values); its id."""
    with session_scope(engine) as session:
        handoff = open_handoff(
            session,
            conversation_id=conversation_id,
            channel="rest",
            reason="requested",
            summary="my feet burn at night",
        )
        session.flush()
        session.execute(
            sa.update(Handoff)
            .where(Handoff.id == handoff.id)
            .values(created_at=opened, **values)
        )
        return handoff.id


def waiting_notices(rasa, conversation_id: str) -> list:
    """The waiting notices a Rasa stub received for one conversation."""
    return [
        e
        for e in rasa.events_for(conversation_id)
        if (e.get("metadata") or {}).get("waiting_notice")
    ]
