"""What the actions and the staff console do with the project's tables.

Every function takes a `Session` (from `bot.db.engine.session_scope`) and leaves
committing to the caller, so several calls can share one transaction::

    with session_scope() as session:
        intake, created = save_intake(session, conversation_id=..., ...)
    # committed here; `intake.id` is still readable

Bad values raise `bot.db.models.InvalidValueError` (a `ValueError` naming the
field, never showing the value) before anything is written. A conflicting
transition (claiming a handoff someone else holds) raises `HandoffStateError`; an
unknown id raises `LookupError`.

Forgotten conversations (`python -m bot.console forget`, `bot.db.retention`): a
turn that was already running when its conversation was forgotten cannot write it
back: `save_intake` and `open_handoff` refuse it (`check_not_forgotten`).
"""

from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import (
    HANDOFF_ACTIVE_STATUSES,
    HANDOFF_MAX_LENGTHS,
    HANDOFF_TEXT_RULES,
    INTAKE_MAX_LENGTHS,
    Handoff,
    IntakeRequest,
    check_text,
    utcnow,
)
from bot.db.retention.marks import check_not_forgotten


class HandoffStateError(ValueError):
    """The handoff is not in a state that allows this change."""


def _intake_by_key(session: Session, submission_key: str) -> IntakeRequest | None:
    return session.execute(
        select(IntakeRequest).where(IntakeRequest.submission_key == submission_key)
    ).scalar_one_or_none()


def save_intake(
    session: Session,
    *,
    conversation_id: str,
    channel: str,
    submission_key: str,
    full_name: str,
    phone_e164: str,
    email: str | None,
    condition: str,
    best_time: str,
    consent: bool,
) -> tuple[IntakeRequest, bool]:
    """Stores an intake request exactly once per `submission_key`.

    A retried action (same key) gets the row stored the first time, unchanged: the
    first submission wins. Two concurrent calls with the same key (two processes or
    threads) also end with one row: the loser's insert hits the unique constraint
    inside a SAVEPOINT, which is rolled back, and the winner's row is read instead.
    The rest of the caller's transaction is not affected.

    Args:
        session: an open session; the caller commits.
        conversation_id: Rasa's sender id.
        channel: input channel name (e.g. "rest", "twilio").
        submission_key: the idempotency key, the same on every retry of one
            submission (e.g. conversation id + the form's submission event id).
        full_name: as the patient gave it.
        phone_e164: normalised phone number, e.g. "+15551234567".
        email: validated email, or None (an empty string counts as None).
        condition: what brings them, in their own words.
        best_time: the best time to reach them, in their words.
        consent: the patient's explicit answer to being contacted.

    Returns:
        `(intake, created)`: `created` is False when the key was already stored.

    Raises:
        InvalidValueError: a value is missing, too long or malformed; nothing is
            stored.
        ConversationForgottenError: the conversation was forgotten while this
            turn ran (`check_not_forgotten`); nothing is stored.
    """
    intake = IntakeRequest(
        conversation_id=conversation_id,
        channel=channel,
        submission_key=submission_key,
        full_name=full_name,
        phone_e164=phone_e164,
        email=email,
        condition=condition,
        best_time=best_time,
        consent=consent,
        status="new",
    )  # validates every value (bot.db.models) before any query
    check_not_forgotten(session, conversation_id)
    existing = _intake_by_key(session, submission_key)
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            session.add(intake)
    except IntegrityError:
        existing = _intake_by_key(session, submission_key)
        if existing is None:
            raise
        return existing, False
    return intake, True


def get_intake(session: Session, intake_id: int) -> IntakeRequest:
    """The intake request with this id.

    Args:
        session: an open session.
        intake_id: `IntakeRequest.id`.

    Returns:
        The row.

    Raises:
        LookupError: no such row.
    """
    intake = session.get(IntakeRequest, intake_id)
    if intake is None:
        raise LookupError(f"no intake request with id {intake_id}")
    return intake


def _record_notification(row, error: str | None, limit: int):
    if error is None:
        row.notified_at = utcnow()
        row.notify_error = None
    else:
        cleaned = str(error).replace("\x00", "")
        cleaned = cleaned.encode("utf-8", "replace").decode("utf-8")
        row.notify_error = cleaned[:limit]
    return row


def mark_notified(
    session: Session, intake_id: int, error: str | None = None
) -> IntakeRequest:
    """Records the outcome of notifying staff about an intake request.

    Success (`error` None) sets `notified_at` and clears `notify_error`. A failure
    keeps `notified_at` empty (the request still waits in the table) and stores
    `error`, cut to its column limit and cleaned of characters the database
    refuses, so recording a failure never fails itself.

    Args:
        session: an open session; the caller commits.
        intake_id: `IntakeRequest.id`.
        error: a short description of the failure (e.g. "HTTP 502", "timeout"):
            never the patient's data.

    Returns:
        The updated row.

    Raises:
        LookupError: no such row.
    """
    intake = get_intake(session, intake_id)
    _record_notification(intake, error, INTAKE_MAX_LENGTHS["notify_error"])
    session.flush()
    return intake


def mark_handoff_notified(
    session: Session, handoff_id: int, error: str | None = None
) -> Handoff:
    """`mark_notified` for a handoff's event (`handoff.created`, `handoff.urgent`).

    `notified_at` is when the hook last accepted one of its events; a failure of a
    later event keeps it and stores `notify_error`.

    Raises:
        LookupError: no such handoff.
    """
    handoff = _get_handoff(session, handoff_id)
    _record_notification(handoff, error, HANDOFF_MAX_LENGTHS["notify_error"])
    session.flush()
    return handoff


