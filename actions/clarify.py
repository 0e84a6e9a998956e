"""Uncertain messages: "Did you mean...?" first, then the offer of a person.

What the patient reads is in `domain.yml` (`utter_clarify_<n>` for n suggested
topics, `utter_clarify_offer_person`); the topics' titles and questions are
`actions.faq_topics.topics()`.
"""

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.faq_topics import topics as faq_topics
from bot.nlu import parse_result
from bot.vocabulary import (
    ACTION_CLARIFY,
    ACTION_LISTEN,
    UTTER_CLARIFY_1,
    UTTER_CLARIFY_2,
    UTTER_CLARIFY_3,
    UTTER_CLARIFY_OFFER_PERSON,
)

# The response for one, two or three suggestions ("Something else" comes last).
CLARIFY_RESPONSES = (UTTER_CLARIFY_1, UTTER_CLARIFY_2, UTTER_CLARIFY_3)
MAX_SUGGESTIONS = len(CLARIFY_RESPONSES)
# Candidates below this confidence are noise, not suggestions.
MIN_SUGGESTION_CONFIDENCE = 0.05


class ActionClarify(Action):
    """Asks the patient which topic they meant instead of guessing an answer.

    The first time, it offers the two or three most likely FAQ topics as buttons.
    If the very next message is unclear too, it stops guessing and offers a person
    or a call back from the clinic.
    """

    def name(self) -> str:
        """Action name used in rules."""
        return ACTION_CLARIFY

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[EventType]:
        """Sends the suggestions or the offer of a person."""
        suggestions = suggested_keys(tracker.latest_message)
        if _clarified_just_before(tracker) or not suggestions:
            dispatcher.utter_message(response=UTTER_CLARIFY_OFFER_PERSON)
            return []
        topics = {}
        for number, key in enumerate(suggestions, 1):
            topics[f"title_{number}"] = faq_topics()[key].title
            topics[f"question_{number}"] = faq_topics()[key].question
        dispatcher.utter_message(
            response=CLARIFY_RESPONSES[len(suggestions) - 1], **topics
        )
        return []


def suggested_keys(latest_message: Dict[str, Any] | None) -> List[str]:
    """The most likely FAQ keys of the parsed message, best first."""
    offered = faq_topics()
    keys = [
        candidate.key
        for candidate in parse_result.faq_ranking(latest_message or {})
        if candidate.key in offered
        and candidate.confidence >= MIN_SUGGESTION_CONFIDENCE
    ]
    return keys[:MAX_SUGGESTIONS]


def _clarified_just_before(tracker: Tracker) -> bool:
    """True when the bot's previous turn was already a clarification."""
    seen_current_user_message = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_current_user_message:
                return False
            seen_current_user_message = True
        elif seen_current_user_message and event.get("event") == "action":
            name = event.get("name")
            if name == ACTION_CLARIFY:
                return True
            if name not in (ACTION_LISTEN, None):
                return False
    return False
