"""Is a message about the clinic's topic at all? A binary model, apart from the intents.

A closed-set intent classifier always picks its nearest class: "how long does it take
to get to the stadium" is closest to "how long does it take to work". This model
answers a different question, *is this message about ketamine therapy, pain or the
clinic at all*, from two kinds of evidence:

1. **Wording** (`sparse`): TF-IDF word 1-2-grams and character 2-5-grams with a
   logistic regression, in-domain training examples against off-domain ones.
2. **Vocabulary** (`vocabulary_features`): how many of the message's words the
   in-domain training data has used, weighed against general English word
   frequencies (spaCy's `en_lexeme_prob` table from `spacy-lookups-data`, already
   installed with the spaCy pipeline). A frequent English word that no in-domain
   example ever used ("stadium", "macaroni", "401k") is evidence of another topic,
   which the wording model cannot see because the word is not in its vocabulary;
   an unknown string ("ketamene") is a typo and no evidence either way.

A second logistic regression stacks the two. The vocabulary features of training
examples are computed out of fold (each example against a vocabulary built without
it), otherwise every training word would look known and the stacker would learn
nothing from them. Pure scikit-learn: no Rasa import, so the benchmark and tests can
train it directly.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import numpy as np

from bot.vocabulary import OUT_OF_SCOPE

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Log probability below which a word counts as rare in English (about 1 in 3 M).
_RARE_ENGLISH = -15.0
# Words at least this frequent carry no topic ("the", "how", "is").
_FUNCTION_WORD = -7.0
FOLDS = 5


@lru_cache(maxsize=1)
def english_log_prob() -> Dict[str, float]:
    """Word -> log probability in general English (1 M words, from spaCy's lookups)."""
    import spacy_lookups_data

    path = Path(spacy_lookups_data.__file__).parent / "data" / "en_lexeme_prob.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def normalize(text: str) -> str:
    """Lower-case text with curly quotes straightened, as both models read it."""
    return (text or "").replace("\u2019", "'").lower()


def words(text: str) -> List[str]:
    """The message's word tokens, lower-cased."""
    return _WORD.findall(normalize(text))


def stem(word: str) -> str:
    """A crude stem, so "infusions" and "infusion" count as one word."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def build_vocabulary(texts: Iterable[str]) -> Dict[str, int]:
    """Stem -> number of examples that use it."""
    counts: Dict[str, int] = {}
    for text in texts:
        for token in set(map(stem, words(text))):
            counts[token] = counts.get(token, 0) + 1
    return counts


VOCABULARY_FEATURES = (
    "unknown_common_words",
    "unknown_common_share",
    "known_content_words",
    "domain_specificity",
    "off_domain_words",
)


def vocabulary_features(
    text: str, in_vocab: Dict[str, int], off_vocab: Dict[str, int], in_total: int
) -> List[float]:
    """The vocabulary evidence of one message (see `VOCABULARY_FEATURES`)."""
    english = english_log_prob()
    unknown_common = 0.0
    known_content = 0.0
    off_words = 0.0
    specificity = 0.0
    content = 0
    for word in words(text):
        prob = english.get(word)
        if prob is not None and prob > _FUNCTION_WORD:
            continue  # "the", "is", "how": no topic
        content += 1
        token = stem(word)
        in_count = in_vocab.get(token, 0)
        if in_count:
            known_content += 1
            if prob is not None:
                # How much more often the domain uses the word than English does.
                specificity = max(specificity, math.log(in_count / in_total) - prob)
        elif prob is not None and prob > _RARE_ENGLISH:
            # A real, reasonably common English word the domain never used.
            unknown_common += min(1.0, (prob - _RARE_ENGLISH) / 5.0)
        if not in_count and off_vocab.get(token, 0):
            off_words += 1
    return [
        unknown_common,
        unknown_common / content if content else 0.0,
        known_content,
        specificity / 10.0,
        off_words,
    ]


class DomainModel:
    """P(the message is about the clinic's domain), with the evidence for it."""

    def __init__(self, C: float = 4.0, random_state: int = 42) -> None:
        self.C = C
        self.random_state = random_state
        # scikit-learn estimators (untyped) once fitted.
        self.sparse: Any = None
        self.stacker: Any = None
        self.in_vocab: Dict[str, int] = {}
        self.off_vocab: Dict[str, int] = {}
        self.in_total = 1

    def _new_sparse(self):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        features = make_union(
            TfidfVectorizer(
                preprocessor=normalize, ngram_range=(1, 2), sublinear_tf=True
            ),
            TfidfVectorizer(
                preprocessor=normalize,
                analyzer="char_wb",
                ngram_range=(2, 5),
                sublinear_tf=True,
                min_df=2,
            ),
        )
        return make_pipeline(
            features,
            LogisticRegression(
                C=self.C,
                max_iter=3000,
                class_weight="balanced",
                random_state=self.random_state,
            ),
        )

    def fit(self, in_domain: Sequence[str], off_domain: Sequence[str]) -> DomainModel:
        """Trains on in-domain and off-domain example messages."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold

        texts = list(in_domain) + list(off_domain)
        labels = np.array([1] * len(in_domain) + [0] * len(off_domain))
        stacked = np.zeros((len(texts), 1 + len(VOCABULARY_FEATURES)))
        folds = StratifiedKFold(FOLDS, shuffle=True, random_state=self.random_state)
        for train, held in folds.split(texts, labels):
            sparse = self._new_sparse().fit([texts[i] for i in train], labels[train])
            in_vocab = build_vocabulary(texts[i] for i in train if labels[i] == 1)
            off_vocab = build_vocabulary(texts[i] for i in train if labels[i] == 0)
            in_total = int(sum(labels[train]))
            held_texts = [texts[i] for i in held]
            stacked[held, 0] = _logit(sparse.predict_proba(held_texts)[:, 1])
            for row, text in zip(held, held_texts, strict=True):
                stacked[row, 1:] = vocabulary_features(
                    text, in_vocab, off_vocab, in_total
                )
        self.stacker = LogisticRegression(
            C=1.0, class_weight="balanced", max_iter=1000
        ).fit(stacked, labels)
        self.sparse = self._new_sparse().fit(texts, labels)
        self.in_vocab = build_vocabulary(in_domain)
        self.off_vocab = build_vocabulary(off_domain)
        self.in_total = max(1, len(in_domain))
        return self

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """The stacker's inputs for `texts`."""
        rows = np.zeros((len(texts), 1 + len(VOCABULARY_FEATURES)))
        rows[:, 0] = _logit(self.sparse.predict_proba(list(texts))[:, 1])
        for i, text in enumerate(texts):
            rows[i, 1:] = vocabulary_features(
                text, self.in_vocab, self.off_vocab, self.in_total
            )
        return rows

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """P(in domain) for each text."""
        return self.stacker.predict_proba(self.features(texts))[:, 1]

    def explain(self, text: str) -> Dict[str, float]:
        """P(in domain) and the evidence behind it, for logs and the staff console."""
        row = self.features([text])[0]
        explanation = {"wording": round(float(_sigmoid(row[0])), 4)}
        explanation.update(
            {
                name: round(float(v), 3)
                for name, v in zip(VOCABULARY_FEATURES, row[1:], strict=True)
            }
        )
        explanation["in_domain"] = round(
            float(self.stacker.predict_proba(row.reshape(1, -1))[0, 1]), 4
        )
        return explanation


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def split_examples(
    pairs: Iterable[Tuple[str, str]], off_labels: Iterable[str] = (OUT_OF_SCOPE,)
) -> Tuple[List[str], List[str]]:
    """(in-domain texts, off-domain texts) from (text, label) pairs."""
    off = set(off_labels)
    in_domain: List[str] = []
    off_domain: List[str] = []
    for text, label in pairs:
        (off_domain if label in off else in_domain).append(text)
    return in_domain, off_domain
