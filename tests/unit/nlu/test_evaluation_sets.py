"""The evaluation sets stay apart from the training data, and are what they claim."""

import re

import pytest

from bot.nlu.evaluation import CRISIS, ORDINARY, OUT_OF_SCOPE, load_cases, load_many
from tests.support.paths import CATALOG, ROOT

NLU_SETS = ROOT / "tests" / "nlu"
SETS = sorted(NLU_SETS.glob("*.yml")) + sorted((NLU_SETS / "dev").glob("*.yml"))
TRAINING = load_many(sorted((ROOT / "data" / "nlu").glob("*.yml")))
LABELS = {f"faq/{key}" for key in CATALOG["faq"]} | set(CATALOG["intents"]) | {ORDINARY}


def _key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _shingles(text: str) -> set:
    words = _key(text).split()
    return {" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


TRAINING_KEYS = {_key(text) for text, _ in TRAINING}
TRAINING_SHINGLES = [(_shingles(text), text) for text, _ in TRAINING]


@pytest.mark.parametrize("path", SETS, ids=lambda p: str(p.relative_to(NLU_SETS)))
def test_no_evaluation_message_is_training_data(path):
    """Exact copies (ignoring case and punctuation) would inflate every figure."""
    leaked = [c.text for c in load_cases(path) if _key(c.text) in TRAINING_KEYS]
    assert leaked == []


@pytest.mark.parametrize(
    "path",
    [p for p in SETS if p.name != "heldout.yml"],
    ids=lambda p: str(p.relative_to(NLU_SETS)),
)
def test_no_evaluation_message_is_a_close_variant_of_training_data(path):
    """Nor may a test message come back in data/ with a word or two changed."""
    close = []
    for case in load_cases(path):
        mine = _shingles(case.text)
        if len(mine) < 3:
            continue  # too short to call a copy: "is it safe" is everyone's
        for theirs, text in TRAINING_SHINGLES:
            overlap = len(mine & theirs) / len(mine | theirs)
            if overlap >= 0.6:
                close.append((case.text, text))
                break
    assert close == []


@pytest.mark.parametrize("path", SETS, ids=lambda p: str(p.relative_to(NLU_SETS)))
def test_every_label_is_a_catalog_key_or_intent(path):
    cases = load_cases(path)
    assert cases
    assert {c.label for c in cases} | {a for c in cases for a in c.alt} <= LABELS


def test_dev_and_report_sets_do_not_share_messages():
    for report in sorted(NLU_SETS.glob("*.yml")):
        dev = NLU_SETS / "dev" / report.name
        if dev.exists():
            shared = {_key(c.text) for c in load_cases(report)} & {
                _key(c.text) for c in load_cases(dev)
            }
            assert shared == set(), report.name


def test_the_sets_are_as_large_as_the_issue_asks():
    real = load_cases(NLU_SETS / "real_questions.yml")
    off = load_cases(NLU_SETS / "off_domain.yml")
    crisis = load_cases(NLU_SETS / "crisis.yml")
    assert len(real) >= 150
    assert len(off) >= 1500 and len({c.group for c in off}) >= 40
    assert all(c.label == OUT_OF_SCOPE for c in off)
    assert sum(c.label == CRISIS for c in crisis) >= 300
    assert sum(c.label == ORDINARY for c in crisis) >= 1000
