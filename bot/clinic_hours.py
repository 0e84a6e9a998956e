"""Clinic hours: when staff can answer a patient who asks for a person.

`CLINIC_HOURS` is a short, human-readable spec, e.g. `Mon-Fri 09:00-17:00` or
`Mon-Thu 08:30-17:00; Fri 08:30-12:00`, read in `CLINIC_TIMEZONE` (an IANA name such
as `America/New_York`). Pure Python: the action server and the console both use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import List, Optional, Tuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_PART = re.compile(
    r"^(?P<d1>[a-z]{3})(?:\s*-\s*(?P<d2>[a-z]{3}))?\s+"
    r"(?P<h1>\d{1,2}):(?P<m1>\d{2})\s*-\s*(?P<h2>\d{1,2}):(?P<m2>\d{2})$"
)


class ClinicHoursError(ValueError):
    """The hours spec or time zone cannot be read; the message says why."""


@dataclass(frozen=True)
class ClinicHours:
    """Weekly opening windows in one time zone."""

    windows: Tuple[Tuple[int, time, time], ...]  # (weekday 0=Mon, opens, closes)
    timezone: ZoneInfo
    spec: str

    @classmethod
    def parse(cls, spec: str, timezone: str) -> ClinicHours:
        """Reads `Mon-Fri 09:00-17:00; Sat 09:00-12:00` in `timezone`."""
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ClinicHoursError(f"unknown CLINIC_TIMEZONE {timezone!r}") from None
        windows: List[Tuple[int, time, time]] = []
        for part in filter(None, (p.strip().lower() for p in spec.split(";"))):
            match = _PART.match(part)
            if (
                not match
                or match["d1"] not in DAYS
                or (match["d2"] and match["d2"] not in DAYS)
            ):
                raise ClinicHoursError(
                    f"CLINIC_HOURS part {part!r} is not like 'Mon-Fri 09:00-17:00'"
                )
            first = DAYS.index(match["d1"])
            last = DAYS.index(match["d2"] or match["d1"])
            try:
                opens = time(int(match["h1"]), int(match["m1"]))
                closes = time(int(match["h2"]), int(match["m2"]))
            except ValueError:
                raise ClinicHoursError(f"invalid time in {part!r}") from None
            if closes <= opens:
                raise ClinicHoursError(f"closing time before opening in {part!r}")
            day = first
            while True:
                windows.append((day, opens, closes))
                if day == last:
                    break
                day = (day + 1) % 7
        if not windows:
            raise ClinicHoursError("CLINIC_HOURS is empty")
        return cls(tuple(windows), zone, spec.strip())

    def is_open(self, now: Optional[datetime] = None) -> bool:
        """True when staff are in (now: an aware datetime, default: the clock)."""
        local = (now or datetime.now(self.timezone)).astimezone(self.timezone)
        return any(
            day == local.weekday() and opens <= local.time() < closes
            for day, opens, closes in self.windows
        )

    def next_opening(self, now: Optional[datetime] = None) -> datetime:
        """When staff are next in, as an aware local datetime."""
        local = (now or datetime.now(self.timezone)).astimezone(self.timezone)
        for offset in range(8):
            date = (local + timedelta(days=offset)).date()
            for day, opens, _ in sorted(self.windows, key=lambda w: w[1]):
                start = datetime.combine(date, opens, tzinfo=self.timezone)
                if day == date.weekday() and start > local:
                    return start
        raise ClinicHoursError("no opening time in the coming week")

    def describe(self) -> str:
        """The hours as patients read them: 'Mon-Fri 09:00-17:00 (New York time)'."""
        place = str(self.timezone).split("/")[-1].replace("_", " ")
        return f"{self.spec} ({place} time)"
