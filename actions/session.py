"""Conversation start: the notice every patient sees first."""

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import (
    ActionExecuted,
    ConversationPaused,
    EventType,
    SessionStarted,
    SlotSet,
)
from rasa_sdk.executor import CollectingDispatcher

from actions import store
from bot.handoff import hold
from bot.vocabulary import (
    ACTION_LISTEN,
    ACTION_SESSION_START,
    CRISIS_FLAGGED,
    UTTER_NOTICE,
)


class ActionSessionStart(Action):
    """Starts a session and tells the patient what the assistant is and is not.

    The notice (automated assistant, general information only, not medical advice,
    911 in an emergency) opens every new session, before the first answer.
    """

    def name(self) -> str:
        """Overrides Rasa's default session start."""
        return ACTION_SESSION_START

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        """Carries slots over, sends the notice (or stays paused), then listens."""
        carried = [
            SlotSet(name, value)
            for name, value in tracker.current_slot_values().items()
            if value is not None and name in _CARRIED_SLOTS
        ]
        if await _held_by_staff(tracker):
            # A new session resets Rasa's pause; staff still hold this conversation.
            return [SessionStarted(), *carried, ConversationPaused()]
        dispatcher.utter_message(response=UTTER_NOTICE)
        return [SessionStarted(), *carried, ActionExecuted(ACTION_LISTEN)]


async def _held_by_staff(tracker: Tracker) -> bool:
    """`bot.handoff.hold.held_by_staff` for this conversation.

    The `handoffs` table is read only for a paused conversation.
    """
    from bot.db.repository import latest_active_handoff

    if not hold.is_paused(tracker.events, paused_now=tracker.is_paused()):
        return False
    try:
        handoff = await store.run(latest_active_handoff, tracker.sender_id)
    except store.StoreError:
        return hold.held_by_staff(True, active_handoff=None)
    return hold.held_by_staff(True, active_handoff=handoff is not None)


# Slots that describe the patient rather than one exchange survive a new session:
# a crisis flag must not disappear because the patient came back an hour later.
_CARRIED_SLOTS = {CRISIS_FLAGGED}
