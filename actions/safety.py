"""Crisis response: emergency guidance at once, and an urgent flag for staff."""

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import store
from actions.handoff import open_handoff

logger = logging.getLogger(__name__)


class ActionCrisisResponse(Action):
    """Gives emergency guidance (911, 988, Poison Help) and flags the conversation.

    Never answers with an FAQ. The `crisis_flagged` slot marks the conversation and an
    urgent handoff puts it at the top of the staff queue. The guidance is sent first
    and does not depend on the database: if storing the handoff fails, the patient
    still gets every number.
    """

    def name(self) -> Text:
        """Action name used in rules."""
        return "action_crisis_response"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[Text, Any],
    ) -> List[EventType]:
        """Sends the guidance, flags the conversation, opens an urgent handoff."""
        dispatcher.utter_message(response="utter_crisis")
        try:
            await open_handoff(tracker, "crisis", urgent=True)
        except store.StoreError:
            logger.error("Crisis handoff could not be stored; the slot flag remains.")
        return [SlotSet("crisis_flagged", True)]
