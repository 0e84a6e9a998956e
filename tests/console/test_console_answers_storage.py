"""Answer analytics on real SQLite and real PostgreSQL (`postgres` marker).

Rasa-shaped `events` rows and `answer_feedback` rows written through the ORM (as
the widget does) become the Answers page's figures: times given, votes and
reasons under their key, "asked for a person right after" (derived by the
summaries, also across an incremental refresh) and the share of conversations
resolved without a person.
"""

from __future__ import annotations

import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from bot.console.answers import answer_detail, answers_page
from bot.db import summaries
from bot.db.engine import get_engine, session_scope
from bot.db.migrate import upgrade
from bot.db.models import (
    VOTE_HELPFUL,
    VOTE_NOT_HELPFUL,
    AnswerFeedback,
    ConversationAnswer,
    utcnow,
)
from bot.db.queries import answers
from bot.db.repository import open_handoff
from tests.support.databases import BACKENDS, fresh_database
from tests.support.seed import Turn, add_conversation, create_events_table

ZONE = ZoneInfo("America/New_York")
REASON = "It did not say how long the relief lasts"
ANSWERS = ConversationAnswer.__table__


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    """A migrated database with Rasa's events table: a file or a fresh schema."""
    with fresh_database(request, tmp_path, request.param) as url:
        upgrade(url)
        engine = get_engine(url)
        create_events_table(engine)
        yield engine


def vote(engine, conversation_id, answer_id, key, value, reason=None, days_ago=0):
    with session_scope(engine) as session:
        row = AnswerFeedback(
            conversation_id=conversation_id,
            answer_id=answer_id,
            answer_key=key,
            vote=value,
            reason=reason,
        )
        if days_ago:
            row.created_at = row.updated_at = utcnow() - timedelta(days=days_ago)
        session.add(row)


def human(text="can I talk to a person"):
    return Turn(text, intent="request_human", actions=["action_handoff"])


@pytest.fixture
def clinic(engine):
    now = time.time()
    # Answered, then the patient asked for a person at once.
    add_conversation(
        engine,
        "c-then-human",
        [Turn("is it safe", answer_key="is_it_safe"), human()],
        start=now - 3600,
    )
    # Two answers, no person.
    add_conversation(
        engine,
        "c-two-answers",
        [
            Turn("is it safe", answer_key="is_it_safe"),
            Turn("how long does it last", answer_key="relief_duration"),
        ],
        start=now - 3000,
    )
    # A person asked for, but not right after the answer.
    add_conversation(
        engine,
        "c-later-human",
        [
            Turn("side effects?", answer_key="side_effects"),
            Turn("hello", intent="greet"),
            human(),
        ],
        start=now - 2000,
    )
    # An answer, then a crisis: an urgent handoff row, not a request for a person.
    add_conversation(
        engine,
        "c-crisis",
        [
            Turn("how long does it last", answer_key="relief_duration"),
            Turn(
                "I want to end it",
                intent="crisis",
                actions=["action_crisis_response"],
                crisis_slot=True,
            ),
        ],
        start=now - 1000,
    )
    with session_scope(engine) as session:
        open_handoff(
            session,
            conversation_id="c-crisis",
            channel="rest",
            reason="crisis",
            summary="crisis",
            urgent=True,
        )
    # Forty days ago: outside the last 30 days.
    add_conversation(
        engine,
        "c-old",
        [Turn("is it safe", answer_key="is_it_safe"), human()],
        start=now - 40 * 86400,
    )
    vote(engine, "c-then-human", "7", "is_it_safe", VOTE_NOT_HELPFUL, REASON)
    vote(engine, "c-two-answers", "5", "is_it_safe", VOTE_HELPFUL)
    vote(engine, "c-two-answers", "9", "relief_duration", VOTE_NOT_HELPFUL)
    vote(engine, "c-old", "5", "is_it_safe", VOTE_HELPFUL, days_ago=40)
    summaries.refresh(engine, settle_seconds=0)
    return engine


def rows_by_key(page):
    return {r.key: r for r in page["rows"]}


