"""Sign-in: the password and the second factor, with lockout and throttling."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional, Union

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from bot.console.auth import common
from bot.console.auth.common import (
    _DUMMY_HASH,
    LOCK_MINUTES,
    MAX_FAILURES,
    PASSWORD_OK,
    SIGN_IN,
    SIGN_IN_FAILED,
    THROTTLE_FAILURES,
    THROTTLE_MINUTES,
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
from bot.db.models import utcnow
from bot.db.queries import sessions as stored_sessions
from bot.db.queries import signin as attempts


def throttled(session: Union[Session, Connection], client_ip: Optional[str]) -> bool:
    """True when `client_ip` failed to sign in too often lately (any accounts)."""
    if not client_ip:
        return False
    since = utcnow() - timedelta(minutes=THROTTLE_MINUTES)
    failures = attempts.count_recent(session, client_ip, SIGN_IN_FAILED, since)
    return failures >= THROTTLE_FAILURES


def _begin_attempt(connection: Connection, client_ip: Optional[str]) -> int:
    """Serialises on the address, refuses a throttled one, records the attempt.

    The attempt is written as a failure (until it succeeds); returns its entry's id.
    """
    attempts.lock_address(connection, client_ip)
    if throttled(connection, client_ip):
        raise Throttled("too many failures from this address")
    return attempts.insert_attempt(connection, client_ip, SIGN_IN_FAILED, "account")


def _reserve_try(connection: Connection, user_id: int, now: datetime) -> bool:
    """Takes one of the account's tries in one UPDATE; False while it is locked.

    The reservation that uses up the last try locks the account at once, before
    its own check runs: no other attempt gets through in the meantime.
    """
    lock_until = now + timedelta(minutes=LOCK_MINUTES)
    return attempts.reserve_try(connection, user_id, now, MAX_FAILURES, lock_until)


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
        user = attempts.sign_in_account(connection, email) if email else None
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
            attempts.settle_attempt(connection, attempt_id, PASSWORD_OK, email)
        else:
            attempts.give_tries_back(connection, user.id, now)
            attempts.settle_attempt(connection, attempt_id, SIGN_IN, email)
        if _hasher.check_needs_rehash(user.password_hash):
            attempts.store_rehash(connection, user.id, _hasher.hash(password))
    return PasswordAccepted(user.id, email, needs_totp)


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
        row = attempts.pending_sign_in(connection, key, now)
        if row is None:
            raise SignInError("no pending sign-in")
        attempt_id = _begin_attempt(connection, client_ip)
        reserved = _reserve_try(connection, row.id, now)
        if not reserved:
            stored_sessions.delete_session(connection, key)
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
        if not attempts.use_totp_step(connection, row.id, step):
            raise SignInError("code already used")
        attempts.give_tries_back(connection, row.id, now)
        attempts.settle_attempt(connection, attempt_id, SIGN_IN, row.email)
        stored_sessions.delete_session(connection, key)
        return _insert_session(connection, row.id, secret_key, hours, "full")
