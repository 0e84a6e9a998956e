"""Handing a patient to a person on the clinic's staff."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from actions import store
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


async def open_handoff(tracker: Tracker, reason: str, urgent: bool = False):
    """Records the handoff for staff (one open handoff per conversation)."""
    from bot.db.repository import open_handoff as repo_open_handoff

    return await store.run(
        repo_open_handoff,
        conversation_id=tracker.sender_id,
        channel=tracker.get_latest_input_channel() or "unknown",
        reason=reason,
        summary=summarize(tracker),
        urgent=urgent,
    )


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
