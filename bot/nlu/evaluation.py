"""Scores the NLU model on evaluation sets: shared by the tests and `make bench`.

A message's *label* is what the patient should get: `faq/<key>` for a curated
answer, or a plain intent (`crisis`, `out_of_scope`, ...); some messages also accept
*alternatives* (`alt`). A parse result's *prediction* is read the same way, with
`nlu_fallback` meaning "asked the patient to clarify". Messages are loaded with plain
YAML (not Rasa's reader) so a test set can be read without training data conventions
getting in the way.

The sets (tests/nlu/README.md says where each came from):
- `heldout.yml`: paraphrases of the catalog, Rasa NLU format;
- `real_questions.yml`: questions as real people wrote them, with `alt` labels;
- `off_domain.yml`: everyday messages about anything else, by topic;
- `crisis.yml`: crisis messages by style, and ordinary ones that must not alarm.
`tests/nlu/dev/` holds separate sets of the same kinds, used for error analysis and
threshold choice; the figures reported in docs/benchmarks.md come from the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import yaml

from bot.nlu import parse_result
from bot.vocabulary import CRISIS, FAQ, OUT_OF_SCOPE
from bot.vocabulary import NLU_FALLBACK as FALLBACK


def load_examples(path: Path) -> List[Tuple[str, str]]:
    """(text, label) pairs from a Rasa NLU YAML file."""
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    pairs = []
    for block in document.get("nlu", []):
        if "intent" not in block:
            continue
        for line in block["examples"].splitlines():
            line = line.strip()
            if line.startswith("- "):
                pairs.append((line[2:].strip(), block["intent"]))
    return pairs


def load_many(paths: Iterable[Path]) -> List[Tuple[str, str]]:
    """(text, label) pairs from several NLU files."""
    return [pair for path in paths for pair in load_examples(path)]


@dataclass(frozen=True)
class Case:
    """One evaluation message: the right label, other right labels, its group."""

    text: str
    label: str
    alt: Tuple[str, ...] = ()
    group: str = ""

    def accepts(self, prediction: str) -> bool:
        """True when `prediction` is a right outcome for this message."""
        return prediction == self.label or prediction in self.alt


def load_cases(path: Path) -> List[Case]:
    """The messages of any evaluation set under tests/nlu/ (format by content)."""
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if "nlu" in document:
        return [Case(text, label, group=label) for text, label in load_examples(path)]
    if "questions" in document:
        return [
            Case(
                str(q["text"]),
                q["label"],
                tuple(q.get("alt") or ()),
                group=q["label"],
            )
            for q in document["questions"]
        ]
    cases = []
    for topic, texts in (document.get("topics") or {}).items():
        cases += [Case(str(t), OUT_OF_SCOPE, group=topic) for t in texts or []]
    for style, texts in (document.get("crisis") or {}).items():
        cases += [Case(str(t), CRISIS, group=f"crisis/{style}") for t in texts or []]
    for style, texts in (document.get("ordinary") or {}).items():
        # Ordinary messages: anything but the alarm is right for this set's purpose.
        cases += [
            Case(str(t), ORDINARY, group=f"ordinary/{style}") for t in texts or []
        ]
    return cases


ORDINARY = "not_crisis"


@dataclass
class Outcomes:
    """What patients got, over one evaluation set."""

    total: int = 0
    right: int = 0
    wrong_faq: int = 0
    faq: int = 0
    out_of_scope: int = 0
    fallback: int = 0
    crisis_total: int = 0
    crisis_caught: int = 0
    ordinary_total: int = 0
    false_alarms: int = 0
    errors: List[Tuple[str, str, str]] = field(default_factory=list)

    def add(self, case: Case, prediction: str) -> None:
        """Counts one message."""
        self.total += 1
        is_crisis = case.label == CRISIS
        right = (
            prediction != CRISIS if case.label == ORDINARY else case.accepts(prediction)
        )
        self.right += right
        if not right:
            self.errors.append((case.text, case.label, prediction))
        if prediction.startswith("faq/"):
            self.faq += 1
            # An ordinary message has no one right answer here: only its alarm counts.
            self.wrong_faq += case.label != ORDINARY and not case.accepts(prediction)
        self.out_of_scope += prediction == OUT_OF_SCOPE
        self.fallback += prediction == FALLBACK
        if is_crisis:
            self.crisis_total += 1
            self.crisis_caught += prediction == CRISIS
        else:
            self.ordinary_total += 1
            self.false_alarms += prediction == CRISIS

    def summary(self) -> Dict[str, Optional[float]]:
        """The figures, as shares of the set (rounded for printing).

        A share of nothing is None, not 0: crisis recall on a set without a
        crisis message, or false alarms on a set of crisis messages only.
        """

        def share(count: int, total: int) -> Optional[float]:
            return round(count / total, 4) if total else None

        return {
            "messages": self.total,
            "right_outcome": share(self.right, self.total),
            "faq_answer": share(self.faq, self.total),
            "wrong_faq_answer": share(self.wrong_faq, self.total),
            "out_of_scope": share(self.out_of_scope, self.total),
            "did_you_mean": share(self.fallback, self.total),
            "crisis_recall": share(self.crisis_caught, self.crisis_total),
            "false_alarm": share(self.false_alarms, self.ordinary_total),
        }


def outcomes(cases: Iterable[Case], predictions: Iterable[str]) -> Outcomes:
    """Scores predictions against cases, pairwise."""
    result = Outcomes()
    for case, prediction in zip(cases, predictions, strict=True):
        result.add(case, prediction)
    return result


def predicted_label(parse: Dict[str, Any]) -> str:
    """The label a parse result amounts to (`faq/<key>`, an intent, or fallback)."""
    intent = parse_result.top_intent(parse).name or FALLBACK
    if intent != FAQ:
        return intent
    answer = parse_result.faq_answer(parse)
    return answer.response_key if answer else FALLBACK


@dataclass
class Scores:
    """Accuracy figures for one model on one labelled set."""

    total: int = 0
    correct: int = 0
    wrong_faq: int = 0
    fallback: int = 0
    crisis_total: int = 0
    crisis_caught: int = 0
    oos_total: int = 0
    oos_caught: int = 0
    errors: List[Tuple[str, str, str]] = field(default_factory=list)

    def add(self, text: str, label: str, prediction: str) -> None:
        """Counts one message."""
        self.total += 1
        if prediction == label:
            self.correct += 1
        else:
            self.errors.append((text, label, prediction))
            if prediction.startswith("faq/"):
                self.wrong_faq += 1
        if prediction == FALLBACK:
            self.fallback += 1
        if label == CRISIS:
            self.crisis_total += 1
            self.crisis_caught += prediction == CRISIS
        if label == OUT_OF_SCOPE:
            self.oos_total += 1
            self.oos_caught += prediction == OUT_OF_SCOPE

    @property
    def accuracy(self) -> float:
        """Top-1 accuracy: the patient got exactly what they should."""
        return self.correct / self.total if self.total else 0.0

    @property
    def wrong_faq_rate(self) -> float:
        """Share of messages that got a curated answer to another question."""
        return self.wrong_faq / self.total if self.total else 0.0

    @property
    def fallback_rate(self) -> float:
        """Share of messages answered with "Did you mean...?"."""
        return self.fallback / self.total if self.total else 0.0

    @property
    def crisis_recall(self) -> float:
        """Share of crisis messages routed to emergency guidance."""
        return self.crisis_caught / self.crisis_total if self.crisis_total else 1.0

    @property
    def oos_recall(self) -> float:
        """Share of out-of-scope messages recognised as such."""
        return self.oos_caught / self.oos_total if self.oos_total else 1.0

    def summary(self) -> Dict[str, float]:
        """The figures as a dict, rounded for printing."""
        return {
            "messages": self.total,
            "top1_accuracy": round(self.accuracy, 4),
            "wrong_faq_rate": round(self.wrong_faq_rate, 4),
            "fallback_rate": round(self.fallback_rate, 4),
            "crisis_recall": round(self.crisis_recall, 4),
            "out_of_scope_recall": round(self.oos_recall, 4),
        }


def score(examples: Iterable[Tuple[str, str]], predictions: Iterable[str]) -> Scores:
    """Scores predictions against labels, pairwise."""
    scores = Scores()
    for (text, label), prediction in zip(examples, predictions, strict=True):
        scores.add(text, label, prediction)
    return scores
