"""Staff accounts, sign-in with lockout and a second factor, sessions and CSRF tokens.

- Passwords are hashed with argon2id (`argon2-cffi`, OWASP's minimum parameters:
  19 MiB, 2 passes); a hash made with older parameters is upgraded at sign-in.
- **Lockout, atomic.** Every attempt (a password, a second-factor code, the
  current password on the change form) first *reserves* one of the account's
  `MAX_FAILURES` tries with a single conditional UPDATE, committed before the
  slow check: the counter goes up, and the reservation that reaches the limit
  sets `locked_until` itself. So however many requests arrive at once, at most
  `MAX_FAILURES` of them ever reach a real password check before the account is
  locked for `LOCK_MINUTES`; while locked, even the right password is refused
  (after a check against a dummy hash, so both cases take as long). A success
  gives the tries back. The message never says whether the email exists.
- **Throttling per client address, atomic.** In the same transaction, the
  attempt is written to the audit log as "sign-in failed" *before* the check,
  after counting the address's recent failures: `THROTTLE_FAILURES` within
  `THROTTLE_MINUTES`, whatever the accounts (known or not), refuse further
  attempts from that address. Counting and writing are serialised per address
  (PostgreSQL: a transaction-level advisory lock on the address; SQLite: every
  write transaction is `BEGIN IMMEDIATE`), so parallel requests cannot all see
  19. A successful attempt's entry is turned into "sign-in" (or
  "sign-in password ok" while the second factor is pending).
- **Second factor (TOTP, RFC 6238, `pyotp`).** Required for admins (an admin
  without one can only set it up, see `SignedIn.needs_totp_setup`), optional for
  staff. After a right password a TOTP user gets a short `totp` session
  (`TOTP_PENDING_MINUTES`) that opens nothing but the code form; the right code
  replaces it with a full session (a new cookie value). Codes of the previous,
  current and next 30 s step are accepted, each step only once
  (`totp_last_step`, advanced by a conditional UPDATE). Wrong codes count
  against the same lockout. The secret is stored encrypted (AES-GCM, key derived
  from `CONSOLE_SECRET_KEY`): a copy of the database alone gives no codes.
- **Passwords.** A staff member changes their own (the current one is checked
  like a sign-in); it ends their other sessions. An admin issues a one-time
  reset link (`RESET_HOURS`), stored only as a keyed hash; using it sets a new
  password, ends every session of the account and clears its lockout.
- A session is a random cookie value; the database keeps only its HMAC (keyed
  with `CONSOLE_SECRET_KEY`), so a copy of the database opens no session. Each
  session has its own CSRF token, checked on every POST. It ends
  `CONSOLE_SESSION_HOURS` after sign-in, or after `CONSOLE_IDLE_MINUTES` without
  a request; the last request time is written at most once a minute.
- The sign-in form (no session yet) gets a CSRF token signed with the secret key
  and tied to a short-lived cookie (double submit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional, Union

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from bot.db.models import (
    ROLES,
    AuditEntry,
    ConsoleSession,
    ConsoleUser,
    UTCDateTime,
    utcnow,
)
from bot.settings.console import MIN_PASSWORD_LENGTH

MAX_FAILURES = 5
LOCK_MINUTES = 15
MAX_EMAIL_LENGTH = 254
THROTTLE_FAILURES = 20
THROTTLE_MINUTES = 15
SIGN_IN_FAILED = "sign-in failed"  # the audit action of a refused sign-in
SIGN_IN = "sign-in"
PASSWORD_OK = "sign-in password ok"  # the first factor passed, the second pending
DEFAULT_IDLE_MINUTES = 30
TOUCH_SECONDS = 60  # how stale `last_seen_at` may get before it is written
TOTP_PENDING_MINUTES = 5  # between a right password and the code
TOTP_ISSUER = "MS Pain & Migraine staff console"
TOTP_STEP_SECONDS = 30
RESET_HOURS = 24
DISPLAY_NAME_LENGTH = 60
# First key of PostgreSQL's two-key advisory locks taken here ("co" + "ns").
_ADVISORY_NAMESPACE = 0x636F6E73

_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Verified against when the email is unknown, so both cases take as long.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
_CODE = re.compile(r"[0-9]{6}")
U = ConsoleUser.__table__
CS = ConsoleSession.__table__
AU = AuditEntry.__table__


class AccountError(ValueError):
    """An account cannot be created or changed (the message says why)."""


class SignInError(Exception):
    """Sign-in refused: wrong email or password, disabled or locked account."""


class Throttled(SignInError):
    """Too many failed sign-ins from the client's address: not even tried."""


