"""The one phone rule and the masking of numbers (bot.phi): pure, no I/O."""

from __future__ import annotations

import re

import pytest

from bot import phi


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("(617) 555-0178", "US", "+16175550178"),
        ("617.555.0178", "US", "+16175550178"),
        ("1 617 555 0178", "US", "+16175550178"),
        ("+1 (617) 555-0178", "US", "+16175550178"),
        ("my number is 617 555 0178", "US", "+16175550178"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("0044 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),  # national, read in its region
        ("+52 55 1234 5678", "US", "+525512345678"),
    ],
)
def test_parse_phone_gives_e164(typed, region, e164):
    assert phi.parse_phone(typed, region) == e164


@pytest.mark.parametrize(
    ("typed", "region", "reason"),
    [
        ("", "US", phi.EMPTY),
        (None, "US", phi.EMPTY),
        ("call me", "US", phi.EMPTY),
        ("555-1234", "US", phi.SHORT),
        ("617 555 01789", "US", phi.LONG),
        ("(555) 234-5678", "US", phi.INVALID),  # 555 is no US area code
        ("(017) 555-0178", "US", phi.INVALID),
        ("020 7946 0958", "US", phi.LONG),  # a UK number read as a US one
        ("+44 20 7946", "US", phi.INTERNATIONAL),
        ("+1 555 234 5678", "US", phi.INTERNATIONAL),
        ("+999 1234 5678", "US", phi.INTERNATIONAL),  # no such country code
        ("+1234567890123456789", "US", phi.INTERNATIONAL),
    ],
)
def test_parse_phone_refuses_with_a_reason(typed, region, reason):
    with pytest.raises(phi.PhoneError) as refused:
        phi.parse_phone(typed, region)
    assert refused.value.reason == reason
    assert str(typed or "x") not in str(refused.value) or not typed  # no data


def test_the_default_region_is_the_us():
    assert phi.DEFAULT_REGION == "US"
    assert phi.parse_phone("617 555 0178") == "+16175550178"


def test_a_long_text_is_cut_before_parsing():
    with pytest.raises(phi.PhoneError):
        phi.parse_phone("1" * 100_000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+15551234567", True),  # possible: a carrier's sender is not second-guessed
        ("+442079460958", True),
        ("+16175550178", True),
        ("15551234567", False),
        ("+0123456789", False),
        ("+1555123", False),
        ("+1 555 123 4567", False),
        ("+1234567890123456", False),
        ("", False),
        (None, False),
        (15551234567, False),
    ],
)
def test_is_e164(value, expected):
    assert phi.is_e164(value) is expected


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+15551234567", "+1******4567"),
        ("+447700900123", "+4*******0123"),
        ("+123", "****"),
        ("", "(none)"),
        (None, "(none)"),
    ],
)
def test_mask_phone(phone, masked):
    assert phi.mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+15552345678", "+1 ***-***-5678"),
        ("+442079460958", "+44 ** **** 0958"),
        ("+525512345678", "+52 ** **** 5678"),
        ("+1234", "***"),
        ("not a number", "***"),
    ],
)
def test_masked_for_patient(phone, masked):
    assert phi.masked_for_patient(phone) == masked


@pytest.mark.parametrize(
    "phone",
    ["+15551234567", "+442079460958", "+525512345678", "+8613800138000", "+4930123456"],
)
def test_masking_never_shows_more_than_the_last_four_digits(phone):
    digits = phone[1:]
    for masked in (phi.mask_phone(phone), phi.masked_for_patient(phone)):
        shown = re.sub(r"\D", "", masked)
        country = shown[: len(shown) - 4]
        assert shown.endswith(digits[-4:])
        assert len(shown) - len(country) == 4 and digits.startswith(country)
        assert len(country) <= 3


def test_mask_phones_in_text():
    line = "Circuit breaker tripped for sender '+15551234567', then +442079460958."
    assert phi.mask_phones_in(line) == (
        "Circuit breaker tripped for sender '+1******4567', then +4*******0958."
    )
    assert phi.mask_phones_in("order 12345678 at 10:00") == "order 12345678 at 10:00"
