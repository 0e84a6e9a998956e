"""A staff member's own account: details, display name, second factor setup."""

from __future__ import annotations

from bot.console import auth
from bot.db.engine import session_scope
from bot.db.queries import accounts, audit


def details(engine, user_id: int):
    """What the Account page shows of the signed-in staff member."""
    with session_scope(engine) as session:
        user = accounts.account(session, user_id)
        assert user is not None  # the signed-in account (accounts are never deleted)
        return {
            "email": user.email,
            "display_name": user.display_name or "",
            "totp_enabled": user.totp_secret is not None,
            "password_changed_at": user.password_changed_at,
        }


def set_name(engine, me: auth.SignedIn, name: str, ip) -> None:
    """Sets the display name patients see on replies; audited."""
    with session_scope(engine) as session:
        auth.set_display_name(session, me.user_id, name)
        audit.record(
            session.connection(), me.email, "display name", "account", me.email, ip
        )


def totp_setup(engine, secret_key: str, me: auth.SignedIn):
    """A second factor being set up: its secret and provisioning URI."""
    with session_scope(engine) as session:
        secret = auth.totp_setup_secret(session, secret_key, me)
    return {
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "uri": auth.provisioning_uri(secret, me.email),
    }


def confirm_totp(engine, secret_key: str, me: auth.SignedIn, code: str, ip) -> None:
    """Turns the second factor on after a right code; audited."""
    with session_scope(engine) as session:
        auth.confirm_totp_setup(session, secret_key, me, code)
        audit.record(
            session.connection(), me.email, "totp enabled", "account", me.email, ip
        )
