"""Settings of the storage area: retention of the audit log, its pseudonym key.

- `AUDIT_RETENTION_DAYS` (2190, six years): `purge` deletes audit entries older
  than this, however old the conversations they name.
- `DATABASE_POOL_SIZE` (5) and `DATABASE_MAX_OVERFLOW` (5): PostgreSQL connections
  each engine keeps, and may open beyond that under load. Every process has one
  engine (a Rasa worker two: the conversation store's and the product's), so
  `bot.db.capacity` checks at start-up that all of them fit in the server's
  `max_connections`.
- `AUDIT_PSEUDONYM_KEY`: the key of the keyed hash that stands for a forgotten
  conversation's id in the audit log. Every process that forgets or stores
  conversations must use the same key. Default: a random key kept in
  `var/audit_pseudonym_key`, made on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Optional

from bot.settings.core import SettingsError, positive_int

AUDIT_RETENTION_ENV = "AUDIT_RETENTION_DAYS"
AUDIT_RETENTION_DAYS = 2190  # six years
PSEUDONYM_KEY_ENV = "AUDIT_PSEUDONYM_KEY"
POOL_SIZE = 5
MAX_OVERFLOW = 5


@dataclass(frozen=True)
class StorageSettings:
    """How long audit entries are kept, and the pseudonym key as configured."""

    audit_retention_days: int = AUDIT_RETENTION_DAYS
    pseudonym_key: str = ""  # "": the checkout's own key (bot.settings.local_secret)
    pool_size: int = POOL_SIZE
    max_overflow: int = MAX_OVERFLOW

    def __repr__(self) -> str:
        # Never print the key (tracebacks, debuggers, logs).
        return (
            f"StorageSettings(audit_retention_days={self.audit_retention_days}, "
            f"pool_size={self.pool_size}, max_overflow={self.max_overflow})"
        )


def load(env: Optional[Mapping[str, str]] = None) -> StorageSettings:
    """Reads and validates this area's variables (default: `os.environ`).

    Raises:
        SettingsError: `AUDIT_RETENTION_DAYS` or `DATABASE_POOL_SIZE` is not a
            whole number of at least 1, or `DATABASE_MAX_OVERFLOW` is negative.
    """
    env = os.environ if env is None else env
    return StorageSettings(
        audit_retention_days=positive_int(
            env, AUDIT_RETENTION_ENV, AUDIT_RETENTION_DAYS
        ),
        pseudonym_key=env.get(PSEUDONYM_KEY_ENV, ""),
        pool_size=positive_int(env, "DATABASE_POOL_SIZE", POOL_SIZE),
        max_overflow=_max_overflow(env),
    )


def _max_overflow(env: Mapping[str, str]) -> int:
    """`DATABASE_MAX_OVERFLOW`: 0 allowed (no connection beyond the pool)."""
    raw = env.get("DATABASE_MAX_OVERFLOW", "").strip() or str(MAX_OVERFLOW)
    if not raw.isdigit():
        raise SettingsError(f"DATABASE_MAX_OVERFLOW must be 0 or more, got {raw!r}")
    return int(raw)


@lru_cache(maxsize=1)
def get_storage_settings() -> StorageSettings:
    """The process-wide storage settings, read on first use."""
    return load()
