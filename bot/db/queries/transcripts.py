"""A conversation's transcript: its messages and notable events, from Rasa's events."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.db import events
from bot.db.models import MessageCorrection
from bot.vocabulary import (
    ACTION_CLARIFY,
    ACTION_CRISIS_RESPONSE,
    ACTION_HANDOFF,
    ACTION_SESSION_START,
    ACTION_SUBMIT_INTAKE,
)

TRANSCRIPT_LIMIT = 2000  # events shown of one conversation
# Non-message events shown in a transcript, with what staff read.
NOTABLE_ACTIONS = {
    ACTION_HANDOFF: "handed to staff",
    ACTION_CRISIS_RESPONSE: "crisis guidance sent",
    ACTION_SUBMIT_INTAKE: "intake request submitted",
    ACTION_CLARIFY: "asked the patient to clarify",
    ACTION_SESSION_START: "session started",
}

_correction = MessageCorrection.__table__


def _bot_item(event: Dict[str, Any]) -> Dict[str, Any]:
    data = event.get("data") or {}
    metadata = event.get("metadata") or {}
    buttons = [str(b.get("title", "")) for b in data.get("buttons") or [] if b]
    return {
        "kind": "bot",
        "text": str(event.get("text") or ""),
        "buttons": buttons,
        "staff": bool(metadata.get("staff_reply")),
        "staff_name": metadata.get("staff_name"),
        "utter_action": metadata.get("utter_action"),
    }


def _event_item(row: Any) -> Optional[Dict[str, Any]]:
    kind = row.type_name
    if kind == "user":
        user = events.parse_user_event(row.data)
        return {"kind": "user", **user}
    if kind == "bot":
        try:
            return _bot_item(json.loads(row.data or "{}"))
        except ValueError:
            return None
    if kind == "action" and row.action_name in NOTABLE_ACTIONS:
        return {"kind": "event", "text": NOTABLE_ACTIONS[row.action_name]}
    if kind == "active_loop":
        name = row.action_name
        return {
            "kind": "event",
            "text": f"form {name} started" if name else "form ended",
        }
    if kind in ("pause", "resume"):
        what = "paused (staff hold the conversation)" if kind == "pause" else "resumed"
        return {"kind": "event", "text": f"bot {what}"}
    if kind == "slot" and row.action_name == events.CRISIS_SLOT:
        # The session start sets the slot to false: only true is a flag.
        if events.crisis_flag_set(row.data):
            return {"kind": "event", "text": "flagged as crisis"}
        return None
    return None


def transcript(connection: Connection, conversation_id: str) -> List[Dict[str, Any]]:
    """The conversation's messages and notable events, oldest first."""
    if not events.table_exists(connection):
        return []
    rows = events.conversation_rows(connection, conversation_id, TRANSCRIPT_LIMIT)
    corrections = {
        row.event_id: row.corrected
        for row in connection.execute(
            sa.select(_correction.c.event_id, _correction.c.corrected).where(
                _correction.c.conversation_id == conversation_id
            )
        )
    }
    items = []
    for row in rows:
        item = _event_item(row)
        if item is not None:
            item.update(event_id=row.id, timestamp=row.timestamp)
            item["correction"] = corrections.get(row.id)
            items.append(item)
    return items
