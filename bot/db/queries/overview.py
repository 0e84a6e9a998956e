"""The overview page's figures: conversations, fallbacks, handoffs, intake per day.

Days are the clinic's days (the `zone` given). The console lays them out as charts
(`bot.console.overview`).
"""

from __future__ import annotations

import time as clock
from datetime import date, datetime, timedelta
from typing import Any, Dict, Iterable, List
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.db.models import (
    ConversationAnswer,
    ConversationSummary,
    Handoff,
    IntakeRequest,
)

_summary = ConversationSummary.__table__
_answer = ConversationAnswer.__table__
_handoff = Handoff.__table__
_intake = IntakeRequest.__table__


def _days(end: date, count: int) -> List[date]:
    return [end - timedelta(days=count - 1 - i) for i in range(count)]


def _bucket(
    stamps: Iterable[Any], zone: ZoneInfo, days: List[date]
) -> Dict[date, float]:
    counts = dict.fromkeys(days, 0.0)
    for stamp in stamps:
        if isinstance(stamp, (int, float)):
            day = datetime.fromtimestamp(stamp, zone).date()
        else:
            day = stamp.astimezone(zone).date()
        if day in counts:
            counts[day] += 1
    return counts


def figures(connection: Connection, zone: ZoneInfo, days: int = 30) -> Dict[str, Any]:
    """The overview's figures for the last `days` days, per day where it applies.

    Returns:
        `span` (the days, oldest first), per-day dicts `per_day`, `messages`,
        `fallbacks`, `handoffs`, `intakes`, the `top` answer keys with their
        counts, and the counts `overnight`, `open_handoffs`, `urgent_handoffs`,
        `new_intakes`.
    """
    today = datetime.now(zone).date()
    span = _days(today, days)
    since = datetime.combine(span[0], datetime.min.time(), tzinfo=zone)
    since_ts = since.timestamp()
    per_day = dict.fromkeys(span, 0.0)
    messages = dict.fromkeys(span, 0.0)
    fallbacks = dict.fromkeys(span, 0.0)
    # Whole seconds, then integer division: floor on both databases (a CAST of a
    # fraction truncates on SQLite but rounds on PostgreSQL, which moved the
    # afternoon's conversations into a day past the chart).
    day_of = sa.cast(_summary.c.first_at - since_ts, sa.Integer) / 86400
    for offset, count, total, fallback in connection.execute(
        sa.select(
            day_of,
            sa.func.count(),
            sa.func.sum(_summary.c.message_count),
            sa.func.sum(_summary.c.fallback_count),
        )
        .where(_summary.c.first_at >= since_ts)
        .group_by(day_of)
    ):
        if offset is not None and 0 <= int(offset) < days:
            day = span[int(offset)]
            per_day[day] += count
            messages[day] += total or 0
            fallbacks[day] += fallback or 0
    top = connection.execute(
        sa.select(_answer.c.answer_key, sa.func.sum(_answer.c.count).label("n"))
        .select_from(
            _answer.join(
                _summary, _summary.c.conversation_id == _answer.c.conversation_id
            )
        )
        .where(_summary.c.last_at >= since_ts)
        .group_by(_answer.c.answer_key)
        .order_by(sa.desc("n"), _answer.c.answer_key)
        .limit(10)
    ).all()
    handoffs = _bucket(
        (
            r[0]
            for r in connection.execute(
                sa.select(_handoff.c.created_at).where(_handoff.c.created_at >= since)
            )
        ),
        zone,
        span,
    )
    intakes = _bucket(
        (
            r[0]
            for r in connection.execute(
                sa.select(_intake.c.created_at).where(_intake.c.created_at >= since)
            )
        ),
        zone,
        span,
    )
    overnight = connection.execute(
        sa.select(sa.func.count())
        .select_from(_summary)
        .where(_summary.c.last_at >= clock.time() - 16 * 3600)
    ).scalar_one()
    return {
        "span": span,
        "per_day": per_day,
        "messages": messages,
        "fallbacks": fallbacks,
        "handoffs": handoffs,
        "intakes": intakes,
        "top": top,
        "overnight": overnight,
        "open_handoffs": connection.execute(
            sa.select(sa.func.count())
            .select_from(_handoff)
            .where(_handoff.c.status == "open")
        ).scalar_one(),
        "urgent_handoffs": connection.execute(
            sa.select(sa.func.count())
            .select_from(_handoff)
            .where(
                _handoff.c.status.in_(("open", "claimed")),
                _handoff.c.urgent.is_(True),
            )
        ).scalar_one(),
        "new_intakes": connection.execute(
            sa.select(sa.func.count())
            .select_from(_intake)
            .where(_intake.c.status == "new")
        ).scalar_one(),
    }
