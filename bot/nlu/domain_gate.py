"""The domain gate: messages about anything else get the honest out-of-scope reply.

Runs after the intent classifier, the answer selector and the AnswerGate, before the
SafetyRouter (so a crisis still wins). It asks `bot.nlu.domain_model.DomainModel`
whether the message is about the clinic's topic at all, independently of which intent
was closest, and turns an FAQ answer, a "Did you mean...?" or a clinic question into
`out_of_scope` when it is not. Small talk (hello, thanks, yes, no, bye) is left alone:
those replies are right whatever the topic.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu import parse_result
from bot.nlu.components import set_intent
from bot.nlu.domain_model import DomainModel, split_examples
from bot.nlu.learned import LearnedComponent
from bot.vocabulary import (
    AFFIRM,
    BOT_CHALLENGE,
    CANCEL,
    CRISIS,
    DENY,
    GOODBYE,
    GREET,
    OUT_OF_SCOPE,
    THANK,
)

logger = logging.getLogger(__name__)

# A message that names the therapy or the article's own subject is in the domain,
# whatever the wording model makes of the rest ("How do ketamine infusions work?"
# scored 0.42): the gate then leaves the intent model's decision alone.
DOMAIN_ANCHOR = re.compile(
    r"\b(?:ketamin\w*|ketamene|ket|infusions?|neuropath\w*|nerve\s+pain|k[- ]?hole)\b",
    re.IGNORECASE,
)

# Replies that are right whatever the topic: the gate never overrides them.
UNGATED_INTENTS = (
    GREET,
    GOODBYE,
    THANK,
    AFFIRM,
    DENY,
    BOT_CHALLENGE,
    CANCEL,
    CRISIS,
    OUT_OF_SCOPE,
)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class DomainGate(LearnedComponent):
    """Sends messages that are not about the clinic's topic to `out_of_scope`."""

    MODEL_FILE = "domain_model.skops"

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Default config: the in-domain probability below which a message is off."""
        return {"threshold": 0.5, "C": 4.0}

    def train(self, training_data: TrainingData) -> Resource:
        """Learns in-domain (every intent but out_of_scope) against out_of_scope."""
        pairs = [
            (example.get(TEXT), example.get(INTENT))
            for example in training_data.intent_examples
            if example.get(TEXT) and example.get(INTENT)
        ]
        in_domain, off_domain = split_examples(pairs, off_labels=(OUT_OF_SCOPE,))
        if not in_domain or not off_domain:
            return self._resource
        model = DomainModel(C=float(self._config["C"])).fit(in_domain, off_domain)
        return self.persist(model)

    def process(self, messages: List[Message]) -> List[Message]:
        """Scores each message and routes off-domain ones to `out_of_scope`."""
        if self._model is None:
            return messages
        for message in messages:
            text = message.get(TEXT)
            if not text or text.startswith("/"):
                continue  # a button payload says what it means
            evidence = self._model.explain(text)
            anchored = DOMAIN_ANCHOR.search(text) is not None
            if anchored:
                evidence = {**evidence, "anchored": True}
            routing = {**parse_result.routing(message), parse_result.DOMAIN: evidence}
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if (
                evidence["in_domain"] < self._config["threshold"]
                and intent not in UNGATED_INTENTS
                and not anchored
            ):
                routing[parse_result.GATE] = parse_result.OFF_DOMAIN
                routing[parse_result.OVERRIDDEN_INTENT] = intent
                set_intent(message, OUT_OF_SCOPE, 1.0 - evidence["in_domain"])
            message.set(parse_result.ROUTING, routing, add_to_output=True)
        return messages
