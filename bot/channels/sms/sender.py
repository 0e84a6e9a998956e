"""Sends SMS bodies through Twilio, in order per number, and records each one.

The `sms_messages` table is the send queue, shared by every Rasa process (Sanic
workers, machines) on the same database:

1. `send()` records every body of a reply as `queued` in one transaction, in
   order, under one `reply_id` (a number that opted out gets `blocked` rows,
   without text), then wakes this process's delivery loop for the number.
2. The loop takes the number's lease (`sms_send_leases`: holder, expiry), so one
   process at a time delivers a number's rows; a process that finds the lease
   held by another leaves the rows to it. The holder renews the lease and takes
   the oldest pending row (by id) before each body, sends it, records the
   outcome, and when none is left gives the lease back (taking it again if rows
   came in meanwhile). So bodies go out one at a time, in the order recorded.
3. Before each body: an opted-out number gets the row `blocked`. Network errors,
   429 and 5xx are retried with exponential backoff, other refusals are not (e.g.
   21610, "unsubscribed", which also records the opt-out). A body that still
   fails is `failed` with its error code, kept for staff, and the later parts of
   the same reply are `failed` with `earlier_part_failed` (they would arrive out
   of order); the next reply goes out as usual.
4. Restart: `resume()` (at server start) delivers the rows of numbers whose lease
   is free or expired, at once and then every lease period, so rows a killed
   process left behind go out, in order, once its lease has expired.

A row is `sending` while its request to Twilio is under way. Twilio has no
idempotency key, so a crash after Twilio accepted a body but before `sent` was
recorded cannot be told from one before: the next holder sends a row it finds
`sending` once more, as `resending`, and a row it finds `resending` is not sent
again (`failed`, `send_interrupted`, for staff to check). A crash therefore
costs at most one duplicate SMS per body. (As before, a retry after a time-out
can also duplicate a body Twilio had in fact accepted.)

Sends go through the official `twilio` client's asyncio API (aiohttp).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Set

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
# How long a number's lease lasts without renewal: longer than one attempt (its
# time-out and backoff), as the lease is renewed before each attempt.
LEASE_SECONDS = 60.0


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


class _LeaseLost(Exception):
    """Another process took the number's lease (ours expired): stop sending."""


