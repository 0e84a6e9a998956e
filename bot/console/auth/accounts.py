"""Staff accounts: creation, the first admin, activation, names, passwords."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Optional

import sqlalchemy as sa
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.console.auth import common
from bot.console.auth.common import (
    RESET_HOURS,
    SESSION_TABLE,
    USER_TABLE,
    AccountError,
    Locked,
    SignedIn,
    SignInError,
    check_display_name,
    hash_password,
    normalise_email,
)
from bot.console.auth.signin import _begin_attempt, _reserve_try, _settle_attempt
from bot.db.models import (
    ROLES,
    ConsoleSession,
    ConsoleUser,
    UTCDateTime,
    utcnow,
)


def count_users(session: Session) -> int:
    """How many accounts exist (0 before the first admin)."""
    return session.execute(select(func.count()).select_from(ConsoleUser)).scalar_one()


def create_user(
    session: Session,
    email: str,
    password: str,
    role: str,
    display_name: Optional[str] = None,
) -> ConsoleUser:
    """Adds an account.

    Raises:
        AccountError: bad email, short password, unknown role, taken email or a
            display name that is not one.
    """
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    email = normalise_email(email)
    if display_name is not None:
        display_name = check_display_name(display_name)
    existing = session.execute(
        select(ConsoleUser).where(ConsoleUser.email == email)
    ).scalar_one_or_none()
    if existing is not None:
        raise AccountError("an account with this email already exists")
    user = ConsoleUser(
        email=email,
        password_hash=hash_password(password),
        role=role,
        active=True,
        display_name=display_name,
    )
    session.add(user)
    session.flush()
    return user


def ensure_bootstrap_admin(
    session: Session,
    email: Optional[str],
    password: Optional[str],
    display_name: Optional[str] = None,
) -> Optional[ConsoleUser]:
    """Creates the first admin from the environment when no account exists yet."""
    if not email or not password or count_users(session) > 0:
        return None
    return create_user(session, email, password, "admin", display_name)


def set_active(session: Session, user_id: int, active: bool) -> ConsoleUser:
    """Enables or disables an account; disabling ends its sessions."""
    user = session.get(ConsoleUser, user_id)
    if user is None:
        raise LookupError("no such account")
    user.active = active
    if not active:
        session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user_id))
    else:
        user.failed_logins = 0
        user.locked_until = None
    session.flush()
    return user


def set_display_name(session: Session, user_id: int, name: str) -> str:
    """Sets what patients see on this staff member's replies."""
    name = check_display_name(name)
    result = session.execute(
        sa.update(USER_TABLE)
        .where(USER_TABLE.c.id == user_id)
        .values(display_name=name)
    )
    if result.rowcount != 1:
        raise LookupError("no such account")
    return name


def change_password(
    engine: Engine,
    signed: SignedIn,
    current: str,
    new: str,
    client_ip: Optional[str],
) -> None:
    """Changes the signed-in user's password; ends their other sessions.

    The current password is checked like a sign-in (it takes one of the
    account's tries, and the attempt is audited).

    Raises:
        AccountError: the new password is too short or the same.
        SignInError: the current password is wrong, or the account is locked.
    """
    if new == current:
        raise AccountError("choose a password different from the current one")
    new_hash = hash_password(new)
    now = utcnow()
    with engine.begin() as connection:
        attempt_id = _begin_attempt(connection, client_ip)
        reserved = _reserve_try(connection, signed.user_id, now)
        stored = connection.execute(
            select(USER_TABLE.c.password_hash).where(USER_TABLE.c.id == signed.user_id)
        ).scalar_one()
    if not reserved:
        raise Locked("locked")
    if not common._verify(stored, current):
        raise SignInError("wrong password")
    with engine.begin() as connection:
        connection.execute(
            sa.update(USER_TABLE)
            .where(USER_TABLE.c.id == signed.user_id)
            .values(
                password_hash=new_hash,
                password_changed_at=now,
                failed_logins=0,
                locked_until=None,
                reset_token_hash=None,
                reset_expires_at=None,
            )
        )
        _settle_attempt(connection, attempt_id, "password change", signed.email)
        connection.execute(
            delete(SESSION_TABLE).where(
                SESSION_TABLE.c.user_id == signed.user_id,
                SESSION_TABLE.c.token_hash != signed.session_hash,
            )
        )


def _reset_key(secret_key: str, token: str) -> str:
    return hmac.new(
        secret_key.encode(), f"reset:{token}".encode(), hashlib.sha256
    ).hexdigest()


def issue_reset(session: Session, secret_key: str, user_id: int) -> str:
    """A one-time password reset token for an account (replaces an older one).

    Returns:
        The token (shown once to the admin; only its keyed hash is stored).
    """
    user = session.get(ConsoleUser, user_id)
    if user is None:
        raise LookupError("no such account")
    token = secrets.token_urlsafe(32)
    user.reset_token_hash = _reset_key(secret_key, token)
    user.reset_expires_at = utcnow() + timedelta(hours=RESET_HOURS)
    session.flush()
    return token


def use_reset(
    engine: Engine,
    secret_key: str,
    token: str,
    new_password: str,
    client_ip: Optional[str],
) -> str:
    """Sets a new password with a reset token, once; ends every session.

    Returns:
        The account's email.

    Raises:
        AccountError: the new password is not acceptable (the token stays valid).
        Throttled: too many failures from `client_ip` lately.
        SignInError: unknown, used or expired token, or a disabled account.
    """
    new_hash = hash_password(new_password)
    if not token or len(token) > 128:
        token = ""
    key = _reset_key(secret_key, token)
    now = utcnow()
    with engine.begin() as connection:
        attempt_id = _begin_attempt(connection, client_ip)
        row = connection.execute(
            select(USER_TABLE.c.id, USER_TABLE.c.email).where(
                USER_TABLE.c.reset_token_hash == key,
                USER_TABLE.c.reset_expires_at > sa.literal(now, UTCDateTime()),
                USER_TABLE.c.active.is_(True),
            )
        ).first()
        used = row is not None and (
            connection.execute(
                sa.update(USER_TABLE)
                .where(USER_TABLE.c.id == row.id, USER_TABLE.c.reset_token_hash == key)
                .values(
                    password_hash=new_hash,
                    password_changed_at=now,
                    reset_token_hash=None,
                    reset_expires_at=None,
                    failed_logins=0,
                    locked_until=None,
                )
            ).rowcount
            == 1
        )
        if used:
            connection.execute(
                delete(SESSION_TABLE).where(SESSION_TABLE.c.user_id == row.id)
            )
            _settle_attempt(connection, attempt_id, "password reset", row.email)
    if not used:
        raise SignInError("invalid or expired reset link")
    return row.email
