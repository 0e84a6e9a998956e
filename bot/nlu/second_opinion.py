"""A second opinion on every curated answer: an independent classifier must agree.

The intent model and the answer selector are sure of themselves on questions that
merely share an answer's words: on real patients' questions about a fifth of the
curated answers sent were answers to another question (docs/benchmarks.md). This
component asks a model built differently, a logistic regression over TF-IDF word
1-2-grams and character 2-5-grams trained on the same examples (every intent and
every `faq/<key>` as its own class), which key it would give. A curated answer is
sent only when the two agree. When they do not:

- the second opinion names one of the honest declines (`clinic_logistics`,
  `personal_medical_advice`, `out_of_scope`): that decline is the outcome;
- otherwise the patient is asked "Did you mean...?" with the selector's topics.

Runs after the domain gate and before the SafetyRouter, whose crisis, medical and
clinic-fact rules still decide last. Its verdict is in `routing.second_opinion`.
Pure scikit-learn for the model; the rule (no threshold) was chosen on the sets used
for error analysis (tests/nlu/README.md).
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME as FALLBACK
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu import parse_result
from bot.nlu.components import set_intent
from bot.nlu.learned import LearnedComponent
from bot.vocabulary import CLINIC_LOGISTICS, FAQ, OUT_OF_SCOPE, PERSONAL_MEDICAL_ADVICE

# The declines a disagreeing second opinion may choose instead of "Did you mean...?".
DECLINES = (CLINIC_LOGISTICS, PERSONAL_MEDICAL_ADVICE, OUT_OF_SCOPE)


def fit_second_opinion(pairs: Sequence[Tuple[str, str]], C: float = 10.0) -> Any:
    """The fitted scikit-learn pipeline: (text, label) pairs in, a classifier out."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    model = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LogisticRegression(max_iter=2000, C=C),
    )
    texts, labels = zip(*pairs, strict=True)
    return model.fit(list(texts), list(labels))


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class SecondOpinion(LearnedComponent):
    """Sends a curated answer only when an independent classifier gives the same key."""

    MODEL_FILE = "second_opinion.skops"

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Inverse regularisation strength of the logistic regression."""
        return {"C": 10.0}

    def train(self, training_data: TrainingData) -> Resource:
        """Learns every intent and every `faq/<key>` as its own class."""
        pairs = [
            (example.get(TEXT), example.get(INTENT_RESPONSE_KEY) or example.get(INTENT))
            for example in training_data.intent_examples
            if example.get(TEXT) and example.get(INTENT)
        ]
        if len({label for _, label in pairs}) < 2:
            return self._resource
        return self.persist(fit_second_opinion(pairs, C=float(self._config["C"])))

    def process(self, messages: List[Message]) -> List[Message]:
        """Checks each curated answer against the second opinion."""
        if self._model is None:
            return messages
        for message in messages:
            text = message.get(TEXT)
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            ranking = parse_result.faq_ranking(message)
            if not text or text.startswith("/") or intent != FAQ or not ranking:
                continue
            answer = ranking[0].response_key  # "faq/<key>"
            probabilities = self._model.predict_proba([text])[0]
            best = int(probabilities.argmax())
            label = str(self._model.classes_[best])
            confidence = float(probabilities[best])
            routing = parse_result.routing(message)
            routing[parse_result.SECOND_OPINION] = {
                "label": label,
                "confidence": round(confidence, 3),
            }
            if label != answer:
                routing[parse_result.GATE] = parse_result.SECOND_OPINION
                routing[parse_result.OVERRIDDEN_INTENT] = answer
                declined = label in DECLINES
                set_intent(message, label if declined else FALLBACK, confidence)
            message.set(parse_result.ROUTING, routing, add_to_output=True)
        return messages
