"""The trained model on messages it never saw (tests/nlu/heldout.yml).

The held-out bar here is a floor that catches regressions; the figures themselves
are measured by `make bench` and recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import pytest
import yaml

from actions.faq_topics import topics
from bot.nlu import evaluation
from tests.support.paths import FAQ_KEYS, ROOT

pytestmark = pytest.mark.model

HELDOUT = evaluation.load_examples(ROOT / "tests" / "nlu" / "heldout.yml")
DOMAIN_INTENTS = yaml.safe_load((ROOT / "domain.yml").read_text())["intents"]


@pytest.fixture(scope="module")
def heldout_scores(parse):
    predictions = [evaluation.predicted_label(parse(text)) for text, _ in HELDOUT]
    return evaluation.score(HELDOUT, predictions), predictions


def test_heldout_accuracy(heldout_scores):
    scores, _ = heldout_scores
    assert scores.accuracy >= 0.90, scores.summary()


def test_wrong_faq_answers_are_rare(heldout_scores):
    scores, _ = heldout_scores
    assert scores.wrong_faq_rate <= 0.02, scores.summary()


def test_every_crisis_message_is_caught(heldout_scores):
    scores, _ = heldout_scores
    missed = [t for t, label, p in scores.errors if label == "crisis"]
    assert missed == []


@pytest.mark.parametrize("label", ["crisis", "personal_medical_advice"])
def test_safety_messages_never_get_an_faq_answer(heldout_scores, label):
    _, predictions = heldout_scores
    leaked = [
        text
        for (text, gold), predicted in zip(HELDOUT, predictions, strict=True)
        if gold == label and predicted.startswith("faq/")
    ]
    assert leaked == []


@pytest.mark.parametrize("key", FAQ_KEYS)
def test_every_catalog_key_is_recognised_on_new_messages(heldout_scores, key):
    scores, predictions = heldout_scores
    mine = [
        p
        for (_, gold), p in zip(HELDOUT, predictions, strict=True)
        if gold == f"faq/{key}"
    ]
    assert mine, f"no held-out messages for {key}"
    assert sum(p == f"faq/{key}" for p in mine) / len(mine) >= 0.7


@pytest.mark.parametrize("key", FAQ_KEYS)
def test_did_you_mean_buttons_lead_to_their_answer(parse, key):
    result = parse(topics()[key].question)
    assert evaluation.predicted_label(result) == f"faq/{key}"


def test_parse_reports_the_catalog_key_as_rasa_does(parse):
    result = parse("is ketamine therapy safe?")
    selected = result["response_selector"]["faq"]["response"]
    assert result["intent"]["name"] == "faq"
    assert selected["intent_response_key"] == "faq/is_it_safe"
    assert selected["utter_action"] == "utter_faq/is_it_safe"


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\x00\x01\x02",
        "🙂" * 50,
        "a" * 100_000,
        "<script>alert(1)</script>",
        "'; DROP TABLE events; --",
        "é" * 5000,
        "\ud800",
    ],
)
def test_odd_input_parses_without_crashing(parse, text):
    result = parse(text)
    assert "intent" in result
    known = {f"faq/{k}" for k in FAQ_KEYS} | set(DOMAIN_INTENTS) | {"nlu_fallback"}
    assert evaluation.predicted_label(result) in known


def test_spacy_entities_are_extracted(parse):
    result = parse("I take gabapentin for my diabetic neuropathy")
    found = {(e["entity"], e["value"].lower()) for e in result["entities"]}
    assert ("medication", "gabapentin") in found
    assert ("condition", "diabetic neuropathy") in found


@pytest.mark.parametrize(
    "text",
    [
        "so how do these ketamine infusions actually work",
        "what exactly is an infusion of ketamine for",
    ],
)
def test_a_message_naming_the_therapy_is_never_gated_off_domain(parse, text):
    """The domain gate's anchor: naming the therapy keeps a message in the domain."""
    routing = parse(text)["routing"]
    assert routing["domain"].get("anchored") is True
    assert routing.get("gate") != "off_domain", routing


def test_a_curated_answer_carries_the_second_opinion_that_agreed(parse):
    routing = parse("is ketamine therapy safe")["routing"]
    assert routing["second_opinion"]["label"] == "faq/is_it_safe"
    assert routing["decision"].startswith("answered faq/is_it_safe")
