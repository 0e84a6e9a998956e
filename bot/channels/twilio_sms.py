"""The SMS channel: Twilio webhooks in, Twilio REST API out, safe for patients.

Replaces Rasa's own `twilio` channel (same name, so the webhook stays
`/webhooks/twilio/webhook` and `tracker.get_latest_input_channel() == "twilio"`).
Configured from the environment only (`SmsSettings.from_env`), so `credentials.yml`
carries no `${VAR}` that would stop Rasa from starting when SMS is not set up;
without the settings the webhook answers 503 "SMS channel not configured".

Inbound (`TwilioSmsInput`), for each POST from Twilio:

1. the `X-Twilio-Signature` must match `TWILIO_AUTH_TOKEN` and the public webhook
   URL `TWILIO_WEBHOOK_URL` exactly (403 otherwise; outside `APP_ENV=local` the
   check cannot be switched off);
2. malformed form data or a missing or invalid `From` gets 400 (a form over
   `MAX_FORM_BYTES` 413); the body is cleaned of control characters, capped at
   `MAX_INBOUND_CHARS`, and a carrier's "¡" for "@" is undone inside email
   addresses; an empty body (a picture) gets a polite "text only" reply;
3. STOP and its synonyms record the opt-out (`sms_opt_outs`) and reach no one;
   START (or UNSTOP, or YES while opted out) opts back in; HELP (or INFO) answers
   with the clinic's name and how to opt out. A keyword Twilio itself recognised
   (its `OptOutType` field) counts too. None of these reach Rasa.
4. a number over `CHAT_RATE_LIMIT` (`bot.channels.limits`) is told once per
   window to slow down; its messages reach no one and are stored nowhere;
5. "1", "2" or an option's words become that option's payload (the options of the
   last message sent to the number, kept in `sms_messages`), then Rasa handles
   the message with the number's SMS conversation id as the sender id:
   `sms-` and an HMAC of the number (`bot.channels.ids.sms_conversation_id`), a
   shape no other channel accepts, so no REST or widget client can write into
   (or read back) an SMS patient's conversation.

Outbound (`TwilioSmsOutput`, also used for staff replies through Rasa's HTTP API):
the number of a conversation id comes from the inbound messages this process
has seen, else from the conversation's `sms_messages` records (so staff replies
work after a restart); an id of before the HMAC ids is the number itself. Every
reply is formatted by `bot.channels.sms_format`, then `SmsSender` sends its
bodies in the background, one number's bodies strictly in order, through the
official `twilio` client's asyncio API. Each body is recorded before it is sent;
a number that opted out gets nothing (recorded as `blocked`); network errors, 429
and 5xx are retried with exponential backoff, other refusals are not (e.g. 21610,
"unsubscribed", which also records the opt-out); a body that still fails is
recorded as `failed` with its error code and kept for staff to follow up, and the
later parts of the same reply are not sent (they would arrive out of order).
Order holds within one Rasa process; at server stop, queued sends get
`SHUTDOWN_DRAIN_SECONDS` to finish (unsent ones stay `queued` in the table).

Log lines never contain a full phone number (`mask_phone`), message text, or
Twilio's error message (which can quote the number): only codes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence
from urllib.parse import parse_qs

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse

from bot.channels import ids, sms_format, sms_store
from bot.channels.limits import RateLimiter, too_fast_text
from bot.db.engine import get_engine, session_scope
from bot.phi import is_e164, mask_phone, mask_phones_in
from bot.settings import SettingsError

logger = logging.getLogger(__name__)
# The twilio client logs every request's URL and headers at INFO: keep it quiet.
_twilio_http_logger = logging.getLogger(f"{__name__}.http")
_twilio_http_logger.setLevel(logging.WARNING)

CHANNEL_NAME = "twilio"
CLINIC_NAME = "MS Pain & Migraine"
DEFAULT_API_BASE_URL = "https://api.twilio.com"

# Twilio's default opt-out keywords (Twilio enforces them itself, so ours match).
OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
OPT_IN_WHEN_OPTED_OUT = frozenset({"YES"})  # otherwise an answer for the bot
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
# With Advanced Opt-Out, Twilio tells which of the account's keywords (its own,
# custom or other-language ones) a message matched.
TWILIO_OPT_OUT_TYPES = frozenset({"STOP", "START", "HELP"})

HELP_TEXT = (
    f"{CLINIC_NAME}: answers to questions about ketamine therapy for chronic nerve "
    'pain. Text your question, or "talk to a person" to reach our staff. Reply '
    "STOP to opt out, START to opt back in. Msg & data rates may apply. In an "
    "emergency call 911."
)
START_TEXT = (
    f"{CLINIC_NAME}: you will get our replies again. Text any question about "
    "ketamine therapy. Reply HELP for help, STOP to opt out."
)
NOT_TEXT = "Sorry, I can only read text messages. Please type your question."
ERROR_TEXT = (
    "Sorry, something went wrong on our side. Please try again in a few minutes, "
    "or call the clinic."
)

MAX_INBOUND_CHARS = 1600  # Twilio's own limit for one (concatenated) message
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200
SEND_ATTEMPTS = 4
RETRY_BASE_SECONDS = 0.5  # then 1 s, 2 s (with jitter)
SEND_TIMEOUT_SECONDS = 15
SHUTDOWN_DRAIN_SECONDS = 10  # at server stop, wait this long for queued sends
KNOWN_NUMBERS = 10_000  # conversation id -> number, remembered from inbound SMS
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_KEYWORD = re.compile(r"\s*([^\W\d_]{2,12})[\s.!]*")
_TRUE = ("1", "true", "yes", "on")
_AT_IN_EMAIL = re.compile(r"(?<=[\w.+-])¡(?=[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,})")


class PhoneMaskingFilter(logging.Filter):
    """Masks phone numbers in log records of loggers we do not own.

    Rasa logs the sender id (the patient's number on SMS) in a few warnings, e.g.
    when its circuit breaker trips (`rasa.core.processor`).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrites the record's message with every number masked."""
        message = record.getMessage()
        masked = mask_phones_in(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


_MASKED_LOGGERS = ("rasa.core.processor", "rasa.core.agent", "rasa.server")


def _mask_rasa_logs() -> None:
    for name in _MASKED_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, PhoneMaskingFilter) for f in target.filters):
            target.addFilter(PhoneMaskingFilter())


