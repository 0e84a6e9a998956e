"""Twilio's signed webhook in: checks, rate limit, options, then Rasa.

For each POST from Twilio (`TwilioSmsInput`):

1. the `X-Twilio-Signature` must match `TWILIO_AUTH_TOKEN` and the public webhook
   URL `TWILIO_WEBHOOK_URL` exactly (403 otherwise; outside `APP_ENV=local` the
   check cannot be switched off);
2. malformed form data or a missing or invalid `From` gets 400 (a form over
   `MAX_FORM_BYTES` 413); the body is cleaned of control characters, capped at
   `MAX_INBOUND_CHARS`, and a carrier's "¡" for "@" is undone inside email
   addresses; an empty body (a picture) gets a polite "text only" reply;
3. STOP, START and HELP are answered by `keywords` and reach no one else;
4. a number over `CHAT_RATE_LIMIT` (`bot.channels.limits`) is told once per
   window to slow down; its messages reach no one and are stored nowhere;
5. "1", "2" or an option's words become that option's payload (the options of the
   last message sent to the number, kept in `sms_messages`), then Rasa handles
   the message with the number's SMS conversation id as the sender id:
   `sms-` and an HMAC of the number (`bot.ids.sms_conversation_id`), a
   shape no other channel accepts, so no REST or widget client can write into
   (or read back) an SMS patient's conversation.

At server start the sender resumes the sends other (or killed) processes left
pending (`SmsSender.resume`). At server stop, this process's sends get
`SHUTDOWN_DRAIN_SECONDS` to finish (unsent ones stay pending in the table, for
the next process to deliver once this one's lease expires).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Awaitable, Callable, Dict, Optional
from urllib.parse import parse_qs

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse

from bot import ids
from bot.channels.limits import RateLimiter, too_fast_text
from bot.channels.sms.format import pick_option, split_for_sms
from bot.channels.sms.keywords import handle_keyword
from bot.channels.sms.logs import mask_rasa_logs
from bot.channels.sms.output import CHANNEL_NAME, TwilioSmsOutput
from bot.channels.sms.sender import SmsSender
from bot.phi import is_e164, mask_phone
from bot.settings import sms as sms_settings
from bot.settings.sms import SmsSettings
from bot.texts import text as catalog_text

logger = logging.getLogger(__name__)
PACKAGE_LOGGER = "bot.channels.sms"

MAX_INBOUND_CHARS = 1600  # Twilio's own limit for one (concatenated) message
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200
SHUTDOWN_DRAIN_SECONDS = 10  # at server stop, wait this long for queued sends
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_AT_IN_EMAIL = re.compile(r"(?<=[\w.+-])¡(?=[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,})")


def _form(request: Request) -> Optional[RequestParameters]:
    """The urlencoded form, blank values kept (Twilio signs them); None if broken."""
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    try:
        return RequestParameters(
            parse_qs(
                request.body.decode("utf-8"),
                keep_blank_values=True,
                max_num_fields=MAX_FORM_FIELDS,
            )
        )
    except ValueError:  # bad UTF-8 (UnicodeDecodeError), too many fields
        return None


def clean_body(body: Optional[str]) -> str:
    """The message text without control characters, at most MAX_INBOUND_CHARS.

    Some carriers deliver "@" as "¡" (the two swap places in the GSM-7 alphabet),
    so a "¡" inside an email address ("ana¡example.com") becomes "@" again; a "¡"
    anywhere else ("¡Hola!") stays as it is.
    """
    text = _CONTROL.sub("", (body or "").replace("\r\n", "\n").replace("\r", "\n"))
    text = _AT_IN_EMAIL.sub("@", text)
    return text.strip()[:MAX_INBOUND_CHARS]


class _Refused(Exception):
    """The webhook refuses the request with this status and reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _sender(form: RequestParameters) -> str:
    """The patient's E.164 number (`From`); raises `_Refused` (400) otherwise."""
    phone = (form.get("From") or "").strip()
    if not is_e164(phone):
        logger.warning("SMS webhook refused: missing or invalid From")
        raise _Refused(400, "Missing or invalid From")
    return phone


def _twiml() -> HTTPResponse:
    return response.text(EMPTY_TWIML, content_type="text/xml")