class Locked(SignInError):
    """The account is locked: nothing was checked."""


@dataclass(frozen=True)
class SignedIn:
    """The user behind a valid (full) session."""

    user_id: int
    email: str
    role: str
    csrf_token: str
    display_name: Optional[str] = None
    totp_enabled: bool = False
    session_hash: str = ""  # the session's stored key, to keep it when ending others

    @property
    def is_admin(self) -> bool:
        """True for admins (user management)."""
        return self.role == "admin"

    @property
    def needs_totp_setup(self) -> bool:
        """An admin without a second factor: may do nothing else until it is set up."""
        return self.is_admin and not self.totp_enabled


@dataclass(frozen=True)
class PasswordAccepted:
    """A right password: sign in now, or ask for the second factor first."""

    user_id: int
    email: str
    needs_totp: bool


def normalise_email(email: str) -> str:
    """Lower-cased, trimmed email; refuses what is clearly not an address."""
    email = (email or "").strip().lower()
    if not 3 <= len(email) <= MAX_EMAIL_LENGTH or "@" not in email[1:-1]:
        raise AccountError("enter a valid email address")
    if any(ch.isspace() for ch in email):
        raise AccountError("enter a valid email address")
    return email


def check_display_name(name: Optional[str]) -> str:
    """The name patients see on a staff reply, tidied; refuses emails and junk."""
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= DISPLAY_NAME_LENGTH:
        raise AccountError(
            f"the display name must be 1 to {DISPLAY_NAME_LENGTH} characters"
        )
    if "@" in name or any(unicodedata.category(ch)[0] == "C" for ch in name):
        raise AccountError(
            "the display name is what patients see: a first name, not an email"
        )
    return name


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
        sa.update(U).where(U.c.id == user_id).values(display_name=name)
    )
    if result.rowcount != 1:
        raise LookupError("no such account")
    return name


# --- attempts: reserve, check, settle --------------------------------------------


def _serialise_address(connection: Connection, client_ip: Optional[str]) -> None:
    """Makes counting and writing one address's failures one step at a time."""
    if client_ip and connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext(:ip))"),
            {"ns": _ADVISORY_NAMESPACE, "ip": client_ip[:64]},
        )
    # SQLite: the engine opens every transaction with BEGIN IMMEDIATE, which
    # already holds the database's write lock from here to the commit.


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
        sa.insert(AU).values(
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
        sa.update(AU)
        .where(AU.c.id == attempt_id)
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
    tries = U.c.failed_logins + 1
    lock_until = sa.literal(now + timedelta(minutes=LOCK_MINUTES), UTCDateTime())
    result = connection.execute(
        sa.update(U)
        .where(
            U.c.id == user_id,
            sa.or_(
                U.c.locked_until.is_(None),
                U.c.locked_until <= sa.literal(now, UTCDateTime()),
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
        sa.update(U)
        .where(U.c.id == user_id)
        .values(failed_logins=0, locked_until=None, last_login_at=now)
    )


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


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
                select(U.c.id, U.c.password_hash, U.c.active, U.c.totp_secret).where(
                    U.c.email == email
                )
            ).first()
            if email
            else None
        )
        reserved = user is not None and _reserve_try(connection, user.id, now)
    if not reserved:
        _verify(_DUMMY_HASH, password)
        raise SignInError("unknown email" if user is None else "locked")
    if not _verify(user.password_hash, password) or not user.active:
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
                sa.update(U)
                .where(U.c.id == user.id)
                .values(password_hash=_hasher.hash(password))
            )
    return PasswordAccepted(user.id, email, needs_totp)


