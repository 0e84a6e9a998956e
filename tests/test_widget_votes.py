"""Answer feedback over real socket.io against the real product (issue 13, item 1).

Widget sessions over the websocket transport (`tests.support.socketio_ws`) talk to
the Rasa server of the shared `product` fixture, with the real model: a curated
answer arrives with its id, key and source; a vote on it is stored with the key of
the conversation, whatever the payload says; the attacks a script would try are
refused and store nothing; nothing of a vote becomes a patient message.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
import requests

from bot.texts import text as catalog_text
from tests.support.socketio_ws import WidgetSocket

pytestmark = [pytest.mark.model, pytest.mark.server]

NO_SESSION = catalog_text("widget.no_session")
UNKNOWN = catalog_text("widget.feedback_unknown")
THANKS = catalog_text("widget.feedback_thanks")


def stored(product, conversation_id):
    with sqlite3.connect(product.db_path) as db:
        return db.execute(
            "select answer_id, answer_key, vote, reason from answer_feedback "
            "where conversation_id = ?",
            (conversation_id,),
        ).fetchall()


def tracker_events(product, conversation_id):
    answer = requests.get(
        f"{product.base_url}/conversations/{conversation_id}/tracker",
        params={"token": product.token, "include_events": "ALL"},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()["events"]


async def curated_answer(widget, question):
    """Asks a question; returns the `answer` of the reply's last paragraph."""
    start = len(widget.events)
    await widget.say(question)
    while True:
        _, message = await widget.next_event("bot_uttered", after=start)
        start = widget.events.index(("bot_uttered", message), start) + 1
        if "answer" in message:
            return message["answer"]


async def reply(widget, payload):
    """The channel's answer to one `answer_feedback` payload."""
    start = len(widget.events)
    await widget.emit("answer_feedback", payload)
    for _ in range(30 * 20):  # 30 s
        for name, data in widget.events[start:]:
            if name in ("feedback_saved", "feedback_error"):
                return name, data
        await asyncio.sleep(0.05)
    raise TimeoutError("no answer to the feedback")


async def test_a_vote_is_stored_with_the_conversations_key_and_attacks_are_refused(
    product,
):
    async with (
        WidgetSocket(product.base_url) as patient,
        WidgetSocket(product.base_url) as attacker,
    ):
        session = await patient.start()
        answer = await curated_answer(patient, "how fast does ketamine work")
        assert answer["key"] == "onset_speed"
        assert answer["source"] == "Benefits, Rapid Onset of Action"
        assert answer["anchor"] == (
            "benefits-of-ketamine-therapy-over-traditional-treatments"
        )
        reason = "Nothing about how many sessions I would need."
        forged = {
            "session_id": session,
            "answer_id": answer["id"],
            "vote": "not_helpful",
            "reason": reason,
            "answer_key": "is_it_safe",  # forged: ignored
        }
        assert await reply(patient, forged) == (
            "feedback_saved",
            {"answer_id": answer["id"], "vote": "not_helpful", "text": THANKS},
        )
        assert stored(product, session) == [
            (answer["id"], "onset_speed", "not_helpful", reason)
        ]
        # Never a patient message: no event of the conversation holds the reason.
        assert all(reason not in str(e) for e in tracker_events(product, session))

        # Another browser, with a session of its own.
        own = await attacker.start()
        change = {**forged, "vote": "helpful", "reason": None}
        assert await reply(attacker, change) == (
            "feedback_error",
            {"answer_id": answer["id"], "text": NO_SESSION},
        )
        assert await reply(attacker, {**change, "session_id": own}) == (
            "feedback_error",
            {"answer_id": answer["id"], "text": UNKNOWN},
        )
        # A bot message that is no curated answer (the greeting), by its real id.
        greeting = next(
            e
            for e in tracker_events(product, session)
            if e["event"] == "bot" and "utter_faq/" not in str(e.get("metadata"))
        )
        other_id = repr(float(greeting["timestamp"]))
        assert await reply(patient, {**change, "answer_id": other_id}) == (
            "feedback_error",
            {"answer_id": other_id, "text": UNKNOWN},
        )
        assert stored(product, session) == [
            (answer["id"], "onset_speed", "not_helpful", reason)
        ]
        assert stored(product, own) == []

        # The patient changes their mind: the same row.
        assert (await reply(patient, change))[0] == "feedback_saved"
        assert stored(product, session) == [
            (answer["id"], "onset_speed", "helpful", None)
        ]
        # And the conversation goes on.
        nxt = await curated_answer(patient, "is it safe?")
        assert nxt["key"] == "is_it_safe" and nxt["id"] != answer["id"]
