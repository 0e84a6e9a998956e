"""What the SMS channel keeps in the database: opt-outs and outbound messages.

Every function takes a `Session` (from `bot.db.engine.session_scope`) and leaves
committing to the caller, like `bot.db.repository`. The channel runs them in a
worker thread (`asyncio.to_thread`), so the server's event loop never waits on
the database.

- `sms_opt_outs`: one row per number that ever sent STOP; START sets it back.
- `sms_messages`: one row per outbound SMS body, from `queued` (through `sending`)
  to `sent`, `failed` (after the retries, with Twilio's error code) or `blocked`
  (the number opted out). The body is kept only until Twilio accepts the message;
  the options it offered (`buttons`) are kept so a later reply "1" can pick one.
  Its `conversation_id` (an HMAC of the number) and `phone_e164` are also how a
  conversation's number is found again (`phone_for_conversation`). It is the send
  queue too (`bot.channels.sms.sender`); `sms_send_leases` says who delivers it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import timedelta
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import (
    SMS_MESSAGE_MAX_LENGTHS,
    SMS_PENDING_STATUSES,
    SmsMessage,
    SmsOptOut,
    SmsSendLease,
    utcnow,
)

logger = logging.getLogger(__name__)

# Statuses of a message the patient may have seen (and so may answer).
_OFFERED_STATUSES = (*SMS_PENDING_STATUSES, "sent")
_lease = SmsSendLease.__table__


def _opt_out_row(session: Session, phone_e164: str) -> Optional[SmsOptOut]:
    return session.execute(
        select(SmsOptOut).where(SmsOptOut.phone_e164 == phone_e164)
    ).scalar_one_or_none()


def is_opted_out(session: Session, phone_e164: str) -> bool:
    """True when the number sent STOP (or a synonym) and not START since."""
    row = _opt_out_row(session, phone_e164)
    return bool(row and row.opted_out)


def set_opted_out(
    session: Session, phone_e164: str, opted_out: bool, keyword: str
) -> SmsOptOut:
    """Records a number's opt-out (STOP) or opt-in (START).

    Safe when two processes record the same number at once: the loser's insert
    hits the unique constraint inside a SAVEPOINT and updates the winner's row.

    Args:
        session: an open session; the caller commits.
        phone_e164: the patient's number, e.g. "+15551234567".
        opted_out: True for STOP, False for START.
        keyword: the keyword as received, upper case (e.g. "STOP", "UNSTOP").

    Returns:
        The number's row.

    Raises:
        InvalidValueError: the number is not E.164 or the keyword too long.
    """
    row = _opt_out_row(session, phone_e164)
    if row is None:
        row = SmsOptOut(phone_e164=phone_e164, opted_out=opted_out, keyword=keyword)
        try:
            with session.begin_nested():
                session.add(row)
            return row
        except IntegrityError:
            row = _opt_out_row(session, phone_e164)
            if row is None:
                raise
    row.opted_out = opted_out
    row.keyword = keyword
    session.flush()
    return row


def _buttons_json(buttons: Optional[Sequence[Dict[str, Any]]]) -> Optional[str]:
    if not buttons:
        return None
    kept = [
        {"title": str(b.get("title") or ""), "payload": str(b.get("payload") or "")}
        for b in buttons
    ]
    encoded = json.dumps(kept, ensure_ascii=False)
    if len(encoded) > SMS_MESSAGE_MAX_LENGTHS["buttons"]:
        logger.warning("SMS options too long to remember (%d chars)", len(encoded))
        return None
    return encoded


def record_queued(
    session: Session,
    conversation_id: str,
    phone_e164: str,
    body: str,
    buttons: Optional[Sequence[Dict[str, Any]]] = None,
    reply_id: Optional[str] = None,
) -> SmsMessage:
    """Stores an SMS body about to be sent, with the options it offers."""
    message = SmsMessage(
        conversation_id=conversation_id,
        phone_e164=phone_e164,
        body=body,
        buttons=_buttons_json(buttons),
        status="queued",
        attempts=0,
        reply_id=reply_id,
    )
    session.add(message)
    session.flush()  # one row at a time: ids in the order of the calls
    return message


def record_blocked(
    session: Session, conversation_id: str, phone_e164: str
) -> SmsMessage:
    """Records that a reply was withheld because the number opted out (no body)."""
    message = SmsMessage(
        conversation_id=conversation_id,
        phone_e164=phone_e164,
        status="blocked",
        error_code="opted_out",
        attempts=0,
    )
    session.add(message)
    session.flush()
    return message


def _message(session: Session, message_id: int) -> SmsMessage:
    message = session.get(SmsMessage, message_id)
    if message is None:
        raise LookupError(f"no SMS message {message_id}")
    return message


def mark_sent(
    session: Session, message_id: int, twilio_sid: Optional[str], attempts: int
) -> SmsMessage:
    """Twilio accepted the message: keeps its SID, forgets the body."""
    message = _message(session, message_id)
    message.status = "sent"
    message.twilio_sid = (twilio_sid or "")[:64] or None
    message.attempts = attempts
    message.error_code = None
    message.body = None
    return message


def mark_failed(
    session: Session, message_id: int, error_code: str, attempts: int
) -> SmsMessage:
    """The message could not be sent: keeps the body for staff to resend."""
    message = _message(session, message_id)
    message.status = "failed"
    message.error_code = error_code[:32]
    message.attempts = attempts
    return message


def mark_blocked(session: Session, message_id: int) -> SmsMessage:
    """A queued message was withheld: the number opted out before it went."""
    message = _message(session, message_id)
    message.status = "blocked"
    message.error_code = "opted_out"
    message.body = None
    message.buttons = None
    return message


def last_offered_buttons(
    session: Session, phone_e164: str
) -> Optional[List[Dict[str, str]]]:
    """The options of the last message the number may have seen, if it had any."""
    buttons = session.execute(
        select(SmsMessage.buttons)
        .where(
            SmsMessage.phone_e164 == phone_e164,
            SmsMessage.status.in_(_OFFERED_STATUSES),
        )
        .order_by(SmsMessage.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if not buttons:
        return None
    try:
        decoded = json.loads(buttons)
    except ValueError:
        return None
    return decoded if isinstance(decoded, list) else None


def phone_for_conversation(session: Session, conversation_id: str) -> Optional[str]:
    """The number an SMS conversation's messages went to, or None if none did.

    SMS conversation ids are an HMAC of the number (`bot.ids`), so the
    number of a conversation (for a staff reply after a restart, or to show staff
    whom they answer) is read from its outbound records.
    """
    return session.execute(
        select(SmsMessage.phone_e164)
        .where(SmsMessage.conversation_id == conversation_id)
        .order_by(SmsMessage.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def failed_messages(session: Session, limit: int = 100) -> List[SmsMessage]:
    """The messages that could not be sent, oldest first (for staff to follow up)."""
    return list(
        session.execute(
            select(SmsMessage)
            .where(SmsMessage.status == "failed")
            .order_by(SmsMessage.id)
            .limit(limit)
        ).scalars()
    )


# --- the send queue ------------------------------------------------------------------


class Claim(NamedTuple):
    """Next for the lease holder: "send", "resend", "blocked", "interrupted", "lost"."""

    message_id: int
    body: Optional[str]
    action: str


def _lock_number(session: Session, phone_e164: str) -> None:
    """One number's replies recorded one at a time, committed in `id` order (PG)."""
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(phone_e164.encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(key)))


