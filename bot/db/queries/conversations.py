"""Conversations as the console lists them: filters, one conversation, reviews, tags.

Lists read the derived `conversation_summaries` (`bot.db.summaries`), never
Rasa's events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Dict, List, Optional, Tuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.db.models import (
    OUTCOMES,
    REVIEW_STATUSES,
    ConversationAnswer,
    ConversationReview,
    ConversationSummary,
    ConversationTag,
    Handoff,
    IntakeRequest,
)
from bot.db.queries.common import PAGE_SIZE, day_arg, like_pattern, page_arg

TAG_PATTERN = re.compile(r"[a-z0-9][a-z0-9 _-]{0,63}")
NOTE_LIMIT = 4000

_summary = ConversationSummary.__table__
_review = ConversationReview.__table__
_tag = ConversationTag.__table__
_answer = ConversationAnswer.__table__
_handoff = Handoff.__table__
_intake = IntakeRequest.__table__

__all__ = [
    "NOTE_LIMIT",
    "PAGE_SIZE",
    "TAG_PATTERN",
    "ConversationFilter",
    "add_tag",
    "all_tags",
    "channels",
    "conversation",
    "list_conversations",
    "remove_tag",
    "set_note",
    "set_review",
]


def _day_start(day: date, zone: ZoneInfo) -> float:
    return datetime.combine(day, time(0), tzinfo=zone).timestamp()


@dataclass(frozen=True)
class ConversationFilter:
    """The list's filters, as given in the query string (all optional)."""

    date_from: Optional[date] = None
    date_to: Optional[date] = None
    channel: str = ""
    outcome: str = ""
    answer_key: str = ""
    review: str = ""
    tag: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args: Dict[str, str]) -> ConversationFilter:
        """Reads the filters from query arguments, ignoring invalid values."""
        outcome = args.get("outcome", "")
        review = args.get("review", "")
        return cls(
            date_from=day_arg(args, "from"),
            date_to=day_arg(args, "to"),
            channel=args.get("channel", "")[:64],
            outcome=outcome if outcome in OUTCOMES else "",
            answer_key=args.get("answer_key", "")[:128],
            review=review if review in REVIEW_STATUSES else "",
            tag=args.get("tag", "").strip().lower()[:64],
            q=args.get("q", "").strip()[:200],
            page=page_arg(args),
        )

    def query_args(self, **changes: Any) -> Dict[str, str]:
        """The filters as query arguments (for links to other pages)."""
        values = {
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "channel": self.channel,
            "outcome": self.outcome,
            "answer_key": self.answer_key,
            "review": self.review,
            "tag": self.tag,
            "q": self.q,
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


def _conditions(f: ConversationFilter, zone: ZoneInfo) -> List[Any]:
    where: List[Any] = []
    if f.date_from:
        where.append(_summary.c.last_at >= _day_start(f.date_from, zone))
    if f.date_to:
        where.append(
            _summary.c.first_at < _day_start(f.date_to + timedelta(days=1), zone)
        )
    if f.channel:
        where.append(_summary.c.channel == f.channel)
    if f.outcome == "handoff":
        where.append(
            sa.or_(
                _summary.c.handoff,
                _summary.c.conversation_id.in_(sa.select(_handoff.c.conversation_id)),
            )
        )
    elif f.outcome == "intake":
        where.append(
            sa.or_(
                _summary.c.intake,
                _summary.c.conversation_id.in_(sa.select(_intake.c.conversation_id)),
            )
        )
    elif f.outcome:
        where.append(_summary.c[f.outcome].is_(True))
    if f.answer_key:
        where.append(
            sa.exists().where(
                _answer.c.conversation_id == _summary.c.conversation_id,
                _answer.c.answer_key == f.answer_key,
            )
        )
    if f.review == "reviewed":
        where.append(_review.c.status == "reviewed")
    elif f.review == "unreviewed":
        where.append(
            sa.or_(_review.c.status.is_(None), _review.c.status == "unreviewed")
        )
    if f.tag:
        where.append(
            sa.exists().where(
                _tag.c.conversation_id == _summary.c.conversation_id,
                _tag.c.tag == f.tag,
            )
        )
    if f.q:
        pattern = like_pattern(f.q)
        where.append(
            sa.or_(
                _summary.c.search_text.like(pattern, escape="\\"),
                sa.func.lower(_summary.c.conversation_id).like(pattern, escape="\\"),
            )
        )
    return where


def list_conversations(
    connection: Connection, f: ConversationFilter, zone: ZoneInfo
) -> Tuple[List[Dict[str, Any]], int]:
    """One page of conversations, newest first, and the total matching count."""
    joined = _summary.outerjoin(
        _review, _review.c.conversation_id == _summary.c.conversation_id
    )
    where = _conditions(f, zone)
    total = connection.execute(
        sa.select(sa.func.count()).select_from(joined).where(*where)
    ).scalar_one()
    rows = connection.execute(
        sa.select(_summary, _review.c.status.label("review_status"), _review.c.note)
        .select_from(joined)
        .where(*where)
        .order_by(_summary.c.last_at.desc(), _summary.c.conversation_id)
        .limit(PAGE_SIZE)
        .offset((f.page - 1) * PAGE_SIZE)
    ).mappings()
    items = [dict(row) for row in rows]
    ids = [item["conversation_id"] for item in items]
    tags: Dict[str, List[str]] = {}
    keys: Dict[str, List[str]] = {}
    if ids:
        for cid, tag in connection.execute(
            sa.select(_tag.c.conversation_id, _tag.c.tag)
            .where(_tag.c.conversation_id.in_(ids))
            .order_by(_tag.c.tag)
        ):
            tags.setdefault(cid, []).append(tag)
        for cid, key in connection.execute(
            sa.select(_answer.c.conversation_id, _answer.c.answer_key)
            .where(_answer.c.conversation_id.in_(ids))
            .order_by(_answer.c.count.desc(), _answer.c.answer_key)
        ):
            keys.setdefault(cid, []).append(key)
    for item in items:
        item["tags"] = tags.get(item["conversation_id"], [])
        item["answer_keys"] = keys.get(item["conversation_id"], [])
    return items, total


def channels(connection: Connection) -> List[str]:
    """The channels conversations came in on (for the filter)."""
    return [
        c
        for (c,) in connection.execute(
            sa.select(_summary.c.channel)
            .where(_summary.c.channel.is_not(None))
            .distinct()
        )
    ]


def all_tags(connection: Connection) -> List[str]:
    """Every tag in use (for the filter)."""
    return [
        t
        for (t,) in connection.execute(
            sa.select(_tag.c.tag).distinct().order_by(_tag.c.tag)
        )
    ]


def conversation(connection: Connection, conversation_id: str) -> Dict[str, Any]:
    """The conversation's summary, review, tags and handoffs and intake requests."""
    summary = (
        connection.execute(
            sa.select(_summary).where(_summary.c.conversation_id == conversation_id)
        )
        .mappings()
        .first()
    )
    review = (
        connection.execute(
            sa.select(_review).where(_review.c.conversation_id == conversation_id)
        )
        .mappings()
        .first()
    )
    tags = [
        t
        for (t,) in connection.execute(
            sa.select(_tag.c.tag)
            .where(_tag.c.conversation_id == conversation_id)
            .order_by(_tag.c.tag)
        )
    ]
    handoffs = (
        connection.execute(
            sa.select(_handoff)
            .where(_handoff.c.conversation_id == conversation_id)
            .order_by(_handoff.c.id.desc())
        )
        .mappings()
        .all()
    )
    intakes = (
        connection.execute(
            sa.select(_intake.c.id, _intake.c.status, _intake.c.created_at)
            .where(_intake.c.conversation_id == conversation_id)
            .order_by(_intake.c.id.desc())
        )
        .mappings()
        .all()
    )
    return {
        "summary": dict(summary) if summary else None,
        "review": dict(review) if review else None,
        "tags": tags,
        "handoffs": [dict(h) for h in handoffs],
        "intakes": [dict(i) for i in intakes],
    }


def _upsert_review(connection: Connection, conversation_id: str, **values: Any) -> None:
    values["updated_at"] = sa.func.now()
    updated = connection.execute(
        sa.update(_review)
        .where(_review.c.conversation_id == conversation_id)
        .values(**values)
    )
    if updated.rowcount == 0:
        connection.execute(
            sa.insert(_review).values(conversation_id=conversation_id, **values)
        )


def set_review(
    connection: Connection, conversation_id: str, status: str, user_email: str
) -> None:
    """Marks a conversation reviewed or unreviewed."""
    if status not in REVIEW_STATUSES:
        raise ValueError("unknown review status")
    _upsert_review(connection, conversation_id, status=status, updated_by=user_email)


def set_note(
    connection: Connection, conversation_id: str, note: str, user_email: str
) -> None:
    """Stores staff's note on a conversation (empty text clears it)."""
    note = (note or "").replace("\x00", "").strip()
    if len(note) > NOTE_LIMIT:
        raise ValueError(f"the note is too long (at most {NOTE_LIMIT} characters)")
    _upsert_review(
        connection, conversation_id, note=note or None, updated_by=user_email
    )


def add_tag(
    connection: Connection, conversation_id: str, tag: str, user_email: str
) -> str:
    """Tags a conversation (lower-case letters, digits, space, - and _)."""
    tag = (tag or "").strip().lower()
    if not TAG_PATTERN.fullmatch(tag):
        raise ValueError("a tag is 1-64 lower-case letters, digits, spaces, - or _")
    exists = connection.execute(
        sa.select(_tag.c.tag).where(
            _tag.c.conversation_id == conversation_id, _tag.c.tag == tag
        )
    ).first()
    if not exists:
        connection.execute(
            sa.insert(_tag).values(
                conversation_id=conversation_id, tag=tag, created_by=user_email
            )
        )
    return tag


def remove_tag(connection: Connection, conversation_id: str, tag: str) -> None:
    """Removes a tag from a conversation."""
    connection.execute(
        sa.delete(_tag).where(
            _tag.c.conversation_id == conversation_id, _tag.c.tag == tag
        )
    )
