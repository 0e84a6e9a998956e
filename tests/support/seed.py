"""Conversations written into a database the way Rasa 3.6's SQL tracker store does.

The `events` table has Rasa's columns (rasa/core/tracker_store.py, `SQLEvent`) and
each row's `data` is the event's `as_dict()` JSON, with the fields the console
reads shaped exactly as a real run stores them (captured from a real Rasa server
with this project's model): `parse_data.intent`, `parse_data.response_selector.
faq.response.intent_response_key`, `input_channel`, action names, the
`crisis_flagged` slot.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy.engine import Connection, Engine

from bot.db.engine import session_scope
from bot.db.repository import open_handoff, save_intake

# Rasa's own table definition (its SQL tracker store's), not a copy.
EVENTS = SQLTrackerStore.SQLEvent.__table__

XSS_SCRIPT = "<script>window.__xss = 1</script>hello"
XSS_IMG = '<img src=x onerror="window.__xss = 2">'


def create_events_table(engine: Engine) -> None:
    """Creates Rasa's `events` table (as Rasa does at its first start)."""
    EVENTS.create(engine, checkfirst=True)


@dataclass
class Turn:
    """One patient message and what the bot did about it."""

    text: str
    intent: str = "faq"
    confidence: float = 0.97
    answer_key: Optional[str] = None
    answer_confidence: float = 0.91
    actions: List[str] = field(default_factory=list)
    bot: List[str] = field(default_factory=list)
    crisis_slot: bool = False


def _row(sender: str, kind: str, stamp: float, data: Dict[str, Any], **extra: Any):
    data = {"event": kind, "timestamp": stamp, "metadata": {}, **data}
    return {
        "sender_id": sender,
        "type_name": kind,
        "timestamp": stamp,
        "intent_name": extra.get("intent"),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


def _user(sender: str, stamp: float, turn: Turn, channel: str) -> Dict[str, Any]:
    parse: Dict[str, Any] = {
        "intent": {"name": turn.intent, "confidence": turn.confidence},
        "entities": [],
        "text": turn.text,
        "intent_ranking": [{"name": turn.intent, "confidence": turn.confidence}],
    }
    if turn.answer_key:
        key = f"faq/{turn.answer_key}"
        parse["intent"]["full_retrieval_intent_name"] = key
        parse["response_selector"] = {
            "all_retrieval_intents": ["faq"],
            "faq": {
                "response": {
                    "responses": [{"text": "answer"}],
                    "confidence": turn.answer_confidence,
                    "intent_response_key": key,
                    "utter_action": f"utter_{key}",
                },
                "ranking": [
                    {"intent_response_key": key, "confidence": turn.answer_confidence}
                ],
            },
        }
    data = {"text": turn.text, "parse_data": parse, "input_channel": channel}
    return _row(sender, "user", stamp, data, intent=turn.intent)


def conversation_rows(
    sender: str, turns: List[Turn], channel: str = "rest", start: float | None = None
) -> List[Dict[str, Any]]:
    """The events rows of one conversation, as Rasa would store them."""
    stamp = start if start is not None else time.time() - 600
    rows = [
        _row(sender, "action", stamp, {"name": "action_session_start"}),
        _row(sender, "session_started", stamp, {}),
        _row(sender, "action", stamp, {"name": "action_listen"}),
    ]
    for turn in turns:
        stamp += 1
        rows.append(_user(sender, stamp, turn, channel))
        actions = turn.actions or (["utter_faq"] if turn.answer_key else [])
        for action in actions:
            rows.append(_row(sender, "action", stamp, {"name": action}))
        for text in turn.bot or ["(bot answer)"]:
            rows.append(
                _row(
                    sender,
                    "bot",
                    stamp,
                    {"text": text, "data": {"buttons": None}, "metadata": {}},
                )
            )
        if turn.crisis_slot:
            rows.append(
                _row(sender, "slot", stamp, {"name": "crisis_flagged", "value": True})
            )
        rows.append(_row(sender, "action", stamp, {"name": "action_listen"}))
    return rows


def add_conversation(
    bind: Engine | Connection,
    sender: str,
    turns: List[Turn],
    channel: str = "rest",
    start: float | None = None,
) -> None:
    """Writes one conversation's events."""
    rows = conversation_rows(sender, turns, channel, start)
    if isinstance(bind, Engine):
        with bind.begin() as connection:
            connection.execute(EVENTS.insert(), rows)
    else:
        bind.execute(EVENTS.insert(), rows)


def seed_clinic(engine: Engine) -> Dict[str, Any]:
    """A small clinic day: answered, fallback, crisis, handoff, intake, hostile text.

    Returns:
        Ids of what was made (conversations, handoffs, intake requests).
    """
    create_events_table(engine)
    now = time.time()
    add_conversation(
        engine,
        "rest-safety",
        [
            Turn("is ketamine therapy safe?", answer_key="is_it_safe", confidence=1.0),
            Turn("how long does relief last", answer_key="relief_duration"),
        ],
        start=now - 3 * 3600,
    )
    add_conversation(
        engine,
        "rest-fallback",
        [
            Turn(
                "blorf snik wub",
                intent="nlu_fallback",
                confidence=0.2,
                actions=["action_clarify"],
            )
        ],
        start=now - 2 * 3600,
    )
    add_conversation(
        engine,
        "+15551234567",
        [Turn("does it help with side effects", answer_key="side_effects")],
        channel="twilio",
        start=now - 5 * 86400,
    )
    add_conversation(
        engine,
        "rest-crisis",
        [
            Turn(
                "I want to end it all",
                intent="crisis",
                confidence=1.0,
                actions=["action_crisis_response"],
                crisis_slot=True,
            )
        ],
        start=now - 3600,
    )
    add_conversation(
        engine,
        "rest-hostile",
        [Turn(XSS_SCRIPT, intent="out_of_scope"), Turn(XSS_IMG, intent="greet")],
        start=now - 1800,
    )
    add_conversation(
        engine,
        "rest-human",
        [
            Turn(
                "can I talk to a person",
                intent="request_human",
                actions=["action_handoff"],
            )
        ],
        start=now - 600,
    )
    with session_scope(engine) as session:
        crisis = open_handoff(
            session,
            conversation_id="rest-crisis",
            channel="rest",
            reason="crisis",
            summary="I want to end it all",
            urgent=True,
        )
        human = open_handoff(
            session,
            conversation_id="rest-human",
            channel="rest",
            reason="requested",
            summary=f"call me at +15557654321 {XSS_IMG}",
        )
        intake, _ = save_intake(
            session,
            conversation_id="rest-hostile",
            channel="rest",
            submission_key="rest-hostile:1",
            full_name=f"Jane {XSS_SCRIPT}",
            phone_e164="+15559876543",
            email="jane.doe@example.org",
            condition=f'=HYPERLINK("http://x") {XSS_IMG}',
            best_time="mornings",
            consent=True,
        )
    return {
        "handoffs": {"crisis": crisis.id, "human": human.id},
        "intake": intake.id,
    }