class SmsSender:
    """Sends SMS bodies through Twilio and records each one (see the module).

    One per Rasa server process (held by the input channel); `holder` names it
    in the leases. A webhook or staff reply never waits for Twilio: recording and
    delivery run in background tasks.
    """

    def __init__(
        self,
        settings: SmsSettings,
        database_url: Optional[str] = None,
        lease_seconds: float = LEASE_SECONDS,
    ):
        self.settings = settings
        self.database_url = database_url
        self.lease_seconds = lease_seconds
        self.holder = uuid.uuid4().hex
        self._client: Any = None
        self._recording: Dict[str, asyncio.Task] = {}  # per number, newest
        self._loops: Dict[str, asyncio.Task] = {}  # numbers in delivery
        self._again: Set[str] = set()  # woken while in delivery: look again
        self._sweeper: Optional[asyncio.Task] = None
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
        """Stops `resume()`'s sweeps and closes the HTTP session (at server stop)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
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
        """Records the bodies of one reply for `phone`, then wakes its delivery.

        Replies handed over by this process are recorded in the order of the
        calls, so they go out in that order.

        Args:
            phone: the patient's E.164 number.
            bodies: SMS bodies in order (`bot.channels.sms.format.sms_bodies`).
            buttons: the options the reply offers (remembered with its last body).
            conversation_id: Rasa's sender id (default: `phone`).

        Returns:
            The background task that records the reply (done once recorded and
            delivery woken); `drain()` waits for the delivery.
        """
        previous = self._recording.get(phone)
        task = asyncio.get_running_loop().create_task(
            self._record(
                previous, phone, list(bodies), buttons, conversation_id or phone
            )
        )
        self._recording[phone] = task
        task.add_done_callback(lambda done: self._forget(phone, done))
        return task

    def _forget(self, phone: str, task: asyncio.Task) -> None:
        if self._recording.get(phone) is task:
            del self._recording[phone]

    async def drain(self) -> None:
        """Waits until this process records nothing and has no number in delivery.

        Rows left to another process (which holds the number's lease) are its to
        send: this does not wait for them.
        """
        while self._recording or self._loops:
            tasks = [*self._recording.values(), *self._loops.values()]
            await asyncio.gather(*tasks, return_exceptions=True)

    async def resume(self) -> None:
        """Delivers rows left pending by other processes: now, then every lease period.

        Rows of a killed process go out once its lease has expired.
        """
        if self._sweeper is None and self.settings.configured:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.create_task(self._sweep_forever())

    async def sweep(self) -> int:
        """Wakes delivery of every number with pending rows and no live lease."""
        phones = await self._db(store.numbers_to_resume)
        for phone in phones:
            self.wake(phone)
        return len(phones)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                if count := await self.sweep():
                    logger.info("SMS: resuming delivery to %d number(s)", count)
            except Exception as error:  # noqa: BLE001 - try again next period
                logger.warning("SMS resume failed: %s", type(error).__name__)
            await asyncio.sleep(self.lease_seconds)

    async def _record(
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
            queued = await self._db(
                store.record_reply, conversation_id, phone, bodies, buttons
            )
        except Exception as error:  # noqa: BLE001 - a background task must log
            logger.error(
                "SMS to %s not recorded: %s", mask_phone(phone), type(error).__name__
            )
            return
        if queued:
            self.wake(phone)
        else:
            logger.info("SMS to %s withheld: opted out", mask_phone(phone))

    def wake(self, phone: str) -> None:
        """Starts this process's delivery loop for the number (or has it look again)."""
        if phone in self._loops:
            self._again.add(phone)
        else:
            loop = asyncio.get_running_loop()
            self._loops[phone] = loop.create_task(self._run(phone))

    async def _run(self, phone: str) -> None:
        try:
            while True:
                self._again.discard(phone)
                try:
                    await self._deliver(phone)
                except Exception as error:  # noqa: BLE001 - a background task must log
                    logger.error(
                        "SMS to %s: delivery stopped (%s); left for the next sweep",
                        mask_phone(phone),
                        type(error).__name__,
                    )
                    return
                if phone not in self._again:
                    return
        finally:
            self._loops.pop(phone, None)
            self._again.discard(phone)

    async def _deliver(self, phone: str) -> None:
        """Sends the number's pending rows in order while holding its lease."""
        while True:
            claim = await self._db(
                store.claim_next, phone, self.holder, self.lease_seconds
            )
            if claim is None:  # nothing left: give the lease back
                if await self._db(store.release_lease, phone, self.holder):
                    continue  # rows came in meanwhile
                return
            if claim.action == "lost":  # another process delivers this number
                return
            if claim.action == "blocked":
                logger.info("SMS to %s withheld: opted out", mask_phone(phone))
            elif claim.action == "interrupted":
                logger.error(
                    "SMS %d to %s interrupted twice: not sent again",
                    claim.message_id,
                    mask_phone(phone),
                )
            else:
                if claim.action == "resend":
                    logger.warning(
                        "SMS %d to %s interrupted: sending it once more",
                        claim.message_id,
                        mask_phone(phone),
                    )
                try:
                    await self._send_one(claim.message_id, phone, claim.body or "")
                except _LeaseLost:
                    logger.warning(
                        "SMS to %s: lease lost, left to its new holder",
                        mask_phone(phone),
                    )
                    return

    async def _send_one(self, message_id: int, phone: str, body: str) -> bool:
        if not self.settings.configured:
            await self._db(store.record_failure, message_id, "not_configured", 0)
            logger.error(
                "SMS to %s not sent: channel not configured", mask_phone(phone)
            )
            return False
        for attempt in range(1, SEND_ATTEMPTS + 1):
            if attempt > 1 and not await self._db(
                store.take_lease, phone, self.holder, self.lease_seconds
            ):
                raise _LeaseLost()
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
            unsubscribed = failure.code == "21610"  # the number sent STOP to Twilio
            await self._db(
                store.record_failure, message_id, failure.code, attempt, unsubscribed
            )
            logger.error(
                "SMS %d to %s failed after %d attempt(s): %s",
                message_id,
                mask_phone(phone),
                attempt,
                failure.code,
            )
            return False
        return False  # pragma: no cover - the loop always returns