# --- the second factor -------------------------------------------------------------


def _totp_key(secret_key: str) -> bytes:
    return hmac.new(
        secret_key.encode(), b"console totp secret v1", hashlib.sha256
    ).digest()


def seal_totp_secret(secret_key: str, secret: str, context: str) -> str:
    """`secret` encrypted for the database (AES-GCM, bound to `context`)."""
    nonce = os.urandom(12)
    sealed = AESGCM(_totp_key(secret_key)).encrypt(
        nonce, secret.encode(), context.encode()
    )
    return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()


def open_totp_secret(secret_key: str, sealed: Optional[str], context: str) -> str:
    """The secret sealed by `seal_totp_secret`.

    Raises:
        SignInError: missing, or sealed with another `CONSOLE_SECRET_KEY` or
            context (an admin resets the second factor then).
    """
    if not sealed or not sealed.startswith("v1:"):
        raise SignInError("no second factor")
    try:
        raw = base64.urlsafe_b64decode(sealed[3:].encode())
        return (
            AESGCM(_totp_key(secret_key))
            .decrypt(raw[:12], raw[12:], context.encode())
            .decode()
        )
    except (InvalidTag, ValueError) as error:
        raise SignInError("the second factor cannot be read") from error


def _user_context(user_id: int) -> str:
    return f"totp:user:{user_id}"


def matching_step(secret: str, code: str, now: Optional[float] = None) -> Optional[int]:
    """The 30 s time step whose code `code` is (previous, current or next), or None."""
    code = "".join((code or "").split())
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_STEP_SECONDS)
    current = int((time.time() if now is None else now) // TOTP_STEP_SECONDS)
    found = None
    for step in (current - 1, current, current + 1):  # compare all: no early exit
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def provisioning_uri(secret: str, email: str) -> str:
    """The `otpauth://` URI an authenticator app takes (QR code or link)."""
    return pyotp.TOTP(secret, interval=TOTP_STEP_SECONDS).provisioning_uri(
        name=email, issuer_name=TOTP_ISSUER
    )


def _use_step(connection: Connection, user_id: int, step: int) -> bool:
    """Marks `step` used; False if it (or a later one) already was (a replay)."""
    result = connection.execute(
        sa.update(U)
        .where(
            U.c.id == user_id,
            sa.or_(U.c.totp_last_step.is_(None), U.c.totp_last_step < step),
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
            select(U.c.id, U.c.email, U.c.active, U.c.totp_secret)
            .join(CS, CS.c.user_id == U.c.id)
            .where(
                CS.c.token_hash == key,
                CS.c.stage == "totp",
                CS.c.expires_at > sa.literal(now, UTCDateTime()),
            )
        ).first()
        if row is None:
            raise SignInError("no pending sign-in")
        attempt_id = _begin_attempt(connection, client_ip)
        reserved = _reserve_try(connection, row.id, now)
        if not reserved:
            connection.execute(delete(CS).where(CS.c.token_hash == key))
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
        connection.execute(delete(CS).where(CS.c.token_hash == key))
        return _insert_session(connection, row.id, secret_key, hours, "full")


def totp_setup_secret(session: Session, secret_key: str, signed: SignedIn) -> str:
    """The secret being set up in this browser (made on first call, then kept)."""
    row = session.get(ConsoleSession, signed.session_hash)
    if row is None:
        raise LookupError("no session")
    context = f"totp:setup:{signed.session_hash}"
    if row.totp_setup_secret:
        try:
            return open_totp_secret(secret_key, row.totp_setup_secret, context)
        except SignInError:
            pass
    secret = pyotp.random_base32()
    row.totp_setup_secret = seal_totp_secret(secret_key, secret, context)
    session.flush()
    return secret


def confirm_totp_setup(
    session: Session, secret_key: str, signed: SignedIn, code: str
) -> None:
    """Turns the second factor on once the app shows the right code.

    Ends the account's other sessions (they were opened without it).

    Raises:
        AccountError: wrong code, nothing being set up, or already on.
    """
    row = session.get(ConsoleSession, signed.session_hash)
    if row is None or not row.totp_setup_secret:
        raise AccountError("start the set-up again")
    try:
        secret = open_totp_secret(
            secret_key, row.totp_setup_secret, f"totp:setup:{signed.session_hash}"
        )
    except SignInError as error:
        raise AccountError("start the set-up again") from error
    step = matching_step(secret, code)
    if step is None:
        raise AccountError("that code did not match: check the app and try again")
    sealed = seal_totp_secret(secret_key, secret, _user_context(signed.user_id))
    result = session.execute(
        sa.update(U)
        .where(U.c.id == signed.user_id, U.c.totp_secret.is_(None))
        .values(totp_secret=sealed, totp_last_step=step)
    )
    if result.rowcount != 1:
        raise AccountError("the second factor is already on")
    row.totp_setup_secret = None
    _end_other_sessions(session, signed.user_id, signed.session_hash)
    session.flush()


def reset_totp(session: Session, user_id: int) -> ConsoleUser:
    """Turns an account's second factor off (lost phone) and ends its sessions."""
    user = session.get(ConsoleUser, user_id)
    if user is None:
        raise LookupError("no such account")
    user.totp_secret = None
    user.totp_last_step = None
    session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user_id))
    session.flush()
    return user


