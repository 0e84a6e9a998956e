"""Custom Rasa NLU components: input guard, answer confidence gate, safety router.

Their order in `config.yml` matters: `InputGuard` runs first, before spaCy sees the
text; `AnswerGate` after the ResponseSelector; `SafetyRouter` last, so that nothing
the model decides can override a crisis.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import answerability, safety
from bot.nlu import parse_result
from bot.nlu.parse_result import (
    DECISION,
    DOMAIN,
    GATE,
    OFF_DOMAIN,
    SAFETY_RULE,
    SECOND_OPINION,
)
from bot.vocabulary import CLINIC_LOGISTICS, FAQ, OUT_OF_SCOPE

logger = logging.getLogger(__name__)

FAQ_INTENT = FAQ
# Added to the parse result (`bot.nlu.parse_result`), so /model/parse, the tracker and
# the staff console show why a message was routed the way it was; and the whole
# cleaned message, for the safety rules (the model reads a cut).
ROUTING_KEY = parse_result.ROUTING
SAFETY_TEXT_KEY = parse_result.SAFETY_TEXT


def set_intent(message: Message, name: str, confidence: float) -> None:
    """Replaces the top intent and puts it first in the ranking."""
    ranking = [
        entry
        for entry in message.get(INTENT_RANKING_KEY) or []
        if entry.get(INTENT_NAME_KEY) != name
    ]
    top = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: confidence}
    message.set(INTENT, top, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False
)
class InputGuard(GraphComponent):
    """Keeps any message, however large or odd, cheap and safe to parse.

    Strips NUL and other control characters and cuts the text the model sees to
    `max_chars` (the conversation log keeps what the patient sent). The safety rules
    read the whole cleaned message (`SAFETY_TEXT_KEY`): a crisis at the end of a
    long SMS is still a crisis.

    A message starting with "/" is a payload that Rasa maps to an intent without
    reading it. Only the payloads the product's own buttons send are accepted as
    such; any other ("/faq", "/restart", "/crisis{...}") is the patient's text and
    goes through the model and the safety rules like any message.
    """

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Default config: the model reads at most this many characters."""
        return {"max_chars": 1000, "allowed_payloads": ["/greet"]}

    def __init__(self, config: Dict[str, Any]) -> None:
        config = {**self.get_default_config(), **config}
        self._max_chars = int(config["max_chars"])
        self._allowed_payloads = frozenset(config["allowed_payloads"])

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> InputGuard:
        """Creates the component."""
        return cls({**cls.get_default_config(), **config})

    def clean(self, text: str | None) -> str:
        """The whole message without control characters or foreign payloads."""
        text = "".join(
            char if char.isprintable() or char in "\n\t" else " " for char in text or ""
        )
        if text.startswith("/") and text.strip() not in self._allowed_payloads:
            text = text.lstrip("/ ")  # read as words, not as an intent code
        return text

    def process(self, messages: List[Message]) -> List[Message]:
        """Cleans incoming messages."""
        for message in messages:
            if message.get(TEXT) is not None:
                text = self.clean(message.get(TEXT))
                message.set(SAFETY_TEXT_KEY, text)
                message.set(TEXT, text[: self._max_chars])
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Cleans training examples the same way, so training matches inference."""
        self.process(training_data.training_examples)
        return training_data


class _PredictOnly(GraphComponent):
    """Base for the components that only post-process the model's predictions."""

    def __init__(self, config: Dict[str, Any]) -> None:
        self._config = config

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        """Creates the component."""
        return cls({**cls.get_default_config(), **config})

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to learn."""
        return training_data


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class AnswerGate(_PredictOnly):
    """Never lets a guess through: low or ambiguous confidence becomes `nlu_fallback`.

    Rasa's ResponseSelector has no threshold of its own, and its FallbackClassifier
    only looks at the intent. This gate checks both: the intent (DIET) and, for FAQ
    questions, which answer the ResponseSelector picked. The dialogue then asks
    "Did you mean...?" with the selector's top candidates (see
    `actions/clarify.py`). Thresholds were tuned on held-out messages
    (`make bench`, docs/benchmarks.md).
    """

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Default thresholds."""
        return {
            # DIET's top intent must reach this confidence ...
            "intent_threshold": 0.5,
            # ... and the ResponseSelector's answer this one, for FAQ questions ...
            "answer_threshold": 0.2,
            # ... and lead the runner-up answer by at least this much.
            "answer_ambiguity_threshold": 0.03,
        }

    def process(self, messages: List[Message]) -> List[Message]:
        """Replaces uncertain predictions by `nlu_fallback`."""
        for message in messages:
            reason = self.uncertainty(message)
            if reason:
                confidence = (message.get(INTENT) or {}).get(PREDICTED_CONFIDENCE_KEY)
                set_intent(message, DEFAULT_NLU_FALLBACK_INTENT_NAME, confidence or 0.0)
                routing = {**parse_result.routing(message), GATE: reason}
                message.set(ROUTING_KEY, routing, add_to_output=True)
        return messages

    def uncertainty(self, message: Message) -> str | None:
        """Why the prediction is too uncertain to act on, or None."""
        intent = message.get(INTENT) or {}
        name = intent.get(INTENT_NAME_KEY)
        if not name or not message.get(TEXT):
            return None  # e.g. a button payload ("/affirm"): nothing to doubt
        if (intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0) < self._config[
            "intent_threshold"
        ]:
            return "low_intent_confidence"
        if name != FAQ_INTENT:
            return None
        ranking = parse_result.faq_ranking(message)
        if not ranking:
            return "no_answer"
        top = ranking[0].confidence
        second = ranking[1].confidence if len(ranking) > 1 else 0.0
        if top < self._config["answer_threshold"]:
            return "low_answer_confidence"
        if top - second < self._config["answer_ambiguity_threshold"]:
            return "ambiguous_answer"
        return None


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class SafetyRouter(_PredictOnly):
    """Applies the deterministic rules of `bot.safety` and `bot.answerability`.

    A crisis message always gets the `crisis` intent, a request for one person's
    medical advice the `personal_medical_advice` intent, whatever the model said; a
    question about the clinic's own facts (cost, insurance, schedules, providers)
    that the model would answer with an FAQ or a "Did you mean...?" gets
    `clinic_logistics`.
    """

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The crisis model's probability that turns an unclear message into crisis."""
        return {"unclear_crisis_threshold": 0.7}

    def process(self, messages: List[Message]) -> List[Message]:
        """Routes crisis and personal-advice messages; records every decision."""
        for message in messages:
            text = message.get(SAFETY_TEXT_KEY) or message.get(TEXT)
            if text and not text.startswith("/"):  # "/greet": the widget's own
                self._apply_rules(message, text)
                self._unclear_crisis(message)
            routing = parse_result.routing(message)
            routing[DECISION] = describe_decision(message, routing)
            message.set(ROUTING_KEY, routing, add_to_output=True)
        return messages

    def _unclear_crisis(self, message: Message) -> None:
        """A message the bot would ask to clarify, that reads like a crisis, is one.

        The CrisisDetector needs a confident crisis model (0.95) to override a
        confident intent; a message nothing else understood ("Did you mean...?") needs
        less: sending 988 guidance to an unclear message costs little, missing a
        crisis costs much (threshold chosen on the dev and used sets).
        """
        intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        routing = parse_result.routing(message)
        probability = routing.get("crisis_model")
        if intent != DEFAULT_NLU_FALLBACK_INTENT_NAME or probability is None:
            return
        if probability >= self._config["unclear_crisis_threshold"]:
            set_intent(message, safety.CRISIS, probability)
            routing["crisis"] = "crisis model on an unclear message"
            message.set(ROUTING_KEY, routing, add_to_output=True)
            logger.info("Safety router flagged an unclear message as a crisis.")

    @staticmethod
    def _apply_rules(message: Message, text: str) -> None:
        current = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        match = safety.route(text)
        gate = parse_result.routing(message).get(GATE)
        gated = gate in (OFF_DOMAIN, SECOND_OPINION)  # an answer a gate turned down
        bare = answerability.is_bare_clinic_question(text)
        if match is None and (current in _ANSWERS_OR_CLARIFIES or gated or bare):
            match = answerability.detect_clinic_fact(text, in_domain=gate != OFF_DOMAIN)
        if match is None:
            return
        if current == safety.CRISIS and match.intent != safety.CRISIS:
            return  # the model saw a crisis the rules missed: keep it
        set_intent(message, match.intent, 1.0)
        message.set(
            ROUTING_KEY,
            {**parse_result.routing(message), SAFETY_RULE: match.rule},
            add_to_output=True,
        )
        if match.intent == safety.CRISIS:
            logger.info("Safety router flagged a crisis message.")


