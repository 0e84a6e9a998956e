"""The second opinion: a curated answer goes out only when both models agree."""

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.components import SafetyRouter
from bot.nlu.second_opinion import SecondOpinion, fit_second_opinion

PAIRS = [
    *[(f"is ketamine safe {w}", "faq/is_it_safe") for w in ("really", "at all", "now")],
    *[(f"what does ketamine cost {w}", "clinic_logistics") for w in ("here", "a", "b")],
    *[(f"does it help {w} pain", "faq/who_is_it_for") for w in ("back", "foot", "leg")],
    *[(f"what is the weather {w}", "out_of_scope") for w in ("today", "now", "soon")],
    *[(f"hello {w}", "greet") for w in ("there", "bot", "you")],
]


@pytest.fixture(scope="module")
def opinion():
    return SecondOpinion({}, None, None, fit_second_opinion(PAIRS))


def answered(text, key):
    msg = Message(data={"text": text})
    msg.set("intent", {"name": "faq", "confidence": 0.99}, add_to_output=True)
    msg.set("intent_ranking", [{"name": "faq", "confidence": 0.99}])
    ranking = [{"intent_response_key": f"faq/{key}", "confidence": 0.9}]
    msg.set("response_selector", {"faq": {"ranking": ranking}}, add_to_output=True)
    return msg


def test_an_answer_both_models_give_goes_out(opinion):
    (msg,) = opinion.process([answered("is ketamine safe really", "is_it_safe")])
    assert msg.get("intent")["name"] == "faq"
    assert msg.get("routing")["second_opinion"]["label"] == "faq/is_it_safe"


def test_a_decline_named_by_the_second_opinion_replaces_the_answer(opinion):
    (msg,) = opinion.process([answered("what is the weather today", "is_it_safe")])
    assert msg.get("intent")["name"] == "out_of_scope"
    routing = (
        SafetyRouter(SafetyRouter.get_default_config()).process([msg])[0].get("routing")
    )
    assert routing["gate"] == "second_opinion"
    assert "second opinion out_of_scope" in routing["decision"]
    assert "the model said faq/is_it_safe" in routing["decision"]


def test_another_answer_named_by_the_second_opinion_asks_did_you_mean(opinion):
    (msg,) = opinion.process([answered("does it help back pain", "is_it_safe")])
    assert msg.get("intent")["name"] == "nlu_fallback"


def test_only_curated_answers_are_checked(opinion):
    msg = Message(data={"text": "hello there"})
    msg.set("intent", {"name": "greet", "confidence": 0.99}, add_to_output=True)
    (msg,) = opinion.process([msg])
    assert msg.get("intent")["name"] == "greet"
    assert "second_opinion" not in (msg.get("routing") or {})
