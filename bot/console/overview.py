"""The overview page's figures and their charts (server-rendered SVG, no library).

Days are the clinic's days (`CLINIC_TIMEZONE`). Each chart is a list of bars with
their geometry already computed, so the template only draws rectangles and text
(autoescaped like everything else).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Dict, List, Tuple
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from bot.db.queries.overview import figures

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


def overview(connection: Connection, zone: ZoneInfo, days: int = 30) -> Dict[str, Any]:
    """The overview's figures for the last `days` days, with their charts."""
    data = figures(connection, zone, days)
    span = data["span"]
    per_day, messages, fallbacks = data["per_day"], data["messages"], data["fallbacks"]
    handoffs, intakes = data["handoffs"], data["intakes"]
    total_messages = sum(messages.values())
    return {
        "days": days,
        "conversations": sum(per_day.values()),
        "overnight": data["overnight"],
        "fallback_rate": (sum(fallbacks.values()) / total_messages)
        if total_messages
        else 0.0,
        "open_handoffs": data["open_handoffs"],
        "urgent_handoffs": data["urgent_handoffs"],
        "new_intakes": data["new_intakes"],
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
            bar_chart(
                "Most asked answer keys", [(k, float(n)) for k, n in data["top"]]
            ),
        ],
    }
