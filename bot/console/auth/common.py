"""What the sign-in modules share: limits, errors, the signed-in user, hashing."""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

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


_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


# Verified against when the email is unknown, so both cases take as long.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


_CODE = re.compile(r"[0-9]{6}")


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


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False
