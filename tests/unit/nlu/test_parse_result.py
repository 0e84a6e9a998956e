"""The one reader of Rasa's parse result, on the shapes Rasa and the gates produce."""

from rasa.shared.nlu.training_data.message import Message

from bot.nlu import parse_result

PARSE = {
    "text": "is it safe",
    "intent": {"name": "faq", "confidence": 0.91},
    "response_selector": {
        "all_retrieval_intents": ["faq"],
        "faq": {
            "response": {"intent_response_key": "faq/is_it_safe", "confidence": 0.7},
            "ranking": [
                {"intent_response_key": "faq/is_it_safe", "confidence": 0.7},
                {"intent_response_key": "faq/side_effects", "confidence": 0.2},
            ],
        },
    },
    "routing": {"gate": "off_domain", "decision": "answered faq/is_it_safe: ..."},
}


def test_intent_answer_and_ranking():
    assert parse_result.top_intent(PARSE) == parse_result.Intent("faq", 0.91)
    answer = parse_result.faq_answer(PARSE)
    assert answer == parse_result.Candidate("faq/is_it_safe", 0.7)
    assert answer.key == "is_it_safe"
    assert [c.key for c in parse_result.faq_ranking(PARSE)] == [
        "is_it_safe",
        "side_effects",
    ]
    assert parse_result.decision(PARSE) == "answered faq/is_it_safe: ..."
    assert parse_result.routing(PARSE)["gate"] == parse_result.OFF_DOMAIN


def test_read_gives_what_the_console_shows():
    assert parse_result.read(PARSE) == parse_result.ParseResult(
        intent="faq",
        intent_confidence=0.91,
        answer_key="is_it_safe",
        answer_confidence=0.7,
        why="answered faq/is_it_safe: ...",
    )


def test_missing_or_odd_parts_read_as_nothing():
    for parse in ({}, {"intent": None, "response_selector": None, "routing": None}):
        assert parse_result.top_intent(parse) == parse_result.Intent(None, 0.0)
        assert parse_result.faq_answer(parse) is None
        assert parse_result.faq_ranking(parse) == []
        assert parse_result.decision(parse) == ""
        assert parse_result.read(parse) == parse_result.ParseResult(
            None, None, None, None, ""
        )
    no_prefix = {
        "response_selector": {"faq": {"response": {"intent_response_key": "x"}}}
    }
    assert parse_result.read(no_prefix).answer_key is None


def test_a_rasa_message_reads_the_same():
    message = Message(data={"text": "is it safe"})
    for key in ("intent", "response_selector", "routing"):
        message.set(key, PARSE[key])
    assert parse_result.faq_answer(message) == parse_result.faq_answer(PARSE)
    assert parse_result.selection(message) is PARSE["response_selector"]["faq"]
