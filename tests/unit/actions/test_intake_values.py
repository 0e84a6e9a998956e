"""What the intake form accepts, and what it says when it cannot."""

from functools import lru_cache

import pytest
from rasa.shared.core.domain import Domain

from actions.intake_values import (
    NO_EMAIL,
    InvalidValue,
    clean_text,
    correction_target,
    normalize_email,
    normalize_phone,
    strip_correction,
)
from bot import phi
from tests.support.paths import ROOT


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("(617) 555-0178", "+16175550178"),
        ("617.555.0178", "+16175550178"),
        ("1 617 555 0178", "+16175550178"),
        ("+1 (617) 555-0178", "+16175550178"),
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("my number is 617 555 0178", "+16175550178"),
    ],
)
def test_phone_is_normalised_to_e164(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        ("555-1234", "looks short"),
        ("12345678901234", "too long"),
        ("call me", "doesn't look like a phone number"),
        ("055 234 5678", "valid US number"),
        ("(555) 234-5678", "valid US number"),  # 555 is no area code
        ("+12", "international"),
        ("", "doesn't look like a phone number"),
    ],
)
def test_bad_phone_gets_a_reprompt_that_says_what_is_wrong(raw, message):
    with pytest.raises(InvalidValue) as error:
        normalize_phone(raw)
    assert message in reprompt(error.value)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Ana@Example.COM", "Ana@example.com"),
        ("my email is a.b+c@mail.co.uk.", "a.b+c@mail.co.uk"),
        ("skip", NO_EMAIL),
        ("no", NO_EMAIL),
        ("I don't have one", NO_EMAIL),
    ],
)
def test_email(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw", ["foo@bar", "not an email", "a@b..com", "<script>@x.com"]
)
def test_bad_email(raw):
    with pytest.raises(InvalidValue) as error:
        normalize_email(raw)
    assert "doesn't look right" in reprompt(error.value)


def test_clean_text_folds_space_and_drops_control_characters():
    assert clean_text("  Ana\x00 \n Lopez \ud800 ", 200, "full_name") == "Ana Lopez"


def test_clean_text_refuses_empty_and_too_long():
    with pytest.raises(InvalidValue) as error:
        clean_text(" \x00 ", 200, "full_name")
    assert "didn't get your name" in reprompt(error.value)
    with pytest.raises(InvalidValue) as error:
        clean_text("x" * 11, 10, "full_name")
    assert "under 10 characters" in reprompt(error.value)
    assert str(error.value) == "utter_full_name_too_long"  # never the answer


@pytest.mark.parametrize(
    "text, target, value",
    [
        ("actually my number is 555 234 5678", "phone", "555 234 5678"),
        ("sorry, my email is ana@x.org", "email", "ana@x.org"),
        ("wait, my name is Ana Lopez", "full_name", "Ana Lopez"),
        ("weekday mornings", None, None),
        ("Ana Lopez", None, None),
    ],
)
def test_corrections(text, target, value):
    assert correction_target(text) == target
    if value:
        assert strip_correction(text) == value


def test_the_number_read_back_shows_only_the_last_four_digits():
    assert phi.masked_for_patient("+16175550178") == "+1 ***-***-0178"


@lru_cache(maxsize=1)
def _responses():
    return Domain.load(str(ROOT / "domain.yml")).responses


def reprompt(error: InvalidValue) -> str:
    """The text of the response an `InvalidValue` names, filled with its values."""
    return _responses()[error.response][0]["text"].format(**error.values)