# What the clinic-fact rules may override: an answer or a "Did you mean...?" (and
# the domain gate's verdict: "how on earth do I pay for this?" shares no word with
# the article, yet it is the clinic's question).
_ANSWERS_OR_CLARIFIES = (FAQ_INTENT, DEFAULT_NLU_FALLBACK_INTENT_NAME)

_DECLINES = {
    OUT_OF_SCOPE: "declined: not about the clinic's topic",
    CLINIC_LOGISTICS: "declined: a clinic fact the article lacks",
    safety.MEDICAL_ADVICE: "declined: one person's medical question",
}


def describe_decision(message: Message, routing: Dict[str, Any]) -> str:
    """One line on why the bot does what it does, for logs and the staff console."""
    intent = message.get(INTENT) or {}
    name = intent.get(INTENT_NAME_KEY) or DEFAULT_NLU_FALLBACK_INTENT_NAME
    confidence = intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0
    domain = (routing.get(DOMAIN) or {}).get("in_domain")
    domain_note = f"; in-domain {domain:.2f}" if domain is not None else ""
    if routing.get(SAFETY_RULE):
        why = f"safety rule {routing[SAFETY_RULE]!r}"
    elif name == safety.CRISIS and routing.get("crisis"):
        why = f"{routing['crisis']} {confidence:.2f}"
    elif routing.get(GATE) == OFF_DOMAIN:
        why = f"domain gate (was {routing.get(parse_result.OVERRIDDEN_INTENT)})"
    elif routing.get(GATE) == SECOND_OPINION:
        opinion = routing.get(SECOND_OPINION) or {}
        why = (
            f"second opinion {opinion.get('label')} {opinion.get('confidence', 0):.2f} "
            f"(the model said {routing.get(parse_result.OVERRIDDEN_INTENT)})"
        )
    elif routing.get(GATE):
        why = f"answer gate: {routing[GATE]}"
    else:
        why = f"model {confidence:.2f}"
    if name == safety.CRISIS:
        return f"crisis guidance: {why}{domain_note}"
    if name == DEFAULT_NLU_FALLBACK_INTENT_NAME:
        return f"asked to clarify: {why}{domain_note}"
    if name in _DECLINES:
        return f"{_DECLINES[name]}: {why}{domain_note}"
    if name == FAQ_INTENT:
        ranking = parse_result.faq_ranking(message)
        key = ranking[0].response_key if ranking else "?"
        top = ranking[0].confidence if ranking else 0.0
        return f"answered {key}: answer {top:.2f}, {why}{domain_note}"
    return f"{name}: {why}{domain_note}"
