"""Rasa's HTTP API as the staff side uses it: events appended to a conversation.

Everything goes through `POST /conversations/<id>/tracker/events`, with the token
in the `token` query parameter (the same `--auth-token` `bot.serve` starts Rasa
with). How a staff reply reaches the patient: the `bot` event is appended with
`?output_channel=<channel>&execute_side_effects=true`. Rasa (3.6, `rasa/server.py`,
`append_events`) then sends the message through that channel's output (Twilio: an
SMS; callback and socket.io: pushed to the client). The channel is the
handoff's own, never "whichever channel wrote last": the shape of the
conversation id decides for SMS and widget conversations (`bot.ids`),
the handoff row's `channel` for the others (`reply_channel`). So a message
injected from another channel can never make a staff reply vanish. Rasa executes
these side effects only when `execute_side_effects` is true. The REST channel has
no output channel of its own (Rasa answers only within the patient's own
request), so over REST the reply is stored in the conversation but reaches the
patient only through a client that reads the tracker.

Holds: `RasaError`, `RasaUnavailable`, `DEFAULT_TIMEOUT`, `conversation_path`,
`reply_channel` and `RasaEvents` (the client). Calls are synchronous (`requests`,
with time-outs) and never retried automatically: a retried reply could reach the
patient twice. Neither the URL (conversation id, token) nor the exception from
`requests` (which quotes the URL) goes into an error or a log line.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Optional, Tuple, Union

import requests

from bot import ids

logger = logging.getLogger(__name__)

# (connect, read) seconds. The read time-out covers Rasa sending the message on
# (e.g. to Twilio) before it answers.
DEFAULT_TIMEOUT: Tuple[float, float] = (3.05, 20.0)

_CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class RasaError(RuntimeError):
    """Rasa refused a request of this service (the message says how, not what)."""


class RasaUnavailable(RasaError):
    """Rasa cannot be reached, timed out or failed (5xx); try again later."""


def conversation_path(conversation_id: str) -> str:
    """The HTTP API path of a conversation, `/conversations/<conversation_id>`.

    Only the id shapes the channels produce are accepted (`bot.ids`:
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


class RasaEvents:
    """Appends events to conversations through Rasa's HTTP API."""

    def __init__(
        self,
        rasa_url: str,
        api_token: str,
        timeout: Union[float, Tuple[float, float]] = DEFAULT_TIMEOUT,
    ) -> None:
        """Configures the client; nothing is contacted yet.

        Args:
            rasa_url: base URL of the Rasa server.
            api_token: the token of Rasa's HTTP API.
            timeout: seconds for each request, or (connect, read).
        """
        self.rasa_url = rasa_url.rstrip("/")
        self._api_token = api_token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"RasaEvents(rasa_url={self.rasa_url!r})"  # never the token

    def append(
        self,
        conversation_id: str,
        events: List[Dict[str, Any]],
        *,
        deliver: Optional[str],
        what: str,
    ) -> None:
        """Appends `events` to the conversation's tracker in Rasa.

        Args:
            conversation_id: Rasa's sender id (checked by `conversation_path`).
            events: the events, as Rasa's JSON.
            deliver: the channel Rasa sends `bot` events on (None: not sent).
            what: what is being sent, for errors and the log ("pause", ...).

        Raises:
            ValueError: a conversation id no channel produces.
            PermissionError: Rasa refused the API token.
            RasaUnavailable: Rasa is down, timed out or failed.
            RasaError: Rasa refused the request otherwise.
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
            refused = _error_for_status(response.status_code, what)
            response.close()
            if refused is None:
                return
            error = refused
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
