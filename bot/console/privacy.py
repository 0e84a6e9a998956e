"""Patient data: masking for lists, the audit log, retention and "forget me".

Lists show phone numbers and emails masked (`+1******4567`, `j***@example.org`);
only a detail page shows them in full, and every view of a detail page is written
to `console_audit_log`.

`purge()` deletes every conversation whose last event is older than the
retention period, with everything derived from it. Audit entries are the record
of who accessed patient data: they have their own, longer retention
(`AUDIT_RETENTION_DAYS`, six years by default) and `purge` deletes only those
older than that, never with the conversations they name.

`forget()` deletes everything about one patient, by conversation id or phone
number, from every table that holds it: Rasa's `events`, `intake_requests`,
`handoffs`, the SMS tables and the console's own tables. Audit entries naming a
forgotten conversation are kept with its id replaced by a keyed hash
(`bot.db.repository.pseudonym`); one "forget" entry per conversation, under the
same hash, records when. That entry also stops a turn that was running during the
deletion from writing the conversation back (see `bot.db.tracker_store` and
`bot.db.repository.check_not_forgotten`), and after a short wait `forget` looks
once more for anything such a turn left. It returns the Twilio message SIDs of
the patient's SMS, so their bodies can be redacted at Twilio too.

Both run as many short transactions (`BATCH_ROWS` rows or `CHUNK_CONVERSATIONS`
conversations each), so the Rasa server and the action server never wait long
for the database while they run.
"""

from __future__ import annotations

import json
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.db import summaries
from bot.db.engine import READ_ONLY
from bot.db.events import EVENTS
from bot.db.models import (
    E164_PATTERN,
    AuditEntry,
    ConversationReview,
    ConversationSummary,
    ConversationTag,
    Handoff,
    IntakeRequest,
    MessageCorrection,
    SmsMessage,
    SmsOptOut,
    utcnow,
)
from bot.db.queries.audit import record as record_audit
from bot.db.repository import (
    FORGET_ACTION,
    FORGET_OBJECT_TYPE,
    lock_conversation,
    pseudonym,
)

AUDIT_RETENTION_ENV = "AUDIT_RETENTION_DAYS"
AUDIT_RETENTION_DAYS = 2190  # six years
FORGET_SETTLE_SECONDS = 5.0  # how long forget waits before its second look
BATCH_ROWS = 5000  # rows deleted per transaction (~30 ms on SQLite)
CHUNK_CONVERSATIONS = 250  # conversations per transaction
# SQLite: the pause after each write transaction of a deletion. A writer waiting
# for the lock polls at least every 100 ms (SQLite's busy handler), so with this
# pause it always gets its turn between two batches instead of starving.
SQLITE_PAUSE_SECONDS = 0.12
TWILIO_SID = re.compile(r"(?:SM|MM)[0-9a-fA-F]{32}")

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


def audit_retention_days(env: Optional[Mapping[str, str]] = None) -> int:
    """How long audit entries are kept: `AUDIT_RETENTION_DAYS` (default 2190).

    Raises:
        ValueError: the variable is not a whole number of at least 1.
    """
    env = os.environ if env is None else env
    raw = env.get(AUDIT_RETENTION_ENV, "").strip() or str(AUDIT_RETENTION_DAYS)
    try:
        days = int(raw)
    except ValueError:
        raise ValueError(f"{AUDIT_RETENTION_ENV} must be a whole number") from None
    if days < 1:
        raise ValueError(f"{AUDIT_RETENTION_ENV} must be at least 1")
    return days


@dataclass
class Deleted:
    """What a deletion did: rows removed by table, entries kept under a pseudonym.

    `twilio_sids`: the SIDs of the patient's SMS messages (sent and received), to
    redact their bodies at Twilio (`forget` only).
    """

    rows: Dict[str, int] = field(default_factory=dict)
    conversations: int = 0
    pseudonymized: int = 0
    twilio_sids: List[str] = field(default_factory=list)

    def add(self, table: str, count: int) -> None:
        """Counts `count` more deleted rows of `table`."""
        if count:
            self.rows[table] = self.rows.get(table, 0) + count

    def add_sids(self, sids: Iterable[str]) -> None:
        """Adds Twilio message SIDs (kept sorted, each once)."""
        self.twilio_sids = sorted(set(self.twilio_sids) | set(sids))

    def __str__(self) -> str:
        parts = ", ".join(f"{t}: {n}" for t, n in sorted(self.rows.items()))
        text = f"{self.conversations} conversation(s); rows deleted: {parts or 'none'}"
        if self.pseudonymized:
            text += (
                f"; {self.pseudonymized} audit entr"
                f"{'y' if self.pseudonymized == 1 else 'ies'} kept under a pseudonym"
            )
        if self.twilio_sids:
            text += (
                f"\nTwilio still holds {len(self.twilio_sids)} message(s) of this "
                "patient; redact their bodies in Twilio (Messages API, "
                "Body=\"\") by SID:\n" + "\n".join(self.twilio_sids)
            )
        return text


