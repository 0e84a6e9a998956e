"""Staff accounts, sign-in with lockout, server-side sessions and CSRF tokens.

- Passwords are hashed with argon2id (`argon2-cffi`, OWASP's minimum parameters:
  19 MiB, 2 passes); a hash made with older parameters is upgraded at sign-in.
- `MAX_FAILURES` wrong passwords in a row lock the account for `LOCK_MINUTES`;
  while locked, even the right password is refused. The message never says
  whether the email exists.
- `THROTTLE_FAILURES` failed sign-ins from one client address within
  `THROTTLE_MINUTES`, whatever the accounts (known or not), refuse further
  attempts from that address until the window has moved on. The failures are the
  audit log's "sign-in failed" entries, so the count holds across restarts and
  processes.
- A session is a random cookie value; the database keeps only its HMAC (keyed
  with `CONSOLE_SECRET_KEY`), so a copy of the database opens no session. Each
  session has its own CSRF token, checked on every POST. It ends
  `CONSOLE_SESSION_HOURS` after sign-in, or after `CONSOLE_IDLE_MINUTES` without
  a request; the last request time is written at most once a minute.
- The sign-in form (no session yet) gets a CSRF token signed with the secret key
  and tied to a short-lived cookie (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.console.models import ROLES, AuditEntry, ConsoleSession, ConsoleUser
from bot.console.settings import MIN_PASSWORD_LENGTH
from bot.db.models import utcnow

MAX_FAILURES = 5
LOCK_MINUTES = 15
MAX_EMAIL_LENGTH = 254
THROTTLE_FAILURES = 20
THROTTLE_MINUTES = 15
SIGN_IN_FAILED = "sign-in failed"  # the audit action of a refused sign-in
DEFAULT_IDLE_MINUTES = 30
TOUCH_SECONDS = 60  # how stale `last_seen_at` may get before it is written

_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Verified against when the email is unknown, so both cases take as long.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """An account cannot be created or changed (the message says why)."""


class SignInError(Exception):
    """Sign-in refused: wrong email or password, disabled or locked account."""


class Throttled(SignInError):
    """Too many failed sign-ins from the client's address: not even tried."""


@dataclass(frozen=True)
class SignedIn:
    """The user behind a valid session."""

    user_id: int
    email: str
    role: str
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        """True for admins (user management)."""
        return self.role == "admin"


def normalise_email(email: str) -> str:
    """Lower-cased, trimmed email; refuses what is clearly not an address."""
    email = (email or "").strip().lower()
    if not 3 <= len(email) <= MAX_EMAIL_LENGTH or "@" not in email[1:-1]:
        raise AccountError("enter a valid email address")
    if any(ch.isspace() for ch in email):
        raise AccountError("enter a valid email address")
    return email


def hash_password(password: str) -> str:
    """An argon2id hash of a new password (at least MIN_PASSWORD_LENGTH chars)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"the password must be at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > 1024:
        raise AccountError("the password is too long")
    return _hasher.hash(password)


def count_users(session: Session) -> int:
    """How many accounts exist (0 before the first admin)."""
    return session.execute(select(func.count()).select_from(ConsoleUser)).scalar_one()


def create_user(session: Session, email: str, password: str, role: str) -> ConsoleUser:
    """Adds an account.

    Raises:
        AccountError: bad email, short password, unknown role or taken email.
    """
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    email = normalise_email(email)
    existing = session.execute(
        select(ConsoleUser).where(ConsoleUser.email == email)
    ).scalar_one_or_none()
    if existing is not None:
        raise AccountError("an account with this email already exists")
    user = ConsoleUser(
        email=email, password_hash=hash_password(password), role=role, active=True
    )
    session.add(user)
    session.flush()
    return user


def ensure_bootstrap_admin(
    session: Session, email: Optional[str], password: Optional[str]
) -> Optional[ConsoleUser]:
    """Creates the first admin from the environment when no account exists yet."""
    if not email or not password or count_users(session) > 0:
        return None
    return create_user(session, email, password, "admin")


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


def authenticate(session: Session, email: str, password: str) -> ConsoleUser:
    """Checks a sign-in attempt, counting failures and locking the account.

    Raises:
        SignInError: for any refusal (same message whatever the cause).
    """
    try:
        email = normalise_email(email)
    except AccountError:
        email = ""
    user = (
        session.execute(
            select(ConsoleUser).where(ConsoleUser.email == email)
        ).scalar_one_or_none()
        if email
        else None
    )
    now = utcnow()
    if user is None:
        _verify(_DUMMY_HASH, password)
        raise SignInError("unknown email")
    if user.locked_until is not None and user.locked_until > now:
        _verify(_DUMMY_HASH, password)
        raise SignInError("locked")
    if not _verify(user.password_hash, password) or not user.active:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
        session.flush()
        raise SignInError("wrong password or disabled")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    session.flush()
    return user


def throttled(session: Session, client_ip: Optional[str]) -> bool:
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


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


def session_key(secret_key: str, token: str) -> str:
    """What the database stores for a session cookie value (an HMAC)."""
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


def start_session(
    session: Session, user: ConsoleUser, secret_key: str, hours: int
) -> str:
    """Opens a session for `user`; returns the cookie value (shown only once)."""
    token = secrets.token_urlsafe(32)
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < utcnow()))
    session.add(
        ConsoleSession(
            token_hash=session_key(secret_key, token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=utcnow() + timedelta(hours=hours),
            last_seen_at=utcnow(),
        )
    )
    session.flush()
    return token


def load_session(
    session: Session,
    secret_key: str,
    token: str,
    idle_minutes: int = DEFAULT_IDLE_MINUTES,
    touch: bool = True,
) -> Optional[SignedIn]:
    """The signed-in user of a cookie value, or None (expired, idle, unknown, disabled).

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
    row = session.execute(
        select(ConsoleSession, ConsoleUser)
        .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
        .where(ConsoleSession.token_hash == session_key(secret_key, token))
    ).first()
    if row is None:
        return None
    stored, user = row
    now = utcnow()
    last_seen = stored.last_seen_at or stored.created_at
    idle = now - last_seen >= timedelta(minutes=idle_minutes)
    if stored.expires_at <= now or idle or not user.active:
        return None
    if touch and now - last_seen >= timedelta(seconds=TOUCH_SECONDS):
        stored.last_seen_at = now
    return SignedIn(user.id, user.email, user.role, stored.csrf_token)


def end_session(session: Session, secret_key: str, token: str) -> None:
    """Signs a browser out (deletes its session)."""
    session.execute(
        delete(ConsoleSession).where(
            ConsoleSession.token_hash == session_key(secret_key, token)
        )
    )


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