@dataclass(frozen=True)
class SmsSettings:
    """The SMS channel's configuration (environment variables in brackets)."""

    account_sid: str = ""  # TWILIO_ACCOUNT_SID
    auth_token: str = ""  # TWILIO_AUTH_TOKEN
    sender: str = ""  # TWILIO_NUMBER: E.164 number or messaging service SID (MG...)
    webhook_url: str = ""  # TWILIO_WEBHOOK_URL: exactly as configured at Twilio
    api_base_url: str = DEFAULT_API_BASE_URL  # TWILIO_API_BASE_URL
    validate_signature: bool = True  # TWILIO_VALIDATE_SIGNATURE (local runs only)

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> SmsSettings:
        """Reads the settings; refuses an unsigned webhook outside a local run.

        Raises:
            SettingsError: a value is invalid, or signature checks are switched off
                while `APP_ENV` is not `local`.
        """
        env = os.environ if env is None else env
        validate = env.get("TWILIO_VALIDATE_SIGNATURE", "true").strip().lower()
        settings = cls(
            account_sid=env.get("TWILIO_ACCOUNT_SID", "").strip(),
            auth_token=env.get("TWILIO_AUTH_TOKEN", "").strip(),
            sender=env.get("TWILIO_NUMBER", "").strip(),
            webhook_url=env.get("TWILIO_WEBHOOK_URL", "").strip(),
            api_base_url=(
                env.get("TWILIO_API_BASE_URL", "").strip() or DEFAULT_API_BASE_URL
            ).rstrip("/"),
            validate_signature=validate in _TRUE,
        )
        if not settings.validate_signature and env.get("APP_ENV", "local") != "local":
            raise SettingsError(
                "TWILIO_VALIDATE_SIGNATURE may be off only when APP_ENV=local"
            )
        for name, url in (
            ("TWILIO_WEBHOOK_URL", settings.webhook_url),
            ("TWILIO_API_BASE_URL", settings.api_base_url),
        ):
            if url and not url.startswith(("http://", "https://")):
                raise SettingsError(f"{name} must be an http(s) URL")
        if settings.sender and not (
            is_e164(settings.sender) or settings.sender.startswith("MG")
        ):
            raise SettingsError(
                "TWILIO_NUMBER must be an E.164 number or a messaging service SID"
            )
        return settings

    @property
    def missing(self) -> List[str]:
        """The variables still needed before the channel can work."""
        needed = {
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_NUMBER": self.sender,
        }
        if self.validate_signature:
            needed["TWILIO_WEBHOOK_URL"] = self.webhook_url
        return [name for name, value in needed.items() if not value]

    @property
    def configured(self) -> bool:
        """True when the channel can receive and send."""
        return not self.missing

    def sender_params(self) -> Dict[str, str]:
        """Who the message is from, as `messages.create` wants it."""
        if self.sender.startswith("MG"):
            return {"messaging_service_sid": self.sender}
        return {"from_": self.sender}


