"""The REST channel, closed by default outside a local run and strict about input.

Replaces Rasa's built-in `rest` channel under the same name (so the webhook stays
`POST /webhooks/rest/webhook` with `{"sender": "...", "message": "..."}` and the
answer is the same JSON list of bot messages), configured in `credentials.yml` as
`bot.channels.rest.ClinicRestInput`. What it changes:

- **Who may write**: with `REST_CHANNEL_TOKEN` set, every request needs
  `Authorization: Bearer <token>` (compared in constant time), else 401. Without
  it the channel is open in a local run (`APP_ENV=local`, for `curl` and the
  tests) and **off** anywhere else (403). Outside a local run the token must be
  at least 24 characters, or the Rasa server refuses to start.
- **Whose conversation**: `sender` must be a REST id (`bot.ids`): 1-64
  letters, digits, `_` or `-`, and never the shape of a widget session or an SMS
  conversation (an E.164 number or `sms-…`). So a REST client can neither read
  another channel's patient's conversation (their intake read-back) nor become
  that conversation's "latest channel" and swallow staff replies. Rasa's
  `input_channel` and `metadata` body fields are ignored (the first let a client
  pose as SMS), and so is `?stream=true`.
- **Malformed bodies** (empty, not JSON, `null`, `[]`, a non-object, a missing or
  non-string `sender` or `message`) get 400 with `{"error": "..."}` saying what
  is wrong, instead of Rasa's 500.
- **Size and rate**: a message over `MAX_MESSAGE_CHARS` (4,000) characters gets
  413, a body over `MAX_BODY_BYTES` too; a sender over `CHAT_RATE_LIMIT` gets 429
  with `Retry-After` (`bot.channels.limits`). Nothing refused reaches Rasa, so
  nothing of it is stored.

Log lines carry neither the sender id nor the message text.
"""

from __future__ import annotations

import hmac
import json
import logging
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import ids
from bot.channels.limits import MAX_MESSAGE_CHARS, RateLimiter, too_fast_text
from bot.settings import widget as widget_settings
from bot.settings.widget import RestSettings

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # 4,000 characters, even as \u-escaped emoji, fit

BAD_BODY = (
    'The body must be a JSON object: {"sender": "<your id>", "message": "<text>"}'
)
BAD_SENDER = (
    "sender must be 1-64 letters, digits, '_' or '-' (starting with a letter or "
    "digit), and not a phone number, an 'sms-' id or a 32-character hex id: "
    "those belong to other channels"
)


def _error(status: int, text: str, **headers: str) -> HTTPResponse:
    return response.json({"error": text}, status=status, headers=headers or None)


class ClinicRestInput(RestInput):
    """Rasa's REST channel with a token, id shapes, body checks and limits."""

    @classmethod
    def from_credentials(
        cls, credentials: Optional[Dict[Text, Any]]
    ) -> ClinicRestInput:
        """Builds the channel from the environment (credentials.yml has no keys)."""
        return cls(widget_settings.rest(), RateLimiter.from_settings())

    def __init__(
        self,
        settings: Optional[RestSettings] = None,
        limiter: Optional[RateLimiter] = None,
    ) -> None:
        self.settings = settings or widget_settings.rest()
        self.limiter = limiter or RateLimiter.from_settings()
        if not self.settings.enabled:
            logger.info(
                "REST channel off (APP_ENV is not local and REST_CHANNEL_TOKEN "
                "is unset): the webhook answers 403"
            )

    def _authorised(self, request: Request) -> bool:
        if not self.settings.token:
            return True
        scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.settings.token.encode()
        )

    def _refusal(self, request: Request) -> Optional[HTTPResponse]:
        """Who may write at all: off, or a missing/wrong token."""
        if not self.settings.enabled:
            return _error(403, "The REST channel is switched off on this server.")
        if not self._authorised(request):
            return _error(
                401,
                "Missing or wrong token: send 'Authorization: Bearer <token>'.",
                **{"WWW-Authenticate": 'Bearer realm="rest"'},
            )
        return None

    @staticmethod
    def read_body(body: Optional[bytes]) -> tuple[Optional[HTTPResponse], str, str]:
        """(refusal or None, sender, message) of a request body."""
        if len(body or b"") > MAX_BODY_BYTES:
            return (
                _error(413, f"Request too large: at most {MAX_BODY_BYTES} bytes."),
                "",
                "",
            )
        try:
            data = json.loads((body or b"").decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _error(400, BAD_BODY), "", ""
        if not isinstance(data, dict):
            return _error(400, BAD_BODY), "", ""
        sender, message = data.get("sender"), data.get("message")
        if not isinstance(sender, str):
            return _error(400, "sender is required and must be a string."), "", ""
        if not ids.is_rest_id(sender):
            return _error(400, BAD_SENDER), "", ""
        if not isinstance(message, str):
            return _error(400, "message is required and must be a string."), "", ""
        if len(message) > MAX_MESSAGE_CHARS:
            return (
                _error(
                    413,
                    f"message is too long: at most {MAX_MESSAGE_CHARS} characters.",
                ),
                "",
                "",
            )
        return None, sender, message

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[None]]
    ) -> Blueprint:
        """GET / (health) and POST /webhook."""
        webhook = Blueprint("clinic_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "enabled": self.settings.enabled})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            refusal = self._refusal(request)
            if refusal is None:
                refusal, sender, text = self.read_body(request.body)
            if refusal is not None:
                return refusal
            wait = self.limiter.retry_after(f"rest:{sender}")
            if wait is not None:
                logger.warning("REST message refused: sender over the rate limit")
                return _error(429, too_fast_text(wait), **{"Retry-After": str(wait)})
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(text, collector, sender, input_channel=self.name())
                )
            except CancelledError:
                logger.error("REST message handling timed out")
            except Exception as error:  # noqa: BLE001 - answer with what was said
                logger.error("REST message not handled: %s", type(error).__name__)
            return response.json(collector.messages)

        return webhook
