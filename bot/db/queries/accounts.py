"""Staff accounts as the console's pages and command line read and reset them.

The sign-in rules themselves (lockout, throttling, second factor, sessions) and
their queries are in `bot.console.auth`.
"""

from __future__ import annotations

from typing import List, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.db.models import ConsoleSession, ConsoleUser


def all_accounts(session: Session) -> List[ConsoleUser]:
    """Every account, by email."""
    return list(
        session.execute(sa.select(ConsoleUser).order_by(ConsoleUser.email)).scalars()
    )


def account(session: Session, user_id: int) -> Optional[ConsoleUser]:
    """One account by id, or None."""
    return session.get(ConsoleUser, user_id)


def account_by_email(session: Session, email: str) -> Optional[ConsoleUser]:
    """One account by its (normalised) email, or None."""
    return session.execute(
        sa.select(ConsoleUser).where(ConsoleUser.email == email)
    ).scalar_one_or_none()


def end_sessions(session: Session, user_id: int) -> None:
    """Signs the account out everywhere (deletes all its sessions)."""
    session.execute(sa.delete(ConsoleSession).where(ConsoleSession.user_id == user_id))
