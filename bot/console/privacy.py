"""Patient data: masking for lists, the audit log, retention and "forget me".

Lists show phone numbers and emails masked (`+1******4567`, `j***@example.org`);
only a detail page shows them in full, and every view of a detail page is written
to `console_audit_log`.

`purge()` deletes every conversation whose last event is older than the
retention period, with everything derived from it; `forget()` deletes everything
about one patient, by conversation id or phone number, from every table that
holds it: Rasa's `events`, `intake_requests`, `handoffs`, the SMS tables and the
console's own tables. The audit entries naming the conversation are deleted too
(they would keep the phone number of an SMS patient); one entry records that a
deletion happened, without the id.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.console import summaries
from bot.console.models import (
    AuditEntry,
    ConversationReview,
    ConversationSummary,
    ConversationTag,
    MessageCorrection,
)
from bot.db.models import E164_PATTERN, Handoff, IntakeRequest, SmsMessage, SmsOptOut

_PHONE_IN_TEXT = re.compile(r"\+?\d[\d\s().-]{6,}\d")
_EMAIL_IN_TEXT = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+\.[A-Za-z]{2,}")


def mask_phone(value: Optional[str]) -> str:
    """`+15551234567` -> `+1******4567`; other text unchanged."""
    if not value:
        return ""
    if E164_PATTERN.fullmatch(value):
        return value[:2] + "*" * (len(value) - 6) + value[-4:]
    return value


def mask_email(value: Optional[str]) -> str:
    """`jane@example.org` -> `j***@example.org`."""
    if not value or "@" not in value:
        return value or ""
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_conversation_id(value: str) -> str:
    """A conversation id for a list: an SMS sender's phone number is masked."""
    if value.startswith("whatsapp:"):
        return "whatsapp:" + mask_phone(value[len("whatsapp:") :])
    return mask_phone(value)


def mask_text(text: Optional[str]) -> str:
    """Patient text for a list: phone numbers and emails inside it masked."""
    if not text:
        return ""
    text = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE_IN_TEXT.sub(
        lambda m: "*" * (len(m.group(0)) - 4) + m.group(0)[-4:], text
    )


def audit(
    connection: Connection,
    user_email: Optional[str],
    action: str,
    object_type: str,
    object_id: Optional[str] = None,
    client_ip: Optional[str] = None,
) -> None:
    """Writes one audit entry (who did what to which conversation or request)."""
    connection.execute(
        sa.insert(AuditEntry.__table__).values(
            at=sa.func.now(),
            user_email=user_email,
            action=action[:64],
            object_type=object_type[:32],
            object_id=None if object_id is None else str(object_id)[:255],
            client_ip=(client_ip or None) and client_ip[:64],
        )
    )


@dataclass
class Deleted:
    """How many rows a deletion removed, by table."""

    rows: Dict[str, int] = field(default_factory=dict)
    conversations: int = 0

    def add(self, table: str, count: int) -> None:
        """Counts `count` more deleted rows of `table`."""
        if count:
            self.rows[table] = self.rows.get(table, 0) + count

    def __str__(self) -> str:
        parts = ", ".join(f"{t}: {n}" for t, n in sorted(self.rows.items()))
        return f"{self.conversations} conversation(s); rows deleted: {parts or 'none'}"


def _delete_where(
    connection: Connection, deleted: Deleted, table: sa.Table, clause
) -> None:
    if not sa.inspect(connection).has_table(table.name):
        return
    deleted.add(table.name, connection.execute(table.delete().where(clause)).rowcount)


def _delete_conversations(
    connection: Connection, deleted: Deleted, conversation_ids: Sequence[str]
) -> None:
    """Deletes the conversations' rows from every table that keys on them."""
    keyed = [
        ConversationReview.__table__,
        ConversationTag.__table__,
        MessageCorrection.__table__,
        Handoff.__table__,
        IntakeRequest.__table__,
        SmsMessage.__table__,
    ]
    for chunk in summaries._chunks(list(conversation_ids)):
        _delete_where(
            connection,
            deleted,
            summaries.EVENTS,
            summaries.EVENTS.c.sender_id.in_(chunk),
        )
        for table in keyed:
            _delete_where(
                connection, deleted, table, table.c.conversation_id.in_(chunk)
            )
        _delete_where(
            connection,
            deleted,
            AuditEntry.__table__,
            AuditEntry.__table__.c.object_id.in_(chunk),
        )
        summaries.forget_summaries(connection, chunk)
    deleted.conversations += len(conversation_ids)