def test_figures_per_answer_key_for_the_last_30_days(clinic):
    with clinic.begin() as connection:
        page = answers_page(connection, ZONE, "30")
    rows = rows_by_key(page)
    assert set(rows) == {"is_it_safe", "relief_duration", "side_effects"}
    safe = rows["is_it_safe"]
    assert (safe.given, safe.conversations, safe.then_human) == (2, 2, 1)
    assert (safe.helpful, safe.not_helpful, safe.reasons) == (1, 1, 1)
    assert safe.helpful_rate == 0.5 and safe.then_human_rate == 0.5
    relief = rows["relief_duration"]
    assert (relief.given, relief.then_human, relief.not_helpful) == (2, 0, 1)
    assert relief.helpful_rate == 0.0 and relief.reasons == 0
    side = rows["side_effects"]
    assert (side.given, side.then_human, side.rated) == (1, 0, 0)
    assert side.helpful_rate is None
    # The most given first; keys never given are listed apart.
    assert [r.key for r in page["rows"]][-1] == "side_effects"
    assert "what_is_ketamine" in page["never_given"]
    assert "is_it_safe" not in page["never_given"]
    # Handoffs: c-then-human (action), c-later-human (action), c-crisis (row).
    assert page["resolution"] == {"total": 4, "with_person": 3, "without": 1}
    assert page["resolved_share"] == 0.25
    given_chart, rate_chart, human_chart = page["charts"]
    assert {b.label: b.value for b in given_chart.bars}["is_it_safe"] == 2
    assert {b.label: b.value for b in rate_chart.bars} == {
        "is_it_safe": 0.5,
        "relief_duration": 0.0,
    }
    assert {b.label: b.value for b in human_chart.bars}["is_it_safe"] == 0.5


def test_all_time_includes_older_conversations_and_votes(clinic):
    with clinic.begin() as connection:
        page = answers_page(connection, ZONE, "all")
    safe = rows_by_key(page)["is_it_safe"]
    assert (safe.given, safe.then_human, safe.helpful, safe.not_helpful) == (
        3,
        2,
        2,
        1,
    )
    assert page["resolution"] == {"total": 5, "with_person": 4, "without": 1}


def test_a_not_helpful_reason_shows_under_its_key_with_its_conversation(clinic):
    with clinic.begin() as connection:
        detail = answer_detail(connection, ZONE, "30", "is_it_safe")
        other = answer_detail(connection, ZONE, "30", "relief_duration")
    assert [(v["conversation_id"], v["reason"]) for v in detail["votes"]] == [
        ("c-then-human", REASON)
    ]
    assert detail["row"].not_helpful == 1
    assert [(v["conversation_id"], v["reason"]) for v in other["votes"]] == [
        ("c-two-answers", None)
    ]


def test_a_changed_vote_counts_once_as_its_last_value(clinic):
    with session_scope(clinic) as session:
        row = session.execute(
            sa.select(AnswerFeedback).where(
                AnswerFeedback.conversation_id == "c-then-human"
            )
        ).scalar_one()
        row.vote, row.reason = VOTE_HELPFUL, None
    with clinic.begin() as connection:
        counts = answers.vote_counts(connection, answer_key="is_it_safe")
        votes = answers.not_helpful_votes(connection, "is_it_safe")
    assert counts["is_it_safe"][VOTE_HELPFUL] == 3
    assert counts["is_it_safe"][VOTE_NOT_HELPFUL] == 0
    assert votes == []


def test_asking_for_a_person_in_a_later_refresh_is_counted(engine):
    now = time.time()
    add_conversation(
        engine, "c-slow", [Turn("is it safe", answer_key="is_it_safe")], start=now - 60
    )
    summaries.refresh(engine, settle_seconds=0)
    add_conversation(engine, "c-slow", [human()], start=now - 30)
    summaries.refresh(engine, settle_seconds=0)
    with engine.begin() as connection:
        row = connection.execute(
            sa.select(ANSWERS.c.count, ANSWERS.c.then_human).where(
                ANSWERS.c.conversation_id == "c-slow"
            )
        ).one()
    assert tuple(row) == (1, 1)


def test_a_handoff_action_right_after_the_answer_counts(engine):
    # The answer's own turn ends in a handoff (e.g. a button "talk to a person"
    # handled without a new message): the next thing was a handoff.
    add_conversation(
        engine,
        "c-button",
        [
            Turn(
                "is it safe",
                answer_key="is_it_safe",
                actions=["utter_faq", "action_handoff"],
            )
        ],
    )
    summaries.refresh(engine, settle_seconds=0)
    with engine.begin() as connection:
        given = answers.given_counts(connection)
    assert given["is_it_safe"] == {"given": 1, "conversations": 1, "then_human": 1}


def test_no_conversations_no_share(engine):
    with engine.begin() as connection:
        page = answers_page(connection, ZONE, "7")
    assert page["rows"] == [] and page["resolved_share"] is None
    assert all(chart.bars == [] for chart in page["charts"])