class TwilioSmsInput(InputChannel):
    """Receives SMS from Twilio's signed webhook (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        """The channel's name: Rasa serves it at /webhooks/twilio/webhook."""
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> TwilioSmsInput:
        """Builds the channel from the environment (credentials.yml has no keys)."""
        return cls(sms_settings.load())

    def __init__(
        self, settings: SmsSettings, database_url: Optional[str] = None
    ) -> None:
        self.settings = settings
        self.sender = SmsSender(settings, database_url)
        self.limiter = RateLimiter.from_settings()
        # One "slow down" SMS per number and window, not one per message.
        self.warned = RateLimiter.shared(1, self.limiter.window)
        self._id_secret: Optional[bytes] = None
        if settings.configured:
            self._id_secret = settings.id_key()
        mask_rasa_logs()
        # Loading the model lowers the root logger to WARNING; keep this channel's
        # audit lines (opt-outs, withheld replies) at Rasa's own level.
        logging.getLogger(PACKAGE_LOGGER).setLevel(settings.log_level)
        if settings.configured:
            logger.info("SMS channel ready (sending through %s)", settings.api_base_url)
        else:
            logger.info(
                "SMS channel not configured (missing %s): the webhook answers 503",
                ", ".join(settings.missing),
            )

    def get_output_channel(self) -> OutputChannel:
        """The channel that sends replies, shared with staff replies."""
        return TwilioSmsOutput(self.sender)

    def conversation_id(self, phone: str) -> str:
        """The SMS conversation id of a number (and remember the number)."""
        if self._id_secret is None:
            self._id_secret = self.settings.id_key()
        conversation_id = ids.sms_conversation_id(phone, self._id_secret)
        self.sender.remember(conversation_id, phone)
        return conversation_id

    def _signed(self, request: Request, form: RequestParameters) -> bool:
        if not self.settings.validate_signature:
            return True
        from twilio.request_validator import RequestValidator

        signature = request.headers.get("X-Twilio-Signature", "")
        validator = RequestValidator(self.settings.auth_token)
        return bool(signature) and validator.validate(
            self.settings.webhook_url, form, signature
        )

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        """The webhook routes: GET / (health) and POST /webhook."""
        webhook = Blueprint("clinic_twilio_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json(
                {"status": "ok", "configured": self.settings.configured}
            )

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request, on_new_message)

        @webhook.listener("after_server_start")
        async def resume(*_: Any) -> None:
            await self.sender.resume()

        @webhook.listener("after_server_stop")
        async def close(*_: Any) -> None:
            try:
                await asyncio.wait_for(self.sender.drain(), SHUTDOWN_DRAIN_SECONDS)
            except asyncio.TimeoutError:
                logger.warning("SMS channel stopped with sends pending (still queued)")
            await self.sender.close()

        return webhook

    async def _receive(
        self,
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> HTTPResponse:
        if not self.settings.configured:
            return response.text("SMS channel not configured", status=503)
        try:
            form = self._genuine_form(request)
            phone = _sender(form)
            conversation_id = self.conversation_id(phone)
            text = clean_body(form.get("Body"))
            if not text:
                not_text = catalog_text("sms.not_text")
                self.sender.send(phone, [not_text], conversation_id=conversation_id)
            elif not await self._keyword_handled(phone, text, form):
                if self._too_fast(phone, conversation_id):
                    return _twiml()
                await self._to_rasa(phone, text, form, on_new_message)
        except _Refused as refused:
            return response.text(refused.reason, status=refused.status)
        return _twiml()

    def _too_fast(self, phone: str, conversation_id: str) -> bool:
        """True (and the number told, once per window) over `CHAT_RATE_LIMIT`."""
        wait = self.limiter.retry_after(f"sms:{phone}")
        if wait is None:
            return False
        logger.warning("SMS from %s refused: over the rate limit", mask_phone(phone))
        if self.warned.retry_after(phone) is None:
            self.sender.send(
                phone,
                split_for_sms(too_fast_text(wait)),
                conversation_id=conversation_id,
            )
        return True

    def _genuine_form(self, request: Request) -> RequestParameters:
        """The form of a request Twilio signed; raises `_Refused` otherwise."""
        if len(request.body or b"") > MAX_FORM_BYTES:
            raise _Refused(413, "Request too large")
        if self.settings.validate_signature and not request.headers.get(
            "X-Twilio-Signature"
        ):
            logger.warning("SMS webhook refused: no Twilio signature")
            raise _Refused(403, "Forbidden")
        form = _form(request)
        if form is None:
            raise _Refused(400, "Malformed form data")
        if not self._signed(request, form):
            logger.warning("SMS webhook refused: invalid Twilio signature")
            raise _Refused(403, "Forbidden")
        return form

    async def _keyword_handled(
        self, phone: str, text: str, form: RequestParameters
    ) -> bool:
        """Handles STOP, START and HELP (`keywords`); 503 on failure."""
        try:
            opt_out_type = (form.get("OptOutType") or "").strip().upper()
            return await handle_keyword(
                self.sender, phone, text, self.conversation_id(phone), opt_out_type
            )
        except Exception as error:  # noqa: BLE001 - e.g. the database is down
            # An opt-out that cannot be recorded must not pass silently: Twilio
            # shows the 503 in its console (it does not retry).
            logger.error(
                "SMS keyword from %s not recorded: %s",
                mask_phone(phone),
                type(error).__name__,
            )
            raise _Refused(503, "Temporarily unavailable") from None

    async def _to_rasa(
        self,
        phone: str,
        text: str,
        form: RequestParameters,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        """Hands the message (or the option it picks) to Rasa as the patient's."""
        text = await self._picked_option(phone, text)
        conversation_id = self.conversation_id(phone)
        try:
            await on_new_message(
                UserMessage(
                    text,
                    self.get_output_channel(),
                    conversation_id,
                    input_channel=CHANNEL_NAME,
                    message_id=form.get("MessageSid") or None,
                )
            )
        except Exception as error:  # noqa: BLE001 - the patient hears back anyway
            logger.error(
                "SMS from %s not handled: %s", mask_phone(phone), type(error).__name__
            )
            self.sender.send(
                phone, [catalog_text("sms.error")], conversation_id=conversation_id
            )

    async def _picked_option(self, phone: str, text: str) -> str:
        """The payload of the option `text` picks, or `text` itself."""
        try:
            buttons = await self.sender.last_offered_buttons(phone)
        except Exception as error:  # noqa: BLE001 - answer without the options
            logger.warning("SMS options unavailable: %s", type(error).__name__)
            return text
        return pick_option(text, buttons) or text
