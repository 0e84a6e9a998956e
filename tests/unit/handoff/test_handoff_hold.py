"""The one answer to "is this conversation held by staff?" (`bot.handoff.hold`)."""

import sys

import pytest

from bot.handoff import hold

PAUSE = {"event": "pause"}
RESUME = {"event": "resume"}
USER = {"event": "user", "text": "hi"}


@pytest.mark.parametrize(
    "events, paused_now, expected",
    [
        ([], False, False),
        ([USER], False, False),
        ([USER, PAUSE], False, True),  # a new session cleared Rasa's flag
        ([USER, PAUSE, USER], False, True),
        ([PAUSE, RESUME], False, False),
        ([PAUSE, RESUME, PAUSE], False, True),
        ([], True, True),  # the tracker's own flag
    ],
)
def test_paused_is_the_last_pause_or_resume(events, paused_now, expected):
    assert hold.is_paused(events, paused_now=paused_now) is expected


@pytest.mark.parametrize(
    "paused, active_handoff, expected",
    [
        (False, True, False),  # out of hours: open handoff, the bot still talks
        (False, None, False),
        (True, True, True),
        (True, False, False),  # a pause whose handoff is gone is no hold
        (True, None, True),  # the table cannot be read: stay silent
    ],
)
def test_held_by_staff(paused, active_handoff, expected):
    assert hold.held_by_staff(paused, active_handoff) is expected


def test_the_events_staff_append():
    assert hold.pause() == [PAUSE]
    assert hold.resume() == [RESUME, {"event": "action", "name": "action_listen"}]
    assert hold.pause() is not hold.pause()  # fresh lists: nobody edits another's
    assert hold.staff_reply("Hello", "Dana") == {
        "event": "bot",
        "text": "Hello",
        "metadata": {"staff_reply": True, "staff_name": "Dana"},
    }


def test_the_answer_loads_without_the_http_client_or_the_database():
    """The action server asks too: importing `hold` must stay light."""
    import subprocess

    code = (
        "import sys, bot.handoff.hold; "
        "print(any(m in sys.modules for m in ('requests', 'sqlalchemy')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
