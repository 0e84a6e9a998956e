"""Does a message speak of a crisis? A binary model read sentence by sentence.

The deterministic rules of `bot.safety` catch the wordings they name; this model
catches the ones they do not ("I've been carving words into my legs", "would a whole
pack of my sleeping pills do it"). It is a logistic regression on word 1-3-grams and
character 2-5-grams, trained on the `crisis` examples against every other training
example, and it reads each sentence of the whole message as well as its start, so a
crisis at the end of a long message counts as much as one alone. Pure scikit-learn,
no Rasa import.
"""

from __future__ import annotations

import re
from typing import Any, List, Sequence

import numpy as np

from bot.nlu.domain_model import normalize

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
MAX_SENTENCES = 40
MODEL_CHARS = 1000


def sentences(text: str) -> List[str]:
    """The message's start (what the intent model reads) and its sentences."""
    parts = [p.strip() for p in _SENTENCE_END.split(text or "") if p.strip()]
    head = (text or "")[:MODEL_CHARS]
    # The last sentences first: a long message's crisis tends to come at its end.
    return [head, *parts[::-1][:MAX_SENTENCES]]


class CrisisModel:
    """P(crisis) of a message: the highest over its start and its sentences."""

    def __init__(self, C: float = 4.0, random_state: int = 42) -> None:
        self.C = C
        self.random_state = random_state
        self.pipeline: Any = None  # a scikit-learn Pipeline once fitted

    def fit(self, crisis: Sequence[str], other: Sequence[str]) -> CrisisModel:
        """Trains on crisis and non-crisis example messages."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        self.pipeline = make_pipeline(
            make_union(
                TfidfVectorizer(
                    preprocessor=normalize, ngram_range=(1, 3), sublinear_tf=True
                ),
                TfidfVectorizer(
                    preprocessor=normalize,
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    sublinear_tf=True,
                    min_df=2,
                ),
            ),
            LogisticRegression(
                C=self.C,
                max_iter=3000,
                class_weight="balanced",
                random_state=self.random_state,
            ),
        )
        texts = list(crisis) + list(other)
        labels = np.array([1] * len(crisis) + [0] * len(other))
        self.pipeline.fit(texts, labels)
        return self

    def score(self, text: str) -> float:
        """P(crisis) of the message, the highest of its parts."""
        parts = sentences(text)
        if not parts:
            return 0.0
        return float(self.pipeline.predict_proba(parts)[:, 1].max())
