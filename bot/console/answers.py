"""The Answers page's figures and charts: per answer key, given, rated, then a person.

Definitions (the page and the README say the same):

- times given: patient messages recognised as `faq/<key>` in the conversations
  that started in the period (`conversation_answers.count`);
- helpful rate: "Helpful" votes over all votes on the key in the period (a vote
  counts at its last change); no votes, no rate;
- asked for a person right after: of the times given, how many were followed by
  a request for a person: the next patient message had intent `request_human`,
  or `action_handoff` ran before the next patient message;
- resolved without a person: conversations that started in the period with no
  handoff (no `action_handoff` and no row in `handoffs`, crisis ones included),
  over all conversations that started in the period.

Periods are whole days of the clinic (`CLINIC_TIMEZONE`), today included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Tuple
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from bot.console.overview import CHART_WIDTH, Bar, Chart
from bot.db.models import VOTE_HELPFUL, VOTE_NOT_HELPFUL
from bot.db.queries import answers as queries
from bot.db.queries.corrections import answer_keys

# The period choices of the page: query value -> (label, days; None = all time).
PERIODS: Dict[str, Tuple[str, Optional[int]]] = {
    "7": ("last 7 days", 7),
    "30": ("last 30 days", 30),
    "90": ("last 90 days", 90),
    "365": ("last 365 days", 365),
    "all": ("all time", None),
}
DEFAULT_PERIOD = "30"
ROW_HEIGHT = 22
LABEL_WIDTH = 200
VALUE_SPACE = 60


@dataclass(frozen=True)
class AnswerRow:
    """One answer key's figures in the period."""

    key: str
    given: int = 0
    conversations: int = 0
    then_human: int = 0
    helpful: int = 0
    not_helpful: int = 0
    reasons: int = 0
    in_catalog: bool = True

    @property
    def rated(self) -> int:
        """Votes on the key (helpful and not helpful)."""
        return self.helpful + self.not_helpful

    @property
    def helpful_rate(self) -> Optional[float]:
        """Helpful votes over all votes, or None without votes."""
        return self.helpful / self.rated if self.rated else None

    @property
    def then_human_rate(self) -> Optional[float]:
        """Times followed by a request for a person over times given."""
        return self.then_human / self.given if self.given else None


def period_arg(value: Optional[str]) -> str:
    """The period asked for, or the default when missing or unknown."""
    return value if value in PERIODS else DEFAULT_PERIOD


def period_start(period: str, zone: ZoneInfo) -> Optional[datetime]:
    """The first moment of the period (midnight in the clinic), None for all time."""
    days = PERIODS[period][1]
    if days is None:
        return None
    first = datetime.now(zone).date() - timedelta(days=days - 1)
    return datetime.combine(first, datetime.min.time(), tzinfo=zone)


def horizontal_chart(
    title: str, points: List[Tuple[str, float]], unit: str = ""
) -> Chart:
    """Lays out `(label, value)` points as horizontal bars, one row per label."""
    peak = max((v for _, v in points), default=0) or 1
    span = CHART_WIDTH - LABEL_WIDTH - VALUE_SPACE
    bars = []
    for index, (label, value) in enumerate(points):
        shown = f"{value:.0%}" if unit == "%" else f"{value:g}"
        bars.append(
            Bar(
                x=LABEL_WIDTH,
                y=index * ROW_HEIGHT + 4,
                width=round(span * value / peak, 1),
                height=ROW_HEIGHT - 8,
                label=label,
                value=value,
                title=f"{label}: {shown}",
            )
        )
    return Chart(
        title=title,
        bars=bars,
        peak=peak,
        unit=unit,
        height=max(len(points), 1) * ROW_HEIGHT,
    )


def _rows(
    connection: Connection, since: Optional[datetime], key: Optional[str] = None
) -> List[AnswerRow]:
    given = queries.given_counts(connection, since, key)
    votes = queries.vote_counts(connection, since, key)
    catalog = set(answer_keys())
    rows = []
    for key in sorted(set(given) | set(votes)):
        g, v = given.get(key, {}), votes.get(key, {})
        rows.append(
            AnswerRow(
                key=key,
                given=g.get("given", 0),
                conversations=g.get("conversations", 0),
                then_human=g.get("then_human", 0),
                helpful=v.get(VOTE_HELPFUL, 0),
                not_helpful=v.get(VOTE_NOT_HELPFUL, 0),
                reasons=v.get("reasons", 0),
                in_catalog=key in catalog,
            )
        )
    rows.sort(key=lambda r: (-r.given, -r.rated, r.key))
    return rows


def answers_page(connection: Connection, zone: ZoneInfo, period: str) -> Dict:
    """Every answer key given or rated in the period, the resolution share, charts."""
    since = period_start(period, zone)
    rows = _rows(connection, since)
    seen = {r.key for r in rows}
    resolved = queries.resolution(connection, since)
    rated = [r for r in rows if r.rated]
    given = [r for r in rows if r.given]
    return {
        "period": period,
        "periods": PERIODS,
        "period_label": PERIODS[period][0],
        # The conversation list's filters for the period (it also shows those
        # that started before and went on into it).
        "list_args": {"outcome": "handoff"}
        | ({"from": since.date().isoformat()} if since else {}),
        "rows": rows,
        "never_given": [k for k in answer_keys() if k not in seen],
        "resolution": resolved,
        "resolved_share": resolved["without"] / resolved["total"]
        if resolved["total"]
        else None,
        "charts": [
            horizontal_chart("Times given", [(r.key, float(r.given)) for r in given]),
            horizontal_chart(
                "Helpful rate (share of votes)",
                [(r.key, r.helpful_rate or 0.0) for r in rated],
                unit="%",
            ),
            horizontal_chart(
                "Asked for a person right after (share of times given)",
                [(r.key, r.then_human_rate or 0.0) for r in given],
                unit="%",
            ),
        ],
    }


def answer_detail(
    connection: Connection, zone: ZoneInfo, period: str, key: str
) -> Dict[str, Any]:
    """One key's figures and its newest "Not helpful" votes with their reasons."""
    since = period_start(period, zone)
    row = next(iter(_rows(connection, since, key)), None)
    return {
        "period": period,
        "periods": PERIODS,
        "period_label": PERIODS[period][0],
        "key": key,
        "row": row or AnswerRow(key=key, in_catalog=key in answer_keys()),
        "votes": queries.not_helpful_votes(connection, key, since),
        "limit": queries.REASONS_LIMIT,
    }
