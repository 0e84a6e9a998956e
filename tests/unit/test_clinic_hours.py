"""Clinic hours decide whether a handoff pauses the bot or waits for the morning."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.clinic_hours import ClinicHours, ClinicHoursError

NY = ZoneInfo("America/New_York")
HOURS = ClinicHours.parse("Mon-Fri 09:00-17:00; Sat 09:00-12:00", "America/New_York")


@pytest.mark.parametrize(
    "when, is_open",
    [
        (datetime(2026, 11, 24, 9, 0, tzinfo=NY), True),  # Tuesday opening
        (datetime(2026, 11, 24, 16, 59, tzinfo=NY), True),
        (datetime(2026, 11, 24, 17, 0, tzinfo=NY), False),
        (datetime(2026, 11, 28, 11, 0, tzinfo=NY), True),  # Saturday morning
        (datetime(2026, 11, 29, 11, 0, tzinfo=NY), False),  # Sunday
        (datetime(2026, 11, 24, 15, 0, tzinfo=ZoneInfo("UTC")), True),  # 10:00 NY
        (datetime(2026, 11, 24, 23, 0, tzinfo=ZoneInfo("UTC")), False),  # 18:00 NY
    ],
)
def test_is_open(when, is_open):
    assert HOURS.is_open(when) is is_open


def test_next_opening():
    sunday = datetime(2026, 11, 29, 11, 0, tzinfo=NY)
    assert HOURS.next_opening(sunday) == datetime(2026, 11, 30, 9, 0, tzinfo=NY)


def test_describe():
    assert HOURS.describe() == "Mon-Fri 09:00-17:00; Sat 09:00-12:00 (New York time)"


@pytest.mark.parametrize(
    "spec, zone",
    [
        ("Mon-Fri 9-5", "America/New_York"),
        ("Mon-Fri 17:00-09:00", "America/New_York"),
        ("Xyz 09:00-17:00", "America/New_York"),
        ("Mon-Fri 09:00-25:00", "America/New_York"),
        ("Mon-Fri 09:00-17:00", "Mars/Olympus"),
        ("", "America/New_York"),
    ],
)
def test_bad_specs_are_refused(spec, zone):
    with pytest.raises(ClinicHoursError):
        ClinicHours.parse(spec, zone)