def _tables(engine: Engine) -> Set[str]:
    return set(sa.inspect(engine).get_table_names())


def _read(engine: Engine):
    """A read-only connection (SQLite: its transaction never waits for writers)."""
    return engine.connect().execution_options(**READ_ONLY)


@contextmanager
def _write(engine: Engine) -> Iterator[Connection]:
    """One short write transaction; on SQLite, a pause after it for other writers."""
    with engine.begin() as connection:
        yield connection
    if engine.dialect.name == "sqlite":
        time.sleep(SQLITE_PAUSE_SECONDS)


def _delete_in_batches(
    engine: Engine, deleted: Deleted, table: sa.Table, clause
) -> None:
    """Deletes the rows matching `clause`, `BATCH_ROWS` per short transaction."""
    key = table.c.id
    while True:
        with _write(engine) as connection:
            batch = sa.select(key).where(clause).limit(BATCH_ROWS)
            count = connection.execute(table.delete().where(key.in_(batch))).rowcount
        deleted.add(table.name, count)
        if count < BATCH_ROWS:
            return


def _keyed_tables(existing: Set[str]) -> List[sa.Table]:
    """The tables holding rows of a conversation (`conversation_id`)."""
    tables = [
        ConversationReview.__table__,
        ConversationTag.__table__,
        MessageCorrection.__table__,
        Handoff.__table__,
        IntakeRequest.__table__,
        SmsMessage.__table__,
    ]
    return [t for t in tables if t.name in existing]


def _delete_rows(
    connection: Connection,
    deleted: Deleted,
    existing: Set[str],
    conversation_ids: Sequence[str],
) -> None:
    """Deletes the conversations' rows (not their events) and their summaries."""
    for table in _keyed_tables(existing):
        result = connection.execute(
            table.delete().where(table.c.conversation_id.in_(conversation_ids))
        )
        deleted.add(table.name, result.rowcount)
    summaries.forget_summaries(connection, conversation_ids)


def _delete_rows_of(
    engine: Engine,
    deleted: Deleted,
    existing: Set[str],
    conversation_ids: Sequence[str],
) -> None:
    """`_delete_rows`, `CHUNK_CONVERSATIONS` conversations per transaction."""
    for start in range(0, len(conversation_ids), CHUNK_CONVERSATIONS):
        chunk = list(conversation_ids[start : start + CHUNK_CONVERSATIONS])
        with _write(engine) as connection:
            _delete_rows(connection, deleted, existing, chunk)


# --- purge ------------------------------------------------------------------------


def _old_conversations(engine: Engine, cutoff: float) -> List[str]:
    events = EVENTS
    with _read(engine) as connection, connection.begin():
        return [
            sender
            for (sender,) in connection.execute(
                sa.select(events.c.sender_id)
                .group_by(events.c.sender_id)
                .having(sa.func.max(events.c.timestamp) < cutoff)
            )
        ]


def _purge_conversations(
    engine: Engine, deleted: Deleted, existing: Set[str], ids: List[str], cutoff: float
) -> None:
    """Deletes old conversations, a chunk at a time, each still checked as old.

    A conversation that got a new message since it was listed is left alone (its
    events and its rows both), so a patient coming back during a purge keeps
    their conversation.
    """
    events = EVENTS
    for start in range(0, len(ids), CHUNK_CONVERSATIONS):
        chunk = ids[start : start + CHUNK_CONVERSATIONS]
        active = sa.select(events.c.sender_id).where(
            events.c.sender_id.in_(chunk), events.c.timestamp >= cutoff
        )
        old = sa.and_(events.c.sender_id.in_(chunk), events.c.sender_id.not_in(active))
        _delete_in_batches(engine, deleted, events, old)
        with _write(engine) as connection:
            left = set(
                connection.execute(
                    sa.select(events.c.sender_id)
                    .where(events.c.sender_id.in_(chunk))
                    .distinct()
                ).scalars()
            )
            gone = [c for c in chunk if c not in left]
            _delete_rows(connection, deleted, existing, gone)
        deleted.conversations += len(gone)


