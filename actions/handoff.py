"""Handing a patient to a person on the clinic's staff."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from actions import notify, store
from bot.db.tables.patients import (
    REASON_CRISIS,
    REASON_FALLBACK,
    REASON_LOGISTICS,
    REASON_MEDICAL_ADVICE,
    REASON_REQUESTED,
)
from bot.settings import get_settings
from bot.vocabulary import (
    ACTION_CLARIFY,
    ACTION_CRISIS_RESPONSE,
    ACTION_HANDOFF,
    ACTION_LISTEN,
    NLU_FALLBACK,
    UTTER_CANNOT_ANSWER_LOGISTICS,
    UTTER_HANDOFF_IN_HOURS,
    UTTER_HANDOFF_OUT_OF_HOURS,
    UTTER_HANDOFF_UNAVAILABLE,
    UTTER_NO_MEDICAL_ADVICE,
)

logger = logging.getLogger(__name__)
SUMMARY_MESSAGES = 3
SUMMARY_LIMIT = 500

# The bot's previous action says why the patient wants a person.
_REASON_AFTER = {
    UTTER_NO_MEDICAL_ADVICE: REASON_MEDICAL_ADVICE,
    UTTER_CANNOT_ANSWER_LOGISTICS: REASON_LOGISTICS,
    ACTION_CLARIFY: REASON_FALLBACK,
    ACTION_CRISIS_RESPONSE: REASON_CRISIS,
}


def summarize(tracker: Tracker) -> str:
    """The patient's last few messages, so staff need not read the whole log."""
    texts = [
        str(event.get("text") or "").strip()
        for event in tracker.events
        if event.get("event") == "user"
    ]
    texts = [t for t in texts if t][-SUMMARY_MESSAGES:]
    summary = " / ".join(texts) or "(no message)"
    return (
        summary[: SUMMARY_LIMIT - 1] + "…" if len(summary) > SUMMARY_LIMIT else summary
    )


def previous_bot_action(tracker: Tracker) -> Optional[str]:
    """The last action the bot ran before the current user message."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return None
            seen_user = True
        elif seen_user and event.get("event") == "action":
            if event.get("name") not in (ACTION_LISTEN, None):
                return event.get("name")
    return None


def _open_and_describe(session, **fields):
    from bot.db.repository import open_or_escalate_handoff

    handoff, change = open_or_escalate_handoff(session, **fields)
    session.flush()  # the new row's id
    return handoff.id, handoff.channel, handoff.reason, handoff.urgent, change


async def open_handoff(tracker: Tracker, reason: str, urgent: bool = False) -> int:
    """Records the handoff for staff (one open handoff per conversation).

    A new handoff (`handoff.created`) or one made urgent (`handoff.urgent`, a
    crisis) is announced to `STAFF_NOTIFY_URL` in the background (`actions.notify`),
    with ids and categories only.

    Returns:
        The handoff's id.

    Raises:
        store.StoreError: the database could not store it.
    """
    from bot.db.repository import HANDOFF_CREATED, HANDOFF_ESCALATED

    handoff_id, channel, stored_reason, is_urgent, change = await store.run(
        _open_and_describe,
        conversation_id=tracker.sender_id,
        channel=tracker.get_latest_input_channel() or "unknown",
        reason=reason,
        summary=summarize(tracker),
        urgent=urgent,
    )
    if change == HANDOFF_CREATED:
        notify.handoff_changed(
            notify.HANDOFF_CREATED, handoff_id, channel, stored_reason, is_urgent
        )
    elif change == HANDOFF_ESCALATED:
        notify.handoff_changed(notify.HANDOFF_URGENT, handoff_id, channel, reason, True)
    return handoff_id


class ActionHandoff(Action):
    """Hands the conversation to the clinic's staff.

    In clinic hours the bot says a person will reply here and pauses itself until
    staff hand the conversation back; out of hours it says when staff are back and
    offers the intake form meanwhile. Either way a row in `handoffs` tells staff who
    is waiting and why. The row comes first, then the pause: a conversation held by
    staff always has its handoff (`bot.handoff`).
    """

    def name(self) -> Text:
        """Action name used in rules."""
        return ACTION_HANDOFF

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[Text, Any],
    ) -> List[EventType]:
        """Records the handoff, then pauses or offers the form."""
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        reason = _REASON_AFTER.get(previous_bot_action(tracker) or "", REASON_REQUESTED)
        if intent == NLU_FALLBACK:
            reason = REASON_FALLBACK
        try:
            await open_handoff(tracker, reason)
        except store.StoreError:
            dispatcher.utter_message(response=UTTER_HANDOFF_UNAVAILABLE)
            return []
        hours = get_settings().hours()
        if hours.is_open():
            dispatcher.utter_message(response=UTTER_HANDOFF_IN_HOURS)
            return [ConversationPaused()]
        dispatcher.utter_message(
            response=UTTER_HANDOFF_OUT_OF_HOURS, clinic_hours=hours.describe()
        )
        return []
