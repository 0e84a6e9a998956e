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
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.components import ROUTING_KEY, set_intent
from bot.nlu.domain_model import DomainModel, split_examples

logger = logging.getLogger(__name__)

OUT_OF_SCOPE = "out_of_scope"
# Replies that are right whatever the topic: the gate never overrides them.
UNGATED_INTENTS = (
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "bot_challenge",
    "cancel",
    "crisis",
    OUT_OF_SCOPE,
)
_MODEL_FILE = "domain_model.skops"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class DomainGate(GraphComponent):
    """Sends messages that are not about the clinic's topic to `out_of_scope`."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Default config: the in-domain probability below which a message is off."""
        return {"threshold": 0.5, "C": 4.0}

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: DomainModel | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> DomainGate:
        """Creates an untrained gate."""
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Learns in-domain (every intent but out_of_scope) against out_of_scope."""
        import skops.io as sio

        pairs = [
            (example.get(TEXT), example.get(INTENT))
            for example in training_data.intent_examples
            if example.get(TEXT) and example.get(INTENT)
        ]
        in_domain, off_domain = split_examples(pairs, off_labels=(OUT_OF_SCOPE,))
        if not in_domain or not off_domain:
            return self._resource
        self._model = DomainModel(C=float(self._config["C"])).fit(in_domain, off_domain)
        with self._model_storage.write_to(self._resource) as directory:
            sio.dump(self._model, directory / _MODEL_FILE)
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> DomainGate:
        """Loads the trained gate (only scikit-learn, numpy and this module's types)."""
        import skops.io as sio

        try:
            with model_storage.read_from(resource) as directory:
                path = directory / _MODEL_FILE
                untrusted = sio.get_untrusted_types(file=path)
                prefixes = ("sklearn.", "numpy.", "scipy.", "bot.nlu.domain_model.")
                allowed = [t for t in untrusted if t.startswith(prefixes)]
                if allowed != untrusted:
                    raise ValueError(f"unexpected types in {path}: {untrusted}")
                model = sio.load(path, trusted=allowed)
        except (ValueError, FileNotFoundError) as error:
            # Fail closed would stop the bot; the AnswerGate still guards answers.
            logger.error(f"Domain gate not loaded ({error}); it lets everything pass.")
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to the training data."""
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Scores each message and routes off-domain ones to `out_of_scope`."""
        if self._model is None:
            return messages
        for message in messages:
            text = message.get(TEXT)
            if not text or text.startswith("/"):
                continue  # a button payload says what it means
            evidence = self._model.explain(text)
            routing = {**(message.get(ROUTING_KEY) or {}), "domain": evidence}
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if evidence["in_domain"] < self._config["threshold"] and (
                intent not in UNGATED_INTENTS
            ):
                routing["gate"] = "off_domain"
                routing["overridden_intent"] = intent
                set_intent(message, OUT_OF_SCOPE, 1.0 - evidence["in_domain"])
            message.set(ROUTING_KEY, routing, add_to_output=True)
        return messages
