"""Crisis response: the urgent flag for staff, after the guidance Rasa itself sent."""

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import store
from actions.handoff import open_handoff
from bot.db.tables.patients import REASON_CRISIS
from bot.vocabulary import ACTION_CRISIS_RESPONSE, CRISIS_FLAGGED

logger = logging.getLogger(__name__)


class ActionCrisisResponse(Action):
    """Flags a crisis conversation for staff: the slot and an urgent handoff.

    The emergency guidance (911, 988, Poison Help) is the response `utter_crisis`,
    which the crisis rules run just before this action, so the Rasa server sends it
    even when this server or the database is down. The `crisis_flagged` slot marks
    the conversation; an urgent handoff (or the open one, made urgent) puts it at
    the top of the staff queue, also while the conversation is held by staff.
    With `STAFF_NOTIFY_URL` set, staff are told at once (`handoff.created` with
    `urgent` true, or `handoff.urgent`), in the background (`actions.notify`).
    """

    def name(self) -> Text:
        """Action name used in rules."""
        return ACTION_CRISIS_RESPONSE

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[Text, Any],
    ) -> List[EventType]:
        """Flags the conversation and opens (or escalates) an urgent handoff."""
        try:
            await open_handoff(tracker, REASON_CRISIS, urgent=True)
        except store.StoreError:
            logger.error("Crisis handoff could not be stored; the slot flag remains.")
        return [SlotSet(CRISIS_FLAGGED, True)]
