"""Which widget messages are curated answers, and the details the widget shows.

A curated answer is a bot message sent by `utter_faq/<key>` (the response
selector's answer, or an action sending that response): Rasa passes the
`utter_action` and the response's `metadata` (its `source_section`) on with the
message, and stores them with the bot event. The widget gets, on the last
paragraph of such an answer, `answer: {"id", "key", "source", "anchor"}`:

- `id`: the bot event's timestamp as text. It is stored with the event, so the
  history after a reload gives the same id, and the feedback handler finds the
  answer (and its key) in the conversation's own events by it;
- `key`: the catalog key; `source`: the section of the clinic's article the
  answer comes from; `anchor`: that section's id on the `/article` page.

Staff replies and every other bot message get nothing.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, Mapping, Optional

from bot import article
from bot.vocabulary import UTTER_FAQ

ANSWER_ID = re.compile(r"\d{1,15}(?:\.\d{1,20})?")  # repr() of a Unix time
ANSWER_KEY = re.compile(r"[a-z0-9_]{1,128}")
MAX_SOURCE_CHARS = 200
_PREFIX = f"{UTTER_FAQ}/"


def answer_id(timestamp: Any) -> Optional[str]:
    """The widget's id of a bot event with this timestamp, None if it has none."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        return None
    found = repr(float(timestamp))
    return found if ANSWER_ID.fullmatch(found) else None


def is_answer_id(value: Any) -> bool:
    """True for text shaped like an id `answer_id` gives."""
    return isinstance(value, str) and ANSWER_ID.fullmatch(value) is not None


def curated_answer(message: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The widget's details of a curated answer, None for any other message.

    Args:
        message: a bot message as Rasa passes it to an output channel (its
            keyword arguments: `timestamp`, `utter_action`, `metadata`, ...), or
            a stored bot event's `metadata` with its `timestamp`.

    Returns:
        `{"id", "key", "source", "anchor"}`, or None.
    """
    if message.get("staff_reply") is True:
        return None
    action = message.get("utter_action")
    if not isinstance(action, str) or not action.startswith(_PREFIX):
        return None
    key = action[len(_PREFIX) :]
    found_id = answer_id(message.get("timestamp"))
    if not ANSWER_KEY.fullmatch(key) or found_id is None:
        return None
    response = message.get("metadata")
    source = response.get("source_section") if isinstance(response, dict) else None
    source = str(source)[:MAX_SOURCE_CHARS] if source else ""
    return {
        "id": found_id,
        "key": key,
        "source": source,
        "anchor": article.anchor_for(source) if source else None,
    }


def event_answer(event: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """`curated_answer` of a stored event (a dict as the tracker gives it)."""
    if event.get("event") != "bot":
        return None
    metadata = event.get("metadata")
    if not isinstance(metadata, dict):
        return None
    return curated_answer({**metadata, "timestamp": event.get("timestamp")})


def find_answer(
    events: Iterable[Mapping[str, Any]], wanted: str
) -> Optional[Dict[str, Any]]:
    """The curated answer with id `wanted` among a conversation's events, or None."""
    for event in events:
        found = event_answer(event)
        if found is not None and found["id"] == wanted:
            return found
    return None
