"""The staff side of a takeover: replies to a handed-off conversation, and its return.

The staff console calls this service; it builds only the screens. Everything goes
through Rasa's HTTP API (`bot.handoff.rasa_api`) and the `handoffs` table
(`bot.db.repository`)::

    service = HandoffService()          # Rasa and database from bot.settings
    service.reply(handoff.id, "Hi, this is Dana from the clinic.", "Dana")
    service.resume(handoff.id)          # the bot answers again; the row is closed

These are the transitions that keep the `handoffs` row in step with the hold
(Rasa's pause, the truth: see the package docstring): `reply()` claims the row,
then appends a `pause` before the message (a no-op when the bot already paused
itself), so an out-of-hours handoff answered the next morning does not have the
bot talking over staff; `resume()` appends `resume` and an `action_listen` (the
bot is listening again), then closes the row.

Errors, all with messages safe to log (no conversation id, message text or token):

- `ValueError`: the reply text is empty, too long or not valid text, the staff
  name is not valid, or the conversation id is not one a channel produces
  (`conversation_path`); nothing is sent and nothing is claimed.
- `LookupError`: no handoff with this id.
- `HandoffStateError` (from `bot.db.repository`): the handoff is closed, or
  another staff member has claimed it.
- `PermissionError`: Rasa refused the API token (HTTP 401 or 403).
- `RasaUnavailable`: Rasa cannot be reached, did not answer in time, or answered
  with a server error (5xx). After a time-out Rasa may still have applied the
  change: check the conversation before sending the same reply again.
- `RasaError`: any other refusal by Rasa (e.g. HTTP 400), a bug rather than an
  outage.

The calls are synchronous and never retried automatically: a retried reply could
reach the patient twice.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple, Union

from sqlalchemy.engine import Engine

from bot.db.engine import get_engine, session_scope
from bot.db.models import Handoff, TextRule, check_text
from bot.db.repository import HandoffStateError, claim_handoff, close_handoff
from bot.handoff import hold
from bot.handoff.rasa_api import (
    DEFAULT_TIMEOUT,
    RasaEvents,
    conversation_path,
    reply_channel,
)

logger = logging.getLogger(__name__)

# One SMS message body at most (Twilio's limit; longer texts are refused there).
MAX_REPLY_LENGTH = 1600

_REPLY_RULE = TextRule(MAX_REPLY_LENGTH)


def check_reply_text(text: Any) -> str:
    """The staff reply as it will be sent: stripped, and checked.

    Args:
        text: what the staff member typed.

    Returns:
        The text without leading and trailing whitespace.

    Raises:
        ValueError: the text is not a string, is empty or only whitespace, is
            longer than `MAX_REPLY_LENGTH` characters (after stripping), contains
            a NUL character or is not valid Unicode. The message does not quote
            the text.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, not {type(text).__name__}")
    stripped = text.strip()
    check_text("text", stripped, _REPLY_RULE)
    return stripped


