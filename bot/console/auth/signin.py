"""Sign-in: the password and the second factor, with lockout and throttling."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional, Union

import sqlalchemy as sa
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from bot.console.auth import common
from bot.console.auth.common import (
    _ADVISORY_NAMESPACE,
    _DUMMY_HASH,
    AUDIT_TABLE,
    LOCK_MINUTES,
    MAX_FAILURES,
    PASSWORD_OK,
    SESSION_TABLE,
    SIGN_IN,
    SIGN_IN_FAILED,
    THROTTLE_FAILURES,
    THROTTLE_MINUTES,
    USER_TABLE,
    AccountError,
    Locked,
    PasswordAccepted,
    SignInError,
    Throttled,
    _hasher,
    normalise_email,
)
from bot.console.auth.sessions import _insert_session, session_key
from bot.console.auth.totp import _user_context, matching_step, open_totp_secret
from bot.db.models import (
    AuditEntry,
    UTCDateTime,
    utcnow,
)


def _serialise_address(connection: Connection, client_ip: Optional[str]) -> None:
    """Makes counting and writing one address's failures one step at a time."""
    if client_ip and connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext(:ip))"),
            {"ns": _ADVISORY_NAMESPACE, "ip": client_ip[:64]},
        )


def throttled(session: Union[Session, Connection], client_ip: Optional[str]) -> bool:
    """True when `client_ip` failed to sign in too often lately (any accounts)."""
    if not client_ip:
        return False
    since = utcnow() - timedelta(minutes=THROTTLE_MINUTES)
    failures = session.execute(
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.client_ip == client_ip[:64],
            AuditEntry.at >= since,
            AuditEntry.action == SIGN_IN_FAILED,
        )
    ).scalar_one()
    return failures >= THROTTLE_FAILURES


def _record_attempt(
    connection: Connection, client_ip: Optional[str], object_type: str = "account"
) -> int:
    """Writes the attempt as a failure (until it succeeds); returns the entry's id."""
    result = connection.execute(
        sa.insert(AUDIT_TABLE).values(
            at=func.now(),
            user_email=None,
            action=SIGN_IN_FAILED,
            object_type=object_type,
            object_id=None,
            client_ip=(client_ip or None) and client_ip[:64],
        )
    )
    return result.inserted_primary_key[0]


def _settle_attempt(
    connection: Connection, attempt_id: int, action: str, email: str
) -> None:
    connection.execute(
        sa.update(AUDIT_TABLE)
        .where(AUDIT_TABLE.c.id == attempt_id)
        .values(action=action, user_email=email)
    )


def _begin_attempt(connection: Connection, client_ip: Optional[str]) -> int:
    """Serialises on the address, refuses a throttled one, records the attempt."""
    _serialise_address(connection, client_ip)
    if throttled(connection, client_ip):
        raise Throttled("too many failures from this address")
    return _record_attempt(connection, client_ip)


def _reserve_try(connection: Connection, user_id: int, now: datetime) -> bool:
    """Takes one of the account's tries in one UPDATE; False while it is locked.

    The reservation that uses up the last try locks the account at once, before
    its own check runs: no other attempt gets through in the meantime.
    """
    tries = USER_TABLE.c.failed_logins + 1
    lock_until = sa.literal(now + timedelta(minutes=LOCK_MINUTES), UTCDateTime())
    result = connection.execute(
        sa.update(USER_TABLE)
        .where(
            USER_TABLE.c.id == user_id,
            sa.or_(
                USER_TABLE.c.locked_until.is_(None),
                USER_TABLE.c.locked_until <= sa.literal(now, UTCDateTime()),
            ),
        )
        .values(
            failed_logins=sa.case((tries >= MAX_FAILURES, 0), else_=tries),
            locked_until=sa.case(
                (tries >= MAX_FAILURES, lock_until),
                else_=sa.null(),
            ),
        )
    )
    return result.rowcount == 1


def _give_tries_back(connection: Connection, user_id: int, now: datetime) -> None:
    connection.execute(
        sa.update(USER_TABLE)
        .where(USER_TABLE.c.id == user_id)
        .values(failed_logins=0, locked_until=None, last_login_at=now)
    )