def purge(
    engine: Engine,
    older_than_days: int,
    now: Optional[float] = None,
    audit_days: Optional[int] = None,
) -> Deleted:
    """Deletes conversations whose last event is older than `older_than_days`.

    Intake requests and handoffs created before the cut-off go too. Audit entries
    stay for `audit_days` (default `audit_retention_days()`: six years), however
    old the conversations they name: only entries older than that are deleted.

    Args:
        engine: the engine of `DATABASE_URL`.
        older_than_days: the conversations' retention, in days (at least 1).
        now: the current time (Unix time); default the clock's.
        audit_days: the audit entries' retention, in days (at least 1).

    Returns:
        What was deleted.
    """
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    audit_days = audit_retention_days() if audit_days is None else audit_days
    if audit_days < 1:
        raise ValueError("audit_days must be at least 1")
    summaries.refresh(engine, settle_seconds=0)
    now = time.time() if now is None else now
    cutoff = now - older_than_days * 86400
    deleted = Deleted()
    existing = _tables(engine)
    if "events" in existing:
        ids = _old_conversations(engine, cutoff)
        _purge_conversations(engine, deleted, existing, ids, cutoff)
    cutoff_time = datetime.fromtimestamp(cutoff, timezone.utc)
    for table in (IntakeRequest.__table__, Handoff.__table__):
        if table.name in existing:
            _delete_in_batches(engine, deleted, table, table.c.created_at < cutoff_time)
    audit_table = AuditEntry.__table__
    audit_cutoff = datetime.fromtimestamp(now - audit_days * 86400, timezone.utc)
    _delete_in_batches(engine, deleted, audit_table, audit_table.c.at < audit_cutoff)
    with engine.begin() as connection:
        record_audit(connection, None, "purge", "retention", None)
    return deleted


# --- forget -----------------------------------------------------------------------


def _patient_conversations(
    engine: Engine, existing: Set[str], ids: Set[str], phone: Optional[str]
) -> Set[str]:
    """`ids`, and with a phone number its SMS conversations and intakes' ones.

    A number's SMS conversation is `sms-` and a keyed hash of it
    (`bot.channels.ids.sms_conversation_id`); older ones used the number itself
    (and `whatsapp:` + number). Conversations the bot texted the number from are
    found through `sms_messages` too, in case this process lacks the SMS key.
    """
    from bot.channels.ids import sms_conversation_id

    ids = set(ids)
    if not phone:
        return ids
    ids |= {phone, f"whatsapp:{phone}"}
    try:
        ids.add(sms_conversation_id(phone))
    except ValueError:  # SMS_ID_SECRET missing outside a local run
        pass
    with _read(engine) as connection, connection.begin():
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
    with _read(engine) as connection, connection.begin():
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
    with _write(engine) as connection:
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
    with _read(engine) as connection, connection.begin():
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
    with _read(engine) as connection, connection.begin():
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
    with _write(engine) as connection:
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
            _delete_in_batches(
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
    _delete_rows_of(engine, deleted, existing, stale)
    # The number's own rows go unless it has texted again since (a new
    # conversation on one of its SMS conversation ids).
    texting = {c for c in ids if c.startswith(("+", "whatsapp:", "sms-"))}
    if phone and (first or texting <= set(stale)):
        for table in (IntakeRequest.__table__, SmsMessage.__table__):
            if table.name in existing:
                _delete_in_batches(engine, deleted, table, table.c.phone_e164 == phone)
        # A standing opt-out stays: it is the patient's own instruction not to be
        # texted, and without it messages to the number would resume.
        opt_outs = SmsOptOut.__table__
        if opt_outs.name in existing:
            with _write(engine) as connection:
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
    if phone is not None and not E164_PATTERN.fullmatch(phone):
        raise ValueError("phone must be in E.164 form, e.g. +15551234567")
    existing = _tables(engine)
    ids = _patient_conversations(engine, existing, ids, phone)
    deleted = Deleted()
    deleted.conversations = _present(engine, existing, ids)
    forgotten = _record_forget(engine, ids)
    _forget_pass(engine, deleted, existing, forgotten, phone, first=True)
    if settle_seconds > 0:
        time.sleep(settle_seconds)
        _forget_pass(engine, deleted, existing, forgotten, phone, first=False)
    return deleted
