"""The second factor (TOTP): its sealed secret, codes, setup and reset."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from typing import Optional

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from bot.console.auth.common import (
    _CODE,
    TOTP_ISSUER,
    TOTP_STEP_SECONDS,
    AccountError,
    SignedIn,
    SignInError,
)
from bot.db.models import ConsoleUser
from bot.db.queries import accounts
from bot.db.queries import sessions as stored_sessions


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


def totp_setup_secret(session: Session, secret_key: str, signed: SignedIn) -> str:
    """The secret being set up in this browser (made on first call, then kept)."""
    row = stored_sessions.setup_session(session, signed.session_hash)
    if row is None:
        raise LookupError("no session")
    context = f"totp:setup:{signed.session_hash}"
    if row.totp_setup_secret:
        try:
            return open_totp_secret(secret_key, row.totp_setup_secret, context)
        except SignInError:
            pass
    secret = pyotp.random_base32()
    sealed = seal_totp_secret(secret_key, secret, context)
    stored_sessions.store_setup_secret(session, row, sealed)
    return secret


def confirm_totp_setup(
    session: Session, secret_key: str, signed: SignedIn, code: str
) -> None:
    """Turns the second factor on once the app shows the right code.

    Ends the account's other sessions (they were opened without it).

    Raises:
        AccountError: wrong code, nothing being set up, or already on.
    """
    row = stored_sessions.setup_session(session, signed.session_hash)
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
    if not accounts.enable_totp(session, signed.user_id, sealed, step):
        raise AccountError("the second factor is already on")
    stored_sessions.store_setup_secret(session, row, None)
    stored_sessions.end_other_sessions(session, signed.user_id, signed.session_hash)


def reset_totp(session: Session, user_id: int) -> ConsoleUser:
    """Turns an account's second factor off (lost phone) and ends its sessions."""
    user = accounts.account(session, user_id)
    if user is None:
        raise LookupError("no such account")
    accounts.disable_totp(session, user)
    accounts.end_sessions(session, user_id)
    return user
