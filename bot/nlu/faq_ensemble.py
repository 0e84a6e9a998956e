"""FaqEnsemble: second opinions on the intent (DIET) and on the FAQ answer."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu import parse_result
from bot.nlu.learned import load_trusted
from bot.nlu.parse_result import RANKING, RESPONSE, RESPONSE_KEY, RESPONSE_SELECTOR
from bot.vocabulary import FAQ

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class FaqEnsemble(GraphComponent):
    """Second opinions: DIET and the selector, each averaged with a linear model.

    The ResponseSelector (a neural ranker) and a TF-IDF-weighted logistic regression
    over Rasa's own count features make different mistakes; their averaged
    probabilities were measured to beat either alone (docs/benchmarks.md). The
    result keeps the ResponseSelector's output format, so `utter_faq`, the
    AnswerGate and /model/parse consumers see one ranking.

    The same holds for the intent: DIET is sure of "faq" on questions that merely
    share the FAQ's words ("Does Medicare cover ketamine infusions?"), while a
    linear model over the same features weighs the words that set a clinic
    question or a personal one apart. With `intent_weight` below 1 the intent
    ranking is DIET's averaged with that model's.
    """

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Default config."""
        return {
            "retrieval_intent": FAQ,
            # weight of the ResponseSelector; the linear model gets the rest
            "selector_weight": 0.5,
            # inverse regularisation strength of the logistic regression
            "C": 10.0,
            "ranking_length": 10,
            # weight of DIET's intent ranking; 1.0 leaves DIET's intent alone
            "intent_weight": 1.0,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Any = None,
        responses: Dict[str, Any] | None = None,
        intent_model: Any = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model
        self._responses = responses or {}
        self._intent_model = intent_model

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> FaqEnsemble:
        """Creates an untrained component."""
        return cls(config, model_storage, resource)

    @staticmethod
    def _features(messages: List[Message]):
        """Sentence-level sparse features, one row per message (None if it has none)."""
        from scipy.sparse import csr_matrix

        rows = []
        for message in messages:
            _, sentence = message.get_sparse_features(TEXT)
            rows.append(csr_matrix(sentence.features) if sentence else None)
        return rows

    def train(self, training_data: TrainingData) -> Resource:
        """Fits TF-IDF weighting and a logistic regression on the FAQ examples."""
        from scipy.sparse import vstack
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        intent = self._config["retrieval_intent"]
        examples = [
            e
            for e in training_data.intent_examples
            if e.get(INTENT) == intent and e.get(RESPONSE_KEY) and e.get(TEXT)
        ]
        if len({e.get(RESPONSE_KEY) for e in examples}) < 2:
            return self._resource
        self._model = make_pipeline(
            TfidfTransformer(sublinear_tf=True),
            LogisticRegression(C=self._config["C"], max_iter=2000, random_state=42),
        )
        examples = [e for e in examples if e.get_sparse_features(TEXT)[1] is not None]
        self._model.fit(
            vstack(self._features(examples)),
            [e.get(RESPONSE_KEY) for e in examples],
        )
        if self._config["intent_weight"] < 1.0:
            labelled = [
                e
                for e in training_data.intent_examples
                if e.get(INTENT) and e.get_sparse_features(TEXT)[1] is not None
            ]
            self._intent_model = make_pipeline(
                TfidfTransformer(sublinear_tf=True),
                LogisticRegression(C=self._config["C"], max_iter=3000, random_state=42),
            ).fit(vstack(self._features(labelled)), [e.get(INTENT) for e in labelled])
        prefix = f"utter_{intent}/"
        self._responses = {
            key: value
            for key, value in training_data.responses.items()
            if key.startswith(prefix)
        }
        self.persist()
        return self._resource

    def persist(self) -> None:
        """Saves the fitted model and the answers it may select."""
        import json

        import skops.io as sio

        with self._model_storage.write_to(self._resource) as directory:
            sio.dump(self._model, directory / "faq_ensemble.skops")
            if self._intent_model is not None:
                sio.dump(self._intent_model, directory / "intent_ensemble.skops")
            (directory / "responses.json").write_text(json.dumps(self._responses))

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> FaqEnsemble:
        """Loads the fitted model (only the types scikit-learn pipelines use)."""
        import json

        try:
            with model_storage.read_from(resource) as directory:
                model = load_trusted(directory / "faq_ensemble.skops")
                intent_path = directory / "intent_ensemble.skops"
                intent_model = (
                    load_trusted(intent_path) if intent_path.exists() else None
                )
                responses = json.loads((directory / "responses.json").read_text())
        except (ValueError, FileNotFoundError) as error:
            logger.warning(f"FaqEnsemble not loaded ({error}); selector alone is used.")
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model, responses, intent_model)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to training data."""
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Replaces DIET's and the selector's rankings by the averaged rankings."""
        if self._intent_model is not None:
            self._average_intents(messages)
        if self._model is None:
            return messages
        intent = self._config["retrieval_intent"]
        classes = list(self._model.classes_)
        weight = self._config["selector_weight"]
        for message, features in zip(messages, self._features(messages), strict=True):
            selected = parse_result.selection(message, intent)
            expected_width = self._model.steps[0][1].idf_.shape[0]
            if not selected or features is None or features.shape[1] != expected_width:
                continue  # e.g. an empty message: the selector's ranking stands
            row = self._model.predict_proba(features)[0]
            scores = {
                key: (1 - weight) * p for key, p in zip(classes, row, strict=True)
            }
            for candidate in parse_result.faq_ranking(message, intent):
                key = candidate.response_key
                scores[key] = scores.get(key, 0.0) + weight * candidate.confidence
            ranking = sorted(scores.items(), key=lambda item: -item[1])
            top_key, top_confidence = ranking[0]
            utter_action = f"utter_{top_key}"
            selected[RESPONSE] = {
                **selected.get(RESPONSE, {}),
                RESPONSE_KEY: top_key,
                PREDICTED_CONFIDENCE_KEY: float(top_confidence),
                "utter_action": utter_action,
                "responses": self._responses.get(utter_action)
                or selected.get(RESPONSE, {}).get("responses"),
            }
            selected[RANKING] = [
                {
                    "id": None,
                    RESPONSE_KEY: key,
                    PREDICTED_CONFIDENCE_KEY: float(confidence),
                }
                for key, confidence in ranking[: self._config["ranking_length"]]
            ]
            # `selected` is the entry inside the message's selector output.
            message.set(
                RESPONSE_SELECTOR, message.get(RESPONSE_SELECTOR), add_to_output=True
            )
        return messages

    def _average_intents(self, messages: List[Message]) -> None:
        """Averages DIET's intent ranking with the linear model's probabilities."""
        weight = self._config["intent_weight"]
        classes = list(self._intent_model.classes_)
        width = self._intent_model.steps[0][1].idf_.shape[0]
        for message, features in zip(messages, self._features(messages), strict=True):
            ranking = message.get(INTENT_RANKING_KEY) or []
            if not ranking or features is None or features.shape[1] != width:
                continue
            row = self._intent_model.predict_proba(features)[0]
            scores = {
                name: (1 - weight) * p for name, p in zip(classes, row, strict=True)
            }
            for entry in ranking:
                name = entry.get(INTENT_NAME_KEY)
                scores[name] = scores.get(name, 0.0) + weight * entry.get(
                    PREDICTED_CONFIDENCE_KEY, 0.0
                )
            averaged = [
                {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: float(score)}
                for name, score in sorted(scores.items(), key=lambda item: -item[1])
            ][: self._config["ranking_length"]]
            message.set(INTENT, averaged[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, averaged, add_to_output=True)
