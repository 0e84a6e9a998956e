"""Sessions: the cookie's keyed hash, expiry, idle time, CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Optional, Union

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bot.console.auth.common import (
    DEFAULT_IDLE_MINUTES,
    TOTP_PENDING_MINUTES,
    TOUCH_SECONDS,
    SignedIn,
)
from bot.db.models import ConsoleUser, utcnow
from bot.db.queries import sessions as stored_sessions


def session_key(secret_key: str, token: str) -> str:
    """What the database stores for a session cookie value (an HMAC)."""
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


def _insert_session(
    connection: Connection, user_id: int, secret_key: str, hours: float, stage: str
) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    stored_sessions.delete_expired_sessions(connection, now)
    stored_sessions.insert_session(
        connection,
        session_key(secret_key, token),
        user_id,
        secrets.token_urlsafe(32),
        now,
        now + timedelta(hours=hours),
        stage,
    )
    return token


def start_session(
    session: Session,
    user: Union[ConsoleUser, int],
    secret_key: str,
    hours: int,
    stage: str = "full",
) -> str:
    """Opens a session for `user`; returns the cookie value (shown only once).

    A `totp` session (the password was right, the code is still to come) lasts
    `TOTP_PENDING_MINUTES` and opens nothing but the code form.
    """
    user_id = user if isinstance(user, int) else user.id
    length = hours if stage == "full" else TOTP_PENDING_MINUTES / 60
    token = _insert_session(session.connection(), user_id, secret_key, length, stage)
    return token


def load_session(
    session: Session,
    secret_key: str,
    token: str,
    idle_minutes: int = DEFAULT_IDLE_MINUTES,
    touch: bool = True,
) -> Optional[SignedIn]:
    """The signed-in user of a cookie value, or None.

    None: expired, idle, unknown, disabled, or still waiting for the second
    factor.

    Args:
        session: the database session (committed by the caller).
        secret_key: `CONSOLE_SECRET_KEY`.
        token: the cookie's value.
        idle_minutes: the session ends after this long without a request.
        touch: count this request as activity (False for background polling);
            the time is written only when the stored one is a minute old.
    """
    if not token or len(token) > 128:
        return None
    row = stored_sessions.session_with_account(session, session_key(secret_key, token))
    if row is None:
        return None
    stored, user = row
    now = utcnow()
    last_seen = stored.last_seen_at or stored.created_at
    idle = now - last_seen >= timedelta(minutes=idle_minutes)
    if stored.expires_at <= now or idle or not user.active:
        return None
    if (stored.stage or "full") != "full":
        return None
    if touch and now - last_seen >= timedelta(seconds=TOUCH_SECONDS):
        stored_sessions.touch_session(stored, now)
    return SignedIn(
        user.id,
        user.email,
        user.role,
        stored.csrf_token,
        display_name=user.display_name,
        totp_enabled=user.totp_secret is not None,
        session_hash=stored.token_hash,
    )


def pending_csrf(session: Session, secret_key: str, token: str) -> Optional[str]:
    """The CSRF token of a `totp` session that is still valid, or None."""
    if not token or len(token) > 128:
        return None
    return stored_sessions.pending_csrf_token(
        session, session_key(secret_key, token), utcnow()
    )


def end_session(session: Session, secret_key: str, token: str) -> None:
    """Signs a browser out (deletes its session)."""
    stored_sessions.delete_session(session, session_key(secret_key, token))


def login_csrf_token(secret_key: str, nonce: str) -> str:
    """The sign-in form's CSRF token for the nonce kept in its cookie."""
    return hmac.new(
        secret_key.encode(), f"login:{nonce}".encode(), hashlib.sha256
    ).hexdigest()


def tokens_match(expected: Optional[str], given: Optional[str]) -> bool:
    """Constant-time comparison of two tokens (False if either is missing)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
