"""The sign-in's own statements: attempts, the address lock, the lockout counter.

The rules (how many tries, how long a lock, when an address is throttled, what a
TOTP code is worth) are in `bot.console.auth`, which also draws the transaction
boundaries; these functions only read and write what it decides:

- `lock_address`: one client address's attempts one at a time (PostgreSQL);
- `count_recent`, `insert_attempt`, `settle_attempt`: attempts in the audit log;
- `sign_in_account`, `pending_sign_in`: the account behind an email or a
  session waiting for its second factor;
- `reserve_try`, `give_tries_back`: the lockout counter, each one atomic UPDATE;
- `use_totp_step`: the replay guard of TOTP codes;
- `store_rehash`: a password hash made with stronger parameters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional, Union

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import Session

from bot.db.models import AuditEntry, ConsoleSession, ConsoleUser, UTCDateTime

_users = ConsoleUser.__table__

_sessions = ConsoleSession.__table__

_audit = AuditEntry.__table__

# First key of PostgreSQL's two-key advisory locks taken here ("co" + "ns").
_ADVISORY_NAMESPACE = 0x636F6E73


def lock_address(connection: Connection, client_ip: Optional[str]) -> None:
    """Serialises one address's attempts until commit (SQLite's writes already are)."""
    if client_ip and connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext(:ip))"),
            {"ns": _ADVISORY_NAMESPACE, "ip": client_ip[:64]},
        )


def count_recent(
    executor: Union[Session, Connection], client_ip: str, action: str, since: datetime
) -> int:
    """How many audit entries of `action` came from `client_ip` since `since`."""
    return executor.execute(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.client_ip == client_ip[:64],
            AuditEntry.at >= since,
            AuditEntry.action == action,
        )
    ).scalar_one()


def insert_attempt(
    connection: Connection, client_ip: Optional[str], action: str, object_type: str
) -> int:
    """Writes an anonymous audit entry for an attempt; returns the entry's id."""
    result = connection.execute(
        sa.insert(_audit).values(
            at=sa.func.now(),
            user_email=None,
            action=action,
            object_type=object_type,
            object_id=None,
            client_ip=(client_ip or None) and client_ip[:64],
        )
    )
    return result.inserted_primary_key[0]


def settle_attempt(
    connection: Connection, attempt_id: int, action: str, email: str
) -> None:
    """Rewrites an attempt's entry with its outcome and account."""
    connection.execute(
        sa.update(_audit)
        .where(_audit.c.id == attempt_id)
        .values(action=action, user_email=email)
    )


def sign_in_account(connection: Connection, email: str) -> Optional[Row]:
    """The id, password hash, active flag and sealed TOTP secret of an account."""
    return connection.execute(
        sa.select(
            _users.c.id,
            _users.c.password_hash,
            _users.c.active,
            _users.c.totp_secret,
        ).where(_users.c.email == email)
    ).first()


def pending_sign_in(
    connection: Connection, token_hash: str, now: datetime
) -> Optional[Row]:
    """The account (id, email, active, sealed secret) of a live `totp` session."""
    return connection.execute(
        sa.select(
            _users.c.id,
            _users.c.email,
            _users.c.active,
            _users.c.totp_secret,
        )
        .join(_sessions, _sessions.c.user_id == _users.c.id)
        .where(
            _sessions.c.token_hash == token_hash,
            _sessions.c.stage == "totp",
            _sessions.c.expires_at > sa.literal(now, UTCDateTime()),
        )
    ).first()


def reserve_try(
    connection: Connection,
    user_id: int,
    now: datetime,
    max_failures: int,
    lock_until: datetime,
) -> bool:
    """Takes one try in one UPDATE, locking at the last; False while locked.

    The reservation that uses up the last try (`max_failures`) sets
    `locked_until` in the same statement, before its own check runs: no other
    attempt gets through in the meantime.
    """
    tries = _users.c.failed_logins + 1
    result = connection.execute(
        sa.update(_users)
        .where(
            _users.c.id == user_id,
            sa.or_(
                _users.c.locked_until.is_(None),
                _users.c.locked_until <= sa.literal(now, UTCDateTime()),
            ),
        )
        .values(
            failed_logins=sa.case((tries >= max_failures, 0), else_=tries),
            locked_until=sa.case(
                (tries >= max_failures, sa.literal(lock_until, UTCDateTime())),
                else_=sa.null(),
            ),
        )
    )
    return result.rowcount == 1


def give_tries_back(connection: Connection, user_id: int, now: datetime) -> None:
    """Clears the account's failures and lock, and notes the sign-in time."""
    connection.execute(
        sa.update(_users)
        .where(_users.c.id == user_id)
        .values(failed_logins=0, locked_until=None, last_login_at=now)
    )


def use_totp_step(connection: Connection, user_id: int, step: int) -> bool:
    """Marks `step` used; False if it (or a later one) already was (a replay)."""
    result = connection.execute(
        sa.update(_users)
        .where(
            _users.c.id == user_id,
            sa.or_(
                _users.c.totp_last_step.is_(None),
                _users.c.totp_last_step < step,
            ),
        )
        .values(totp_last_step=step)
    )
    return result.rowcount == 1


def store_rehash(connection: Connection, user_id: int, password_hash: str) -> None:
    """Replaces the account's hash by one of the same password, made afresh."""
    connection.execute(
        sa.update(_users)
        .where(_users.c.id == user_id)
        .values(password_hash=password_hash)
    )
