"""The one answer to "is this conversation held by staff?", and the events of a hold.

The truth is Rasa's event log: a conversation is held when its last `pause` /
`resume` event is a pause (see the package docstring for why). The `handoffs` row
follows it: every hold has an open or claimed handoff, so a pause that has lost
its handoff is not a hold (`held_by_staff`).

Pure Python, no Rasa, database or HTTP import: the action server (session start),
the staff side (`bot.handoff.service`) and the console all ask here.

Holds: the event names; `pause`, `resume` and `staff_reply`, the events the staff
side appends; `last_pause_event`, `is_paused` and `held_by_staff`.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from bot.vocabulary import ACTION_LISTEN

# Rasa's event types of a hold.
PAUSE_EVENT = "pause"
RESUME_EVENT = "resume"


def pause() -> List[Dict[str, Any]]:
    """The events that take the conversation from the bot."""
    return [{"event": PAUSE_EVENT}]


def resume() -> List[Dict[str, Any]]:
    """The events that give the conversation back to the bot.

    A conversation paused by the handoff action ends on that action, not on
    action_listen; without one, the patient's next message is read as the middle
    of a turn and the rules fall back ("Sorry, I didn't quite get that"). The bot
    is listening again: the resume says so in the tracker.
    """
    return [{"event": RESUME_EVENT}, {"event": "action", "name": ACTION_LISTEN}]


def staff_reply(text: str, staff_name: str) -> Dict[str, Any]:
    """The `bot` event of a staff member's message, marked as theirs."""
    return {
        "event": "bot",
        "text": text,
        "metadata": {"staff_reply": True, "staff_name": staff_name},
    }


def last_pause_event(events: Iterable[Dict[str, Any]]) -> Optional[str]:
    """`pause` or `resume`, whichever of the two the conversation had last (or None).

    Args:
        events: the conversation's events as dicts (a tracker's `events`, Rasa's
            `events` table's `data`), oldest first.
    """
    last = None
    for event in events:
        if event.get("event") in (PAUSE_EVENT, RESUME_EVENT):
            last = event.get("event")
    return last


def is_paused(events: Iterable[Dict[str, Any]], paused_now: bool = False) -> bool:
    """True when Rasa keeps the bot silent in the conversation.

    Args:
        events: the conversation's events, oldest first.
        paused_now: the tracker's own `paused` flag. A new session resets it
            although the events still end on a pause: either one counts.
    """
    return paused_now or last_pause_event(events) == PAUSE_EVENT


def held_by_staff(paused: bool, active_handoff: Optional[bool]) -> bool:
    """The one answer: staff hold the conversation, and the bot must stay silent.

    Args:
        paused: `is_paused` of the conversation (the truth).
        active_handoff: whether it has an open or claimed handoff; None when the
            `handoffs` table could not be read.

    Returns:
        True for a pause with its handoff; a pause without one (its handoff closed
        without the conversation being handed back) is not a hold: nobody on the
        queue would ever release it. When the table cannot be read, True:
        staying silent beats talking over staff.
    """
    if not paused:
        return False
    return True if active_handoff is None else active_handoff
