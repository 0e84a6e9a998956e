"""Sends SMS bodies through Twilio, in order per number, and records each one.

Each body is recorded before it is sent; a number that opted out gets nothing
(recorded as `blocked`); network errors, 429 and 5xx are retried with exponential
backoff, other refusals are not (e.g. 21610, "unsubscribed", which also records
the opt-out); a body that still fails is recorded as `failed` with its error code
and kept for staff to follow up, and the later parts of the same reply are not
sent (they would arrive out of order). Order holds within one Rasa process.
Sends go through the official `twilio` client's asyncio API (aiohttp).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Callable, Dict, List, Optional, Sequence

from bot import ids
from bot.channels.sms import store
from bot.db.engine import get_engine, session_scope
from bot.db.offloop import off_loop
from bot.phi import mask_phone
from bot.settings.sms import SmsSettings

logger = logging.getLogger(__name__)
# The twilio client logs every request's URL and headers at INFO: keep it quiet.
_twilio_http_logger = logging.getLogger(f"{__name__}.http")
_twilio_http_logger.setLevel(logging.WARNING)

SEND_ATTEMPTS = 4
RETRY_BASE_SECONDS = 0.5  # then 1 s, 2 s (with jitter)
SEND_TIMEOUT_SECONDS = 15
KNOWN_NUMBERS = 10_000  # conversation id -> number, remembered from inbound SMS


class SendError(Exception):
    """One failed attempt: Twilio's code (or e.g. "network") and whether to retry."""

    def __init__(self, code: str, retryable: bool) -> None:
        super().__init__(code)
        self.code = code
        self.retryable = retryable


def classify(error: BaseException) -> SendError:
    """What a failed attempt means: its code, and whether another may succeed."""
    from twilio.base.exceptions import TwilioException, TwilioRestException

    if isinstance(error, TwilioRestException):
        status = int(error.status or 0)
        code = str(error.code or f"http_{status}")
        return SendError(code, status >= 500 or status == 429)
    if isinstance(error, asyncio.TimeoutError):
        return SendError("timeout", True)
    if isinstance(error, (OSError, TwilioException)) or type(
        error
    ).__module__.startswith("aiohttp"):
        return SendError("network", True)
    return SendError(type(error).__name__[:32], False)


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
            phone = await self._db(store.phone_for_conversation, conversation_id)
        return phone

    def _engine(self):
        return get_engine(self.database_url)

    async def _db(self, function: Callable, *args: Any) -> Any:
        """Runs `function(session, *args)` in one transaction, off the event loop."""

        def call() -> Any:
            with session_scope(self._engine()) as session:
                return function(session, *args)

        return await off_loop(call)

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
        return await self._db(store.is_opted_out, phone)

    async def set_opted_out(self, phone: str, opted_out: bool, keyword: str) -> None:
        """Records STOP (True) or START (False) for the number."""
        await self._db(store.set_opted_out, phone, opted_out, keyword)

    async def last_offered_buttons(self, phone: str) -> Optional[List[Dict]]:
        """The options of the last message the number may have seen."""
        return await self._db(store.last_offered_buttons, phone)

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
            bodies: SMS bodies in order (`bot.channels.sms.format.sms_bodies`).
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
                await self._db(store.record_blocked, conversation_id, phone)
                logger.info("SMS to %s withheld: opted out", mask_phone(phone))
                continue
            message = await self._db(
                store.record_queued,
                conversation_id,
                phone,
                body,
                buttons if last else None,
            )
            if failed:
                # An earlier part failed: later parts would arrive out of order.
                await self._db(store.mark_failed, message.id, "earlier_part_failed", 0)
                continue
            failed = not await self._send_one(message.id, phone, body)

    async def _send_one(self, message_id: int, phone: str, body: str) -> bool:
        if not self.settings.configured:
            await self._db(store.mark_failed, message_id, "not_configured", 0)
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
                failure = classify(error)
            else:
                await self._db(store.mark_sent, message_id, sent.sid, attempt)
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
            await self._db(store.mark_failed, message_id, failure.code, attempt)
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
