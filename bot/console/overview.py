"""The overview page's figures and their charts (server-rendered SVG, no library).

Days are the clinic's days (`CLINIC_TIMEZONE`). Each chart is a list of bars with
their geometry already computed, so the template only draws rectangles and text
(autoescaped like everything else).
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Dict, Iterable, List, Tuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.console.queries import A, H, I, S

CHART_WIDTH = 640
CHART_HEIGHT = 160
LABEL_SPACE = 20


@dataclass(frozen=True)
class Bar:
    """One bar of a chart, in SVG user units."""

    x: float
    y: float
    width: float
    height: float
    label: str
    value: float
    title: str


@dataclass(frozen=True)
class Chart:
    """A bar chart: title, bars, and the largest value (for the axis note)."""

    title: str
    bars: List[Bar]
    peak: float
    unit: str = ""
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT + LABEL_SPACE


def bar_chart(title: str, points: List[Tuple[str, float]], unit: str = "") -> Chart:
    """Lays out `(label, value)` points as vertical bars."""
    peak = max((v for _, v in points), default=0) or 1
    slot = CHART_WIDTH / max(len(points), 1)
    bars = []
    for index, (label, value) in enumerate(points):
        height = CHART_HEIGHT * value / peak
        shown = f"{value:.0%}" if unit == "%" else f"{value:g}"
        bars.append(
            Bar(
                x=round(index * slot + slot * 0.1, 1),
                y=round(CHART_HEIGHT - height, 1),
                width=round(slot * 0.8, 1),
                height=round(height, 1),
                label=label if len(points) <= 12 or index % 5 == 0 else "",
                value=value,
                title=f"{label}: {shown}",
            )
        )
    return Chart(title=title, bars=bars, peak=peak, unit=unit)


def _label(day: date) -> str:
    return day.strftime("%b %d")


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


def overview(connection: Connection, zone: ZoneInfo, days: int = 30) -> Dict[str, Any]:
    """The overview's figures for the last `days` days."""
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
    day_of = sa.cast(S.c.first_at - since_ts, sa.Integer) / 86400
    for offset, count, total, fallback in connection.execute(
        sa.select(
            day_of,
            sa.func.count(),
            sa.func.sum(S.c.message_count),
            sa.func.sum(S.c.fallback_count),
        )
        .where(S.c.first_at >= since_ts)
        .group_by(day_of)
    ):
        if offset is not None and 0 <= int(offset) < days:
            day = span[int(offset)]
            per_day[day] += count
            messages[day] += total or 0
            fallbacks[day] += fallback or 0
    top = connection.execute(
        sa.select(A.c.answer_key, sa.func.sum(A.c.count).label("n"))
        .select_from(A.join(S, S.c.conversation_id == A.c.conversation_id))
        .where(S.c.last_at >= since_ts)
        .group_by(A.c.answer_key)
        .order_by(sa.desc("n"), A.c.answer_key)
        .limit(10)
    ).all()
    handoffs = _bucket(
        (
            r[0]
            for r in connection.execute(
                sa.select(H.c.created_at).where(H.c.created_at >= since)
            )
        ),
        zone,
        span,
    )
    intakes = _bucket(
        (
            r[0]
            for r in connection.execute(
                sa.select(I.c.created_at).where(I.c.created_at >= since)
            )
        ),
        zone,
        span,
    )
    total_messages = sum(messages.values())
    overnight = connection.execute(
        sa.select(sa.func.count())
        .select_from(S)
        .where(S.c.last_at >= clock.time() - 16 * 3600)
    ).scalar_one()
    return {
        "days": days,
        "conversations": sum(per_day.values()),
        "overnight": overnight,
        "fallback_rate": (sum(fallbacks.values()) / total_messages)
        if total_messages
        else 0.0,
        "open_handoffs": connection.execute(
            sa.select(sa.func.count()).select_from(H).where(H.c.status == "open")
        ).scalar_one(),
        "urgent_handoffs": connection.execute(
            sa.select(sa.func.count())
            .select_from(H)
            .where(H.c.status.in_(("open", "claimed")), H.c.urgent.is_(True))
        ).scalar_one(),
        "new_intakes": connection.execute(
            sa.select(sa.func.count()).select_from(I).where(I.c.status == "new")
        ).scalar_one(),
        "charts": [
            bar_chart("Conversations per day", [(_label(d), per_day[d]) for d in span]),
            bar_chart(
                "Fallback rate per day (share of patient messages)",
                [
                    (_label(d), fallbacks[d] / messages[d] if messages[d] else 0.0)
                    for d in span
                ],
                unit="%",
            ),
            bar_chart("Handoffs per day", [(_label(d), handoffs[d]) for d in span]),
            bar_chart(
                "Intake requests per day", [(_label(d), intakes[d]) for d in span]
            ),
            bar_chart("Most asked answer keys", [(k, float(n)) for k, n in top]),
        ],
    }