def _has_events(connection: Connection) -> bool:
    return sa.inspect(connection).has_table("events")


def purge(engine: Engine, older_than_days: int, now: Optional[float] = None) -> Deleted:
    """Deletes conversations whose last event is older than `older_than_days`.

    Intake requests and handoffs created before the cut-off go too, and so do
    audit entries older than the cut-off.
    """
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    summaries.refresh(engine, settle_seconds=0)
    cutoff = (now or time.time()) - older_than_days * 86400
    deleted = Deleted()
    with engine.begin() as connection:
        ids: List[str] = []
        if _has_events(connection):
            ids = [
                sender
                for (sender,) in connection.execute(
                    sa.select(summaries.EVENTS.c.sender_id)
                    .group_by(summaries.EVENTS.c.sender_id)
                    .having(sa.func.max(summaries.EVENTS.c.timestamp) < cutoff)
                )
            ]
        _delete_conversations(connection, deleted, ids)
        cutoff_time = sa.func.now() - sa.text(f"INTERVAL '{older_than_days} days'")
        if connection.dialect.name == "sqlite":
            cutoff_time = sa.func.datetime("now", f"-{older_than_days} days")
        for table in (IntakeRequest.__table__, Handoff.__table__):
            _delete_where(connection, deleted, table, table.c.created_at < cutoff_time)
        _delete_where(
            connection,
            deleted,
            AuditEntry.__table__,
            AuditEntry.__table__.c.at < cutoff_time,
        )
        audit(connection, None, "purge", "retention", None)
    return deleted


def forget(
    engine: Engine,
    conversation_ids: Iterable[str] = (),
    phone: Optional[str] = None,
) -> Deleted:
    """Deletes everything about one patient.

    Args:
        engine: the engine of `DATABASE_URL`.
        conversation_ids: the patient's conversation ids (Rasa sender ids).
        phone: the patient's phone number in E.164: their SMS conversation (whose
            id is the number), their intake requests and those requests'
            conversations, their SMS records (a standing SMS opt-out is kept: it
            is the patient's instruction not to be texted).

    Returns:
        What was deleted.
    """
    ids = {c for c in conversation_ids if c}
    if phone is not None and not E164_PATTERN.fullmatch(phone):
        raise ValueError("phone must be in E.164 form, e.g. +15551234567")
    deleted = Deleted()
    with engine.begin() as connection:
        if phone:
            ids |= {phone, f"whatsapp:{phone}"}
            intake = IntakeRequest.__table__
            ids |= {
                c
                for (c,) in connection.execute(
                    sa.select(intake.c.conversation_id).where(
                        intake.c.phone_e164 == phone
                    )
                )
            }
            for table in (IntakeRequest.__table__, SmsMessage.__table__):
                _delete_where(connection, deleted, table, table.c.phone_e164 == phone)
            # A standing opt-out stays: it is the patient's own instruction not to
            # be texted, and without it messages to the number would resume.
            opt_outs = SmsOptOut.__table__
            _delete_where(
                connection,
                deleted,
                opt_outs,
                sa.and_(
                    opt_outs.c.phone_e164 == phone, opt_outs.c.opted_out.is_(False)
                ),
            )
        present = set(ids)
        if _has_events(connection):
            present = {
                c
                for c in ids
                if connection.execute(
                    sa.select(summaries.EVENTS.c.id)
                    .where(summaries.EVENTS.c.sender_id == c)
                    .limit(1)
                ).first()
                or connection.execute(
                    sa.select(ConversationSummary.conversation_id).where(
                        ConversationSummary.conversation_id == c
                    )
                ).first()
            }
        _delete_conversations(connection, deleted, sorted(ids))
        deleted.conversations = len(present)
        audit(connection, None, "forget", "patient", None)
    return deleted
