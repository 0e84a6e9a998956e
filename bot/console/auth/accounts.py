"""Staff accounts: creation, the first admin, activation, names, passwords."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Optional

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.console.auth import common
from bot.console.auth.common import (
    RESET_HOURS,
    AccountError,
    Locked,
    SignedIn,
    SignInError,
    check_display_name,
    hash_password,
    normalise_email,
)
from bot.console.auth.signin import _begin_attempt, _reserve_try
from bot.db.models import ROLES, ConsoleUser, utcnow
from bot.db.queries import accounts
from bot.db.queries import sessions as stored_sessions
from bot.db.queries.signin import settle_attempt


def count_users(session: Session) -> int:
    """How many accounts exist (0 before the first admin)."""
    return accounts.count_accounts(session)


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
    if accounts.account_by_email(session, email) is not None:
        raise AccountError("an account with this email already exists")
    return accounts.add_account(
        session, email, hash_password(password), role, display_name
    )


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
    user = accounts.account(session, user_id)
    if user is None:
        raise LookupError("no such account")
    if active:
        accounts.enable_account(session, user)
    else:
        accounts.disable_account(session, user)
        accounts.end_sessions(session, user_id)
    return user


def set_display_name(session: Session, user_id: int, name: str) -> str:
    """Sets what patients see on this staff member's replies."""
    name = check_display_name(name)
    if not accounts.rename_account(session, user_id, name):
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
        stored = accounts.password_hash(connection, signed.user_id)
    if not reserved:
        raise Locked("locked")
    if not common._verify(stored, current):
        raise SignInError("wrong password")
    with engine.begin() as connection:
        accounts.replace_password(connection, signed.user_id, new_hash, now)
        settle_attempt(connection, attempt_id, "password change", signed.email)
        stored_sessions.end_other_sessions(
            connection, signed.user_id, signed.session_hash
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
    user = accounts.account(session, user_id)
    if user is None:
        raise LookupError("no such account")
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(hours=RESET_HOURS)
    accounts.store_reset_key(session, user, _reset_key(secret_key, token), expires_at)
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
        row = accounts.account_by_reset_key(connection, key, now)
        used = row is not None and accounts.replace_password(
            connection, row.id, new_hash, now, reset_key=key
        )
        if row is not None and used:
            accounts.end_sessions(connection, row.id)
            settle_attempt(connection, attempt_id, "password reset", row.email)
    if row is None or not used:
        raise SignInError("invalid or expired reset link")
    return row.email