class _SendError(Exception):
    """One failed attempt: Twilio's code (or e.g. "network") and whether to retry."""

    def __init__(self, code: str, retryable: bool) -> None:
        super().__init__(code)
        self.code = code
        self.retryable = retryable


def _classify(error: BaseException) -> _SendError:
    from twilio.base.exceptions import TwilioException, TwilioRestException

    if isinstance(error, TwilioRestException):
        status = int(error.status or 0)
        code = str(error.code or f"http_{status}")
        return _SendError(code, status >= 500 or status == 429)
    if isinstance(error, asyncio.TimeoutError):
        return _SendError("timeout", True)
    if isinstance(error, (OSError, TwilioException)) or type(
        error
    ).__module__.startswith("aiohttp"):
        return _SendError("network", True)
    return _SendError(type(error).__name__[:32], False)


class SmsSender:
    """Sends SMS bodies through Twilio and records each one.

    One per Rasa server process (held by the input channel). Each number's bodies
    go out one after another in the order they were handed over, in background
    tasks, so a webhook or staff reply never waits for Twilio.
    """

    def __init__(self, settings: SmsSettings, database_url: Optional[str] = None):
        self.settings = settings
        self.database_url = database_url
        self._client: Any = None
        self._tails: Dict[str, asyncio.Task] = {}
        self._numbers: Dict[str, str] = {}  # conversation id -> number, newest last

    def remember(self, conversation_id: str, phone: str) -> None:
        """Keeps the number of a conversation an inbound SMS came from."""
        self._numbers.pop(conversation_id, None)
        self._numbers[conversation_id] = phone
        while len(self._numbers) > KNOWN_NUMBERS:
            del self._numbers[next(iter(self._numbers))]

    async def phone_for(self, conversation_id: str) -> Optional[str]:
        """The number of an SMS conversation id, or None when none is known.

        A number-shaped id (a conversation of before the HMAC ids) is its own
        number; an `sms-` id's number comes from the inbound messages seen by
        this process, else from the conversation's `sms_messages` records.
        """
        if ids.is_legacy_sms_id(conversation_id):
            return conversation_id
        if not ids.is_sms_id(conversation_id):
            return None
        phone = self._numbers.get(conversation_id)
        if phone is None:
            phone = await self._db(sms_store.phone_for_conversation, conversation_id)
        return phone

    def _engine(self):
        return get_engine(self.database_url)

    async def _db(self, function: Callable, *args: Any) -> Any:
        """Runs `function(session, *args)` in one transaction, off the event loop."""

        def call() -> Any:
            with session_scope(self._engine()) as session:
                return function(session, *args)

        return await asyncio.to_thread(call)

    def client(self) -> Any:
        """The twilio REST client (asyncio), pointed at `api_base_url`."""
        if self._client is None:
            from twilio.http.async_http_client import AsyncTwilioHttpClient
            from twilio.rest import Client

            client = Client(
                self.settings.account_sid,
                self.settings.auth_token,
                http_client=AsyncTwilioHttpClient(logger=_twilio_http_logger),
            )
            # The Api domain builds every URL from `base_url` (twilio.base.domain).
            client.api.base_url = self.settings.api_base_url
            self._client = client
        return self._client

    async def close(self) -> None:
        """Closes the HTTP session (at server stop)."""
        if self._client is not None:
            await self._client.http_client.close()
            self._client = None

    async def is_opted_out(self, phone: str) -> bool:
        """True when the number opted out."""
        return await self._db(sms_store.is_opted_out, phone)

    async def set_opted_out(self, phone: str, opted_out: bool, keyword: str) -> None:
        """Records STOP (True) or START (False) for the number."""
        await self._db(sms_store.set_opted_out, phone, opted_out, keyword)

    async def last_offered_buttons(self, phone: str) -> Optional[List[Dict]]:
        """The options of the last message the number may have seen."""
        return await self._db(sms_store.last_offered_buttons, phone)

    def send(
        self,
        phone: str,
        bodies: Sequence[str],
        buttons: Optional[Sequence[Dict[str, Any]]] = None,
        conversation_id: Optional[str] = None,
    ) -> asyncio.Task:
        """Queues the bodies of one reply for `phone`, after its earlier replies.

        Args:
            phone: the patient's E.164 number.
            bodies: SMS bodies in order (`sms_format.sms_bodies`).
            buttons: the options the reply offers (remembered with its last body).
            conversation_id: Rasa's sender id (default: `phone`).

        Returns:
            The background task; awaiting it is optional (tests do).
        """
        previous = self._tails.get(phone)
        task = asyncio.get_running_loop().create_task(
            self._deliver(
                previous, phone, list(bodies), buttons, conversation_id or phone
            )
        )
        self._tails[phone] = task
        task.add_done_callback(lambda done: self._forget(phone, done))
        return task

    def _forget(self, phone: str, task: asyncio.Task) -> None:
        if self._tails.get(phone) is task:
            del self._tails[phone]

    async def drain(self) -> None:
        """Waits until every queued body has been sent or recorded as failed."""
        while self._tails:
            await asyncio.gather(*self._tails.values(), return_exceptions=True)

    async def _deliver(
        self,
        previous: Optional[asyncio.Task],
        phone: str,
        bodies: List[str],
        buttons: Optional[Sequence[Dict[str, Any]]],
        conversation_id: str,
    ) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        try:
            await self._deliver_in_order(phone, bodies, buttons, conversation_id)
        except Exception as error:  # noqa: BLE001 - a background task must log
            logger.error(
                "SMS to %s not delivered: %s", mask_phone(phone), type(error).__name__
            )

    async def _deliver_in_order(
        self,
        phone: str,
        bodies: List[str],
        buttons: Optional[Sequence[Dict[str, Any]]],
        conversation_id: str,
    ) -> None:
        failed = False
        for index, body in enumerate(bodies):
            last = index == len(bodies) - 1
            if await self.is_opted_out(phone):
                await self._db(sms_store.record_blocked, conversation_id, phone)
                logger.info("SMS to %s withheld: opted out", mask_phone(phone))
                continue
            message = await self._db(
                sms_store.record_queued,
                conversation_id,
                phone,
                body,
                buttons if last else None,
            )
            if failed:
                # An earlier part failed: later parts would arrive out of order.
                await self._db(
                    sms_store.mark_failed, message.id, "earlier_part_failed", 0
                )
                continue
            failed = not await self._send_one(message.id, phone, body)

    async def _send_one(self, message_id: int, phone: str, body: str) -> bool:
        if not self.settings.configured:
            await self._db(sms_store.mark_failed, message_id, "not_configured", 0)
            logger.error(
                "SMS to %s not sent: channel not configured", mask_phone(phone)
            )
            return False
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                sent = await asyncio.wait_for(
                    self.client().messages.create_async(
                        to=phone, body=body, **self.settings.sender_params()
                    ),
                    SEND_TIMEOUT_SECONDS,
                )
            except Exception as error:  # noqa: BLE001 - classified below
                failure = _classify(error)
            else:
                await self._db(sms_store.mark_sent, message_id, sent.sid, attempt)
                return True
            if failure.retryable and attempt < SEND_ATTEMPTS:
                delay = RETRY_BASE_SECONDS * 2 ** (attempt - 1)
                logger.warning(
                    "SMS to %s: attempt %d failed (%s), retrying in %.1f s",
                    mask_phone(phone),
                    attempt,
                    failure.code,
                    delay,
                )
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                continue
            await self._db(sms_store.mark_failed, message_id, failure.code, attempt)
            logger.error(
                "SMS %d to %s failed after %d attempt(s): %s",
                message_id,
                mask_phone(phone),
                attempt,
                failure.code,
            )
            if failure.code == "21610":  # Twilio: the number sent STOP to Twilio
                await self.set_opted_out(phone, True, "TWILIO_21610")
            return False
        return False  # pragma: no cover - the loop always returns


