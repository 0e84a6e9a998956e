"""Staff accounts: the console's pages and command line, and the sign-in rules.

`bot.console.auth` holds the rules (hashing, who may do what, lockout); these
functions store and find what it decides:

- `all_accounts`, `account`, `account_by_email`, `count_accounts`: reading;
- `add_account`, `enable_account`, `disable_account`, `rename_account`: changes;
- `password_hash`, `replace_password`, `account_by_reset_key`,
  `store_reset_key`: passwords and reset links;
- `enable_totp`, `disable_totp`: the second factor;
- `end_sessions`: signing an account out everywhere.

The lockout counter and the attempts are in `bot.db.queries.signin`, sessions
in `bot.db.queries.sessions`.
"""

from __future__ import annotations

from datetime import datetime
from typing import List, Optional, Union

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import Session

from bot.db.models import ConsoleSession, ConsoleUser, UTCDateTime

_users = ConsoleUser.__table__


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


def count_accounts(session: Session) -> int:
    """How many accounts exist (0 before the first admin)."""
    return session.execute(
        sa.select(sa.func.count()).select_from(ConsoleUser)
    ).scalar_one()


def add_account(
    session: Session,
    email: str,
    password_hash: str,
    role: str,
    display_name: Optional[str],
) -> ConsoleUser:
    """Stores a new, active account (flushed: it has its id)."""
    user = ConsoleUser(
        email=email,
        password_hash=password_hash,
        role=role,
        active=True,
        display_name=display_name,
    )
    session.add(user)
    session.flush()
    return user


def enable_account(session: Session, user: ConsoleUser) -> None:
    """Turns the account on with all its tries (no failures, no lock)."""
    user.active = True
    user.failed_logins = 0
    user.locked_until = None
    session.flush()


def disable_account(session: Session, user: ConsoleUser) -> None:
    """Turns the account off (its sessions are the caller's to end)."""
    user.active = False
    session.flush()


def rename_account(session: Session, user_id: int, display_name: str) -> bool:
    """Sets the name patients see on the account's replies; False if no account."""
    result = session.execute(
        sa.update(_users)
        .where(_users.c.id == user_id)
        .values(display_name=display_name)
    )
    return result.rowcount == 1


def password_hash(connection: Connection, user_id: int) -> str:
    """The account's stored password hash."""
    return connection.execute(
        sa.select(_users.c.password_hash).where(_users.c.id == user_id)
    ).scalar_one()


def replace_password(
    connection: Connection,
    user_id: int,
    new_hash: str,
    now: datetime,
    reset_key: Optional[str] = None,
) -> bool:
    """Stores a new password, clearing lockout and reset link; False if none matched.

    With `reset_key`, only while the account still holds that reset link (so a
    link is used once, even by two requests at a time).
    """
    conditions = [_users.c.id == user_id]
    if reset_key is not None:
        conditions.append(_users.c.reset_token_hash == reset_key)
    result = connection.execute(
        sa.update(_users)
        .where(*conditions)
        .values(
            password_hash=new_hash,
            password_changed_at=now,
            failed_logins=0,
            locked_until=None,
            reset_token_hash=None,
            reset_expires_at=None,
        )
    )
    return result.rowcount == 1


def account_by_reset_key(
    connection: Connection, reset_key: str, now: datetime
) -> Optional[Row]:
    """The id and email of the active account whose reset link is this, unexpired."""
    return connection.execute(
        sa.select(_users.c.id, _users.c.email).where(
            _users.c.reset_token_hash == reset_key,
            _users.c.reset_expires_at > sa.literal(now, UTCDateTime()),
            _users.c.active.is_(True),
        )
    ).first()


def store_reset_key(
    session: Session, user: ConsoleUser, reset_key: str, expires_at: datetime
) -> None:
    """Keeps a reset link's keyed hash on the account (replacing an older one)."""
    user.reset_token_hash = reset_key
    user.reset_expires_at = expires_at
    session.flush()


def enable_totp(session: Session, user_id: int, sealed: str, step: int) -> bool:
    """Stores the sealed TOTP secret unless the account has one; True if stored."""
    result = session.execute(
        sa.update(_users)
        .where(_users.c.id == user_id, _users.c.totp_secret.is_(None))
        .values(totp_secret=sealed, totp_last_step=step)
    )
    return result.rowcount == 1


def disable_totp(session: Session, user: ConsoleUser) -> None:
    """Forgets the account's TOTP secret and its last used step."""
    user.totp_secret = None
    user.totp_last_step = None
    session.flush()


def end_sessions(executor: Union[Session, Connection], user_id: int) -> None:
    """Signs the account out everywhere (deletes all its sessions)."""
    executor.execute(sa.delete(ConsoleSession).where(ConsoleSession.user_id == user_id))
