"""Signing in and out: the steps behind the session pages and the sign-in wall.

The rules (lockout, throttling, the second factor, audit entries of sign-ins)
are in `bot.console.auth`; this module runs them in one transaction each.
"""

from __future__ import annotations

from typing import Optional, Tuple

from sqlalchemy.engine import Engine

from bot.console import auth
from bot.db.engine import session_scope
from bot.settings.console import ConsoleSettings


def no_accounts(engine: Engine) -> bool:
    """True before the first account exists (the sign-in page says how to add one)."""
    with session_scope(engine) as session:
        return auth.count_users(session) == 0


def sign_in(
    engine: Engine,
    settings: ConsoleSettings,
    ip: Optional[str],
    email: str,
    password: str,
) -> Optional[Tuple[str, str]]:
    """(cookie value, stage) of the new session, or None.

    Raises:
        auth.Throttled: too many failures from the client's address lately.
    """
    try:
        accepted = auth.check_password(engine, email, password, ip)
    except auth.Throttled:
        raise
    except auth.SignInError:
        return None
    stage = "totp" if accepted.needs_totp else "full"
    with session_scope(engine) as session:
        token = auth.start_session(
            session,
            accepted.user_id,
            settings.secret_key,
            settings.session_hours,
            stage,
        )
    return token, stage


def pending_csrf(engine: Engine, secret_key: str, token: str) -> Optional[str]:
    """The CSRF token of a session waiting for its second factor, or None."""
    with session_scope(engine) as session:
        return auth.pending_csrf(session, secret_key, token)


def sign_out(engine: Engine, secret_key: str, token: str) -> None:
    """Ends the session of this cookie value."""
    with session_scope(engine) as session:
        auth.end_session(session, secret_key, token)


def load_session(
    engine: Engine, settings: ConsoleSettings, token: str, touch: bool
) -> Optional[auth.SignedIn]:
    """The signed-in staff member of this cookie value, or None (expired, idle)."""
    with session_scope(engine) as session:
        return auth.load_session(
            session, settings.secret_key, token, settings.idle_minutes, touch
        )