def record_reply(
    session: Session,
    conversation_id: str,
    phone_e164: str,
    bodies: Sequence[str],
    buttons: Optional[Sequence[Dict[str, Any]]] = None,
) -> int:
    """Records a reply's bodies in order as `queued` (or `blocked`): how many queued.

    One `reply_id` for all; the options go with the last body.
    """
    _lock_number(session, phone_e164)
    if is_opted_out(session, phone_e164):
        for _ in bodies:
            record_blocked(session, conversation_id, phone_e164)
        return 0
    reply_id = uuid.uuid4().hex
    for index, body in enumerate(bodies):
        options = buttons if index == len(bodies) - 1 else None
        record_queued(session, conversation_id, phone_e164, body, options, reply_id)
    return len(bodies)


def take_lease(session: Session, phone_e164: str, holder: str, seconds: float) -> bool:
    """Takes or renews the number's lease for `seconds`: True if `holder` has it.

    An UPDATE takes it when it is `holder`'s own or expired, else an INSERT that
    does nothing if another's row is there: atomic on both databases.
    """
    now = utcnow()
    values = {"holder": holder, "expires_at": now + timedelta(seconds=seconds)}
    updated = session.execute(
        update(_lease)
        .where(
            _lease.c.phone_e164 == phone_e164,
            or_(_lease.c.holder == holder, _lease.c.expires_at < now),
        )
        .values(**values)
    )
    if updated.rowcount == 1:
        return True
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    inserted = session.execute(
        dialect.insert(_lease)
        .values(phone_e164=phone_e164, **values)
        .on_conflict_do_nothing(index_elements=["phone_e164"])
    )
    return inserted.rowcount == 1


