"""The waiting notice: a patient still waiting for staff past the target is told, once.

In clinic hours "talk to a person" pauses the bot and promises a reply "shortly"
(`actions.handoff`). When no staff member has replied `HANDOFF_TARGET_MINUTES`
later, the patient gets one message (`handoff.waiting` in `bot/texts/en.yml`):
staff are taking longer than usual; they can keep waiting, or leave their details
with the intake form (a "Leave my details" button, the same as the out-of-hours
handoff offers). It goes out on the conversation's own channel (widget, SMS) through
Rasa's HTTP API, like a staff reply (`HandoffService.send_notice`).

The notice also gives the conversation back to the bot, with the handoff still
open on the queue: a paused conversation ignores every message, so the button
would otherwise do nothing. That is the state an out-of-hours handoff is in (the
package docstring): the bot answers questions and runs the intake form, and the
staff member's reply, whenever it comes, pauses it again (`HandoffService.reply`).

Who gets it: open or claimed handoffs with no staff reply and no notice yet,
opened more than the target ago, not urgent (the crisis guidance told the patient
to call 911 or 988 and not to wait here; staff see the handoff first on the queue),
and only while the clinic is open, for a handoff opened in the same opening
(`same_opening`): out of hours the patient was told when staff are back, and a
handoff left over from yesterday must not greet the morning with "longer than
usual".

Where it runs: in the staff console process (`keep_sweeping`, started with the
app), which already talks to Rasa's HTTP API for staff replies; one sweep at start
and every `SWEEP_SECONDS`. The notice is sent once however many consoles run: its
mark `waiting_notice_at` is set by one conditional UPDATE before sending, and the
sweep takes the handoff's lease (`desk.handoff_lease`, without waiting) so it
never interleaves with a staff reply or hand-back. If Rasa fails, the notice is
not sent again (at most once: a time-out may still have delivered it); the
failure is logged with the handoff id only. Only a refused token (nothing was
applied) clears the mark, so the notice goes out once the token is fixed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional

from bot.clinic_hours import ClinicHours
from bot.db.models import utcnow
from bot.db.queries.handoffs import (
    give_back_waiting_notice,
    still_waiting,
    take_waiting_notice,
)
from bot.handoff import hold
from bot.handoff.desk import HandoffBusy, handoff_lease
from bot.handoff.rasa_api import RasaError
from bot.handoff.service import HandoffService
from bot.texts import text

logger = logging.getLogger(__name__)
SWEEP_SECONDS = 30.0
NOTICE = "handoff.waiting"
BUTTON_TITLE = "handoff.leave_details"
BUTTON_PAYLOAD = "handoff.leave_details_payload"


def notice_events() -> List[Dict[str, Any]]:
    """The notice (marked `waiting_notice` in its metadata), then the bot listening."""
    notice = {
        "event": "bot",
        "text": text(NOTICE),
        "data": {
            "buttons": [{"title": text(BUTTON_TITLE), "payload": text(BUTTON_PAYLOAD)}]
        },
        "metadata": {"waiting_notice": True},
    }
    return [notice, *hold.resume()]


def same_opening(hours: ClinicHours, opened: datetime, now: datetime) -> bool:
    """True when the clinic is open now and has been since `opened`."""
    return (
        hours.is_open(opened)
        and hours.is_open(now)
        and hours.next_opening(opened) > now
    )


def sweep(
    service: HandoffService,
    hours: ClinicHours,
    target: timedelta,
    now: Optional[datetime] = None,
) -> List[int]:
    """Sends the waiting notice to every patient due one; returns their handoff ids.

    Args:
        service: Rasa's HTTP API and the database (`service.engine`).
        hours: the clinic hours (`CLINIC_HOURS`).
        target: `HANDOFF_TARGET_MINUTES`.
        now: the time to judge by (default: the clock).
    """
    now = now or utcnow()
    if not hours.is_open(now):
        return []
    engine = service.engine
    with engine.begin() as connection:
        due = still_waiting(connection, now - target)
    sent = []
    for handoff in due:
        if not same_opening(hours, handoff.created_at, now):
            continue
        try:
            with handoff_lease(engine, handoff.id, wait=0):
                with engine.begin() as connection:
                    if not take_waiting_notice(connection, handoff.id):
                        continue  # another console, or a reply, came first
                try:
                    service.send_notice(handoff, notice_events())
                except PermissionError:  # refused before anything was applied
                    with engine.begin() as connection:
                        give_back_waiting_notice(connection, handoff.id)
                    raise
        except HandoffBusy:
            continue  # a staff reply or hand-back is under way: next sweep
        except PermissionError:
            logger.warning(
                "Waiting notice of handoff %s refused: check RASA_API_TOKEN", handoff.id
            )
            continue
        except (ValueError, RasaError) as error:
            logger.warning(
                "Waiting notice of handoff %s not sent: %s",
                handoff.id,
                type(error).__name__,
            )
            continue
        logger.info("Waiting notice sent for handoff %s", handoff.id)
        sent.append(handoff.id)
    return sent


async def keep_sweeping(
    service: HandoffService,
    hours: ClinicHours,
    target: timedelta,
    every: float = SWEEP_SECONDS,
) -> None:
    """Runs `sweep` now and every `every` seconds (off the loop) until cancelled."""
    from bot.db.offloop import off_loop

    while True:
        try:
            await off_loop(sweep, service, hours, target)
        except Exception as error:  # noqa: BLE001 - the next sweep tries again
            logger.error("Waiting notice sweep failed (%s)", type(error).__name__)
        await asyncio.sleep(every)
