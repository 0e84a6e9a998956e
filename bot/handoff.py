"""Staff replies to a handed-off conversation, and its return to the bot.

The staff console calls this service; it builds only the screens. Everything goes
through Rasa's HTTP API (the `/conversations/<id>/tracker/events` endpoint, token
in the `token` query parameter, the same `--auth-token` `bot.serve` starts Rasa
with) and the `handoffs` table (`bot.db.repository`)::

    service = HandoffService()          # Rasa and database from bot.settings
    service.reply(handoff.id, "Hi, this is Dana from the clinic.", "Dana")
    service.resume(handoff.id)          # the bot answers again; the row is closed

How a staff reply reaches the patient: `reply()` appends a `bot` event with
`?output_channel=<channel>&execute_side_effects=true`. Rasa (3.6, `rasa/server.py`,
`append_events`) then sends the message through that channel's output (Twilio: an
SMS; callback and socket.io: pushed to the client). The channel is the
handoff's own, never "whichever channel wrote last": the shape of the
conversation id decides for SMS and widget conversations (`bot.channels.ids`),
the handoff row's `channel` for the others. So a message injected from another
channel can never make a staff reply vanish. Rasa executes these side effects
only when `execute_side_effects` is true. The REST channel has no output channel
of its own (Rasa answers only within the patient's own request), so over REST the
reply is stored in the conversation but reaches the patient only through a
client that reads the tracker.

The bot stays silent while staff hold a conversation: `reply()` appends a `pause`
before the message (a no-op when the bot already paused itself), so an
out-of-hours handoff answered the next morning does not have the bot talking over
staff. `resume()` appends `resume` and an `action_listen` (the bot is listening
again) and closes the handoff. Keeping a conversation
paused across Rasa's session expiry is the job of `action_session_start`.

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

The calls are synchronous (`requests`, with time-outs) and never retried
automatically: a retried reply could reach the patient twice.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Optional, Tuple, Union

import requests
from sqlalchemy.engine import Engine

from bot.channels import ids
from bot.db.engine import get_engine, session_scope
from bot.db.models import Handoff, TextRule, check_text
from bot.db.repository import HandoffStateError, claim_handoff, close_handoff
from bot.vocabulary import ACTION_LISTEN

__all__ = [
    "MAX_REPLY_LENGTH",
    "HandoffService",
    "HandoffStateError",
    "RasaError",
    "RasaUnavailable",
    "check_reply_text",
    "conversation_path",
    "reply_channel",
]

logger = logging.getLogger(__name__)

# One SMS message body at most (Twilio's limit; longer texts are refused there).
MAX_REPLY_LENGTH = 1600
# (connect, read) seconds. The read time-out covers Rasa sending the message on
# (e.g. to Twilio) before it answers.
DEFAULT_TIMEOUT: Tuple[float, float] = (3.05, 20.0)

_REPLY_RULE = TextRule(MAX_REPLY_LENGTH)
_CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class RasaError(RuntimeError):
    """Rasa refused a request of this service (the message says how, not what)."""


class RasaUnavailable(RasaError):
    """Rasa cannot be reached, timed out or failed (5xx); try again later."""


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


def conversation_path(conversation_id: str) -> str:
    """The HTTP API path of a conversation, `/conversations/<conversation_id>`.

    Only the id shapes the channels produce are accepted (`bot.channels.ids`:
    widget session ids, `sms-…` ids and the E.164 numbers of older SMS
    conversations, REST ids of letters, digits, `_` and `-`). None of them has a
    "/", ".", "%" or space, so an id can never step into another conversation's
    path: `x/../+15551234567` would otherwise become `/conversations/+1555…`
    on its way (HTTP clients remove dot segments), and Rasa does not decode
    %-escapes there either.

    Args:
        conversation_id: Rasa's sender id.

    Returns:
        The path, without the server's base URL.

    Raises:
        ValueError: the id is empty or not a shape a channel produces (the
            message does not show it: it can be a phone number).
    """
    if not isinstance(conversation_id, str) or not conversation_id:
        raise ValueError("conversation_id is required")
    if not ids.is_conversation_id(conversation_id):
        raise ValueError(
            "conversation_id is not one the channels produce (widget session, "
            "SMS id, or letters, digits, '_' and '-')"
        )
    return f"/conversations/{conversation_id}"


def reply_channel(conversation_id: str, handoff_channel: Optional[str]) -> str:
    """The channel a staff reply goes out on: the conversation's own.

    SMS and widget conversations are recognised by their id's shape (an SMS id
    can only ever be answered by SMS, whatever wrote into it last); any other
    conversation by the channel its handoff was opened on.

    Raises:
        ValueError: neither tells a channel.
    """
    channel = ids.channel_of(conversation_id)
    if channel in (ids.SMS, ids.WIDGET):
        return channel
    if handoff_channel and _CHANNEL_NAME.fullmatch(handoff_channel):
        return handoff_channel
    raise ValueError("the handoff has no channel to answer on")


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
        the conversation's own channel (`reply_channel`).

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
        event = {
            "event": "bot",
            "text": text,
            "metadata": {
                "staff_reply": True,
                "staff_name": (display_name or "").strip()[:200] or handoff.claimed_by,
            },
        }
        self._send(
            handoff.conversation_id,
            [{"event": "pause"}, event],
            deliver=reply_channel(handoff.conversation_id, handoff.channel),
            what=f"reply to handoff {handoff.id}",
        )
        logger.info("Staff reply sent for handoff %s", handoff.id)
        return handoff

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
            # A conversation paused by the handoff action ends on that action, not
            # on action_listen; without one, the patient's next message is read as
            # the middle of a turn and the rules fall back ("Sorry, I didn't quite
            # get that"). The bot is listening again: say so in the tracker.
            [{"event": "resume"}, {"event": "action", "name": ACTION_LISTEN}],
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

        Args:
            conversation_id: Rasa's sender id.

        Raises:
            ValueError: empty conversation id, or one no channel produces
                (`conversation_path`).
            PermissionError: Rasa refused the API token.
            RasaUnavailable: Rasa is down, timed out or failed.
            RasaError: Rasa refused the request otherwise.
        """
        self._send(conversation_id, [{"event": "pause"}], deliver=None, what="pause")

    def _send(
        self,
        conversation_id: str,
        events: List[Dict[str, Any]],
        *,
        deliver: Optional[str],
        what: str,
    ) -> None:
        """Appends `events` to the conversation's tracker in Rasa.

        `deliver` names the channel Rasa sends `bot` events on (None: not sent).
        Neither the URL (conversation id, token) nor the exception from
        `requests` (which quotes the URL) goes into an error or a log line.
        """
        url = f"{self.rasa_url}{conversation_path(conversation_id)}/tracker/events"
        params = {"token": self._api_token, "include_events": "NONE"}
        if deliver:
            params["output_channel"] = deliver
            params["execute_side_effects"] = "true"
        try:
            response = requests.post(
                url, params=params, json=events, timeout=self.timeout
            )
        except requests.ConnectTimeout:
            error: Exception = RasaUnavailable(
                f"cannot connect to Rasa at {self.rasa_url} (time-out); {what} not sent"
            )
        except requests.Timeout:
            error = RasaUnavailable(
                f"Rasa did not answer in time; the {what} may have been applied: "
                "check the conversation before trying again"
            )
        except requests.ConnectionError:
            error = RasaUnavailable(
                f"cannot connect to Rasa at {self.rasa_url}; {what} not sent"
            )
        except requests.RequestException as exc:
            error = RasaUnavailable(
                f"request to Rasa failed ({type(exc).__name__}); {what} not sent"
            )
        else:
            error = _error_for_status(response.status_code, what)
            response.close()
            if error is None:
                return
        logger.warning("%s failed: %s", what.capitalize(), error)
        raise error  # not chained: the cause quotes the URL with the token


def _error_for_status(status: int, what: str) -> Optional[Exception]:
    if 200 <= status < 300:
        return None
    if status in (401, 403):
        return PermissionError(
            f"Rasa refused the API token (HTTP {status}); check RASA_API_TOKEN. "
            f"The {what} was not sent"
        )
    if status >= 500:
        return RasaUnavailable(f"Rasa failed (HTTP {status}) on the {what}")
    return RasaError(f"Rasa refused the {what} (HTTP {status})")
