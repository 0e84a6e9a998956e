"""The catalog contract: every key exists, has enough data and a traceable answer."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml

from actions.faq_topics import topics
from bot.nlu.evaluation import load_examples, load_many
from tests.support.paths import CATALOG, FAQ_KEYS, PLAIN_INTENTS, ROOT

SOURCE = (ROOT / "catalog" / CATALOG["source"]).read_text(encoding="utf-8")
RESPONSES = yaml.safe_load((ROOT / "data" / "responses" / "faq.yml").read_text())[
    "responses"
]
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
TRAINING = load_many(sorted((ROOT / "data" / "nlu").glob("*.yml")))
COUNTS = Counter(label for _, label in TRAINING)
HELDOUT = load_examples(ROOT / "tests" / "nlu" / "heldout.yml")
SHARED_CATALOG = ROOT.parent / "shared" / "faq-catalog.yml"


def test_catalog_copy_matches_shared_when_present():
    if not SHARED_CATALOG.exists():
        pytest.skip("no ../shared beside this clone: the project's own copy rules")
    assert (
        ROOT / "catalog" / "faq-catalog.yml"
    ).read_text() == SHARED_CATALOG.read_text()


@pytest.mark.parametrize("key", FAQ_KEYS)
def test_every_faq_key_has_training_data(key):
    assert COUNTS[f"faq/{key}"] >= 30


@pytest.mark.parametrize("intent", PLAIN_INTENTS)
def test_every_plain_intent_is_in_domain_with_training_data(intent):
    assert intent in DOMAIN["intents"]
    assert COUNTS[intent] >= 30


def test_no_label_outside_the_catalog_and_domain():
    known = {f"faq/{k}" for k in FAQ_KEYS} | set(DOMAIN["intents"])
    assert set(COUNTS) <= known


def test_no_example_has_two_labels():
    labels = {}
    for text, label in TRAINING:
        labels.setdefault(text.lower(), set()).add(label)
    assert {t: ls for t, ls in labels.items() if len(ls) > 1} == {}


def test_heldout_messages_are_not_training_data():
    training_texts = {text.lower() for text, _ in TRAINING}
    assert [t for t, _ in HELDOUT if t.lower() in training_texts] == []


@pytest.mark.parametrize("key", FAQ_KEYS)
def test_every_faq_key_has_a_traceable_answer(key):
    (variant,) = RESPONSES[f"utter_faq/{key}"]
    meta = variant["metadata"]
    assert meta["source_section"] == CATALOG["faq"][key]["source"]
    assert meta["source_quote"] in SOURCE, "the quote must be verbatim from the source"


@pytest.mark.parametrize("key", FAQ_KEYS)
def test_answers_read_well_in_chat_and_sms(key):
    text = RESPONSES[f"utter_faq/{key}"][0]["text"]
    assert 80 <= len(text) <= 480
    assert not re.search(r"[*#<>\[\]_`]|https?://", text), "plain text only"
    assert "\n\n\n" not in text


def test_only_catalog_answers_exist():
    assert sorted(RESPONSES) == [f"utter_faq/{key}" for key in FAQ_KEYS]


@pytest.mark.parametrize("key", FAQ_KEYS)
def test_every_key_has_a_button_title_whose_question_is_its_training_example(key):
    topic = topics()[key]
    assert 3 <= len(topic.title) <= 40
    normalized = {(t.lower().rstrip("?"), label) for t, label in TRAINING}
    assert (topic.question.lower().rstrip("?"), f"faq/{key}") in normalized


def test_answers_never_name_prices_or_times_the_source_lacks():
    for (variant,) in RESPONSES.values():
        assert not re.search(
            r"\$\d|\bdollars?\b|\binsurance covers\b|\bopen (from|at)\b",
            variant["text"],
        )


def test_project_stands_alone_without_shared():
    # Everything the project reads lives inside it.
    assert (ROOT / "catalog" / CATALOG["source"]).exists()
    for path in [ROOT / "config.yml", ROOT / "endpoints.yml", ROOT / "Makefile"]:
        assert "../shared" not in path.read_text()