def latest_active_handoff(session: Session, conversation_id: str) -> Handoff | None:
    """The conversation's open or claimed handoff, if any.

    Args:
        session: an open session.
        conversation_id: Rasa's sender id.

    Returns:
        The handoff, or None when the conversation has none open or claimed.
    """
    return (
        session.execute(
            select(Handoff)
            .where(
                Handoff.conversation_id == conversation_id,
                Handoff.status.in_(HANDOFF_ACTIVE_STATUSES),
            )
            .order_by(Handoff.created_at.desc(), Handoff.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )


# What `open_or_escalate_handoff` did: the events staff are told of (`actions.notify`).
HANDOFF_CREATED = "created"
HANDOFF_ESCALATED = "escalated"


def _escalate(handoff: Handoff, urgent: bool) -> tuple[Handoff, str | None]:
    if urgent and not handoff.urgent:
        handoff.urgent = True
        return handoff, HANDOFF_ESCALATED
    return handoff, None


def open_handoff(session: Session, **fields: Any) -> Handoff:
    """`open_or_escalate_handoff` (same arguments), the handoff only."""
    return open_or_escalate_handoff(session, **fields)[0]


def open_or_escalate_handoff(
    session: Session,
    *,
    conversation_id: str,
    channel: str,
    reason: str,
    summary: str,
    urgent: bool = False,
) -> tuple[Handoff, str | None]:
    """Hands the conversation to staff, once.

    If the conversation already has an open or claimed handoff, that one is
    returned and no second row is made (a database index guarantees it, also under
    concurrent calls). If this call is urgent and the existing one is not, the
    existing one becomes urgent, so a crisis never waits behind a routine request.

    Args:
        session: an open session; the caller commits.
        conversation_id: Rasa's sender id.
        channel: input channel name.
        reason: one of `bot.db.models.HANDOFF_REASONS` (requested, fallback,
            medical_advice, logistics, crisis).
        summary: a short summary of what the patient asked, at most
            `HANDOFF_MAX_LENGTHS["summary"]` characters (may be empty).
        urgent: True for a crisis.

    Returns:
        `(handoff, change)`: the new handoff and `HANDOFF_CREATED`; or the
        conversation's existing open or claimed one and `HANDOFF_ESCALATED`
        (it was not urgent and now is) or None (unchanged).

    Raises:
        InvalidValueError: a value is missing, too long or not allowed; nothing
            is stored.
    """
    handoff = Handoff(
        conversation_id=conversation_id,
        channel=channel,
        reason=reason,
        summary=summary,
        urgent=urgent,
        status="open",
    )  # validates every value before any query
    existing = latest_active_handoff(session, conversation_id)
    if existing is not None:
        return _escalate(existing, urgent)
    try:
        with session.begin_nested():
            session.add(handoff)
    except IntegrityError:
        existing = latest_active_handoff(session, conversation_id)
        if existing is None:
            raise
        return _escalate(existing, urgent)
    return handoff, HANDOFF_CREATED


def list_open_handoffs(
    session: Session, *, include_claimed: bool = False
) -> Sequence[Handoff]:
    """Handoffs waiting for staff: urgent ones first, then the oldest first.

    Args:
        session: an open session.
        include_claimed: also list handoffs a staff member has claimed.

    Returns:
        The handoffs, in the order staff should take them.
    """
    statuses = HANDOFF_ACTIVE_STATUSES if include_claimed else ("open",)
    return (
        session.execute(
            select(Handoff)
            .where(Handoff.status.in_(statuses))
            .order_by(Handoff.urgent.desc(), Handoff.created_at, Handoff.id)
        )
        .scalars()
        .all()
    )


def _get_handoff(session: Session, handoff_id: int) -> Handoff:
    handoff = session.get(Handoff, handoff_id, populate_existing=True)
    if handoff is None:
        raise LookupError(f"no handoff with id {handoff_id}")
    return handoff


def claim_handoff(session: Session, handoff_id: int, *, claimed_by: str) -> Handoff:
    """A staff member takes an open handoff (open -> claimed).

    The change is one conditional UPDATE, so of two staff members claiming at once
    exactly one wins. Claiming again by the same person returns the handoff
    unchanged.

    Args:
        session: an open session; the caller commits.
        handoff_id: `Handoff.id`.
        claimed_by: who claims it (staff user name or id).

    Returns:
        The claimed handoff.

    Raises:
        InvalidValueError: `claimed_by` is empty or too long.
        HandoffStateError: someone else holds it, or it is closed.
        LookupError: no such handoff.
    """
    rule = HANDOFF_TEXT_RULES["claimed_by"]._replace(required=True, nullable=False)
    check_text("claimed_by", claimed_by, rule)
    result = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.status == "open")
        .values(status="claimed", claimed_by=claimed_by, claimed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    handoff = _get_handoff(session, handoff_id)
    if result.rowcount == 1:
        return handoff
    if handoff.status == "claimed" and handoff.claimed_by == claimed_by:
        return handoff
    raise HandoffStateError(f"handoff {handoff_id} is {handoff.status}")


def close_handoff(session: Session, handoff_id: int) -> Handoff:
    """Closes a handoff, open or claimed (-> closed). Closing twice is harmless.

    Args:
        session: an open session; the caller commits.
        handoff_id: `Handoff.id`.

    Returns:
        The closed handoff.

    Raises:
        LookupError: no such handoff.
    """
    session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.status.in_(HANDOFF_ACTIVE_STATUSES))
        .values(status="closed", closed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return _get_handoff(session, handoff_id)
