"""Conversation start: the notice every patient sees first."""

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher


class ActionSessionStart(Action):
    """Starts a session and tells the patient what the assistant is and is not.

    The notice (automated assistant, general information only, not medical advice,
    911 in an emergency) opens every new session, before the first answer.
    """

    def name(self) -> str:
        """Overrides Rasa's default session start."""
        return "action_session_start"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        """Carries slots over, sends the notice, then listens."""
        carried = [
            SlotSet(name, value)
            for name, value in tracker.current_slot_values().items()
            if value is not None and name in _CARRIED_SLOTS
        ]
        dispatcher.utter_message(response="utter_notice")
        return [SessionStarted(), *carried, ActionExecuted("action_listen")]


# Slots that describe the patient rather than one exchange survive a new session:
# a crisis flag must not disappear because the patient came back an hour later.
_CARRIED_SLOTS = {"crisis_flagged"}
