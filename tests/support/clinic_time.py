"""Clinic hours for tests that must be open now, and for a few hours past."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

ALWAYS_OPEN = "Mon-Sun 00:00-23:59"


def daytime_zone() -> str:
    """A time zone where it is now between 04:00 and 22:00.

    In it, a handoff opened up to four hours ago was opened in today's opening of
    `ALWAYS_OPEN` (`bot.handoff.waiting.same_opening`), whenever the test runs.
    """
    for name in ("UTC", "Asia/Tokyo", "America/Los_Angeles"):
        if 4 <= datetime.now(ZoneInfo(name)).hour < 22:
            return name
    raise AssertionError("unreachable: the three zones cover every hour")
