"""Forget one patient: every row about them, in every table, and at Twilio too."""

from __future__ import annotations

import json
import re
import time
from typing import Dict, Iterable, Optional, Set

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot import phi
from bot.db import summaries
from bot.db.events import EVENTS
from bot.db.models import (
    AuditEntry,
    ConversationSummary,
    IntakeRequest,
    SmsMessage,
    SmsOptOut,
    SmsSendLease,
    utcnow,
)
from bot.db.queries.audit import record as record_audit
from bot.db.retention.common import (
    Deleted,
    delete_in_batches,
    delete_rows_of,
    existing_tables,
    read_connection,
    write_transaction,
)
from bot.db.retention.marks import (
    FORGET_ACTION,
    FORGET_OBJECT_TYPE,
    lock_conversation,
    pseudonym,
)

FORGET_SETTLE_SECONDS = 5.0  # how long forget waits before its second look
TWILIO_SID = re.compile(r"(?:SM|MM)[0-9a-fA-F]{32}")


def _patient_conversations(
    engine: Engine, existing: Set[str], ids: Set[str], phone: Optional[str]
) -> Set[str]:
    """`ids`, and with a phone number its SMS conversations and intakes' ones.

    A number's SMS conversation is `sms-` and a keyed hash of it
    (`bot.ids.sms_conversation_id`); older ones used the number itself
    (and `whatsapp:` + number). Conversations the bot texted the number from are
    found through `sms_messages` too, in case this process lacks the SMS key.
    """
    from bot.ids import sms_conversation_id

    ids = set(ids)
    if not phone:
        return ids
    ids |= {phone, f"whatsapp:{phone}"}
    try:
        ids.add(sms_conversation_id(phone))
    except ValueError:  # SMS_ID_SECRET missing outside a local run
        pass
    with read_connection(engine) as connection, connection.begin():
        for model in (IntakeRequest, SmsMessage):
            if model.__tablename__ in existing:
                table = model.__table__
                ids |= set(
                    connection.execute(
                        sa.select(table.c.conversation_id)
                        .where(table.c.phone_e164 == phone)
                        .distinct()
                    ).scalars()
                )
    return ids


def _present(engine: Engine, existing: Set[str], ids: Set[str]) -> int:
    """How many of the conversations exist (events or a summary)."""
    found: Set[str] = set()
    with read_connection(engine) as connection, connection.begin():
        for chunk in summaries.chunks(sorted(ids)):
            if "events" in existing:
                events = EVENTS
                found |= set(
                    connection.execute(
                        sa.select(events.c.sender_id)
                        .where(events.c.sender_id.in_(chunk))
                        .distinct()
                    ).scalars()
                )
            if ConversationSummary.__tablename__ in existing:
                summary = ConversationSummary.__table__
                found |= set(
                    connection.execute(
                        sa.select(summary.c.conversation_id).where(
                            summary.c.conversation_id.in_(chunk)
                        )
                    ).scalars()
                )
    return len(found)


def _record_forget(engine: Engine, ids: Iterable[str]) -> Dict[str, float]:
    """Writes each conversation's "forget" entry (under its pseudonym): when.

    Each id's lock is taken first (`lock_conversation`), so a tracker store save
    of that conversation either commits before this entry (and its events are
    then deleted) or sees it (and stores nothing from before).
    """
    at = utcnow()
    ids = sorted(ids)
    with write_transaction(engine) as connection:
        for conversation_id in ids:
            lock_conversation(connection, conversation_id)
            record_audit(
                connection,
                None,
                FORGET_ACTION,
                FORGET_OBJECT_TYPE,
                pseudonym(conversation_id),
                at=at,
            )
    return {conversation_id: at.timestamp() for conversation_id in ids}


def _twilio_sids(
    engine: Engine, existing: Set[str], ids: Set[str], phone: Optional[str]
) -> Set[str]:
    """The SIDs of the patient's SMS: outbound records and inbound messages."""
    sids: Set[str] = set()
    with read_connection(engine) as connection, connection.begin():
        if SmsMessage.__tablename__ in existing:
            sms = SmsMessage.__table__
            whose = sms.c.conversation_id.in_(sorted(ids))
            if phone:
                whose = sa.or_(whose, sms.c.phone_e164 == phone)
            sids |= set(
                connection.execute(
                    sa.select(sms.c.twilio_sid).where(
                        whose, sms.c.twilio_sid.is_not(None)
                    )
                ).scalars()
            )
        if "events" in existing:
            events = EVENTS
            for chunk in summaries.chunks(sorted(ids)):
                rows = connection.execute(
                    sa.select(events.c.data).where(
                        events.c.sender_id.in_(chunk), events.c.type_name == "user"
                    )
                ).scalars()
                for data in rows:
                    try:
                        message_id = json.loads(data or "{}").get("message_id")
                    except (ValueError, AttributeError):
                        continue
                    if isinstance(message_id, str):
                        sids.add(message_id)
    return {sid for sid in sids if sid and TWILIO_SID.fullmatch(sid)}


