"""Crisis response: emergency guidance at once, and a flag staff can find."""

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher


class ActionCrisisResponse(Action):
    """Gives emergency guidance (911, 988, Poison Help) and flags the conversation.

    Never answers with an FAQ. The `crisis_flagged` slot marks the conversation so
    the staff console can list it first.
    """

    def name(self) -> str:
        """Action name used in rules."""
        return "action_crisis_response"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        """Sends the guidance and sets the flag."""
        dispatcher.utter_message(response="utter_crisis")
        return [SlotSet("crisis_flagged", True)]