class HandoffService:
    """What the staff console does with a conversation handed to a person.

    Thread-safe: it keeps no state between calls besides its configuration, so one
    instance can serve a multi-threaded console.
    """

    def __init__(
        self,
        rasa_url: Optional[str] = None,
        api_token: Optional[str] = None,
        engine: Optional[Engine] = None,
        timeout: Union[float, Tuple[float, float]] = DEFAULT_TIMEOUT,
    ) -> None:
        """Configures the service; nothing is contacted yet.

        Args:
            rasa_url: base URL of the Rasa server; default
                `http://127.0.0.1:<RASA_PORT>` from `bot.settings`.
            api_token: the token of Rasa's HTTP API; default `RASA_API_TOKEN`
                from `bot.settings` (or the local `var/rasa_api_token`).
            engine: SQLAlchemy engine of the `handoffs` table; default
                `bot.db.engine.get_engine()` (`DATABASE_URL`).
            timeout: seconds for each request to Rasa, or (connect, read).
        """
        if rasa_url is None or api_token is None:
            from bot.settings import get_settings

            settings = get_settings()
            if rasa_url is None:
                rasa_url = f"http://127.0.0.1:{settings.rasa_port}"
            if api_token is None:
                api_token = settings.rasa_api_token
        self.rasa_url = rasa_url.rstrip("/")
        self._api_token = api_token
        self.engine = engine if engine is not None else get_engine()
        self.timeout = timeout
        self._rasa = RasaEvents(self.rasa_url, api_token, timeout)

    def __repr__(self) -> str:
        return f"HandoffService(rasa_url={self.rasa_url!r})"  # never the token

    def reply(
        self,
        handoff_id: int,
        text: str,
        staff_name: str,
        display_name: Optional[str] = None,
    ) -> Handoff:
        """Sends a staff member's message to the patient of a handoff.

        The handoff is claimed for `staff_name` first (if it is open) and the
        claim is committed before Rasa is called: of two staff members replying
        at once, only one gets through, and the claim stays if Rasa is down (the
        same person can simply try again). Then the conversation is paused (a
        no-op if it already is) and a `bot` event with the text and the metadata
        `{"staff_reply": true, "staff_name": staff_name}` is appended and sent on
        the conversation's own channel (`reply_channel`). Once Rasa took the
        first reply, the handoff's `first_reply_at` is set (never changed after).

        Args:
            handoff_id: `Handoff.id`.
            text: the message; at most `MAX_REPLY_LENGTH` characters, sent
                without leading and trailing whitespace.
            staff_name: who answers, as the patient may see it (at most 200
                characters).
            display_name: what the patient sees instead of `staff_name`, when
                `staff_name` is an account's identity (the console claims with
                the sign-in email and shows the staff member's display name).

        Returns:
            The handoff, claimed (read-only copy; it is not attached to a session).

        Raises:
            ValueError: bad text or staff name, a conversation id no channel
                produces (`conversation_path`), or no channel to answer on
                (`reply_channel`); nothing is claimed or sent.
            LookupError: no such handoff.
            HandoffStateError: the handoff is closed or someone else claimed it.
            PermissionError: Rasa refused the API token.
            RasaUnavailable: Rasa is down, timed out or failed.
            RasaError: Rasa refused the request otherwise.
        """
        text = check_reply_text(text)
        with session_scope(self.engine) as session:  # any error: nothing claimed
            handoff = session.get(Handoff, handoff_id)
            if handoff is not None:
                conversation_path(handoff.conversation_id)
                reply_channel(handoff.conversation_id, handoff.channel)
            # Validates staff_name first; LookupError, HandoffStateError (closed,
            # or claimed by someone else).
            handoff = claim_handoff(session, handoff_id, claimed_by=staff_name)
        event = hold.staff_reply(
            text, (display_name or "").strip()[:200] or handoff.claimed_by
        )
        self._send(
            handoff.conversation_id,
            [*hold.pause(), event],
            deliver=reply_channel(handoff.conversation_id, handoff.channel),
            what=f"reply to handoff {handoff.id}",
        )
        logger.info("Staff reply sent for handoff %s", handoff.id)
        self._first_reply(handoff.id)
        return handoff

    def _first_reply(self, handoff_id: int) -> None:
        """Sets `first_reply_at` once (the queue's time to first reply)."""
        from sqlalchemy.exc import SQLAlchemyError

        from bot.db.queries.handoffs import mark_first_reply

        try:
            with self.engine.begin() as connection:
                mark_first_reply(connection, handoff_id)
        except SQLAlchemyError as error:  # the reply is sent: only the time is lost
            logger.warning(
                "First reply time of handoff %s not stored (%s)",
                handoff_id,
                type(error).__name__,
            )

    def send_notice(self, handoff: Any, events: List[Dict[str, Any]]) -> None:
        """Sends the clinic's own message (no staff member's) to a handoff's patient.

        Args:
            handoff: anything with the handoff's `id`, `conversation_id` and
                `channel`.
            events: Rasa events; their `bot` events go out on the conversation's
                own channel (`reply_channel`), as staff replies do.

        Raises:
            ValueError, PermissionError, RasaUnavailable, RasaError: as `reply`.
        """
        self._send(
            handoff.conversation_id,
            events,
            deliver=reply_channel(handoff.conversation_id, handoff.channel),
            what=f"notice to handoff {handoff.id}",
        )

    def resume(self, handoff_id: int) -> Handoff:
        """Gives the conversation back to the bot and closes the handoff.

        Rasa is told first, then the row is closed: if Rasa is down, the handoff
        stays open or claimed in the staff's list (never a closed handoff with a
        patient the bot still ignores), and calling again is harmless.

        Args:
            handoff_id: `Handoff.id`, open or claimed.

        Returns:
            The closed handoff (read-only copy).

        Raises:
            LookupError: no such handoff.
            HandoffStateError: the handoff is already closed (resuming it could
                un-pause a conversation a newer handoff holds).
            ValueError: the conversation id is not one a channel produces
                (`conversation_path`).
            PermissionError: Rasa refused the API token.
            RasaUnavailable: Rasa is down, timed out or failed; nothing is closed.
            RasaError: Rasa refused the request otherwise; nothing is closed.
        """
        with session_scope(self.engine) as session:
            handoff = session.get(Handoff, handoff_id)
            if handoff is None:
                raise LookupError(f"no handoff with id {handoff_id}")
            if handoff.status == "closed":
                raise HandoffStateError(f"handoff {handoff_id} is closed")
            conversation_id = handoff.conversation_id
        conversation_path(conversation_id)
        self._send(
            conversation_id,
            hold.resume(),  # un-paused, and listening again
            deliver=None,
            what=f"resume of handoff {handoff_id}",
        )
        with session_scope(self.engine) as session:
            handoff = close_handoff(session, handoff_id)
        logger.info("Handoff %s resumed and closed", handoff_id)
        return handoff

    def pause(self, conversation_id: str) -> None:
        """Silences the bot in a conversation until `resume()`.

        The actions pause a conversation themselves when they hand it over; this
        is for the console (a staff member taking over on their own) and tests.
        A pause without an open or claimed handoff is not a hold
        (`bot.handoff.hold.held_by_staff`): the next session ends it.

        Args:
            conversation_id: Rasa's sender id.

        Raises:
            ValueError: empty conversation id, or one no channel produces
                (`conversation_path`).
            PermissionError: Rasa refused the API token.
            RasaUnavailable: Rasa is down, timed out or failed.
            RasaError: Rasa refused the request otherwise.
        """
        self._send(conversation_id, hold.pause(), deliver=None, what="pause")

    def _send(
        self,
        conversation_id: str,
        events: List[Dict[str, Any]],
        *,
        deliver: Optional[str],
        what: str,
    ) -> None:
        """Appends `events` to the conversation in Rasa (`RasaEvents.append`)."""
        self._rasa.append(conversation_id, events, deliver=deliver, what=what)
