"""Questions about the clinic's own facts are recognised and never get an FAQ."""

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot import answerability
from bot.answerability import detect_clinic_fact
from bot.nlu.components import SafetyRouter


@pytest.mark.parametrize(
    "text",
    [
        "does medicare pay for the infusions",
        "how much does a round of ketamine run",
        "is this covered by my insurance plan",
        "how many infusions does a typical plan have",
        "how long does each infusion take",
        "do you offer payment plans",
        "are your doctors board certified",
        "where is the clinic located",
        "can i book an appointment for next week",
        "how long does a ketamine infusion take",
        "is one enough or are several infusions needed",
        "do patients get boosters after the first round",
        "does someone need to drive me home afterwards",
    ],
)
def test_clinic_facts_are_recognised(text):
    assert detect_clinic_fact(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "how long does the relief last",
        "how fast does ketamine work",
        "is ketamine therapy safe",
        "what are the side effects",
        "how is ketamine given",
        "how much ketamine is in one dose compared to anesthesia",
        "how long does the infusion take to work",
        "how long does a treatment take to kick in",
    ],
)
def test_questions_the_article_answers_are_left_alone(text):
    assert detect_clinic_fact(text) is None


def message(text, intent):
    msg = Message(data={"text": text})
    msg.set("intent", {"name": intent, "confidence": 0.99}, add_to_output=True)
    msg.set("intent_ranking", [{"name": intent, "confidence": 0.99}])
    return msg


@pytest.mark.parametrize(
    "intent, expected",
    [
        ("faq", "clinic_logistics"),
        ("nlu_fallback", "clinic_logistics"),
        ("request_human", "request_human"),
        ("crisis", "crisis"),
    ],
)
def test_the_router_turns_an_answer_into_the_honest_reply(intent, expected):
    (msg,) = SafetyRouter({}).process(
        [message("Does Medicare cover ketamine infusions for pain?", intent)]
    )
    assert msg.get("intent")["name"] == expected
    assert msg.get("routing")["decision"]


@pytest.mark.parametrize(
    "text",
    [
        "how much does it cost?",
        "How much is it?",
        "is it covered by insurance?",
        "do you take medicare?",
        "how much does each infusion cost?",
    ],
)
def test_a_bare_price_or_coverage_question_is_the_clinics(text):
    """So few words can mean only the therapy: logistics, whatever the model said."""
    assert answerability.is_bare_clinic_question(text)


@pytest.mark.parametrize(
    "text",
    [
        "how much does it cost to spay a cat",
        "how much is a plane ticket",
        "is it covered by my car warranty",
    ],
)
def test_a_price_question_about_something_else_is_not_bare(text):
    assert not answerability.is_bare_clinic_question(text)


def test_a_bare_price_question_is_logistics_even_if_called_off_topic():
    (msg,) = SafetyRouter({}).process(
        [message("how much does it cost?", "out_of_scope")]
    )
    assert msg.get("intent")["name"] == "clinic_logistics"
    (msg,) = SafetyRouter({}).process(
        [message("how much does it cost to spay a cat", "out_of_scope")]
    )
    assert msg.get("intent")["name"] == "out_of_scope"


@pytest.mark.parametrize(
    "text", ["can my dog come with me on the plane", "do i need a covid booster shot"]
)
def test_visit_words_about_something_else_are_left_to_the_domain_gate(text):
    """Everyday words ("come with me", "booster") mean a visit only in the domain."""
    assert detect_clinic_fact(text, in_domain=False) is None
