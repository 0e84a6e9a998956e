"""Custom actions, run for real against a dispatcher and a tracker built from kwargs."""

import pytest
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet

from actions.clarify import ActionClarify, suggested_keys
from actions.faq_topics import topics
from actions.safety import ActionCrisisResponse
from actions.session import ActionSessionStart


def ranking(*pairs):
    return {
        "faq": {
            "ranking": [
                {"intent_response_key": f"faq/{key}", "confidence": conf}
                for key, conf in pairs
            ]
        }
    }


async def test_session_start_sends_the_notice_and_listens(
    dispatcher, tracker_factory, domain
):
    tracker = tracker_factory(slots={"crisis_flagged": True})
    events = await ActionSessionStart().run(dispatcher, tracker, domain)
    assert events[0] == SessionStarted()
    assert SlotSet("crisis_flagged", True) in events
    assert events[-1] == ActionExecuted("action_listen")
    assert [m["response"] for m in dispatcher.messages] == ["utter_notice"]


async def test_notice_says_automated_not_medical_advice_and_911(domain):
    text = domain["responses"]["utter_notice"][0]["text"]
    assert "automated" in text and "medical advice" in text and "911" in text


async def test_crisis_response_flags_after_the_guidance_rasa_sent(
    dispatcher, tracker_factory, domain
):
    events = await ActionCrisisResponse().run(
        dispatcher, tracker_factory(intent="crisis"), domain
    )
    assert events == [SlotSet("crisis_flagged", True)]
    # The guidance is a plain response run by the crisis rules, not by this action.
    assert dispatcher.messages == []
    text = domain["responses"]["utter_crisis"][0]["text"]
    assert "911" in text and "988" in text


@pytest.mark.parametrize(
    "selector, expected",
    [
        (
            ranking(
                ("is_it_safe", 0.4),
                ("side_effects", 0.35),
                ("onset_speed", 0.1),
                ("administration", 0.08),
            ),
            ["is_it_safe", "side_effects", "onset_speed"],
        ),
        (ranking(("is_it_safe", 0.6), ("side_effects", 0.01)), ["is_it_safe"]),
        (ranking(("not_a_catalog_key", 0.9), ("side_effects", 0.2)), ["side_effects"]),
        ({}, []),
    ],
)
def test_suggested_keys(selector, expected):
    assert suggested_keys({"response_selector": selector}) == expected


async def test_clarify_offers_topics_with_readable_titles(
    dispatcher, tracker_factory, domain, patient_reads
):
    tracker = tracker_factory(
        intent="nlu_fallback",
        text="is it risky",
        response_selector=ranking(("is_it_safe", 0.45), ("side_effects", 0.4)),
        events=[{"event": "user", "text": "is it risky"}],
    )
    assert await ActionClarify().run(dispatcher, tracker, domain) == []
    (sent,) = dispatcher.messages
    message = await patient_reads(sent)
    assert "Did you mean" in message["text"]
    titles = [b["title"] for b in message["buttons"]]
    payloads = [b["payload"] for b in message["buttons"]]
    assert titles == [
        topics()["is_it_safe"].title,
        topics()["side_effects"].title,
        "Something else",
    ]
    assert payloads[:2] == [
        topics()["is_it_safe"].question,
        topics()["side_effects"].question,
    ]
    assert not any(p.startswith("/") for p in payloads), (
        "no intent codes leak to patients"
    )


async def test_second_unclear_message_offers_a_person(
    dispatcher, tracker_factory, domain, patient_reads
):
    events = [
        {"event": "user", "text": "hmm"},
        {"event": "action", "name": "action_clarify"},
        {"event": "bot", "text": "Did you mean"},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "something else"},
    ]
    tracker = tracker_factory(
        intent="nlu_fallback",
        response_selector=ranking(("is_it_safe", 0.3)),
        events=events,
    )
    await ActionClarify().run(dispatcher, tracker, domain)
    (sent,) = dispatcher.messages
    message = await patient_reads(sent)
    assert "person" in message["text"]
    assert [b["title"] for b in message["buttons"]] == [
        "Talk to a person",
        "Contact me",
    ]


async def test_unclear_after_an_answer_asks_again(
    dispatcher, tracker_factory, domain, patient_reads
):
    events = [
        {"event": "user", "text": "hmm"},
        {"event": "action", "name": "action_clarify"},
        {"event": "user", "text": "Is ketamine therapy safe?"},
        {"event": "action", "name": "utter_faq"},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "and what about it"},
    ]
    tracker = tracker_factory(
        intent="nlu_fallback",
        response_selector=ranking(("side_effects", 0.3)),
        events=events,
    )
    await ActionClarify().run(dispatcher, tracker, domain)
    assert "Did you mean" in (await patient_reads(dispatcher.messages[0]))["text"]


@pytest.mark.parametrize("count", [1, 2, 3])
async def test_clarify_offers_as_many_topics_as_it_found(
    dispatcher, tracker_factory, domain, patient_reads, count
):
    keys = ["is_it_safe", "side_effects", "onset_speed"][:count]
    tracker = tracker_factory(
        intent="nlu_fallback",
        response_selector=ranking(*[(key, 0.3) for key in keys]),
        events=[{"event": "user", "text": "hmm"}],
    )
    await ActionClarify().run(dispatcher, tracker, domain)
    message = await patient_reads(dispatcher.messages[0])
    assert message["text"] == "Sorry, I'm not sure I understood. Did you mean:"
    assert message["buttons"] == [
        *({"title": topics()[k].title, "payload": topics()[k].question} for k in keys),
        {"title": "Something else", "payload": "Something else"},
    ]