class TwilioSmsOutput(OutputChannel):
    """Sends the bot's (and staff's) replies to a patient as SMS."""

    def __init__(self, sender: SmsSender) -> None:
        self.sender = sender

    @classmethod
    def name(cls) -> str:
        """The channel's name, shared with the input channel."""
        return CHANNEL_NAME

    async def _queue(
        self,
        recipient_id: str,
        text: Optional[str],
        buttons: Optional[Sequence[Dict[str, Any]]] = None,
    ) -> None:
        bodies = sms_format.sms_bodies(text, buttons)
        if not bodies:
            return
        try:
            phone = await self.sender.phone_for(recipient_id or "")
        except Exception as error:  # noqa: BLE001 - e.g. the database is down
            logger.error("SMS reply dropped: number unknown (%s)", type(error).__name__)
            return
        if phone is None:
            logger.error("SMS reply dropped: no number known for the conversation")
            return
        self.sender.send(phone, bodies, buttons, conversation_id=recipient_id)

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        """Sends plain text, split into a few SMS if long."""
        await self._queue(recipient_id, text)

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: List[Dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        """Sends the text with its buttons as numbered options."""
        await self._queue(recipient_id, text, buttons)

    async def send_quick_replies(
        self,
        recipient_id: str,
        text: str,
        quick_replies: List[Dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        """Quick replies are options too."""
        await self._queue(recipient_id, text, quick_replies)

    async def send_image_url(
        self, recipient_id: str, image: str, **kwargs: Any
    ) -> None:
        """Sends the image's address (no MMS)."""
        await self._queue(recipient_id, image)

    async def send_attachment(
        self, recipient_id: str, attachment: str, **kwargs: Any
    ) -> None:
        """Sends the attachment's address or text."""
        await self._queue(recipient_id, str(attachment))

    async def send_elements(
        self, recipient_id: str, elements: Any, **kwargs: Any
    ) -> None:
        """Sends each element's title, subtitle and options."""
        for element in elements or []:
            text = "\n".join(
                str(element.get(key))
                for key in ("title", "subtitle")
                if element.get(key)
            )
            await self._queue(recipient_id, text, element.get("buttons"))

    async def send_custom_json(
        self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any
    ) -> None:
        """Custom payloads are for other channels: ignored over SMS."""
        logger.debug("SMS channel ignores a custom payload")


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


def keyword(text: str) -> Optional[str]:
    """The single word of a one-word message, upper case ("Stop." -> "STOP")."""
    match = _KEYWORD.fullmatch(text)
    return match[1].upper() if match else None


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
        return cls(SmsSettings.from_env())

    def __init__(
        self, settings: SmsSettings, database_url: Optional[str] = None
    ) -> None:
        self.settings = settings
        self.sender = SmsSender(settings, database_url)
        self.limiter = RateLimiter.from_env()
        # One "slow down" SMS per number and window, not one per message.
        self.warned = RateLimiter(1, self.limiter.window)
        self._id_secret: Optional[bytes] = None
        if settings.configured:
            try:
                self._id_secret = ids.sms_id_secret()
            except ValueError as error:
                raise SettingsError(str(error)) from None
        _mask_rasa_logs()
        # Loading the model lowers the root logger to WARNING; keep this channel's
        # audit lines (opt-outs, withheld replies) at Rasa's own level.
        try:
            logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
        except ValueError:  # not a level name
            logger.setLevel(logging.INFO)
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
            self._id_secret = ids.sms_id_secret()
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
                self.sender.send(phone, [NOT_TEXT], conversation_id=conversation_id)
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
                sms_format.split_for_sms(too_fast_text(wait)),
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
        """Handles STOP, START and HELP (see `_handled_keyword`); 503 on failure."""
        try:
            opt_out_type = (form.get("OptOutType") or "").strip().upper()
            return await self._handled_keyword(phone, text, opt_out_type)
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
            self.sender.send(phone, [ERROR_TEXT], conversation_id=conversation_id)

    async def _picked_option(self, phone: str, text: str) -> str:
        """The payload of the option `text` picks, or `text` itself."""
        try:
            buttons = await self.sender.last_offered_buttons(phone)
        except Exception as error:  # noqa: BLE001 - answer without the options
            logger.warning("SMS options unavailable: %s", type(error).__name__)
            return text
        return sms_format.pick_option(text, buttons) or text

    async def _keyword_kind(
        self, phone: str, text: str, opt_out_type: str
    ) -> Optional[str]:
        """Which keyword the message is: STOP, START, HELP, or None (for the bot)."""
        if opt_out_type in TWILIO_OPT_OUT_TYPES:
            return opt_out_type  # Twilio matched one of the account's keywords
        word = keyword(text)
        if word in OPT_OUT_KEYWORDS:
            return "STOP"
        if word in OPT_IN_KEYWORDS or (
            word in OPT_IN_WHEN_OPTED_OUT and await self.sender.is_opted_out(phone)
        ):
            return "START"
        if word in HELP_KEYWORDS:
            return "HELP"
        return None

    async def _handled_keyword(
        self, phone: str, text: str, opt_out_type: str = ""
    ) -> bool:
        """Handles STOP, START and HELP; False for any other message."""
        kind = await self._keyword_kind(phone, text, opt_out_type)
        if kind is None:
            return False
        word = keyword(text) or kind
        if kind == "STOP":
            await self.sender.set_opted_out(phone, True, word)
            logger.info("SMS opt-out recorded for %s (%s)", mask_phone(phone), word)
        elif kind == "START":
            await self.sender.set_opted_out(phone, False, word)
            logger.info("SMS opt-in recorded for %s (%s)", mask_phone(phone), word)
            self.sender.send(
                phone,
                sms_format.split_for_sms(START_TEXT),
                conversation_id=self.conversation_id(phone),
            )
        else:
            self.sender.send(
                phone,
                sms_format.split_for_sms(HELP_TEXT),
                conversation_id=self.conversation_id(phone),
            )
        return True
