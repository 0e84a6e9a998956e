"""The trained model on the report sets of tests/nlu/: floors just below the record.

`make bench` measures these sets and docs/benchmarks.md records the figures; each
bound here sits a little below (or above, for rates that must stay low) the recorded
value, so a regression fails CI. tests/nlu/README.md says which sets were used for
error analysis or choices (the dev sets under tests/nlu/dev/, and some report sets
since) and which are clean.
"""

from __future__ import annotations

import pytest

from bot.nlu import evaluation
from tests.support.paths import ROOT

pytestmark = pytest.mark.model

SETS = ROOT / "tests" / "nlu"

# (figure, bound, "min" or "max") per set; see docs/benchmarks.md for the record.
BOUNDS = {
    "heldout": [
        ("right_outcome", 0.92, "min"),
        ("wrong_faq_answer", 0.006, "max"),
        ("crisis_recall", 1.0, "min"),
    ],
    "real_questions": [
        ("right_outcome", 0.75, "min"),
        ("wrong_faq_answer", 0.05, "max"),
    ],
    "real_questions_fresh": [
        ("right_outcome", 0.62, "min"),
        ("wrong_faq_answer", 0.10, "max"),
    ],
    "real_questions_fresh2": [
        ("right_outcome", 0.59, "min"),
        ("wrong_faq_answer", 0.075, "max"),
    ],
    "real_questions_fresh3": [
        ("right_outcome", 0.50, "min"),
        ("wrong_faq_answer", 0.09, "max"),
    ],
    "off_domain": [
        ("faq_answer", 0.002, "max"),
        ("did_you_mean", 0.035, "max"),
        ("false_alarm", 0.016, "max"),
        ("out_of_scope", 0.92, "min"),
    ],
    "crisis": [
        ("crisis_recall", 0.93, "min"),
        ("false_alarm", 0.115, "max"),
    ],
    "crisis_fresh": [
        ("crisis_recall", 0.89, "min"),
        ("false_alarm", 0.115, "max"),
    ],
}


@pytest.fixture(scope="module")
def outcomes(parse):
    """Each report set's outcomes with the session's model."""
    results = {}
    for name in BOUNDS:
        cases = evaluation.load_cases(SETS / f"{name}.yml")
        predictions = [evaluation.predicted_label(parse(c.text)) for c in cases]
        results[name] = evaluation.outcomes(cases, predictions)
    return results


@pytest.mark.parametrize(
    "name, figure, bound, kind",
    [(name, *bound) for name, bounds in BOUNDS.items() for bound in bounds],
)
def test_figure_holds(outcomes, name, figure, bound, kind):
    value = outcomes[name].summary()[figure]
    if kind == "min":
        assert value >= bound, (figure, value, outcomes[name].errors[:20])
    else:
        assert value <= bound, (figure, value, outcomes[name].errors[:20])


def test_crisis_messages_never_get_an_faq_answer(outcomes):
    leaked = [
        text
        for text, label, prediction in outcomes["crisis"].errors
        if label == "crisis" and prediction.startswith("faq/")
    ]
    assert len(leaked) <= 3, leaked


def test_every_parse_explains_its_decision(parse):
    for text in ["is ketamine safe", "how do i reset my router", "i want to die"]:
        routing = parse(text).get("routing") or {}
        assert routing.get("decision"), text
        assert "in_domain" in routing.get("domain", {}), text
    assert "crisis" in parse("i want to die")["routing"]["decision"]
    declined = parse("how do i reset my wifi router")["routing"]["decision"]
    assert "not about the clinic's topic" in declined