def _has_events_after(engine: Engine, conversation_id: str, moment: float) -> bool:
    events = EVENTS
    with read_connection(engine) as connection, connection.begin():
        return (
            connection.execute(
                sa.select(events.c.id)
                .where(
                    events.c.sender_id == conversation_id, events.c.timestamp > moment
                )
                .limit(1)
            ).first()
            is not None
        )


def _pseudonymize_audit(
    engine: Engine, deleted: Deleted, existing: Set[str], ids: Iterable[str]
) -> None:
    """Keeps the access records of the conversations under their pseudonyms."""
    if AuditEntry.__tablename__ not in existing:
        return
    table = AuditEntry.__table__
    with write_transaction(engine) as connection:
        for conversation_id in sorted(ids):
            result = connection.execute(
                table.update()
                .where(
                    table.c.object_type == FORGET_OBJECT_TYPE,
                    table.c.object_id == conversation_id,
                )
                .values(object_id=pseudonym(conversation_id))
            )
            deleted.pseudonymized += result.rowcount


def _forget_pass(
    engine: Engine,
    deleted: Deleted,
    existing: Set[str],
    forgotten: Dict[str, float],
    phone: Optional[str],
    first: bool,
) -> None:
    """Deletes what the forgotten conversations left behind.

    The first pass deletes everything. The second (after the settle time) looks
    for what a turn running during the first one wrote afterwards: rows of a
    conversation that has had no event since it was forgotten (once the patient
    writes again, the conversation is a new one and its new rows are kept).
    """
    ids = set(forgotten)
    if first:
        stale = sorted(ids)
    else:
        stale = sorted(
            c
            for c in ids
            if "events" not in existing
            or not _has_events_after(engine, c, forgotten[c])
        )
    deleted.add_sids(_twilio_sids(engine, existing, set(stale), phone))
    if "events" in existing:
        events = EVENTS
        for conversation_id in sorted(ids):
            delete_in_batches(
                engine,
                deleted,
                events,
                sa.and_(
                    events.c.sender_id == conversation_id,
                    sa.or_(
                        events.c.timestamp <= forgotten[conversation_id],
                        events.c.timestamp.is_(None),
                    ),
                ),
            )
    delete_rows_of(engine, deleted, existing, stale)
    # The number's own rows go unless it has texted again since (a new
    # conversation on one of its SMS conversation ids).
    texting = {c for c in ids if c.startswith(("+", "whatsapp:", "sms-"))}
    if phone and (first or texting <= set(stale)):
        for table in (IntakeRequest.__table__, SmsMessage.__table__):
            if table.name in existing:
                delete_in_batches(engine, deleted, table, table.c.phone_e164 == phone)
        leases = SmsSendLease.__table__  # a send in progress: one row at most
        if leases.name in existing:
            with write_transaction(engine) as connection:
                result = connection.execute(
                    leases.delete().where(leases.c.phone_e164 == phone)
                )
            deleted.add(leases.name, result.rowcount)
        # A standing opt-out stays: it is the patient's own instruction not to be
        # texted, and without it messages to the number would resume.
        opt_outs = SmsOptOut.__table__
        if opt_outs.name in existing:
            with write_transaction(engine) as connection:
                result = connection.execute(
                    opt_outs.delete().where(
                        opt_outs.c.phone_e164 == phone,
                        opt_outs.c.opted_out.is_(False),
                    )
                )
            deleted.add(opt_outs.name, result.rowcount)
    _pseudonymize_audit(engine, deleted, existing, stale)


def forget(
    engine: Engine,
    conversation_ids: Iterable[str] = (),
    phone: Optional[str] = None,
    settle_seconds: float = FORGET_SETTLE_SECONDS,
) -> Deleted:
    """Deletes everything about one patient.

    Order: the "forget" entries first (from then on no turn that began earlier
    can store anything of these conversations), then the deletion, in short
    transactions; after `settle_seconds` a second pass removes what a turn
    running at that moment may have written meanwhile (its SMS records, a
    handoff), and the access records are kept under pseudonyms.

    Args:
        engine: the engine of `DATABASE_URL`.
        conversation_ids: the patient's conversation ids (Rasa sender ids).
        phone: the patient's phone number in E.164: their SMS conversations
            (`sms-` + keyed hash of the number, or the number itself for older
            ones), their intake requests and those requests' conversations, their
            SMS records (a standing SMS opt-out is kept: it is the patient's
            instruction not to be texted).
        settle_seconds: wait before the second pass (0: no second pass).

    Returns:
        What was deleted, with the Twilio SIDs of the patient's messages.
    """
    ids = {c for c in conversation_ids if c}
    if phone is not None and not phi.is_e164(phone):
        raise ValueError("phone must be in E.164 form, e.g. +15551234567")
    existing = existing_tables(engine)
    ids = _patient_conversations(engine, existing, ids, phone)
    deleted = Deleted()
    deleted.conversations = _present(engine, existing, ids)
    forgotten = _record_forget(engine, ids)
    _forget_pass(engine, deleted, existing, forgotten, phone, first=True)
    if settle_seconds > 0:
        time.sleep(settle_seconds)
        _forget_pass(engine, deleted, existing, forgotten, phone, first=False)
    return deleted
