"""A patient's "Helpful" / "Not helpful" on a curated answer in the widget.

The widget sends `answer_feedback` with `{session_id, answer_id, vote, reason}`
(`reason`: optional, after "Not helpful"). The channel (`bot.channels.socketio`)
hands it to `handle`, which:

- applies the rules of a message: the socket must own the session (or take a
  live one after a reconnection), and `CHAT_RATE_LIMIT` counts votes per session
  and per socket (apart from messages, so voting never costs a question);
- checks the payload: a session id of ours, an answer id shaped like one, a vote
  of `helpful` / `not_helpful`, a reason of text of at most 500 characters with
  no NUL (or none);
- takes the answer's catalog key from the conversation's own events (the bot
  event with that id, sent by `utter_faq/<key>`), never from the payload: an id
  that is no curated answer of this conversation is refused;
- stores the vote off the event loop (`bot.db.queries.feedback.record_vote`: one
  row per answer, a new vote changes it).

It answers `feedback_saved` `{answer_id, vote, text}` or `feedback_error`
`{answer_id, text}`, with texts from `bot/texts` (`widget.feedback_*`). Nothing
of it is a Rasa message: it never reaches the NLU, the tracker or the
transcript. The reason is never logged; a database error is logged by kind only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from bot.channels.answers import find_answer, is_answer_id
from bot.channels.limits import too_fast_text
from bot.db.engine import error_summary, get_engine, session_scope
from bot.db.models import MAX_REASON_LENGTH, VOTES, InvalidValueError
from bot.db.offloop import off_loop
from bot.db.queries.feedback import record_vote, votes_of
from bot.ids import is_widget_id
from bot.texts import text as catalog_text

logger = logging.getLogger(__name__)

FEEDBACK_EVENT = "answer_feedback"
SAVED_EVENT = "feedback_saved"
ERROR_EVENT = "feedback_error"
# What the patient reads (keys of bot/texts).
THANKS = "widget.feedback_thanks"
UNREADABLE = "widget.feedback_unreadable"
TOO_LONG = "widget.feedback_too_long"
UNKNOWN_ANSWER = "widget.feedback_unknown"
NOT_SAVED = "widget.feedback_not_saved"
SESSION_EXPIRED = "widget.expired"
NO_SESSION = "widget.no_session"
# A vote on an answer sent this recently may come before the turn is stored.
RECENT_SECONDS = 60.0
WAIT_SECONDS = 5.0
WAIT_STEP_SECONDS = 0.2


class Vote(NamedTuple):
    """A checked `answer_feedback` payload."""

    session_id: str
    answer_id: str
    vote: str
    reason: Optional[str]


def read_vote(data: Any) -> Tuple[Optional[str], Optional[Vote]]:
    """Checks an `answer_feedback` payload: (what is wrong, None) or (None, vote).

    The payload's other fields (an `answer_key`, say) are ignored.
    """
    if not isinstance(data, dict):
        return catalog_text(UNREADABLE), None
    session_id, answer_id = data.get("session_id"), data.get("answer_id")
    vote, reason = data.get("vote"), data.get("reason")
    if not is_widget_id(session_id):
        return catalog_text(NO_SESSION), None
    if not is_answer_id(answer_id) or vote not in VOTES:
        return catalog_text(UNREADABLE), None
    if reason is not None:
        if not isinstance(reason, str) or "\x00" in reason:
            return catalog_text(UNREADABLE), None
        try:
            reason.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            return catalog_text(UNREADABLE), None
        reason = reason.strip() or None
        if reason is not None and len(reason) > MAX_REASON_LENGTH:
            return catalog_text(TOO_LONG), None
    assert isinstance(session_id, str) and isinstance(answer_id, str)
    return None, Vote(session_id, answer_id, str(vote), reason)


def _refusal(data: Any, text: str) -> Tuple[str, Dict[str, Any]]:
    answer_id = data.get("answer_id") if isinstance(data, dict) else None
    return ERROR_EVENT, {
        "answer_id": answer_id if is_answer_id(answer_id) else None,
        "text": text,
    }


def _store(conversation_id: str, answer_id: str, key: str, vote: Vote) -> None:
    with session_scope(get_engine()) as session:
        record_vote(session, conversation_id, answer_id, key, vote.vote, vote.reason)


async def _answer_of(channel: Any, blueprint: Any, vote: Vote) -> Any:
    """The curated answer the vote names, from the conversation's stored events.

    Rasa sends a turn's messages before it stores the turn, so a vote sent at
    once may come before its answer is stored: for an answer of the last
    `RECENT_SECONDS`, the events are read again for up to `WAIT_SECONDS`.
    """
    deadline = time.monotonic() + WAIT_SECONDS
    recent = float(vote.answer_id) > time.time() - RECENT_SECONDS
    while True:
        tracker = await channel._tracker(blueprint, vote.session_id)
        events = [e.as_dict() for e in tracker.events] if tracker is not None else []
        answer = find_answer(events, vote.answer_id)
        if answer is not None or not recent or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(WAIT_STEP_SECONDS)


async def handle(
    channel: Any, blueprint: Any, sid: str, data: Any
) -> Tuple[str, Dict[str, Any]]:
    """Checks and stores one vote; returns the event and payload to answer with.

    Args:
        channel: the `ClinicSocketIOInput` (its session rules and rate limiter).
        blueprint: its socket.io blueprint (the app, for the tracker store).
        sid: the socket that sent the vote.
        data: the payload as received.

    Returns:
        `("feedback_saved", {...})` or `("feedback_error", {...})`.
    """
    problem, vote = read_vote(data)
    if problem is not None or vote is None:
        return _refusal(data, problem or catalog_text(UNREADABLE))
    reason = await channel._session_problem(blueprint, sid, vote.session_id)
    if reason is not None:
        expired = reason == SESSION_EXPIRED
        return _refusal(data, catalog_text(SESSION_EXPIRED if expired else NO_SESSION))
    wait = channel.limiter.retry_after(
        f"feedback:{vote.session_id}", f"feedback-sid:{sid}"
    )
    if wait is not None:
        logger.warning("Widget feedback refused: over the rate limit")
        return _refusal(data, too_fast_text(wait))
    answer = await _answer_of(channel, blueprint, vote)
    if answer is None:
        logger.warning("Widget feedback refused: not a curated answer of the session")
        return _refusal(data, catalog_text(UNKNOWN_ANSWER))
    try:
        await off_loop(_store, vote.session_id, vote.answer_id, answer["key"], vote)
    except InvalidValueError as error:  # names the field, never the value
        logger.warning("Widget feedback refused: %s", error.field)
        return _refusal(data, catalog_text(UNREADABLE))
    except Exception as error:  # noqa: BLE001 - the socket must stay up
        logger.error("Could not store widget feedback (%s)", error_summary(error))
        return _refusal(data, catalog_text(NOT_SAVED))
    return SAVED_EVENT, {
        "answer_id": vote.answer_id,
        "vote": vote.vote,
        "text": catalog_text(THANKS),
    }


async def add_votes(session_id: str, messages: List[Dict[str, Any]]) -> None:
    """Marks the patient's earlier votes on the answers of a replayed history.

    A database that cannot be read leaves the buttons unpressed (and is logged).
    """
    if not any("answer" in m for m in messages):
        return

    def read() -> Dict[str, str]:
        with session_scope(get_engine()) as session:
            return votes_of(session, session_id)

    try:
        votes = await off_loop(read)
    except Exception as error:  # noqa: BLE001 - a reload must never fail on this
        logger.error("Could not read widget feedback (%s)", error_summary(error))
        return
    for message in messages:
        answer = message.get("answer")
        if answer is not None and answer["id"] in votes:
            answer["vote"] = votes[answer["id"]]