def check_password(
    engine: Engine, email: str, password: str, client_ip: Optional[str]
) -> PasswordAccepted:
    """The first step of a sign-in: the password, with lockout and throttling.

    Raises:
        Throttled: too many failures from `client_ip` lately; nothing checked.
        SignInError: anything else (unknown email, wrong password, disabled or
            locked account), with the same message whatever the cause.
    """
    try:
        email = normalise_email(email)
    except AccountError:
        email = ""
    now = utcnow()
    with engine.begin() as connection:
        attempt_id = _begin_attempt(connection, client_ip)
        user = (
            connection.execute(
                select(
                    USER_TABLE.c.id,
                    USER_TABLE.c.password_hash,
                    USER_TABLE.c.active,
                    USER_TABLE.c.totp_secret,
                ).where(USER_TABLE.c.email == email)
            ).first()
            if email
            else None
        )
        reserved = user is not None and _reserve_try(connection, user.id, now)
    if not reserved:
        common._verify(_DUMMY_HASH, password)
        raise SignInError("unknown email" if user is None else "locked")
    assert user is not None  # a try is only reserved for an existing account
    if not common._verify(user.password_hash, password) or not user.active:
        raise SignInError("wrong password or disabled")
    needs_totp = user.totp_secret is not None
    with engine.begin() as connection:
        if needs_totp:  # the tries come back only with the second factor
            _settle_attempt(connection, attempt_id, PASSWORD_OK, email)
        else:
            _give_tries_back(connection, user.id, now)
            _settle_attempt(connection, attempt_id, SIGN_IN, email)
        if _hasher.check_needs_rehash(user.password_hash):
            connection.execute(
                sa.update(USER_TABLE)
                .where(USER_TABLE.c.id == user.id)
                .values(password_hash=_hasher.hash(password))
            )
    return PasswordAccepted(user.id, email, needs_totp)


def _use_step(connection: Connection, user_id: int, step: int) -> bool:
    """Marks `step` used; False if it (or a later one) already was (a replay)."""
    result = connection.execute(
        sa.update(USER_TABLE)
        .where(
            USER_TABLE.c.id == user_id,
            sa.or_(
                USER_TABLE.c.totp_last_step.is_(None),
                USER_TABLE.c.totp_last_step < step,
            ),
        )
        .values(totp_last_step=step)
    )
    return result.rowcount == 1


def check_second_factor(
    engine: Engine,
    secret_key: str,
    token: str,
    code: str,
    client_ip: Optional[str],
    hours: int,
) -> str:
    """The second step of a sign-in: the code for a `totp` session.

    Returns:
        The cookie value of the new full session (the `totp` one is gone).

    Raises:
        Throttled: too many failures from `client_ip` lately.
        Locked: the account is locked (the pending session is ended).
        SignInError: no pending session (expired: start again), a wrong or
            reused code, a disabled account.
    """
    now = utcnow()
    key = session_key(secret_key, token or "")
    with engine.begin() as connection:
        row = connection.execute(
            select(
                USER_TABLE.c.id,
                USER_TABLE.c.email,
                USER_TABLE.c.active,
                USER_TABLE.c.totp_secret,
            )
            .join(SESSION_TABLE, SESSION_TABLE.c.user_id == USER_TABLE.c.id)
            .where(
                SESSION_TABLE.c.token_hash == key,
                SESSION_TABLE.c.stage == "totp",
                SESSION_TABLE.c.expires_at > sa.literal(now, UTCDateTime()),
            )
        ).first()
        if row is None:
            raise SignInError("no pending sign-in")
        attempt_id = _begin_attempt(connection, client_ip)
        reserved = _reserve_try(connection, row.id, now)
        if not reserved:
            connection.execute(
                delete(SESSION_TABLE).where(SESSION_TABLE.c.token_hash == key)
            )
    if not reserved:
        raise Locked("locked")
    try:
        secret = open_totp_secret(secret_key, row.totp_secret, _user_context(row.id))
    except SignInError:
        secret = None
    step = matching_step(secret, code) if secret else None
    if step is None or not row.active:
        raise SignInError("wrong code")
    with engine.begin() as connection:
        if not _use_step(connection, row.id, step):
            raise SignInError("code already used")
        _give_tries_back(connection, row.id, now)
        _settle_attempt(connection, attempt_id, SIGN_IN, row.email)
        connection.execute(
            delete(SESSION_TABLE).where(SESSION_TABLE.c.token_hash == key)
        )
        return _insert_session(connection, row.id, secret_key, hours, "full")
