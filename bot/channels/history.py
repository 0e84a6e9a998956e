"""The conversation so far, as the widget shows it after a reload.

The widget asks for its session again after a reload or a dropped connection and
gets the conversation from the tracker store (`bot.channels.socketio`), staff
replies included, with who answered. What would show a patient's details to the
next person at the screen is not replayed: the request summary the bot reads back
(`READ_BACKS`), and what the patient typed while the intake form ran; both become
`widget.hidden` (`bot/texts`), since they were shown live, once.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from bot.channels.answers import event_answer
from bot.texts import text as catalog_text
from bot.vocabulary import (
    INTAKE_FORM,
    UTTER_ASK_INTAKE_CONFIRMED,
    UTTER_INTAKE_SUBMITTED,
)

HISTORY_LIMIT = 100  # messages replayed after a reload
# Bot messages that read the patient's details back (`utter_action` of the event).
READ_BACKS = frozenset({UTTER_ASK_INTAKE_CONFIRMED, UTTER_INTAKE_SUBMITTED})


def staff_name(metadata: Optional[Dict[str, Any]]) -> Optional[str]:
    """The staff member's name of a staff reply's metadata, else None."""
    if not metadata or metadata.get("staff_reply") is not True:
        return None
    name = metadata.get("staff_name")
    return str(name)[:200] if name else "Clinic staff"


def history_messages(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The patient's and the bot's messages of a conversation, for the widget.

    Bot texts are split on blank lines like live replies are; a button click is
    shown with the button's title rather than its payload (e.g. "Yes", not
    "/affirm"). Only the last bot message keeps its quick replies, and only when the
    patient has not answered since. Intake read-backs (`READ_BACKS`) and what the
    patient typed while the intake form ran are shown as `widget.hidden` (`bot/texts`).

    Args:
        events: the tracker's events as dicts (`tracker.current_state` format).

    Returns:
        Messages `{"sender": "user"|"bot", "text": ..., "quick_replies": [...]}`
        (staff replies also `"staff_name": ...`; the last paragraph of a
        curated answer also `"answer": ...`, `bot.channels.answers`),
        oldest first, at most `HISTORY_LIMIT`.
    """
    hidden = catalog_text("widget.hidden")
    messages: List[Dict[str, Any]] = []
    offered: Dict[str, str] = {}  # payload -> title of the last buttons
    in_intake = False
    for event in events:
        kind = event.get("event")
        if kind == "active_loop":
            in_intake = event.get("name") == INTAKE_FORM
        elif kind == "user":
            text = event.get("text") or ""
            text = offered.get(text, text)
            if text.startswith("/"):
                continue  # an intent payload with no known title: nothing to show
            if in_intake and text not in offered.values():
                text = hidden  # a name, number, email or condition
            messages.append({"sender": "user", "text": text, "quick_replies": []})
            offered = {}
        elif kind == "bot":
            buttons = (event.get("data") or {}).get("buttons") or []
            parts = [p for p in (event.get("text") or "").strip().split("\n\n") if p]
            if _is_read_back(event.get("metadata")):
                parts = [hidden]
            staff = staff_name(event.get("metadata"))
            for part in parts or ([""] if buttons else []):
                message: Dict[str, Any] = {
                    "sender": "bot",
                    "text": part,
                    "quick_replies": [],
                }
                messages.append({**message, **({"staff_name": staff} if staff else {})})
            answer = event_answer(event) if parts and not staff else None
            if answer is not None:  # under the last paragraph, as when sent live
                messages[-1]["answer"] = answer
            if buttons:
                replies = [
                    {
                        "title": str(b.get("title", "")),
                        "payload": str(b.get("payload", "")),
                    }
                    for b in buttons
                ]
                messages[-1]["quick_replies"] = replies
                offered = {r["payload"]: r["title"] for r in replies}
    last_bot = next((m for m in reversed(messages) if m["sender"] == "bot"), None)
    for message in messages:
        if message is not last_bot or messages[-1]["sender"] == "user":
            message["quick_replies"] = []
    return messages[-HISTORY_LIMIT:]


def _is_read_back(metadata: Any) -> bool:
    """True for a bot message that reads the patient's intake details back."""
    if not isinstance(metadata, dict):
        return False
    return metadata.get("utter_action") in READ_BACKS or "summary" in metadata
