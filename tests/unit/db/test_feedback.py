"""Answer feedback (`answer_feedback`) on real SQLite and real PostgreSQL: the
widget's vote as `bot.db.queries.feedback` writes it, and its deletion with the
patient's conversation (forget, purge)."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from bot.db import retention
from bot.db.engine import get_engine, session_scope
from bot.db.migrate import upgrade
from bot.db.models import AnswerFeedback, InvalidValueError
from bot.db.queries.feedback import record_vote, votes_of
from tests.support.databases import BACKENDS, fresh_database
from tests.support.seed import Turn, add_conversation, create_events_table

CONVERSATION = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
ANSWER = "1796653953.7773404"


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    """A migrated database (with Rasa's events table): a file or a fresh schema."""
    with fresh_database(request, tmp_path, request.param) as url:
        upgrade(url)
        engine = get_engine(url)
        create_events_table(engine)
        yield engine


def rows(engine):
    table = AnswerFeedback.__table__
    with engine.connect() as connection:
        return [
            dict(row)
            for row in connection.execute(
                sa.select(
                    table.c.conversation_id,
                    table.c.answer_id,
                    table.c.answer_key,
                    table.c.vote,
                    table.c.reason,
                ).order_by(table.c.id)
            ).mappings()
        ]


def vote(engine, vote, reason=None, conversation=CONVERSATION, answer=ANSWER):
    with engine.begin() as connection:
        record_vote(connection, conversation, answer, "onset_speed", vote, reason)


def test_a_vote_is_stored_and_changed_in_one_row(engine):
    vote(engine, "not_helpful")
    vote(engine, "not_helpful", "It did not say how many sessions I need.")
    assert rows(engine) == [
        {
            "conversation_id": CONVERSATION,
            "answer_id": ANSWER,
            "answer_key": "onset_speed",
            "vote": "not_helpful",
            "reason": "It did not say how many sessions I need.",
        }
    ]
    vote(engine, "not_helpful")  # the vote again, without a reason: reason kept
    assert rows(engine)[0]["reason"] == "It did not say how many sessions I need."
    vote(engine, "helpful", "ignored")  # changed: a helpful answer has no reason
    assert [(r["vote"], r["reason"]) for r in rows(engine)] == [("helpful", None)]
    vote(engine, "not_helpful", "   ")  # blank: no reason
    assert [(r["vote"], r["reason"]) for r in rows(engine)] == [("not_helpful", None)]


def test_each_answer_and_conversation_has_its_own_row(engine):
    vote(engine, "helpful")
    vote(engine, "not_helpful", answer="1796653999.5")
    vote(engine, "not_helpful", conversation=OTHER)
    assert len(rows(engine)) == 3
    with engine.connect() as connection:
        assert votes_of(connection, CONVERSATION) == {
            ANSWER: "helpful",
            "1796653999.5": "not_helpful",
        }
        assert votes_of(connection, "nobody") == {}


def test_it_works_in_an_orm_session_too(engine):
    with session_scope(engine) as session:
        record_vote(session, CONVERSATION, ANSWER, "onset_speed", "helpful")
    assert rows(engine)[0]["vote"] == "helpful"


@pytest.mark.parametrize(
    "field, values",
    [
        ("vote", {"vote": "maybe"}),
        ("vote", {"vote": "HELPFUL"}),
        ("reason", {"reason": "x" * 501}),
        ("reason", {"reason": "nul\x00byte"}),
        ("reason", {"reason": "\ud800 lone surrogate"}),
        ("answer_id", {"answer_id": "1" * 65}),
        ("answer_key", {"answer_key": ""}),
    ],
)
def test_bad_values_are_refused_before_the_database(engine, field, values):
    arguments = dict(
        conversation_id=CONVERSATION,
        answer_id=ANSWER,
        answer_key="onset_speed",
        vote="not_helpful",
        reason=None,
    )
    arguments.update(values)
    with pytest.raises(InvalidValueError) as error:
        with engine.begin() as connection:
            record_vote(connection, **arguments)
    assert error.value.field == field
    assert "x" * 20 not in str(error.value)  # the value itself is never shown
    assert rows(engine) == []


def test_the_database_refuses_a_bad_vote_written_around_the_code(engine):
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as connection:
            connection.execute(
                AnswerFeedback.__table__.insert().values(
                    conversation_id=CONVERSATION,
                    answer_id=ANSWER,
                    answer_key="onset_speed",
                    vote="maybe",
                )
            )


def test_votes_sent_at_once_leave_one_row(engine):
    errors = []

    def send(choice):
        try:
            for _ in range(10):
                vote(engine, choice, "too vague" if choice == "not_helpful" else None)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(v,)) for v in ("helpful",) * 2]
    threads += [threading.Thread(target=send, args=("not_helpful",)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(rows(engine)) == 1


def test_forget_deletes_the_patients_votes_and_no_one_elses(engine):
    add_conversation(engine, CONVERSATION, [Turn("how fast?")])
    add_conversation(engine, OTHER, [Turn("is it safe?")])
    vote(engine, "not_helpful", "too vague")
    vote(engine, "helpful", answer="1796653999.5")
    vote(engine, "helpful", conversation=OTHER)
    deleted = retention.forget(engine, [CONVERSATION], settle_seconds=0)
    assert deleted.rows["answer_feedback"] == 2
    assert [r["conversation_id"] for r in rows(engine)] == [OTHER]


def test_purge_deletes_the_votes_of_conversations_past_retention(engine):
    old = time.time() - 10 * 86400
    add_conversation(engine, CONVERSATION, [Turn("how fast?")], start=old)
    add_conversation(engine, OTHER, [Turn("is it safe?")])
    vote(engine, "not_helpful", "too vague")
    vote(engine, "helpful", conversation=OTHER)
    deleted = retention.purge(engine, older_than_days=2)
    assert deleted.conversations == 1
    assert deleted.rows["answer_feedback"] == 1
    assert [r["conversation_id"] for r in rows(engine)] == [OTHER]
    # Three days on, the other one is past retention too.
    retention.purge(engine, older_than_days=2, now=time.time() + 3 * 86400)
    assert rows(engine) == []