def release_lease(session: Session, phone_e164: str, holder: str) -> bool:
    """Gives the number's lease back (only `holder`'s own); True if rows are pending.

    Rows recorded by a process that found the lease still held are seen here, so
    the holder takes the lease again instead of leaving them behind.
    """
    session.execute(
        delete(_lease).where(
            _lease.c.phone_e164 == phone_e164, _lease.c.holder == holder
        )
    )
    return _next_pending(session, phone_e164) is not None


def _next_pending(session: Session, phone_e164: str) -> Optional[SmsMessage]:
    return session.execute(
        select(SmsMessage)
        .where(
            SmsMessage.status.in_(SMS_PENDING_STATUSES),
            SmsMessage.phone_e164 == phone_e164,
        )
        .order_by(SmsMessage.id)
        .limit(1)
    ).scalar_one_or_none()


def claim_next(
    session: Session, phone_e164: str, holder: str, seconds: float
) -> Optional[Claim]:
    """Renews the lease, then the number's oldest pending row, None when none is left.

    An opted-out number's row is `blocked`. A row found `sending` was interrupted
    (by a crash): it becomes `resending` and is sent once more; one found
    `resending` is not sent again (`failed`, `send_interrupted`).
    """
    if not take_lease(session, phone_e164, holder, seconds):
        return Claim(0, None, "lost")
    message = _next_pending(session, phone_e164)
    if message is None:
        return None
    if is_opted_out(session, phone_e164):
        mark_blocked(session, message.id)
        return Claim(message.id, None, "blocked")
    if message.status == "resending":
        record_failure(session, message.id, "send_interrupted", message.attempts)
        return Claim(message.id, None, "interrupted")
    resend = message.status == "sending"
    message.status = "resending" if resend else "sending"
    return Claim(message.id, message.body, "resend" if resend else "send")


def record_failure(
    session: Session,
    message_id: int,
    error_code: str,
    attempts: int,
    opted_out: bool = False,
) -> None:
    """`mark_failed`, and the later parts of the same reply are not sent.

    They become `failed`, `earlier_part_failed` (they would arrive out of order);
    `opted_out` (21610) records the opt-out: `claim_next` blocks them instead.
    """
    message = mark_failed(session, message_id, error_code, attempts)
    if opted_out:
        set_opted_out(session, message.phone_e164, True, "TWILIO_21610")
    elif message.reply_id is not None:  # NULL: a row of before migration 0006
        session.execute(
            update(SmsMessage)
            .where(
                SmsMessage.reply_id == message.reply_id,
                SmsMessage.id > message_id,
                SmsMessage.status == "queued",
            )
            .values(status="failed", error_code="earlier_part_failed")
            .execution_options(synchronize_session=False)
        )


def numbers_to_resume(session: Session) -> List[str]:
    """The numbers with pending rows and no live lease (expired leases deleted)."""
    session.execute(delete(_lease).where(_lease.c.expires_at < utcnow()))
    return list(
        session.execute(
            select(SmsMessage.phone_e164)
            .where(
                SmsMessage.status.in_(SMS_PENDING_STATUSES),
                SmsMessage.phone_e164.not_in(select(_lease.c.phone_e164)),
            )
            .distinct()
        ).scalars()
    )
