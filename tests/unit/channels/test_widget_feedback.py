"""Curated answers in the widget: their source and id, and the patient's vote on
them (`bot.channels.answers`, `bot.channels.feedback`), through the channel's real
socket.io handlers, stored in a real SQLite database.

The attacks a script would try: a vote for another session's conversation, for a
made-up answer id, for a bot message that is no curated answer, an oversized,
binary or NUL-laden reason, a forged answer key in the payload, a flood.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import sqlalchemy as sa

from bot.article import anchor_for, blocks, parse, section_name
from bot.channels import feedback
from bot.channels.answers import answer_id, curated_answer, find_answer
from bot.channels.feedback import read_vote
from bot.channels.history import history_messages
from bot.channels.limits import RateLimiter
from bot.channels.socketio import ClinicSocketIOInput, ClinicSocketIOOutput
from bot.db.engine import get_engine
from bot.texts import text as catalog_text
from tests.support.widget_channel import Widget

SESSION = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
SOURCE = "Benefits, Rapid Onset of Action"
THANKS = catalog_text("widget.feedback_thanks")
UNKNOWN = catalog_text("widget.feedback_unknown")
UNREADABLE = catalog_text("widget.feedback_unreadable")
TOO_LONG = catalog_text("widget.feedback_too_long")
NO_SESSION = catalog_text("widget.no_session")
NOT_SAVED = catalog_text("widget.feedback_not_saved")


def faq_event(stamp, key="onset_speed", text="Fairly quickly.\n\nAsk your team."):
    """A curated answer as Rasa stores it (metadata as a real run has it)."""
    return {
        "event": "bot",
        "timestamp": stamp,
        "text": text,
        "data": {"buttons": None},
        "metadata": {
            "utter_action": f"utter_faq/{key}",
            "metadata": {"source_section": SOURCE, "source_quote": "within hours"},
        },
    }


def conversation(*bot_events, age=60):
    stamp = time.time() - age
    events = [
        {"event": "action", "name": "action_listen", "timestamp": stamp},
        {
            "event": "user",
            "text": "how fast does it work?",
            "timestamp": stamp,
            "parse_data": {"intent": {}, "entities": []},
        },
    ]
    return events + list(bot_events)


# --- which messages are curated answers ----------------------------------------


def test_a_curated_answer_has_its_id_key_source_and_anchor():
    stamp = 1796653953.7773404
    answer = curated_answer(
        {
            "timestamp": stamp,
            "utter_action": "utter_faq/onset_speed",
            "metadata": {"source_section": SOURCE, "source_quote": "q"},
        }
    )
    assert answer == {
        "id": "1796653953.7773404",
        "key": "onset_speed",
        "source": SOURCE,
        "anchor": "benefits-of-ketamine-therapy-over-traditional-treatments",
    }
    assert float(answer["id"]) == stamp  # the stored event's own timestamp


@pytest.mark.parametrize(
    "message",
    [
        {"timestamp": 1.5, "utter_action": "utter_greet"},
        {"timestamp": 1.5, "utter_action": "utter_faq"},
        {"timestamp": 1.5, "utter_action": "utter_faq/../../etc"},
        {"timestamp": 1.5},
        {"timestamp": None, "utter_action": "utter_faq/onset_speed"},
        {"timestamp": True, "utter_action": "utter_faq/onset_speed"},
        {
            "timestamp": 1.5,
            "utter_action": "utter_faq/onset_speed",
            "staff_reply": True,
        },
    ],
)
def test_other_messages_are_no_curated_answers(message):
    assert curated_answer(message) is None


def test_every_answer_source_of_the_catalog_links_to_a_section_of_the_article():
    import yaml

    from tests.support.paths import ROOT

    responses = yaml.safe_load((ROOT / "data/responses/faq.yml").read_text())
    anchors = {b.anchor for b in blocks() if b.kind == "heading"}
    for name, variants in responses["responses"].items():
        source = variants[0]["metadata"]["source_section"]
        assert anchor_for(source) in anchors, (name, source)


def test_the_article_is_read_into_a_title_headings_paragraphs_and_items():
    found = parse("May 1, 2024\nTitle\nHeading One\nA sentence.\n- an item\nEnd")
    assert [(b.kind, b.anchor) for b in found] == [
        ("date", ""),
        ("title", ""),
        ("heading", "heading-one"),
        ("paragraph", ""),
        ("item", ""),
        ("heading", "end"),
    ]
    assert section_name("Potential Side Effects and Risks (list)") == (
        "Potential Side Effects and Risks"
    )
    assert anchor_for("No Such Section, paragraph 1") is None


def test_the_output_puts_the_answer_on_its_last_paragraph_only():
    sent = []

    class Sio:
        async def emit(self, event, data, room=None):
            sent.append(data)

    output = ClinicSocketIOOutput(Sio(), "bot_uttered")
    message = {
        "timestamp": 1796653953.25,
        "utter_action": "utter_faq/onset_speed",
        "metadata": {"source_section": SOURCE},
    }
    asyncio.run(output.send_text_message(SESSION, "One.\n\nTwo.", **message))
    assert [("answer" in m) for m in sent] == [False, True]
    assert sent[1]["answer"]["key"] == "onset_speed"
    sent.clear()
    asyncio.run(output.send_text_message(SESSION, "Hello!", utter_action="utter_greet"))
    assert sent == [{"text": "Hello!"}]
    sent.clear()  # a staff reply never carries one, whatever its metadata
    asyncio.run(
        output.send_text_message(
            SESSION, "Hi.", staff_reply=True, staff_name="Dana", **message
        )
    )
    assert sent == [{"text": "Hi.", "staff_name": "Dana"}]


def test_the_history_gives_the_same_answer_as_the_live_message():
    stamp = time.time() - 30
    messages = history_messages(conversation(faq_event(stamp)))
    assert [m.get("answer", {}).get("id") for m in messages] == [
        None,
        None,
        answer_id(stamp),
    ]
    assert messages[-1]["answer"]["source"] == SOURCE
    events = conversation(faq_event(stamp))
    assert find_answer(events, answer_id(stamp))["key"] == "onset_speed"
    assert find_answer(events, answer_id(stamp + 1)) is None


# --- the payload ----------------------------------------------------------------


@pytest.mark.parametrize(
    "payload, problem",
    [
        (None, UNREADABLE),
        ("helpful", UNREADABLE),
        ({"session_id": "x", "answer_id": "1.5", "vote": "helpful"}, NO_SESSION),
        ({"session_id": SESSION, "answer_id": "1.5", "vote": "meh"}, UNREADABLE),
        ({"session_id": SESSION, "answer_id": "' OR 1=1", "vote": "helpful"}, None),
        ({"session_id": SESSION, "answer_id": 1.5, "vote": "helpful"}, None),
        ({"session_id": SESSION, "answer_id": "1" * 40, "vote": "helpful"}, None),
        (
            {
                "session_id": SESSION,
                "answer_id": "1.5",
                "vote": "not_helpful",
                "reason": "x" * 501,
            },
            TOO_LONG,
        ),
        (
            {
                "session_id": SESSION,
                "answer_id": "1.5",
                "vote": "not_helpful",
                "reason": "bad\x00byte",
            },
            UNREADABLE,
        ),
        (
            {
                "session_id": SESSION,
                "answer_id": "1.5",
                "vote": "not_helpful",
                "reason": "\ud800",
            },
            UNREADABLE,
        ),
        (
            {
                "session_id": SESSION,
                "answer_id": "1.5",
                "vote": "not_helpful",
                "reason": {"$ne": 1},
            },
            UNREADABLE,
        ),
    ],
)
def test_bad_payloads_are_refused_with_a_plain_text(payload, problem):
    found, vote = read_vote(payload)
    assert vote is None
    assert found == (problem or UNREADABLE)


def test_a_good_payload_keeps_only_what_it_needs():
    problem, vote = read_vote(
        {
            "session_id": SESSION,
            "answer_id": "1796653953.25",
            "vote": "not_helpful",
            "reason": "  " + "é" * 500 + "  ",
            "answer_key": "is_it_safe",  # forged: not even read
        }
    )
    assert problem is None
    assert vote == (SESSION, "1796653953.25", "not_helpful", "é" * 500)


# --- through the channel's handlers, stored in SQLite ---------------------------


@pytest.fixture
def widget(clinic_db):
    channel = ClinicSocketIOInput.from_credentials({"session_persistence": True})
    widget = Widget(channel)
    yield widget
    widget.close()


def stored(clinic_db):
    with get_engine(clinic_db).connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                sa.text(
                    "SELECT conversation_id, answer_id, answer_key, vote, reason "
                    "FROM answer_feedback ORDER BY id"
                )
            )
        ]


def joined(widget, session_id, *events):
    """A socket that resumed `session_id`, whose conversation has `events`."""
    widget.trackers[session_id] = conversation(*events)
    sid = widget.connect(f"eio-{len(widget.trackers)}")
    assert widget.request(sid, session_id)[0] == session_id
    return sid


def payload(answer, vote="not_helpful", reason=None, session=SESSION, **extra):
    return {
        "session_id": session,
        "answer_id": answer,
        "vote": vote,
        "reason": reason,
        **extra,
    }


def test_a_vote_is_stored_with_the_key_from_the_conversation_and_changed(
    widget, clinic_db, caplog
):
    stamp = time.time() - 30
    sid = joined(widget, SESSION, faq_event(stamp))
    answer = answer_id(stamp)
    reason = "It does not say how many sessions I need."
    caplog.set_level(logging.DEBUG)
    # The payload's answer key is forged: the conversation's own one is stored.
    assert widget.feedback(
        sid, payload(answer, reason=reason, answer_key="is_it_safe")
    ) == [
        (
            "feedback_saved",
            {"answer_id": answer, "vote": "not_helpful", "text": THANKS},
        )
    ]
    assert stored(clinic_db) == [
        (SESSION, answer, "onset_speed", "not_helpful", reason)
    ]
    assert widget.feedback(sid, payload(answer, "helpful"))[0][0] == "feedback_saved"
    assert stored(clinic_db) == [(SESSION, answer, "onset_speed", "helpful", None)]
    assert widget.received == []  # never a message to Rasa
    assert reason not in caplog.text  # the reason is never logged
    # A reload shows the vote on its answer.
    _, history = widget.request(widget.connect("eio-again"), SESSION)
    assert history[-1]["answer"]["vote"] == "helpful"


def test_a_vote_for_another_sessions_conversation_is_refused(widget, clinic_db):
    stamp = time.time() - 2 * feedback.RECENT_SECONDS  # refused without waiting
    joined(widget, OTHER, faq_event(stamp))  # the victim's conversation
    attacker = joined(widget, SESSION, faq_event(stamp - 5))
    answer = answer_id(stamp)
    assert widget.feedback(attacker, payload(answer, session=OTHER)) == [
        ("feedback_error", {"answer_id": answer, "text": NO_SESSION})
    ]
    # Nor can its own session vote on the victim's answer by its id.
    assert widget.feedback(attacker, payload(answer)) == [
        ("feedback_error", {"answer_id": answer, "text": UNKNOWN})
    ]
    assert stored(clinic_db) == []


def test_a_made_up_answer_id_or_a_message_that_is_no_curated_answer_is_refused(
    widget, clinic_db
):
    stamp = time.time() - 2 * feedback.RECENT_SECONDS  # refused without waiting
    greeting = {
        "event": "bot",
        "timestamp": stamp - 1,
        "text": "Hello!",
        "metadata": {"utter_action": "utter_greet"},
    }
    staff = {
        "event": "bot",
        "timestamp": stamp - 2,
        "text": "Hi, this is Dana.",
        "metadata": {
            "staff_reply": True,
            "staff_name": "Dana",
            "utter_action": "utter_faq/onset_speed",  # forged into a staff reply
        },
    }
    sid = joined(widget, SESSION, greeting, staff, faq_event(stamp))
    for made_up in (answer_id(stamp + 0.5), answer_id(stamp - 1), answer_id(stamp - 2)):
        assert widget.feedback(sid, payload(made_up)) == [
            ("feedback_error", {"answer_id": made_up, "text": UNKNOWN})
        ]
    assert stored(clinic_db) == []


def test_a_socket_without_a_session_cannot_vote(widget, clinic_db):
    stamp = time.time() - 30
    widget.trackers[SESSION] = conversation(faq_event(stamp))
    # A socket that never asked for any session and names one the server has no
    # conversation for.
    sid = widget.connect("eio-stranger")
    assert widget.feedback(sid, payload(answer_id(stamp), session=OTHER)) == [
        ("feedback_error", {"answer_id": answer_id(stamp), "text": NO_SESSION})
    ]
    assert stored(clinic_db) == []


def test_oversized_and_binary_reasons_are_refused_and_nothing_is_stored(
    widget, clinic_db
):
    stamp = time.time() - 30
    sid = joined(widget, SESSION, faq_event(stamp))
    answer = answer_id(stamp)
    for reason, text in [
        ("x" * 501, TOO_LONG),
        ("\x00\x01\x02", UNREADABLE),
        (b"\xff\xfe".decode("latin-1") + "\x00", UNREADABLE),
        (["a list"], UNREADABLE),
    ]:
        assert widget.feedback(sid, payload(answer, reason=reason)) == [
            ("feedback_error", {"answer_id": answer, "text": text})
        ]
    assert stored(clinic_db) == []
    # Markup and SQL are text like any other, stored as they are.
    hostile = "<script>alert(1)</script>'; DROP TABLE answer_feedback; --"
    assert widget.feedback(sid, payload(answer, reason=hostile))[0][0] == (
        "feedback_saved"
    )
    assert stored(clinic_db)[0][4] == hostile


def test_a_flood_of_votes_is_refused(widget, clinic_db):
    widget.channel.limiter = RateLimiter(3, 60)
    stamp = time.time() - 30
    sid = joined(widget, SESSION, faq_event(stamp))
    answer = answer_id(stamp)
    events = [widget.feedback(sid, payload(answer))[0] for _ in range(5)]
    assert [e for e, _ in events] == ["feedback_saved"] * 3 + ["feedback_error"] * 2
    assert "faster than I can answer" in events[-1][1]["text"]
    assert len(stored(clinic_db)) == 1


def test_a_database_error_gets_a_clear_answer_and_the_socket_goes_on(widget, clinic_db):
    stamp = time.time() - 30
    sid = joined(widget, SESSION, faq_event(stamp))
    answer = answer_id(stamp)
    with get_engine(clinic_db).begin() as connection:
        connection.execute(sa.text("DROP TABLE answer_feedback"))
    assert widget.feedback(sid, payload(answer)) == [
        ("feedback_error", {"answer_id": answer, "text": NOT_SAVED})
    ]
    # The reload still works (no votes shown) and so does chatting.
    _, history = widget.request(widget.connect("eio-again"), SESSION)
    assert "vote" not in history[-1]["answer"]
    assert widget.say(sid, SESSION, "thanks") == []
    assert [m.text for m in widget.received] == ["thanks"]


def test_a_vote_sent_before_its_answer_is_stored_waits_for_it(
    widget, clinic_db, monkeypatch
):
    """Rasa sends a turn's messages before it stores the turn: a quick click on
    the answer just received must not be refused."""
    monkeypatch.setattr(feedback, "WAIT_SECONDS", 2.0)
    stamp = time.time() - 1
    sid = joined(widget, SESSION)  # the answer is not stored yet
    answer = answer_id(stamp)

    async def store_the_turn_later():
        await asyncio.sleep(0.5)
        widget.trackers[SESSION] = conversation(faq_event(stamp))

    async def both():
        later = asyncio.ensure_future(store_the_turn_later())
        await widget.handlers["answer_feedback"](sid, payload(answer))
        await later

    widget.emitted.clear()
    widget.run(both())
    assert [e for e, _, _ in widget.emitted] == ["feedback_saved"]
    assert stored(clinic_db) == [(SESSION, answer, "onset_speed", "not_helpful", None)]
    # A recent id that never turns up is refused once the wait is over.
    started = time.monotonic()
    made_up = answer_id(time.time() - 1)
    assert widget.feedback(sid, payload(made_up)) == [
        ("feedback_error", {"answer_id": made_up, "text": UNKNOWN})
    ]
    assert 2.0 <= time.monotonic() - started < 4.0
