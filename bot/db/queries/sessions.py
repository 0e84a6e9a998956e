"""Staff console sessions, stored under the keyed hash of their cookie value.

`bot.console.auth` makes the tokens, their hashes and the rules (expiry, idle
time, the `totp` stage); these functions store and find the rows:

- `delete_expired_sessions`, `insert_session`: opening a session;
- `session_with_account`, `touch_session`, `pending_csrf_token`: reading one;
- `setup_session`, `store_setup_secret`: a TOTP secret being set up in a browser;
- `delete_session`, `end_other_sessions`: signing out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional, Union

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import Session

from bot.db.models import ConsoleSession, ConsoleUser, UTCDateTime

_sessions = ConsoleSession.__table__


def delete_expired_sessions(connection: Connection, now: datetime) -> None:
    """Deletes every session past its end (done whenever one starts)."""
    connection.execute(
        sa.delete(_sessions).where(
            _sessions.c.expires_at < sa.literal(now, UTCDateTime())
        )
    )


def insert_session(
    connection: Connection,
    token_hash: str,
    user_id: int,
    csrf_token: str,
    now: datetime,
    expires_at: datetime,
    stage: str,
) -> None:
    """Stores a new session (`stage`: "full", or "totp" until the second factor)."""
    connection.execute(
        sa.insert(_sessions).values(
            token_hash=token_hash,
            user_id=user_id,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=expires_at,
            last_seen_at=now,
            stage=stage,
        )
    )


def session_with_account(session: Session, token_hash: str) -> Optional[Row]:
    """The (ConsoleSession, ConsoleUser) pair of a stored session, or None."""
    return session.execute(
        sa.select(ConsoleSession, ConsoleUser)
        .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
        .where(ConsoleSession.token_hash == token_hash)
    ).first()


def touch_session(stored: ConsoleSession, now: datetime) -> None:
    """Notes a request on a loaded session (written when its Session commits)."""
    stored.last_seen_at = now


def pending_csrf_token(
    session: Session, token_hash: str, now: datetime
) -> Optional[str]:
    """The CSRF token of a live `totp` session, or None."""
    return session.execute(
        sa.select(_sessions.c.csrf_token).where(
            _sessions.c.token_hash == token_hash,
            _sessions.c.stage == "totp",
            _sessions.c.expires_at > sa.literal(now, UTCDateTime()),
        )
    ).scalar_one_or_none()


def setup_session(session: Session, token_hash: str) -> Optional[ConsoleSession]:
    """The session row that holds a TOTP secret being set up, or None."""
    return session.get(ConsoleSession, token_hash)


def store_setup_secret(
    session: Session, stored: ConsoleSession, sealed: Optional[str]
) -> None:
    """Keeps (or with None, forgets) the sealed secret being set up in a session."""
    stored.totp_setup_secret = sealed
    session.flush()


def delete_session(executor: Union[Session, Connection], token_hash: str) -> None:
    """Deletes one session (signing that browser out)."""
    executor.execute(
        sa.delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash)
    )


def end_other_sessions(
    executor: Union[Session, Connection], user_id: int, keep: str
) -> None:
    """Deletes the account's sessions except the one stored as `keep`."""
    executor.execute(
        sa.delete(ConsoleSession).where(
            ConsoleSession.user_id == user_id, ConsoleSession.token_hash != keep
        )
    )