# --- passwords -----------------------------------------------------------------------


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
            select(U.c.password_hash).where(U.c.id == signed.user_id)
        ).scalar_one()
    if not reserved:
        raise Locked("locked")
    if not _verify(stored, current):
        raise SignInError("wrong password")
    with engine.begin() as connection:
        connection.execute(
            sa.update(U)
            .where(U.c.id == signed.user_id)
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
            delete(CS).where(
                CS.c.user_id == signed.user_id, CS.c.token_hash != signed.session_hash
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
            select(U.c.id, U.c.email).where(
                U.c.reset_token_hash == key,
                U.c.reset_expires_at > sa.literal(now, UTCDateTime()),
                U.c.active.is_(True),
            )
        ).first()
        used = row is not None and (
            connection.execute(
                sa.update(U)
                .where(U.c.id == row.id, U.c.reset_token_hash == key)
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
            connection.execute(delete(CS).where(CS.c.user_id == row.id))
            _settle_attempt(connection, attempt_id, "password reset", row.email)
    if not used:
        raise SignInError("invalid or expired reset link")
    return row.email


# --- sessions ------------------------------------------------------------------------


def session_key(secret_key: str, token: str) -> str:
    """What the database stores for a session cookie value (an HMAC)."""
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


def _insert_session(
    connection: Connection, user_id: int, secret_key: str, hours: float, stage: str
) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    connection.execute(
        delete(CS).where(CS.c.expires_at < sa.literal(now, UTCDateTime()))
    )
    connection.execute(
        sa.insert(CS).values(
            token_hash=session_key(secret_key, token),
            user_id=user_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + timedelta(hours=hours),
            last_seen_at=now,
            stage=stage,
        )
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


def _end_other_sessions(session: Session, user_id: int, keep: str) -> None:
    session.execute(
        delete(ConsoleSession).where(
            ConsoleSession.user_id == user_id, ConsoleSession.token_hash != keep
        )
    )


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
    if (stored.stage or "full") != "full":
        return None
    if touch and now - last_seen >= timedelta(seconds=TOUCH_SECONDS):
        stored.last_seen_at = now
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
    return session.execute(
        select(CS.c.csrf_token).where(
            CS.c.token_hash == session_key(secret_key, token),
            CS.c.stage == "totp",
            CS.c.expires_at > sa.literal(utcnow(), UTCDateTime()),
        )
    ).scalar_one_or_none()


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
