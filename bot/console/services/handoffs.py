"""The staff side of a handoff: the queue, claim, reply, hand back; each audited.

The queue shows each handoff's waiting time, time to claim and time to first
reply, and marks one still without a reply past `HANDOFF_TARGET_MINUTES`.

Replies and hand-backs go through `bot.handoff.desk` (one at a time per
handoff, Rasa's HTTP API through `bot.handoff.HandoffService`); the audit entry
is written once the step succeeded.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any, Dict, Optional

from sqlalchemy import select

from bot.console.auth import SignedIn
from bot.db.engine import session_scope
from bot.db.models import Handoff, utcnow
from bot.db.queries import audit
from bot.db.repository import list_open_handoffs
from bot.handoff import desk as handoff_desk


def duration(seconds: Optional[float]) -> str:
    """A span as staff read it: "40 s", "12 min", "2 h 05 min", "3 d 4 h"."""
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _seconds(start: datetime, end: Optional[datetime]) -> Optional[int]:
    return None if end is None else int((end - start).total_seconds())


def timing(h: Handoff, target_minutes: int, now: datetime) -> Dict[str, Any]:
    """A handoff's times, in seconds and as text, and whether it is over target.

    Waiting counts until staff's first reply; a handoff still without one after
    `target_minutes` (`HANDOFF_TARGET_MINUTES`) is over target, claimed or not.
    """
    waiting = None if h.first_reply_at else _seconds(h.created_at, now)
    to_claim = _seconds(h.created_at, h.claimed_at)
    to_reply = _seconds(h.created_at, h.first_reply_at)
    return {
        "waiting_seconds": waiting,
        "to_claim_seconds": to_claim,
        "to_first_reply_seconds": to_reply,
        "over_target": waiting is not None and waiting > target_minutes * 60,
        "waiting": duration(waiting),
        "to_claim": duration(to_claim),
        "to_first_reply": duration(to_reply),
        "waiting_notice": h.waiting_notice_at is not None,
    }


def queue(engine, target_minutes: int = 15, now: Optional[datetime] = None):
    """Open and claimed handoffs, urgent first, as plain values for the pages."""
    now = now or utcnow()
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
                **timing(h, target_minutes, now),
            }
            for h in list_open_handoffs(session, include_claimed=True)
        ]


MEDIAN_DAYS = 7


def medians(engine, now: Optional[datetime] = None) -> Dict[str, Any]:
    """Median time to claim and to first reply of the handoffs of the last 7 days.

    Only handoffs that were claimed (answered) count for each median; None (and
    "") when there is none yet.
    """
    now = now or utcnow()
    with session_scope(engine) as session:
        columns = (Handoff.created_at, Handoff.claimed_at, Handoff.first_reply_at)
        since = now - timedelta(days=MEDIAN_DAYS)
        rows = session.execute(
            select(*columns).where(Handoff.created_at >= since)
        ).all()
    result: Dict[str, Any] = {"days": MEDIAN_DAYS}
    for key, column in (("to_claim", 1), ("to_first_reply", 2)):
        spans = [int((r[column] - r[0]).total_seconds()) for r in rows if r[column]]
        value = int(statistics.median(spans)) if spans else None
        result[f"median_{key}_seconds"] = value
        result[f"median_{key}"] = duration(value)
        result[f"{key}_count"] = len(spans)
    return result


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
