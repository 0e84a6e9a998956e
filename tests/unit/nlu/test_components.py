"""The custom NLU components on real Rasa messages (no model needed)."""

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.components import AnswerGate, InputGuard, SafetyRouter


def message(text, intent, confidence, faq=None):
    msg = Message(data={"text": text})
    msg.set("intent", {"name": intent, "confidence": confidence}, add_to_output=True)
    msg.set(
        "intent_ranking",
        [{"name": intent, "confidence": confidence}],
        add_to_output=True,
    )
    if faq:
        msg.set(
            "response_selector",
            {
                "faq": {
                    "ranking": [
                        {"intent_response_key": f"faq/{k}", "confidence": c}
                        for k, c in faq
                    ]
                }
            },
            add_to_output=True,
        )
    return msg


# Explicit thresholds: these tests check the gate's logic, not the tuned values.
THRESHOLDS = {"intent_threshold": 0.5, "answer_threshold": 0.5}
GATE = AnswerGate({**THRESHOLDS, "answer_ambiguity_threshold": 0.1})


@pytest.mark.parametrize(
    "intent, confidence, faq, expected",
    [
        ("faq", 0.99, [("is_it_safe", 0.9), ("side_effects", 0.05)], "faq"),
        ("faq", 0.99, [("is_it_safe", 0.4), ("side_effects", 0.3)], "nlu_fallback"),
        ("faq", 0.99, [("is_it_safe", 0.52), ("side_effects", 0.46)], "nlu_fallback"),
        ("faq", 0.3, [("is_it_safe", 0.9)], "nlu_fallback"),
        ("faq", 0.99, [], "nlu_fallback"),
        ("greet", 0.95, None, "greet"),
        ("greet", 0.2, None, "nlu_fallback"),
    ],
)
def test_answer_gate(intent, confidence, faq, expected):
    (msg,) = GATE.process([message("some text", intent, confidence, faq)])
    assert msg.get("intent")["name"] == expected
    assert msg.get("intent_ranking")[0]["name"] == expected


def test_answer_gate_keeps_the_faq_ranking_for_suggestions():
    (msg,) = GATE.process(
        [message("x", "faq", 0.9, [("is_it_safe", 0.4), ("side_effects", 0.3)])]
    )
    assert (
        msg.get("response_selector")["faq"]["ranking"][0]["intent_response_key"]
        == "faq/is_it_safe"
    )
    assert msg.get("routing") == {"gate": "low_answer_confidence"}


@pytest.mark.parametrize(
    "text, model_intent, expected",
    [
        ("i want to end my life", "faq", "crisis"),
        ("i want to end my life", "nlu_fallback", "crisis"),
        ("what dose should I take", "faq", "personal_medical_advice"),
        ("is ketamine safe", "faq", "faq"),
        ("/greet", "greet", "greet"),
    ],
)
def test_safety_router_overrides_the_model(text, model_intent, expected):
    (msg,) = SafetyRouter({}).process([message(text, model_intent, 0.99)])
    assert msg.get("intent")["name"] == expected


def test_safety_router_keeps_a_crisis_the_model_found():
    (msg,) = SafetyRouter({}).process(
        [message("can I take it with my meds", "crisis", 0.9)]
    )
    assert msg.get("intent")["name"] == "crisis"


def test_input_guard_cleans_and_cuts():
    guard = InputGuard({"max_chars": 10})
    (msg,) = guard.process([Message(data={"text": "a\x00b\x07c" + "x" * 100})])
    assert msg.get("text") == "a b cxxxxx"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("/greet", "/greet"),
        ("/faq", "faq"),
        ("/restart", "restart"),
        ("//crisis{}", "crisis{}"),
        ('/faq{"x": 1} is it safe', 'faq{"x": 1} is it safe'),
    ],
)
def test_input_guard_reads_foreign_payloads_as_text(text, expected):
    """Only the widget's own payload stays an intent code (Rasa skips NLU for it)."""
    (msg,) = InputGuard({}).process([Message(data={"text": text})])
    assert msg.get("text") == expected


def test_safety_router_reads_past_the_models_cut():
    """A crisis at the end of a long SMS: the model reads 1,000 characters."""
    long_text = "My nerve pain has been bad this week. " * 40 + "I want to end my life."
    guard = InputGuard({"max_chars": 1000})
    (msg,) = guard.process([message(long_text, "faq", 0.99)])
    assert "end my life" not in msg.get("text")
    (msg,) = SafetyRouter({}).process([msg])
    assert msg.get("intent")["name"] == "crisis"


def test_safety_router_reads_a_slash_crisis():
    (msg,) = InputGuard({}).process([message("/i want to kill myself", "faq", 0.9)])
    (msg,) = SafetyRouter({}).process([msg])
    assert msg.get("intent")["name"] == "crisis"


def _unclear(crisis_probability):
    msg = Message(data={"text": "fading, bye all"})
    msg.set("intent", {"name": "nlu_fallback", "confidence": 0.3}, add_to_output=True)
    msg.set(
        "routing",
        {"crisis_model": crisis_probability, "gate": "low_intent_confidence"},
        add_to_output=True,
    )
    SafetyRouter(SafetyRouter.get_default_config()).process([msg])
    return msg


def test_an_unclear_message_that_reads_like_a_crisis_gets_crisis_guidance():
    msg = _unclear(0.75)
    assert msg.get("intent")["name"] == "crisis"
    assert msg.get("routing")["decision"].startswith("crisis guidance: crisis model")


def test_an_unclear_message_without_crisis_signs_is_still_clarified():
    assert _unclear(0.2).get("intent")["name"] == "nlu_fallback"
