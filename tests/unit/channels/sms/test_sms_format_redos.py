"""Crafted text cannot stall the SMS formatter (issue 10, item 7).

The formatter runs inside the Rasa server's event loop: a pattern that backtracks
polynomially on crafted text (e.g. an intake condition of "[x](" repeated, read back
to the patient, or an SMS reply while options are offered) blocked every
conversation for about half a second per message. Every input below is as long as
an SMS may be (1,600 characters) and must be formatted in well under the bound.
"""

from __future__ import annotations

import itertools
import time

import pytest

from bot.channels.sms.format import pick_option, plain_text, sms_bodies

LENGTH = 1600
# Linear patterns take ~1-5 ms here, the polynomial ones took ~500 ms: the bound
# sits far from both, so a machine busy with other work does not fail it.
BOUND_SECONDS = 0.050

RUNS = [
    "*",
    "_",
    "[",
    "(",
    "<",
    "`",
    "~",
    "!",
    "[x](",
    "![x](",
    "[a](b",
    "[a](b ",
    "[x](((",
    "**a ",
    "__a ",
    "*a *",
    "_ a_",
    "~~a ",
    "<!--",
    "<br ",
    "<li",
    "<a",
    "[](",
    "* * ",
    "a ",
    ". ",
]
ADVERSARIAL = {repr(run): (run * LENGTH)[:LENGTH] for run in RUNS}
ADVERSARIAL.update(
    {
        "unclosed link": "[a](" + "b" * (LENGTH - 4),
        "unclosed link title": "[a](b " + "c" * (LENGTH - 6),
        "unclosed break": "<br" + " " * (LENGTH - 3),
        "mixed": "".join(itertools.islice(itertools.cycle("*_[(<!`~#> a"), LENGTH)),
    }
)
YES_NO = [
    {"title": "Yes, contact me", "payload": "/affirm"},
    {"title": "No, thanks", "payload": "/deny"},
]


def best_time(function, *args) -> float:
    """The fastest of five runs (the machine is shared: ignore a slow moment)."""
    times = []
    for _ in range(5):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times)


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_text_is_formatted_quickly(name):
    text = ADVERSARIAL[name]
    assert len(text) == LENGTH
    assert best_time(plain_text, text) < BOUND_SECONDS
    assert best_time(sms_bodies, text, YES_NO) < BOUND_SECONDS


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_a_patients_reply_to_options_is_read_quickly(name):
    """An inbound SMS while options are offered goes through `pick_option`."""
    assert best_time(pick_option, ADVERSARIAL[name], YES_NO) < BOUND_SECONDS


def test_time_grows_linearly_with_the_length():
    """Four times the text takes about four times as long (not 16 or 64)."""
    for run in ("[x](", "**a ", "<!--", "[a](b"):
        short = best_time(plain_text, (run * LENGTH)[:LENGTH])
        assert short < BOUND_SECONDS, run  # else the long run would take minutes
        long = best_time(plain_text, (run * LENGTH * 4)[: LENGTH * 4])
        assert long < max(short, 0.0005) * 12, run


def test_a_patients_text_can_skip_markdown_stripping():
    """Text a patient typed (e.g. read back to them) stays as they typed it."""
    typed = "my *worst* pain is in [both](feet) <3 __really__"
    assert plain_text(typed, markdown=False) == typed
    assert sms_bodies(typed, markdown=False) == [typed]
    assert plain_text(typed) != typed  # the clinic's own texts are still cleaned


def test_a_reply_picks_an_option_without_markdown():
    assert pick_option("*Yes, contact me*", YES_NO) == "/affirm"
    assert pick_option("No, thanks!", YES_NO) == "/deny"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a<!-- hidden -->b", "ab"),
        ("a<!-- not closed", "a<!-- not closed"),
        ("one<br  />two< BR>three", "one\ntwo\nthree"),
        ("<link>x</link>", "x"),  # not a list item
        ('[page](https://a.example "Title")', "page (https://a.example)"),
        (
            "**bold** and __strong__, snake__case__name",
            "bold and strong, snake__case__name",
        ),
        ("~~old~~ new", "old new"),
    ],
)
def test_markup_still_removed(text, expected):
    assert plain_text(text) == expected
