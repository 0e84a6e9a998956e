"""The staff side of a handoff: the queue, claim, reply, hand back; each audited.

Replies and hand-backs go through `bot.handoff.desk` (one at a time per
handoff, Rasa's HTTP API through `bot.handoff.HandoffService`); the audit entry
is written once the step succeeded.
"""

from __future__ import annotations

from typing import Any

from bot.console.auth import SignedIn
from bot.db.engine import session_scope
from bot.db.queries import audit
from bot.db.repository import list_open_handoffs
from bot.handoff import desk as handoff_desk


def queue(engine):
    """Open and claimed handoffs, urgent first, as plain values for the pages."""
    with session_scope(engine) as session:
        return [
            {
                "id": h.id,
                "conversation_id": h.conversation_id,
                "channel": h.channel,
                "reason": h.reason,
                "status": h.status,
                "urgent": h.urgent,
                "summary": h.summary,
                "created_at": h.created_at,
                "claimed_by": h.claimed_by,
            }
            for h in list_open_handoffs(session, include_claimed=True)
        ]


def claim(engine, handoff_id: int, me: SignedIn, ip) -> None:
    """Takes an open handoff; audited."""
    handoff = handoff_desk.claim(engine, handoff_id, me)
    _audit(engine, me.email, "claim", handoff.conversation_id, ip)


def reply(handoffs: Any, engine, handoff_id: int, text: str, me: SignedIn, ip) -> None:
    """Sends staff's reply to the patient through their channel; audited."""
    handoff = handoff_desk.reply(handoffs, engine, handoff_id, text, me)
    _audit(engine, me.email, "reply", handoff.conversation_id, ip)


def resume(
    handoffs: Any, engine, handoff_id: int, me: SignedIn, takeover: bool, ip
) -> None:
    """Hands the conversation back to the bot and closes the handoff; audited."""
    handoff, taken_over = handoff_desk.resume(
        handoffs, engine, handoff_id, me, takeover=takeover
    )
    action = "resume (taken over)" if taken_over else "resume"
    _audit(engine, me.email, action, handoff.conversation_id, ip)


def _audit(engine, email: str, action: str, conversation_id: str, ip) -> None:
    with engine.begin() as connection:
        audit.record(connection, email, action, "conversation", conversation_id, ip)
