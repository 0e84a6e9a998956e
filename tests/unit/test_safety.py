"""The deterministic safety rules: crisis first, never an FAQ for one person's case."""

import pytest

from bot import safety

CRISIS = [
    "there's a loaded pistol beside my bed",
    "the revolver is in my lap",
    "in the closed garage, the car is running and i'm inside",
    "what's a fatal amount of amitriptyline, i have 80 tablets",
    "i want to kill myself",
    "i want to kil myself",
    "im so sucidal tonight",
    "having suicidal thoughts again",
    "i wanna die",
    "kms",
    "the pain is so bad i want to end my life",
    "I took a whole bottle of my pills",
    "i just took 30 oxycodone",
    "my husband isnt breathing",
    "I can't breathe and my chest hurts",
    "I think I'm having a heart attack",
    "I OVERDOSED on my meds",
    "i overdossed",
    "I've been cutting myself",
    "i dont want to be alive anymore",
    "everyone would be better off without me",
    "my daughter wants to die and locked herself in",
    "I want to jump off the bridge",
    "Quiero morir... i want to die",
    "i want to diiiie",
]
NOT_CRISIS = [
    "my car is in the garage for new tires",
    "i let the engine run a few minutes to warm the car",
    "my dad takes his rifle to the range on sundays",
    "what is the lethal dose of ketamine",
    "is ketamine therapy safe?",
    "isnt that a party drug",
    "how long does the relief last",
    "my feet burn all night, would this help?",
    "what are the side effects",
    "does it raise blood pressure?",
    "will i be conscious during the infusion",
    "I had a heart attack two years ago, is ketamine ok for me",
    "can ketamine reduce my need for opioids?",
    "what causes nerve pain",
    "",
]
MEDICAL = [
    "what dose should I take?",
    "how much ketamine should my mom get",
    "I'm pregnant, can I have ketamine?",
    "is it safe while breastfeeding",
    "can I mix it with my gabapentin",
    "I take sertraline, will ketamine interact with it",
    "should I stop my oxycodone before starting",
    "I have high blood pressure, is it safe for me",
    "can i drive home after my infusion",
    "how much ketamine would i need for my weight",
    "is it ok to eat a big breakfast before my infusion",
    "when can i go back to work following a session",
    "what should i do to prepare for my first treatment",
    "could i keep taking my other prescriptions during the course",
    "which medicines would i have to skip during ketamine treatment",
    "could it raise the risk of a miscarriage",
    "are ketamine infusions really for me",
    "how would i know whether it suits my kind of pain",
    "do you recommend ketamine for someone like my aunt",
    "can this treatment help me",
]
NOT_MEDICAL = [
    "how is ketamine given",
    "what is a session like",
    "is ketamine therapy safe?",
    "how do I get started",
    "what are the benefits",
    "how much water should i drink daily",
    "should i take vitamin d in winter",
    "does it kick in fast or does it take weeks like other medications",
    "what do you recommend for a first visit to the city",
    "how long after the infusion does it start to work",
    "can ketamine reduce my need for other pain medications",
]


@pytest.mark.parametrize("text", CRISIS)
def test_crisis_is_detected(text):
    match = safety.route(text)
    assert match is not None and match.intent == safety.CRISIS


@pytest.mark.parametrize("text", NOT_CRISIS)
def test_ordinary_questions_are_not_crises(text):
    assert safety.detect_crisis(text) is None


@pytest.mark.parametrize("text", MEDICAL)
def test_personal_medical_questions_are_routed(text):
    match = safety.route(text)
    assert match is not None and match.intent == safety.MEDICAL_ADVICE


@pytest.mark.parametrize("text", NOT_MEDICAL)
def test_general_questions_are_not_medical_advice(text):
    assert safety.route(text) is None


def test_crisis_wins_over_medical_advice():
    assert (
        safety.route("I took all my gabapentin at once, what dose is too much").intent
        == safety.CRISIS
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I’m SO tired", "i'm so tired"),
        ("caféééé", "cafee"),
        ("hey\x00there <b>", "hey there b"),
    ],
)
def test_normalize(text, expected):
    assert safety.normalize(text) == expected


def test_huge_and_binary_input_is_handled_quickly():
    assert safety.route("a" * 200_000) is None
    assert safety.route("\x00\xff\ufffd" * 1000) is None
