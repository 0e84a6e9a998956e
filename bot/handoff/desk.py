"""What staff do with a handoff (reply, claim, hand back), one at a time per handoff.

`bot.handoff.HandoffService` talks to Rasa: `reply()` claims the handoff, then
pauses the conversation and sends the message; `resume()` un-pauses it, then
closes the handoff. Run at the same moment, the two could interleave (resume's
un-pause, then reply's pause, then resume's close) and leave the patient's
conversation paused with its handoff closed: the bot silent and nobody on the
queue. Here both run under a lease on the handoff, so one ends before the other
starts, whichever console process or thread serves them; the second then sees
the first's result (a reply after a hand-back finds the handoff closed and sends
nothing).

The lease is a row of `console_handoff_locks`, taken by one INSERT … ON CONFLICT
DO NOTHING and released by deleting it. It is not a database transaction held
across the call to Rasa: on SQLite that would hold the write lock Rasa's own
tracker store needs to store the very events we send. A lease left by a crashed
process expires after `LEASE_SECONDS` (longer than any Rasa call's time-outs).

Closing a handoff another staff member claimed needs `takeover=True` (the form's
"I am taking over" box), and is audited as such. Claims take the lease too, so
a claim cannot slip in between that check and the close. Replies show patients
the staff member's display name, never their sign-in email.
"""

from __future__ import annotations

import secrets
import time
from contextlib import contextmanager
from typing import Iterator, Optional, Protocol

from sqlalchemy.engine import Engine

from bot.db.engine import session_scope
from bot.db.models import Handoff
from bot.db.queries import handoffs as leases
from bot.db.repository import HandoffStateError, claim_handoff
from bot.handoff.service import HandoffService


class SignedIn(Protocol):
    """The staff member acting: the console's signed-in user satisfies it."""

    @property
    def email(self) -> str:
        """Their sign-in email: the claim on a handoff (never shown to patients)."""

    @property
    def display_name(self) -> Optional[str]:
        """What patients read above their replies."""


LEASE_SECONDS = 90  # > the longest Rasa call: 3.05 s to connect + 20 s to answer
WAIT_SECONDS = 30.0  # how long a second request waits for the first to finish
POLL_SECONDS = 0.05
FALLBACK_NAME = "Clinic staff"  # shown to patients for an account without a name


class HandoffBusy(RuntimeError):
    """Another reply or hand-back of this handoff did not finish in time."""


class ClaimedByOther(HandoffStateError):
    """Another staff member claimed the handoff: closing it needs a takeover."""

    def __init__(self, handoff_id: int, claimed_by: str) -> None:
        super().__init__(f"handoff {handoff_id} is claimed by someone else")
        self.claimed_by = claimed_by


def _insert_lease(engine: Engine, handoff_id: int, holder: str) -> bool:
    with engine.begin() as connection:
        return leases.take_lease(connection, handoff_id, holder, LEASE_SECONDS)


@contextmanager
def handoff_lease(
    engine: Engine, handoff_id: int, wait: float = WAIT_SECONDS
) -> Iterator[None]:
    """Holds the handoff's lease for the block (waits up to `wait` seconds for it).

    Raises:
        HandoffBusy: someone else held it all that time.
    """
    holder = secrets.token_hex(16)
    deadline = time.monotonic() + wait
    while not _insert_lease(engine, handoff_id, holder):
        if time.monotonic() >= deadline:
            raise HandoffBusy(f"handoff {handoff_id} is busy")
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        with engine.begin() as connection:
            leases.release_lease(connection, handoff_id, holder)


def patient_facing_name(user: SignedIn) -> str:
    """What the patient reads above a staff reply (never the email)."""
    return user.display_name or FALLBACK_NAME


def reply(
    service: HandoffService,
    engine: Engine,
    handoff_id: int,
    text: str,
    user: SignedIn,
) -> Handoff:
    """Sends a staff reply: claimed under the user's email, signed with their name."""
    with handoff_lease(engine, handoff_id):
        return service.reply(
            handoff_id, text, user.email, display_name=patient_facing_name(user)
        )


def claim(engine: Engine, handoff_id: int, user: SignedIn) -> Handoff:
    """Takes an open handoff for the user (their email is the claim)."""
    with handoff_lease(engine, handoff_id), session_scope(engine) as session:
        return claim_handoff(session, handoff_id, claimed_by=user.email)


def _holder(engine: Engine, handoff_id: int) -> Optional[Handoff]:
    with session_scope(engine) as session:
        return session.get(Handoff, handoff_id)


def resume(
    service: HandoffService,
    engine: Engine,
    handoff_id: int,
    user: SignedIn,
    takeover: bool = False,
) -> tuple[Handoff, bool]:
    """Hands the conversation back to the bot and closes the handoff.

    Returns:
        The closed handoff, and whether it was taken over from someone else.

    Raises:
        ClaimedByOther: another staff member holds it and `takeover` is False.
        HandoffBusy, and whatever `HandoffService.resume` raises.
    """
    with handoff_lease(engine, handoff_id):
        handoff = _holder(engine, handoff_id)
        if handoff is None:
            raise LookupError(f"no handoff with id {handoff_id}")
        other = (
            handoff.status == "claimed"
            and handoff.claimed_by is not None
            and handoff.claimed_by != user.email
        )
        if other and not takeover:
            raise ClaimedByOther(handoff_id, handoff.claimed_by)
        return service.resume(handoff_id), other
